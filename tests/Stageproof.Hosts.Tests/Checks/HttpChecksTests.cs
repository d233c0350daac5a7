using Stageproof.Core.Checks;
using Stageproof.Hosts.Checks;

namespace Stageproof.Hosts.Tests.Checks;

/// <summary>http, tcp, auth and soak checks against a real Kestrel server on 127.0.5.x.</summary>
public sealed class HttpChecksTests : IAsyncLifetime, IDisposable
{
    private readonly Suites _suites = new();
    private MailServer _server = null!;

    public async Task InitializeAsync() => _server = await MailServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _suites.Dispose();

    private Task<CheckSuiteResult> Run(string suite) => Suites.RunAsync(_suites.Config(suite, _server.Address));

    [Fact]
    public async Task A_healthy_endpoint_passes_with_its_status_and_latency()
    {
        var result = await Run($"- {{ name: health, type: http, port: {_server.Port}, path: /health, expect_json: ['$.status == \"ok\"'], expect_body: version }}");

        var r = Assert.Single(result.Results);
        Assert.Equal(CheckStatus.Passed, r.Status);
        Assert.Equal("app-1", r.Target);
        Assert.Contains($"GET {_server.BaseUri}health: status 200 in", r.Message, StringComparison.Ordinal);
        Assert.Equal(0, result.ExitCode);
    }

    [Fact]
    public async Task A_degraded_health_fails_naming_the_assertion_and_what_was_found()
    {
        _server.HealthStatus = "degraded";
        var result = await Run($"- {{ name: health, type: http, port: {_server.Port}, path: /health, expect_json: ['$.status == \"ok\"'] }}");

        var r = Assert.Single(result.Results);
        Assert.Equal(CheckStatus.Failed, r.Status);
        Assert.Contains("$.status == \"ok\" does not hold (found \"degraded\")", r.Message, StringComparison.Ordinal);
        Assert.Equal(1, result.ExitCode);
    }

    [Fact]
    public async Task Status_latency_and_connection_failures_are_named()
    {
        var result = await Run($"""
            - {"{"} name: missing, type: http, port: {_server.Port}, path: /nowhere {"}"}
            - {"{"} name: slow, type: http, port: {_server.Port}, path: /slow, max_latency: 100ms {"}"}
            - {"{"} name: closed, type: http, port: 1, path: /health {"}"}
            - {"{"} name: timeout, type: http, port: {_server.Port}, path: /slow, timeout: 50ms {"}"}
            - {"{"} name: broken, type: http, port: {_server.Port}, path: /broken {"}"}
            """);

        var byName = result.Results.ToDictionary(r => r.Name);
        Assert.Contains("status 404, expected 200", byName["missing"].Message, StringComparison.Ordinal);
        Assert.Matches(@"latency \d+(\.\d)?ms over the limit 100ms", byName["slow"].Message);
        Assert.True(byName["slow"].Measurements["latency_ms"] >= 300);
        Assert.Contains("cannot connect", byName["closed"].Message, StringComparison.Ordinal);
        Assert.Contains("no answer within 0.05s", byName["timeout"].Message, StringComparison.Ordinal);
        Assert.True(byName["broken"].Message.Contains("the answer broke off", StringComparison.Ordinal), byName["broken"].Message);
        Assert.All(result.Results, r => Assert.Equal(CheckStatus.Failed, r.Status));
    }

    [Fact]
    public async Task Tcp_checks_tell_an_open_port_from_a_closed_one()
    {
        var result = await Run($"""
            - {"{"} name: open, type: tcp, port: {_server.Port} {"}"}
            - {"{"} name: closed, type: tcp, port: 1 {"}"}
            """);

        Assert.Equal(CheckStatus.Passed, result.Results[0].Status);
        Assert.Equal(CheckStatus.Failed, result.Results[1].Status);
        Assert.Contains($"{_server.Address}:1: ConnectionRefused", result.Results[1].Message, StringComparison.Ordinal);
    }

    private string AuthCheck(string credentials) => $$"""
        - name: login
          type: auth
          port: {{_server.Port}}
          credentials: {{credentials}}
          steps:
            - { method: POST, path: /login, json: { user: "${user}", password: "${password}" }, extract: { token: $.token } }
            - { path: "/mailbox/${user}", headers: { Authorization: "Bearer ${token}" } }
        """;

    [Fact]
    public async Task The_auth_sequence_logs_in_and_uses_the_token_for_every_account_of_the_secrets_file()
    {
        _suites.Secrets("# accounts\nuser01=password-01\nuser02=password-02\n");
        var result = await Run(AuthCheck("{ file: secrets.env }"));

        var r = Assert.Single(result.Results);
        Assert.True(r.Status == CheckStatus.Passed, r.Message);
        Assert.Equal(2, r.Measurements["accounts"]);
        Assert.Equal(2, _server.Logins);
    }

    [Fact]
    public async Task A_refused_login_fails_with_the_step_and_status_and_never_shows_the_password()
    {
        _suites.Secrets("user01=wrong-secret-value\n");
        var result = await Run(AuthCheck("{ file: secrets.env }"));

        var r = Assert.Single(result.Results);
        Assert.Equal(CheckStatus.Failed, r.Status);
        Assert.Contains("user user01: POST", r.Message, StringComparison.Ordinal);
        Assert.Contains("/login: status 401, expected 200", r.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-secret-value", r.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_secrets_file_others_can_read_is_refused()
    {
        _suites.Secrets("user01=password-01\n", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var r = Assert.Single((await Run(AuthCheck("{ file: secrets.env }"))).Results);

        Assert.Equal(CheckStatus.Failed, r.Status);
        Assert.Contains("readable or writable by group or others (mode 604); chmod 600 it", r.Message, StringComparison.Ordinal);
        Assert.Equal(0, _server.Logins);
    }

    [Fact]
    public async Task Credentials_can_come_from_an_environment_variable()
    {
        var variable = "STAGEPROOF_TEST_AUTH_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        Environment.SetEnvironmentVariable(variable, "user03:password-03");
        try
        {
            var r = Assert.Single((await Run(AuthCheck($"{{ env: {variable} }}"))).Results);
            Assert.True(r.Status == CheckStatus.Passed, r.Message);
            Environment.SetEnvironmentVariable(variable, null);
            r = Assert.Single((await Run(AuthCheck($"{{ env: {variable} }}"))).Results);
            Assert.Contains($"environment variable {variable} is not set", r.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task A_soak_reports_when_a_service_that_started_healthy_began_to_fail()
    {
        // The suite's own health check, then two healthy soak rounds; the third round sees 503.
        _server.HealthFailsAfterRequests = 3;
        var result = await Run($"""
            - {"{"} name: health, type: http, port: {_server.Port}, path: /health {"}"}
            - {"{"} name: soak, type: soak, checks: [health], duration: 60s, interval: 250ms {"}"}
            """);

        var soak = result.Results.Single(r => r.Name == "soak");
        Assert.Equal(CheckStatus.Failed, soak.Status);
        Assert.Contains("health on app-1 failed", soak.Message, StringComparison.Ordinal);
        Assert.Contains("status 503, expected 200", soak.Message, StringComparison.Ordinal);
        // Rounds start at least 250 ms apart, so the third starts no earlier than 0.5 s (a lower bound no machine can
        // break); the soak stops at that failure instead of running its 60 s (a bound no busy machine comes near).
        Assert.Equal(3, soak.Measurements["rounds"]);
        Assert.True(soak.Measurements["first_failure_s"] >= 0.5, $"first failure at {soak.Measurements["first_failure_s"]} s");
        Assert.True(soak.Duration < TimeSpan.FromSeconds(60), $"the soak ran its whole duration ({soak.Duration}) instead of stopping at the first failure");
    }

    [Fact]
    public async Task A_soak_of_a_steady_service_holds_for_its_duration()
    {
        var result = await Run($"""
            - {"{"} name: health, type: http, port: {_server.Port}, path: /health {"}"}
            - {"{"} name: soak, type: soak, checks: [health], duration: 1s, interval: 200ms {"}"}
            """);

        var soak = result.Results.Single(r => r.Name == "soak");
        Assert.True(soak.Status == CheckStatus.Passed, soak.Message);
        // It ran for its duration, round after round: its last round starts within one interval of the end (0.8 s
        // here), at least two rounds, never more than every 200 ms allows (a busy machine can only make them fewer).
        Assert.True(soak.Duration >= TimeSpan.FromMilliseconds(800), $"the soak ended after {soak.Duration}");
        Assert.InRange(soak.Measurements["rounds"], 2, 7);
    }
}
