using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Hosts.Checks;
using Stageproof.Lab.Internal;

namespace Stageproof.Lab.Tests;

/// <summary>The configuration and secrets file the lab writes (no lab needed: rendered from a state).</summary>
public sealed class LabConfigWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stageproof-labconfig-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static LabState State() => new()
    {
        Directory = "/srv/lab", SshPort = 2222, PostgresPort = 5432, AcmeMailPort = 8080, AddressOctet = 10,
        Hosts =
        [
            new HostState { Name = "prod-app-1", Environment = "prod", Address = "127.0.10.11" },
            new HostState { Name = "staging-app-1", Environment = "staging", Address = "127.0.30.11" },
        ],
        Environments =
        [
            new EnvState { Name = "prod", Hosts = ["prod-app-1"], DatabaseAddress = "127.0.10.5" },
            new EnvState { Name = "staging", Hosts = ["staging-app-1"], DatabaseAddress = "127.0.30.5", MirrorOf = "prod" },
        ],
    };

    [Fact]
    public void The_rendered_configuration_parses_into_a_typed_suite_without_any_password()
    {
        var yaml = LabConfigWriter.Render(State());
        var config = ConfigLoader.Parse(yaml, Path.Combine(_dir, "stageproof.yaml"));

        var suite = config.SuiteOf("staging");
        Assert.Equal("acme-mail", suite.Name);
        Assert.Contains(suite.Checks, c => c is HttpCheck { Target.Port: 8080 });
        var login = Assert.IsType<AuthCheck>(suite.Find("login"));
        Assert.Equal(Path.Combine(_dir, "secrets", "acme-mail.env"), login.Credentials.File);
        Assert.DoesNotContain("password-", yaml, StringComparison.Ordinal);
        Assert.Equal("login", Assert.IsType<LoadCheck>(suite.Find("mail-load")).Auth);
        var schema = Assert.IsType<SchemaCheck>(suite.Find("schema"));
        Assert.True(schema.MigrationsComplete);
        Assert.Null(schema.SameAs);
        Assert.Equal(["health", "login"], Assert.IsType<SoakCheck>(suite.Find("soak")).Checks);
        Assert.Equal(32, Assert.IsType<LoadCheck>(suite.Find("login-load")).Clients);
        // The lab shares two cores with everything else: its latency comparisons allow 3x, still far below the 10x and
        // more of the gauntlet's slow search.
        Assert.Equal([3.0, 3.0], new[] { "mail-load", "login-load" }.Select(n => Assert.IsType<LoadCheck>(suite.Find(n)).Compare.MaxP95Ratio));
        Assert.Contains("/usr/share/acme-mail/defaults.conf", config.Drift.Track);
    }

    [Fact]
    public void On_the_mail_estate_each_environment_has_its_MariaDB_and_its_directory_read_with_a_password_file()
    {
        var state = State();
        state.Estate = "mail";
        state.MariaDbPort = 3306;
        state.LdapPort = 389;
        state.Environments[0].DatabaseAddress = "127.0.10.6";
        state.Environments[0].DirectoryAddress = "127.0.10.7";
        state.Environments[1].DatabaseAddress = "127.0.30.6";
        state.Environments[1].DirectoryAddress = "127.0.30.7";
        // Staging's directory is served by its LDAP host; prod's here by none.
        state.Hosts.Add(new HostState { Name = "staging-ldap-1", Environment = "staging", Role = "ldap", Address = "127.0.30.7" });
        state.Environments[1].Hosts.Add("staging-ldap-1");
        var yaml = LabConfigWriter.Render(state);
        var config = ConfigLoader.Parse(yaml, Path.Combine(_dir, "stageproof.yaml"));

        var staging = config.Environments["staging"];
        var mail = Stageproof.Core.Databases.DatabaseEndpoint.Parse(staging.Databases["mail"]);
        Assert.Equal(Stageproof.Core.Databases.DatabaseEngine.MariaDb, mail.Engine);
        Assert.StartsWith("Server=127.0.30.6;Port=3306;Database=mail;", mail.ConnectionString, StringComparison.Ordinal);
        var users = staging.Directories["users"];
        Assert.Equal(new Uri("ldap://127.0.30.7:389"), users.Url);
        Assert.Equal("cn=admin,cn=config", users.BindDn);
        Assert.Equal(Path.Combine(_dir, "secrets", "ldap-config.pw"), users.PasswordFile);
        Assert.Equal(["ou=people,dc=acme,dc=test"], users.Bases);
        // An apply that reaches the LDAP host exports the entries first, as the data admin (its password in a file too).
        Assert.Equal(("cn=admin,dc=acme,dc=test", Path.Combine(_dir, "secrets", "ldap-admin.pw")), (users.Rollback!.BindDn, users.Rollback.PasswordFile));
        Assert.True(users.ServedBy(config.Hosts["staging-ldap-1"]));
        Assert.Null(config.Environments["prod"].Directories["users"].Rollback);
        // The same suite: its sql checks and continuity measure are plain SQL both engines answer.
        Assert.Equal("mail", Assert.IsType<SqlCheck>(config.SuiteOf("staging").Find("mail-content")).Database);
        // The directory under load: each environment's own, through the same suite.
        var ldap = Assert.IsType<LdapCheck>(config.SuiteOf("staging").Find("ldap-load"));
        Assert.Equal(("users", "uid=${user},ou=people,dc=acme,dc=test", "(uid=${user})", 8), (ldap.Directory, ldap.BindDn, ldap.Filter, ldap.Clients));
        Assert.Equal(Path.Combine(_dir, "secrets", "acme-mail.env"), ldap.Credentials.File);
        Assert.Equal(10.0, ldap.Compare.MaxP95Ratio);
        // And one client at a time: a bind that works alone, beside binds that fail together, tells the two apart.
        var single = Assert.IsType<LdapCheck>(config.SuiteOf("staging").Find("ldap-bind"));
        Assert.Equal(("users", false), (single.Directory, single.IsLoad));
        Assert.Equal(["user01", "user02"], single.Accounts);
        Assert.Null(LabConfigWriter.Render(State()).Split('\n').FirstOrDefault(l => l.Contains("type: ldap", StringComparison.Ordinal)));
        Assert.DoesNotContain("password-", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public void With_a_proxy_tier_users_checks_go_through_nginx_and_the_app_checks_stay_on_the_app_hosts()
    {
        var state = State();
        state.Hosts.Add(new HostState { Name = "prod-proxy-1", Environment = "prod", Role = "proxy", Address = "127.0.10.9" });
        state.Hosts.Add(new HostState { Name = "staging-proxy-1", Environment = "staging", Role = "proxy", Address = "127.0.30.9" });
        state.Environments[0].Hosts.Add("prod-proxy-1");
        state.Environments[1].Hosts.Add("staging-proxy-1");
        var config = ConfigLoader.Parse(LabConfigWriter.Render(state), Path.Combine(_dir, "stageproof.yaml"));
        var suite = config.SuiteOf("staging");

        var proxied = Assert.IsType<HttpCheck>(suite.Find("proxy-health"));
        Assert.Equal(("proxy", 80), (proxied.Role, proxied.Target.Port));
        var load = Assert.IsType<LoadCheck>(suite.Find("mail-load"));
        Assert.Equal(("proxy", 80, "login"), (load.Role, load.Target.Port, load.Auth));
        // The proxies run no acme-mail: every other host check names the app hosts.
        Assert.All(new[] { "health", "listening", "service", "login", "login-load", "log-errors" }, n => Assert.Equal("app", suite.Find(n)!.Role));
        Assert.Contains("proxy-health", Assert.IsType<SoakCheck>(suite.Find("soak")).Checks);
        Assert.Contains("/etc/nginx/sites-available/acme-mail", config.Drift.Track);
        // Without proxies (the standard estate) the mail is searched on the app hosts themselves.
        var standard = ConfigLoader.Parse(LabConfigWriter.Render(State()), Path.Combine(_dir, "stageproof.yaml")).SuiteOf("staging");
        Assert.Null(standard.Find("proxy-health"));
        Assert.Equal(("app", 8080), (standard.Find("mail-load")!.Role, Assert.IsType<LoadCheck>(standard.Find("mail-load")).Target.Port));
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_secrets_file_holds_the_seeded_accounts_with_mode_0600_and_the_auth_check_reads_it()
    {
        await LabConfigWriter.WriteAsync(_dir, State(), CancellationToken.None);

        var secrets = Path.Combine(_dir, "secrets", "acme-mail.env");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(secrets));
        var config = ConfigLoader.Load(Path.Combine(_dir, "stageproof.yaml"));
        var login = Assert.IsType<AuthCheck>(config.SuiteOf("prod").Find("login"));
        var (accounts, error) = Credentials.Load(login.Credentials, login.User);
        Assert.Null(error);
        Assert.Equal(50, accounts.Count);
        Assert.Equal(new Account("user07", "password-07"), accounts[6]);
        // seed.sql is the source of truth for these accounts
        var seed = await File.ReadAllTextAsync(Path.Combine(RepoRoot(), "demo", "AcmeMail", "share", "seed.sql"));
        Assert.Contains("user01..user50, password password-01..password-50", seed, StringComparison.Ordinal);
    }

    private static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "Stageproof.slnx")))
        {
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("repository root not found");
        }
        return dir;
    }
}
