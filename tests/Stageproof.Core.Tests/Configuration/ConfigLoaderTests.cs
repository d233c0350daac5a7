using Stageproof.Core.Stage;
using Stageproof.Core.ConfigFiles;
using Stageproof.Core.Configuration;
using Stageproof.Core.Databases;

namespace Stageproof.Core.Tests.Configuration;

public sealed class ConfigLoaderTests : IDisposable
{
    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_minimal_ssh_host_gets_the_defaults()
    {
        var config = _temp.Load("""
            hosts:
              web: { address: 127.0.0.1 }
            """);

        var web = config.Host("web");
        Assert.Equal(TransportKind.Ssh, web.Transport);
        Assert.Equal(22, web.Port);
        Assert.Equal("root", web.User);
        Assert.Null(web.Become);
        Assert.Equal(Path.GetFullPath(_temp.ConfigPath), config.SourceFile);
        Assert.Equal(0.98, config.Drift.MinFidelity);
        Assert.Equal(16, config.Ssh.Parallelism);
    }

    [Fact]
    public void An_empty_file_is_a_configuration_with_nothing_defined()
    {
        var config = _temp.Load("# nothing yet\n");
        Assert.Empty(config.Hosts);
        Assert.Empty(config.Environments);
    }

    [Fact]
    public void Every_host_key_is_read()
    {
        var config = _temp.Load("""
            hosts:
              db-1:
                transport: ssh
                address: db.example.com
                port: 2222
                user: deploy
                identity: keys/id_ed25519
                known_hosts: /etc/stageproof/known_hosts
                become: sudo
                role: db
              builder: { transport: chroot, root: roots/builder }
              here: { transport: local }
            """);

        var db = config.Host("db-1");
        Assert.Equal("db.example.com", db.Address);
        Assert.Equal(2222, db.Port);
        Assert.Equal("deploy", db.User);
        Assert.Equal(Path.Combine(_temp.Directory, "keys", "id_ed25519"), db.Identity);
        Assert.Equal("/etc/stageproof/known_hosts", db.KnownHosts);
        Assert.Equal("sudo", db.Become);
        Assert.Equal("db", db.Role);
        Assert.Equal(TransportKind.Chroot, config.Host("builder").Transport);
        Assert.Equal(Path.Combine(_temp.Directory, "roots", "builder"), config.Host("builder").Root);
        Assert.Equal(TransportKind.Local, config.Host("here").Transport);
    }

    [Fact]
    public void A_port_that_is_not_a_number_is_reported_at_its_value()
    {
        var problem = _temp.SingleProblem("""
            hosts:
              prod-app-1:
                address: 127.0.0.1
                port: abc
            """);

        Assert.Equal(_temp.ConfigPath, problem.File);
        Assert.Equal((4, 11), (problem.Line, problem.Column));
        Assert.Equal("hosts.prod-app-1.port", problem.Key);
        Assert.Contains("'abc'", problem.Message);
    }

    [Fact]
    public void A_port_out_of_range_is_reported()
    {
        var problem = _temp.SingleProblem("""
            hosts:
              web: { address: 127.0.0.1, port: 70000 }
            """);

        Assert.Equal((2, 36), (problem.Line, problem.Column));
        Assert.Equal("hosts.web.port", problem.Key);
        Assert.Contains("1 to 65535", problem.Message);
    }

    [Fact]
    public void The_problem_text_reads_file_line_column_key_message()
    {
        var problem = _temp.SingleProblem("""
            hosts:
              web: { address: 127.0.0.1, port: 0 }
            """);

        Assert.StartsWith($"{_temp.ConfigPath}:2:36: hosts.web.port: expected a whole number", problem.ToString());
    }

    [Fact]
    public void An_unknown_key_is_reported_with_a_suggestion()
    {
        var problem = _temp.SingleProblem("""
            hosts:
              web:
                address: 127.0.0.1
                adress: 127.0.0.2
            """);

        Assert.Equal((4, 5), (problem.Line, problem.Column));
        Assert.Equal("hosts.web.adress", problem.Key);
        Assert.Equal("unknown key 'adress' (did you mean 'address'?)", problem.Message);
    }

    [Theory]
    [InlineData("windows")]
    [InlineData("users")]
    public void Sections_not_built_yet_are_unknown_keys(string section)
    {
        var problem = _temp.SingleProblem($"{section}:\n  anything: 1\n");

        Assert.Equal((1, 1), (problem.Line, problem.Column));
        Assert.Equal(section, problem.Key);
        Assert.StartsWith($"unknown key '{section}'", problem.Message);
    }

    [Fact]
    public void A_misspelt_section_suggests_the_right_one()
    {
        var problem = _temp.SingleProblem("enviroments: {}\n");
        Assert.Equal("unknown key 'enviroments' (did you mean 'environments'?)", problem.Message);
    }

    [Fact]
    public void A_YAML_syntax_error_is_reported_with_its_position()
    {
        var problem = _temp.SingleProblem("""
            hosts:
              web: { address: 127.0.0.1
              db: { address: 127.0.0.2 }
            """);

        Assert.Equal("(syntax)", problem.Key);
        Assert.StartsWith("YAML syntax error", problem.Message);
        Assert.True(problem.Line >= 2, problem.ToString());
        Assert.DoesNotContain("(Line:", problem.Message);
    }

    [Fact]
    public void An_unclosed_quote_is_a_syntax_error()
    {
        var problem = _temp.SingleProblem("hosts:\n  web: { address: \"127.0.0.1 }\n");
        Assert.Equal("(syntax)", problem.Key);
        Assert.True(problem.Line >= 2, problem.ToString());
    }

    [Fact]
    public void A_duplicate_key_is_reported()
    {
        var problem = _temp.SingleProblem("""
            hosts:
              web: { address: 127.0.0.1 }
              web: { address: 127.0.0.2 }
            """);

        Assert.Contains("uplicate", problem.Message);
        Assert.Equal(3, problem.Line);
    }

    [Fact]
    public void An_ssh_host_without_an_address_is_reported_at_the_host()
    {
        var problem = _temp.SingleProblem("""
            hosts:
              web:
                port: 22
            """);

        Assert.Equal((2, 3), (problem.Line, problem.Column));
        Assert.Equal("hosts.web.address", problem.Key);
        Assert.Equal("address is required for ssh hosts", problem.Message);
    }

    [Fact]
    public void A_chroot_host_needs_a_root_and_only_a_chroot_host_takes_one()
    {
        var problems = _temp.Problems("""
            hosts:
              builder: { transport: chroot }
              web: { address: 127.0.0.1, root: /srv/x }
              here: { transport: local, address: 127.0.0.1 }
            """);

        Assert.Collection(problems,
            p => Assert.Equal(("hosts.builder.root", "root is required for chroot hosts"), (p.Key, p.Message)),
            p => Assert.Equal(("hosts.web.root", "root is only used by chroot hosts"), (p.Key, p.Message)),
            p => Assert.Equal("hosts.here.address", p.Key));
    }

    [Theory]
    [InlineData("Host=127.0.0.1;Port=abc;Database=mail", "Port must be a whole number from 1 to 65535, got 'abc'")]
    [InlineData("Host=127.0.0.1;port=70000;Database=mail", "Port must be a whole number from 1 to 65535, got '70000'")]
    [InlineData("Host=127.0.0.1;Timeout=-1;Database=mail", "Timeout must be a whole number from 0 to 1024, got '-1'")]
    [InlineData("Host=127.0.0.1;Command Timeout=soon", "Command Timeout must be a whole number")]
    [InlineData("Host='127.0.0.1;Password=secret", "not a connection string of Key=Value; pairs")]
    public void A_malformed_database_connection_string_is_a_problem_at_load_naming_the_key_not_the_secret(string connection, string expected)
    {
        var problems = _temp.Problems($"hosts:\n  web: {{ transport: local }}\nenvironments:\n  prod:\n    hosts: [web]\n    databases: {{ mail: \"{connection}\" }}\n");

        var problem = Assert.Single(problems);
        Assert.Equal(("environments.prod.databases.mail", 6), (problem.Key, problem.Line));
        Assert.Contains(expected, problem.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_database_declares_its_engine_and_a_plain_connection_string_stays_postgres()
    {
        var config = _temp.Load("""
            hosts:
              web: { transport: local }
            environments:
              prod:
                hosts: [web]
                databases:
                  pg: "Host=127.0.0.1;Database=mail"
                  pg2: { engine: postgres, connection: "Host=127.0.0.1;Database=mail" }
                  mail: { engine: mariadb, connection: "Server=127.0.0.1;Port=3306;Database=mail;User ID=acme" }
                  shop: { engine: mysql, connection: "Server=127.0.0.2;Database=shop" }
                  short: "mariadb:Server=127.0.0.3;Database=x"
            """);

        var dbs = config.Environments["prod"].Databases;
        Assert.Equal("Host=127.0.0.1;Database=mail", dbs["pg"]);
        Assert.Equal("Host=127.0.0.1;Database=mail", dbs["pg2"]);
        Assert.Equal(new DatabaseEndpoint(DatabaseEngine.MariaDb, "Server=127.0.0.1;Port=3306;Database=mail;User ID=acme"), DatabaseEndpoint.Parse(dbs["mail"]));
        Assert.Equal(DatabaseEngine.MySql, DatabaseEndpoint.Parse(dbs["shop"]).Engine);
        Assert.Equal(new DatabaseEndpoint(DatabaseEngine.MariaDb, "Server=127.0.0.3;Database=x"), DatabaseEndpoint.Parse(dbs["short"]));
        Assert.Equal(DatabaseEngine.Postgres, DatabaseEndpoint.Parse(dbs["pg"]).Engine);
    }

    [Theory]
    [InlineData("{ engine: oracle, connection: \"Server=x\" }", "environments.prod.databases.mail.engine", "unknown database engine 'oracle' (known: postgres, mariadb, mysql)")]
    [InlineData("\"sqlserver:Server=x\"", "environments.prod.databases.mail", "unknown database engine 'sqlserver' (known: postgres, mariadb, mysql)")]
    [InlineData("{ engine: mariadb }", "environments.prod.databases.mail.connection", "connection is required: the database's connection string")]
    [InlineData("{ engine: mariadb, connection: \"Server=x;Port=abc\" }", "environments.prod.databases.mail.connection", "Port must be a whole number from 1 to 65535, got 'abc'")]
    [InlineData("{ engine: mariadb, conection: \"Server=x\" }", "environments.prod.databases.mail.conection", "unknown key 'conection' (did you mean 'connection'?)")]
    public void A_database_engine_or_its_connection_is_refused_at_its_key_and_line(string value, string key, string message)
    {
        var problems = _temp.Problems($"hosts:\n  web: {{ transport: local }}\nenvironments:\n  prod:\n    hosts: [web]\n    databases:\n      mail: {value}\n");

        Assert.Contains((key, 7, message), problems.Select(p => (p.Key, p.Line, p.Message)));
    }

    [Fact]
    public void Several_problems_are_reported_together_in_file_order()
    {
        var problems = _temp.Problems("""
            hosts:
              web:
                address: 127.0.0.1
                port: abc
                user: Root
              db:
                transport: telnet
            ssh:
              parallelism: 0
            windows: {}
            """);

        Assert.Equal(
            ["hosts.web.port", "hosts.web.user", "hosts.db.address", "hosts.db.transport", "ssh.parallelism", "windows"],
            problems.Select(p => p.Key));
        Assert.Equal([4, 5, 6, 7, 9, 10], problems.Select(p => p.Line));
        Assert.Contains("expected ssh, local or chroot", problems[3].Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"web;reboot\"")]
    [InlineData("\"web$(id)\"")]
    [InlineData("\"web`id`\"")]
    [InlineData("\"web'x\"")]
    [InlineData("\"web\\nx\"")]
    [InlineData("\"../web\"")]
    public void Hostile_host_names_are_rejected(string yamlName)
    {
        var problem = _temp.SingleProblem($"hosts:\n  {yamlName}: {{ address: 127.0.0.1 }}\n");

        Assert.Equal((2, 3), (problem.Line, problem.Column));
        Assert.Contains("host name", problem.Message);
    }

    [Theory]
    [InlineData("\"127.0.0.1; rm -rf /\"")]
    [InlineData("\"$(curl evil)\"")]
    [InlineData("\"-oProxyCommand=sh\"")]
    [InlineData("\"a b\"")]
    [InlineData("\"127.0.0.1\\n\"")]
    public void Hostile_addresses_are_rejected(string yamlAddress)
    {
        var problem = _temp.SingleProblem($"hosts:\n  web:\n    address: {yamlAddress}\n");

        Assert.Equal("hosts.web.address", problem.Key);
        Assert.Contains("address", problem.Message);
    }

    [Theory]
    [InlineData("become: su", "hosts.web.become")]
    [InlineData("user: \"root;id\"", "hosts.web.user")]
    [InlineData("role: \"app server\"", "hosts.web.role")]
    [InlineData("identity: \"keys/a\\nb\"", "hosts.web.identity")]
    [InlineData("port:", "hosts.web.port")]
    [InlineData("port: [22]", "hosts.web.port")]
    public void Bad_host_values_are_rejected(string line, string key)
    {
        var problem = _temp.SingleProblem($"hosts:\n  web:\n    address: 127.0.0.1\n    {line}\n");
        Assert.Equal(key, problem.Key);
    }

    [Fact]
    public void The_root_must_be_a_mapping()
    {
        var problem = _temp.SingleProblem("- a\n- b\n");
        Assert.Contains("expected a mapping", problem.Message);
    }

    [Fact]
    public void A_missing_configuration_file_is_bad_input()
    {
        var ex = Assert.Throws<InputException>(() => ConfigLoader.Load(Path.Combine(_temp.Directory, "missing.yaml")));
        Assert.Contains("not found", Assert.Single(ex.Problems).Message);
        Assert.Equal(ExitCodes.BadInput, ex.ExitCode);
    }

    [Fact]
    public void Drift_rules_are_read()
    {
        var config = _temp.Load("""
            drift:
              track: [/etc/acme-mail/*.conf, /etc/ssh/sshd_config]
              ignore: ["file:/etc/hostname", "package:linux-image-*"]
              formats: { /etc/default/acme: shell, "/etc/acme/*.conf": bytes }
              min_fidelity: 0.9
              max_content_bytes: 1024
              secret_keys: ["pass(word)?"]
            """);

        Assert.Equal(["/etc/acme-mail/*.conf", "/etc/ssh/sshd_config"], config.Drift.Track);
        Assert.Equal(["file:/etc/hostname", "package:linux-image-*"], config.Drift.Ignore);
        Assert.Equal(0.9, config.Drift.MinFidelity);
        Assert.Equal(1024, config.Drift.MaxContentBytes);
        Assert.Equal(["pass(word)?"], config.Drift.SecretKeys);
        Assert.Equal([new FormatRule("/etc/default/acme", ConfigFormat.Shell), new FormatRule("/etc/acme/*.conf", ConfigFormat.Bytes)], config.Drift.Formats);
    }

    [Fact]
    public void The_stage_policy_is_read_and_an_environment_overrides_it_category_by_category()
    {
        var config = _temp.Load("""
            hosts:
              web: { transport: local }
            environments:
              qa: { hosts: [web] }
              staging: { hosts: [web] }
            stage:
              policy: { new_listening_port: warn, unexpected_other: ignore }
              environments:
                qa: { permission_widened: warn }
            """);

        var staging = config.Stage.PolicyFor("staging");
        Assert.Equal((StepStatus.Warned, StepStatus.Skipped, StepStatus.Failed),
            (staging.NewListeningPort, staging.UnexpectedOther, staging.PermissionWidened));
        var qa = config.Stage.PolicyFor("qa");
        Assert.Equal((StepStatus.Warned, StepStatus.Skipped, StepStatus.Warned),
            (qa.NewListeningPort, qa.UnexpectedOther, qa.PermissionWidened));
        Assert.Equal(new StagePolicy(), _temp.Load("hosts:\n  web: { transport: local }\n").Stage.PolicyFor("prod"));
    }

    [Fact]
    public void Stage_allow_rules_are_read_and_one_that_is_not_category_glob_is_refused_at_its_line()
    {
        var config = _temp.Load("hosts:\n  web: { transport: local }\nstage:\n  allow: ['process:/usr/sbin/zabbix_agentd*', 'log:/var/log/zabbix/*']\n");
        Assert.Equal(["process:/usr/sbin/zabbix_agentd*", "log:/var/log/zabbix/*"], config.Stage.Allow);

        var problems = _temp.Problems("hosts:\n  web: { transport: local }\nstage:\n  allow:\n    - 'proces:x'\n    - 'log:'\n");
        Assert.Equal([("stage.allow[0]", 5), ("stage.allow[1]", 6)], problems.Select(p => (p.Key, p.Line)));
        Assert.Contains("is not 'category:glob' (categories: process, log, account, privileged, cron, unit, module, etc)", problems[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stage_policy_naming_no_category_value_or_environment_there_is_is_refused_at_its_key()
    {
        var problems = _temp.Problems("""
            hosts:
              web: { transport: local }
            environments:
              staging: { hosts: [web] }
            stage:
              policy: { new_port: warn, unexpected_config: maybe }
              environments:
                stagin: { unexpected_config: warn }
            """);

        Assert.Equal(["stage.policy.new_port", "stage.policy.unexpected_config", "stage.environments.stagin"], problems.Select(p => p.Key));
        Assert.Equal("'maybe' is not a policy (fail, warn, ignore)", problems[1].Message);
        Assert.Contains("did you mean 'staging'?", problems[2].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_format_that_does_not_exist_or_a_relative_glob_is_named_with_its_line_and_key()
    {
        var problems = _temp.Problems("""
            drift:
              formats:
                /etc/acme/app.conf: toml
                etc/acme/x.yaml: yaml
                /etc/acme/y.ini: yml
            """);

        Assert.Equal(["drift.formats./etc/acme/app.conf", "drift.formats.etc/acme/x.yaml", "drift.formats./etc/acme/y.ini"], problems.Select(p => p.Key));
        Assert.Equal("'toml' is not a file format (known: bytes, ini, shell, sshd, systemd, yaml, json, nginx)", problems[0].Message);
        Assert.Equal(3, problems[0].Line);
        Assert.Contains("did you mean 'yaml'?", problems[2].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_drift_rules_are_each_reported()
    {
        var problems = _temp.Problems("""
            drift:
              track: [etc/relative, /etc/../root/.ssh/id_rsa, "/etc/x\ny"]
              ignore: ["packge:foo", "nocategory", "file:"]
              min_fidelity: 1.5
              max_content_bytes: 0
              secret_keys: ["(unclosed"]
            """);

        Assert.Equal(
            ["drift.track[0]", "drift.track[1]", "drift.track[2]", "drift.ignore[0]", "drift.ignore[1]", "drift.ignore[2]",
             "drift.min_fidelity", "drift.max_content_bytes", "drift.secret_keys[0]"],
            problems.Select(p => p.Key));
        Assert.Contains("did you mean 'package'", problems[3].Message, StringComparison.Ordinal);
        Assert.Contains("regular expression", problems[8].Message, StringComparison.Ordinal);
        Assert.Equal((2, 25), (problems[1].Line, problems[1].Column));
    }

    [Theory]
    [InlineData("package:linux-image-*")]
    [InlineData("file:/etc/hostname")]
    [InlineData("service:cron")]
    [InlineData("port:tcp/25")]
    [InlineData("setting:work_mem")]
    [InlineData("schema:public.audit_*")]
    [InlineData("migration:*")]
    [InlineData("os:kernel")]
    [InlineData("host:builder")]
    [InlineData("database:reports")]
    [InlineData("upgrade:tzdata")]
    public void Every_drift_category_is_accepted_in_ignore_rules(string rule) =>
        Assert.Equal([rule], _temp.Load($"drift:\n  ignore: [\"{rule}\"]\n").Drift.Ignore);

    [Fact]
    public void Ssh_settings_accept_seconds_with_or_without_a_unit()
    {
        var config = _temp.Load("""
            ssh:
              parallelism: 4
              connect_timeout: 5
              command_timeout: 2m
              keep_open: 0
            """);

        Assert.Equal(TimeSpan.Zero, config.Ssh.KeepOpen);
        Assert.Equal(TimeSpan.FromSeconds(60), _temp.Load("ssh:\n  parallelism: 4\n").Ssh.KeepOpen);
        Assert.Equal(4, config.Ssh.Parallelism);
        Assert.Equal(TimeSpan.FromSeconds(5), config.Ssh.ConnectTimeout);
        Assert.Equal(TimeSpan.FromMinutes(2), config.Ssh.CommandTimeout);
    }

    [Theory]
    [InlineData("parallelism: 257")]
    [InlineData("connect_timeout: abc")]
    [InlineData("command_timeout: -1")]
    [InlineData("connect_timeout: 0")]
    [InlineData("keep_open: -5")]
    [InlineData("keep_open: 2h")]
    public void Bad_ssh_settings_are_reported(string line) =>
        Assert.StartsWith("ssh.", _temp.SingleProblem($"ssh:\n  {line}\n").Key, StringComparison.Ordinal);
}
