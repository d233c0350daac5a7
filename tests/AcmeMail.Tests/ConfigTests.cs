using System.Net;
using Npgsql;

namespace AcmeMail.Tests;

public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acme-conf-").FullName;

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Built_in_defaults_apply_when_no_file_exists()
    {
        var s = AppSettings.Load(Path.Combine(_dir, "missing1"), Path.Combine(_dir, "missing2"));
        Assert.Equal(IPAddress.Loopback, s.ListenAddress);
        Assert.Equal(8080, s.ListenPort);
        Assert.Equal(20, s.DbPoolSize);
        Assert.Equal(60, s.SessionLifetimeMinutes);
        Assert.Equal(LogLevelName.Info, s.LogLevel);
        Assert.Equal(5, s.IndexerIntervalSeconds);
    }

    [Fact]
    public void Shipped_defaults_parse_and_the_shipped_operator_file_changes_nothing()
    {
        var shipped = Path.Combine(MailFiles.ShippedShare, "defaults.conf");
        var conf = Path.Combine(MailFiles.ShippedShare, "acme-mail.conf");
        var withConf = AppSettings.Load(shipped, conf);
        var builtIn = AppSettings.Load();
        Assert.Empty(AppSettings.Load(conf).Sources); // everything is commented out
        Assert.Equal(builtIn with { Sources = withConf.Sources }, withConf);
        Assert.Equal(AppSettings.Keys.Except(AppSettings.OperatorOnlyKeys).Order(), withConf.Sources.Keys.Order());
    }

    [Fact]
    public void Operator_file_overrides_package_defaults_line_by_line()
    {
        var defaults = Write("defaults.conf", "# defaults\nlisten.port = 8080\nlog.level = info\n db.pool_size = 20 \n");
        var conf = Write("acme-mail.conf", "# operator\n\nlisten.port = 9090\n#log.level = debug\nlisten.address = 127.0.4.9\n");
        var s = AppSettings.Load(defaults, conf);
        Assert.Equal(9090, s.ListenPort);
        Assert.Equal(IPAddress.Parse("127.0.4.9"), s.ListenAddress);
        Assert.Equal(LogLevelName.Info, s.LogLevel);
        Assert.Equal(20, s.DbPoolSize);
        Assert.Equal($"{conf}:3", s.Sources["listen.port"]);
        Assert.Equal($"{defaults}:4", s.Sources["db.pool_size"]);
    }

    [Fact]
    public void Pool_settings_go_into_the_connection_string()
    {
        var conf = Write("c.conf", "db.connection = Host=127.0.4.5;Database=mail;Username=acme\ndb.pool_size = 7\ndb.pool_wait_timeout = 3\n");
        var b = new NpgsqlConnectionStringBuilder(AppSettings.Load(conf).EffectiveConnectionString());
        Assert.Equal(7, b.MaxPoolSize);
        Assert.Equal(3, b.Timeout);
        Assert.Equal("127.0.4.5", b.Host);
        Assert.Equal("acme-mail", b.ApplicationName);
    }

    [Theory]
    [InlineData("listen.port = eighty", "listen.port must be an integer")]
    [InlineData("listen.port = 70000", "listen.port must be an integer")]
    [InlineData("listen.address = localhost", "listen.address must be an IP address")]
    [InlineData("log.level = loud", "log.level must be")]
    [InlineData("session.lifetme = 5", "unknown key 'session.lifetme'")]
    [InlineData("just words", "expected 'key = value'")]
    [InlineData("db.connection = Host=x;Nonsense Key=1", "db.connection is not a valid connection string")]
    [InlineData("db.engine = oracle", "db.engine must be postgres or mariadb, got 'oracle'")]
    [InlineData("auth.backend = kerberos", "auth.backend must be database or ldap")]
    [InlineData("auth.backend = ldap", "auth.backend = ldap needs auth.ldap.url and auth.ldap.user_dn")]
    [InlineData("auth.ldap.url = http://h:389", "auth.ldap.url must be ldap://HOST:PORT")]
    [InlineData("auth.ldap.user_dn = uid=alice,ou=people,dc=acme,dc=test", "auth.ldap.user_dn must hold {user}")]
    public void Bad_lines_are_configuration_errors_naming_file_and_line(string line, string expected)
    {
        var conf = Write("bad.conf", "# first\n" + line + "\n");
        var e = Assert.Throws<ConfigException>(() => AppSettings.Load(conf));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains($"{conf}:2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void On_mariadb_the_connection_string_is_mysqlconnectors_with_the_pool_settings_and_utc_times()
    {
        var conf = Write("maria.conf", "db.engine = mariadb\ndb.connection = Server=127.0.4.5;Port=3306;Database=mail;User ID=acme\ndb.pool_size = 7\ndb.pool_wait_timeout = 3\n");
        var s = AppSettings.Load(conf);
        Assert.Equal(DbEngine.MariaDb, s.Engine);
        var b = new MySqlConnector.MySqlConnectionStringBuilder(s.EffectiveConnectionString());
        Assert.Equal((7u, 3u, "127.0.4.5", "acme-mail"), (b.MaximumPoolSize, b.ConnectionTimeout, b.Server, b.ApplicationName));
        Assert.Equal(MySqlConnector.MySqlDateTimeKind.Utc, b.DateTimeKind);

        // A connection string is read by the engine's driver: an Npgsql-only key is an error on mariadb.
        var bad = Write("bad-maria.conf", "db.engine = mariadb\n# then\ndb.connection = Host=h;Include Error Detail=true\n");
        var e = Assert.Throws<ConfigException>(() => AppSettings.Load(bad));
        Assert.StartsWith($"{bad}:3: db.connection is not a valid connection string", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("kubernetes", "+kubernetes")]
    [InlineData("  kubernetes   staging ", "+kubernetes +staging")]
    [InlineData("+kubernetes -\"(staging*)~", "+kubernetes +staging")]
    [InlineData("Quick question about the follow-up", "+Quick +question +follow")]
    [InlineData("-- () an", "")]
    public void A_search_on_mariadb_requires_every_word_and_takes_no_operators_from_the_user(string typed, string query) =>
        Assert.Equal(query, MariaDbMailStore.BooleanQuery(typed));

    [Fact]
    public void Paths_come_from_environment_variables_with_package_defaults()
    {
        var env = new Dictionary<string, string> { ["ACME_MAIL_CONF"] = "/tmp/x.conf", ["ACME_MAIL_LOG"] = "/tmp/x.log" };
        var p = AppPaths.FromEnvironment(n => env.GetValueOrDefault(n));
        Assert.Equal("/tmp/x.conf", p.Config);
        Assert.Equal("/tmp/x.log", p.Log);
        Assert.Equal("/usr/share/acme-mail/defaults.conf", p.Defaults);
        Assert.Equal("/usr/share/acme-mail/migrations", p.Migrations);
        Assert.Null(p.ReadyFile);
    }

    [Fact]
    public async Task A_configuration_error_exits_2()
    {
        var conf = Write("bad.conf", "listen.port = many\n");
        var paths = new AppPaths(Path.Combine(_dir, "none"), conf, _dir, Path.Combine(_dir, "seed.sql"), Path.Combine(_dir, "x.log"), null);
        Assert.Equal(2, await AcmeMailCli.RunAsync([], paths, CancellationToken.None));
        Assert.Contains("ERROR configuration error", await File.ReadAllTextAsync(Path.Combine(_dir, "x.log")), StringComparison.Ordinal);
        Assert.Equal(2, await AcmeMailCli.RunAsync(["--bogus"], paths, CancellationToken.None));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

public sealed class LogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("acme-log-").FullName;

    [Fact]
    public void One_line_per_event_with_utc_milliseconds_and_level()
    {
        var path = Path.Combine(_dir, "sub", "acme-mail.log");
        using (var log = new AppLog(path, LogLevelName.Info))
        {
            log.Debug("hidden");
            log.Info("hello");
            log.Error("two\nlines");
        }
        var lines = File.ReadAllLines(path);
        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO hello$", lines[0]);
        Assert.EndsWith(" ERROR two lines", lines[1], StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

public sealed class MailboxAccessTests
{
    [Fact]
    public void Release_1_0_rule_lets_any_token_read_any_mailbox()
    {
        Assert.True(MailboxAccess.MayRead("user01", "user01", enforceOwner: false));
        Assert.True(MailboxAccess.MayRead("user01", "user02", enforceOwner: false));
    }

    [Fact]
    public void Release_1_1_rule_requires_the_token_owner()
    {
        Assert.True(MailboxAccess.MayRead("user01", "user01", enforceOwner: true));
        Assert.False(MailboxAccess.MayRead("user01", "user02", enforceOwner: true));
        Assert.False(MailboxAccess.MayRead("user01", "USER01", enforceOwner: true));
    }

    [Fact]
    public void This_build_selects_the_rule_from_its_version()
    {
        Assert.Equal(BuildInfo.Version != "1.0", BuildInfo.EnforcesMailboxOwner);
        Assert.Equal(BuildInfo.EnforcesMailboxOwner, new MailAppOptions().EnforceMailboxOwner);
    }
}
