using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Core.Tests.Configuration;

namespace Stageproof.Core.Tests.Checks;

public sealed class CheckConfigTests : IDisposable
{
    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Head = """
        hosts:
          app-1: { transport: local }
        environments:
          prod:
            hosts: [app-1]
            databases: { mail: "Host=127.0.0.1;Database=mail" }
            checks: suite
          staging:
            hosts: [app-1]
            databases: { mail: "Host=127.0.0.2;Database=mail" }
            checks: suite
        checks:
          suite:

        """;

    [Fact]
    public void Every_check_type_is_read_into_its_typed_definition()
    {
        _temp.Write("secrets/app.env", "user01=pw\n");
        var config = _temp.Load(Head + """
                - { name: health, type: http, port: 8080, path: /health, expect_json: ['$.status == "ok"'], max_latency: 250ms, timeout: 3s }
                - { name: port, type: tcp, port: 8080 }
                - { name: conf, type: command, run: [test, -f, /etc/app.conf], expect_exit: 0 }
                - { name: up, type: service, service: acme-mail }
                - name: login
                  type: auth
                  url: http://127.0.5.9:8080/
                  credentials: { file: secrets/app.env }
                  steps:
                    - { method: post, path: /login, json: { user: "${user}", password: "${password}" }, extract: { token: $.token } }
                    - { path: "/mailbox/${user}", headers: { Authorization: "Bearer ${token}" } }
                - { name: load, type: load, port: 8080, clients: 8, duration: 5s, auth: login, requests: [{ path: /search }], compare: { max_p95_ratio: 2 } }
                - { name: logs, type: logs, file: /var/log/app.log, fail: [ERROR], warn: [WARN] }
                - { name: users, type: sql, database: mail, query: "SELECT 1", expect: "1" }
                - { name: schema, type: schema, database: mail, same_as: prod }
                - { name: integrity, type: db-integrity, database: mail, invariants: { none: "SELECT 1 WHERE false" } }
                - { name: soak, type: soak, checks: [health, port], duration: 1m, interval: 5s }
                - { name: ldap-bind, type: ldap, port: 389, bind_dn: "uid=${user},ou=people,dc=acme,dc=test", credentials: { file: secrets/app.env }, base: "dc=acme,dc=test" }
            """);

        var suite = config.SuiteOf("staging");
        Assert.Equal(CheckTypes.All, suite.Checks.Select(c => c.Type));
        var http = Assert.IsType<HttpCheck>(suite.Find("health"));
        Assert.Equal(8080, http.Target.Port);
        Assert.Equal(TimeSpan.FromMilliseconds(250), http.MaxLatency);
        Assert.Equal(TimeSpan.FromSeconds(3), http.Timeout);
        Assert.Equal("$.status == \"ok\"", Assert.Single(http.ExpectJson).Text);
        var auth = Assert.IsType<AuthCheck>(suite.Find("login"));
        Assert.Equal(Path.Combine(_temp.Directory, "secrets", "app.env"), auth.Credentials.File);
        Assert.Equal("POST", auth.Steps[0].Method);
        Assert.Equal("$.token", auth.Steps[0].Extract["token"]);
        var load = Assert.IsType<LoadCheck>(suite.Find("load"));
        Assert.Equal((8, "login", 2.0, 1.5 * 0 + 0.01), (load.Clients, load.Auth, load.Compare.MaxP95Ratio, load.Compare.MaxAddedErrorRate));
        Assert.Equal(["test", "-f", "/etc/app.conf"], Assert.IsType<CommandCheck>(suite.Find("conf")).Run);
        Assert.Equal(TimeSpan.FromMinutes(1), Assert.IsType<SoakCheck>(suite.Find("soak")).Duration);
    }

    [Fact]
    public void A_password_in_the_yaml_is_refused_with_where_it_is_and_what_to_do_instead()
    {
        var problems = _temp.Problems(Head + """
                - name: login
                  type: auth
                  port: 8080
                  user: user01
                  password: password-01
                  steps: [{ method: POST, path: /login }]
            """);

        var p = problems.First(p => p.Key == "checks.suite[0].password");
        Assert.Equal(18, p.Line);
        Assert.Contains("credentials must not be written in stageproof.yaml", p.Message, StringComparison.Ordinal);
        Assert.Contains(problems, q => q.Key == "checks.suite[0].credentials" && q.Message.Contains("env", StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_keys_and_types_are_located_with_a_suggestion()
    {
        var problems = _temp.Problems(Head + """
                - { name: health, type: http, port: 8080, expect_staus: 200 }
                - { name: other, type: htp, port: 80 }
            """);

        var unknownKey = problems.Single(p => p.Key == "checks.suite[0].expect_staus");
        Assert.Equal((14, 47), (unknownKey.Line, unknownKey.Column));
        Assert.Contains("did you mean 'expect_status'?", unknownKey.Message, StringComparison.Ordinal);
        var unknownType = problems.Single(p => p.Key == "checks.suite[1].type");
        Assert.Contains("did you mean 'http'?", unknownType.Message, StringComparison.Ordinal);
        Assert.Equal(_temp.ConfigPath, unknownKey.File);
    }

    [Fact]
    public void Cross_references_are_checked_soak_load_auth_databases_and_environments()
    {
        var problems = _temp.Problems(Head + """
                - { name: health, type: http, port: 8080 }
                - { name: load, type: load, port: 8080, iterations: 10, auth: health }
                - { name: soak, type: soak, checks: [helth], duration: 10s, interval: 1s }
                - { name: rows, type: sql, database: mial, query: "SELECT 1", expect: "1" }
                - { name: schema, type: schema, database: mail, same_as: prd }
            """);

        Assert.Contains(problems, p => p.Key == "checks.suite[1].auth" && p.Message.Contains("a load check's auth must name an auth check", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Key == "checks.suite[2].checks[0]" && p.Message.Contains("did you mean 'health'?", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Key == "checks.suite[3].database" && p.Message.Contains("has no database 'mial' (did you mean 'mail'?)", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Key == "checks.suite[4].same_as" && p.Message.Contains("did you mean 'prod'?", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("{ name: a, type: command, run: \"rm -rf /tmp/x\" }", "checks.suite[0].run", "never given to a shell")]
    [InlineData("{ name: a, type: http, port: 8080, url: \"http://x/\" }", "checks.suite[0].port", "not both")]
    [InlineData("{ name: a, type: http, url: \"ftp://x/\" }", "checks.suite[0].url", "http://")]
    [InlineData("{ name: a, type: http, port: 8080, expect_json: [\"$.status = ok\"] }", "checks.suite[0].expect_json[0]", "is not an assertion")]
    [InlineData("{ name: a, type: logs, file: /var/log/x, fail: [\"(\"] }", "checks.suite[0].fail[0]", "not a valid regular expression")]
    [InlineData("{ name: a, type: load, port: 80, requests: [{ path: / }] }", "checks.suite[0].duration", "duration")]
    [InlineData("{ name: a, type: soak, checks: [a], duration: 5s, interval: 10s }", "checks.suite[0].interval", "longer than duration")]
    [InlineData("{ name: a, type: http, port: 80, headers: { Authorization: \"Bearer abc123\" } }", "checks.suite[0].headers.Authorization", "credentials must not be written")]
    [InlineData("{ name: a, type: schema, database: mail, expect_digest: abc }", "checks.suite[0].expect_digest", "SHA-256")]
    [InlineData("{ name: a, type: service, service: \"x; reboot\" }", "checks.suite[0].service", "not a service name")]
    [InlineData("{ name: a, type: sql, database: mail, query: \"SELECT 1\", continuity: yes }", "checks.suite[0].continuity", "expected true or { max_loss: FRACTION }")]
    [InlineData("{ name: a, type: sql, database: mail, query: \"SELECT 1\", continuity: { max_loss: 2 } }", "checks.suite[0].continuity.max_loss", "from 0 to 1")]
    [InlineData("{ name: a, type: sql, database: mail, query: \"SELECT 1\", continuity: { tolerance: 0.1 } }", "checks.suite[0].continuity.tolerance", "unknown key 'tolerance'")]
    [InlineData("{ name: a, type: sql, database: mail, query: \"SELECT 1\" }", "checks.suite[0].expect", "or continuity (a measure compared across the change)")]
    public void Bad_checks_are_reported_at_their_key(string check, string key, string message)
    {
        var problems = _temp.Problems(Head + "    - " + check + "\n");
        Assert.Contains(problems, p => p.Key == key && p.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void A_sql_check_can_be_a_continuity_measure_with_no_loss_or_a_tolerated_one()
    {
        var config = _temp.Load(Head + """
                - { name: exact, type: sql, database: mail, query: "SELECT count(*) AS n FROM users", continuity: true }
                - { name: loose, type: sql, database: mail, query: "SELECT sum(size) AS bytes FROM messages", continuity: { max_loss: 0.05 } }
                - { name: plain, type: sql, database: mail, query: "SELECT 1", expect: "1" }
            """);
        var checks = config.SuiteOf("prod").Checks.OfType<SqlCheck>().ToDictionary(c => c.Name);
        Assert.Equal(0, checks["exact"].Continuity!.MaxLoss);
        Assert.Equal(0.05, checks["loose"].Continuity!.MaxLoss);
        Assert.Null(checks["plain"].Continuity);
    }

    [Fact]
    public void Host_checks_can_be_limited_to_a_role_and_database_checks_cannot()
    {
        var config = _temp.Load(Head + "    - { name: a, type: tcp, port: 1, role: app }\n");
        Assert.Equal("app", config.SuiteOf("prod").Checks[0].Role);

        var problem = _temp.SingleProblem(Head + "    - { name: a, type: sql, database: mail, query: \"SELECT 1\", expect: \"1\", role: db }\n");
        Assert.Equal("checks.suite[0].role", problem.Key);
    }

    [Fact]
    public void The_example_limits_host_checks_to_app_hosts()
    {
        var config = _temp.Load(ConfigTemplate.Example);
        var hostChecks = config.Checks["mail-suite"].Checks.Where(c => c is not (SqlCheck or SchemaCheck or DbIntegrityCheck or SoakCheck));
        Assert.All(hostChecks, c => Assert.Equal("app", c.Role));
    }

    [Fact]
    public void Duplicate_check_names_are_reported()
    {
        var problem = _temp.SingleProblem(Head + """
                - { name: a, type: tcp, port: 1 }
                - { name: a, type: tcp, port: 2 }
            """);
        Assert.Contains("used twice", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_example_configuration_has_a_suite_using_every_check_type()
    {
        var config = _temp.Load(ConfigTemplate.Example);
        Assert.Equal(CheckTypes.All.Order(), config.Checks["mail-suite"].Checks.Select(c => c.Type).Distinct().Order());
    }
}
