using System.Globalization;
using System.Net;
using MySqlConnector;
using Npgsql;

namespace AcmeMail;

/// <summary>Where acme-mail finds its files. Every path can be moved by an environment variable (tests, chroots).</summary>
public sealed record AppPaths(string Defaults, string Config, string Migrations, string Seed, string Log, string? ReadyFile)
{
    public const string DefaultDefaults = "/usr/share/acme-mail/defaults.conf";
    public const string DefaultConfig = "/etc/acme-mail/acme-mail.conf";
    public const string DefaultMigrations = "/usr/share/acme-mail/migrations";
    public const string DefaultSeed = "/usr/share/acme-mail/seed.sql";
    public const string DefaultLog = "/var/log/acme-mail/acme-mail.log";
    /// <summary>Per-host settings (addresses, connection), read last: keeps the conffile identical across a fleet.</summary>
    public const string DefaultHostConfig = "/etc/acme-mail/host.d/host.conf";

    public string HostConfig { get; init; } = DefaultHostConfig;

    /// <summary>Fault injection for the gauntlet (see <see cref="AcmeMail.Faults"/>); shipped only by deliberately bad packages.</summary>
    public string Faults { get; init; } = AcmeMail.Faults.DefaultPath;

    public static AppPaths FromEnvironment(Func<string, string?>? getenv = null)
    {
        getenv ??= Environment.GetEnvironmentVariable;
        string Get(string name, string fallback) => getenv(name) is { Length: > 0 } v ? v : fallback;
        return new AppPaths(
            Get("ACME_MAIL_DEFAULTS", DefaultDefaults),
            Get("ACME_MAIL_CONF", DefaultConfig),
            Get("ACME_MAIL_MIGRATIONS", DefaultMigrations),
            Get("ACME_MAIL_SEED", DefaultSeed),
            Get("ACME_MAIL_LOG", DefaultLog),
            getenv("ACME_MAIL_READY_FILE") is { Length: > 0 } r ? r : null)
        {
            HostConfig = Get("ACME_MAIL_HOST_CONF", DefaultHostConfig),
            Faults = Get("ACME_MAIL_FAULTS", AcmeMail.Faults.DefaultPath),
        };
    }
}

/// <summary>A configuration error: acme-mail refuses to start and exits with code 2.</summary>
public sealed class ConfigException(string message) : Exception(message);

/// <summary>The effective configuration: built-in defaults, then the package defaults file, then the operator file.</summary>
public sealed record AppSettings
{
    public static readonly IReadOnlyList<string> Keys =
    [
        "db.engine", "db.connection", "db.pool_size", "db.pool_wait_timeout", "listen.address", "listen.port",
        "session.lifetime", "log.level", "indexer.interval", "auth.backend", "auth.ldap.url", "auth.ldap.user_dn",
    ];

    /// <summary>Keys the package's defaults file leaves out: the directory login is off unless an operator turns it on.</summary>
    public static readonly IReadOnlyList<string> OperatorOnlyKeys = ["auth.backend", "auth.ldap.url", "auth.ldap.user_dn"];

    /// <summary>db.engine: postgres (the default) or mariadb; it says how db.connection is read.</summary>
    public DbEngine Engine { get; init; } = DbEngine.Postgres;

    public string DbConnection { get; init; } = "Host=127.0.0.1;Port=5432;Database=mail;Username=acme";
    public int DbPoolSize { get; init; } = 20;
    public int DbPoolWaitTimeoutSeconds { get; init; } = 15;
    public IPAddress ListenAddress { get; init; } = IPAddress.Loopback;
    public int ListenPort { get; init; } = 8080;
    public int SessionLifetimeMinutes { get; init; } = 60;
    public LogLevelName LogLevel { get; init; } = LogLevelName.Info;
    public int IndexerIntervalSeconds { get; init; } = 5;

    /// <summary>Where a login's password is checked: the users table (database, the default) or an LDAP bind (ldap).</summary>
    public AuthBackend Auth { get; init; } = AuthBackend.Database;

    /// <summary>auth.ldap.url: ldap://HOST:PORT or ldaps://HOST:PORT of the directory a login binds to.</summary>
    public Uri? LdapUrl { get; init; }

    /// <summary>auth.ldap.user_dn: the DN a login binds as, {user} standing for the escaped user name.</summary>
    public string? LdapUserDn { get; init; }

    /// <summary>Which file set each key (for the startup log line), e.g. "listen.port" → "/etc/acme-mail/acme-mail.conf:12".</summary>
    public IReadOnlyDictionary<string, string> Sources { get; init; } = new Dictionary<string, string>();

    /// <summary>The driver's connection string (Npgsql or MySqlConnector) with the pool settings applied.</summary>
    public string EffectiveConnectionString()
    {
        if (Engine == DbEngine.MariaDb)
        {
            var m = new MySqlConnectionStringBuilder(DbConnection)
            {
                MaximumPoolSize = (uint)DbPoolSize,
                // MySqlConnector waits this long for a pooled connection too ("All pooled connections are in use").
                ConnectionTimeout = (uint)DbPoolWaitTimeoutSeconds,
                // The columns hold UTC (UTC_TIMESTAMP), and the JSON says so.
                DateTimeKind = MySqlDateTimeKind.Utc,
                // Seed and migration files written for the mariadb client may use @variables.
                AllowUserVariables = true,
            };
            if (string.IsNullOrEmpty(m.ApplicationName))
            {
                m.ApplicationName = "acme-mail";
            }
            return m.ConnectionString;
        }
        var b = new NpgsqlConnectionStringBuilder(DbConnection)
        {
            MaxPoolSize = DbPoolSize,
            Timeout = DbPoolWaitTimeoutSeconds,
        };
        if (string.IsNullOrEmpty(b.ApplicationName))
        {
            b.ApplicationName = "acme-mail";
        }
        return b.ConnectionString;
    }

    public static AppSettings Load(AppPaths paths) => Load(paths.Defaults, paths.Config, paths.HostConfig);

    /// <summary>Reads the files in order; a missing file is skipped, a malformed line or value is a <see cref="ConfigException"/>.</summary>
    public static AppSettings Load(params string[] files)
    {
        var values = new Dictionary<string, (string Value, string Source)>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            if (!File.Exists(file))
            {
                continue;
            }
            var lineNo = 0;
            foreach (var raw in File.ReadLines(file))
            {
                lineNo++;
                var line = raw.Trim();
                if (line.Length == 0 || line[0] == '#')
                {
                    continue;
                }
                var eq = line.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    throw new ConfigException($"{file}:{lineNo}: expected 'key = value', got '{line}'");
                }
                var key = line[..eq].Trim();
                var value = line[(eq + 1)..].Trim();
                if (!Keys.Contains(key))
                {
                    throw new ConfigException($"{file}:{lineNo}: unknown key '{key}' (known: {string.Join(", ", Keys)})");
                }
                values[key] = (value, $"{file}:{lineNo}");
            }
        }

        var s = new AppSettings();
        string? Str(string key) => values.TryGetValue(key, out var v) ? v.Value : null;
        int Int(string key, int fallback, int min, int max)
        {
            if (Str(key) is not { } text)
            {
                return fallback;
            }
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            {
                throw new ConfigException($"{values[key].Source}: {key} must be an integer from {min} to {max}, got '{text}'");
            }
            return n;
        }

        var address = s.ListenAddress;
        if (Str("listen.address") is { } a && !IPAddress.TryParse(a, out address))
        {
            throw new ConfigException($"{values["listen.address"].Source}: listen.address must be an IP address, got '{a}'");
        }
        var level = s.LogLevel;
        if (Str("log.level") is { } l && !LogLevels.TryParse(l, out level))
        {
            throw new ConfigException($"{values["log.level"].Source}: log.level must be debug, info, warn or error, got '{l}'");
        }
        var engine = Str("db.engine") switch
        {
            null or "postgres" => DbEngine.Postgres,
            "mariadb" => DbEngine.MariaDb,
            var other => throw new ConfigException($"{values["db.engine"].Source}: db.engine must be postgres or mariadb, got '{other}'"),
        };
        var connection = Str("db.connection") ?? s.DbConnection;
        try
        {
            _ = engine == DbEngine.MariaDb ? new MySqlConnectionStringBuilder(connection) : (object)new NpgsqlConnectionStringBuilder(connection);
        }
        catch (ArgumentException e)
        {
            throw new ConfigException($"{values["db.connection"].Source}: db.connection is not a valid connection string: {e.Message}");
        }

        var auth = Str("auth.backend") switch
        {
            null or "database" => AuthBackend.Database,
            "ldap" => AuthBackend.Ldap,
            var other => throw new ConfigException($"{values["auth.backend"].Source}: auth.backend must be database or ldap, got '{other}'"),
        };
        Uri? ldapUrl = null;
        if (Str("auth.ldap.url") is { } u && (!Uri.TryCreate(u, UriKind.Absolute, out ldapUrl) || ldapUrl.Scheme is not ("ldap" or "ldaps") || ldapUrl.AbsolutePath.Length > 1))
        {
            throw new ConfigException($"{values["auth.ldap.url"].Source}: auth.ldap.url must be ldap://HOST:PORT or ldaps://HOST:PORT, got '{u}'");
        }
        var userDn = Str("auth.ldap.user_dn");
        if (userDn is not null && !userDn.Contains("{user}", StringComparison.Ordinal))
        {
            throw new ConfigException($"{values["auth.ldap.user_dn"].Source}: auth.ldap.user_dn must hold {{user}} where the user name goes, got '{userDn}'");
        }
        if (auth == AuthBackend.Ldap && (ldapUrl is null || userDn is null))
        {
            throw new ConfigException($"{values["auth.backend"].Source}: auth.backend = ldap needs auth.ldap.url and auth.ldap.user_dn");
        }

        return s with
        {
            Engine = engine,
            Auth = auth,
            LdapUrl = ldapUrl,
            LdapUserDn = userDn,
            DbConnection = connection,
            DbPoolSize = Int("db.pool_size", s.DbPoolSize, 1, 10_000),
            DbPoolWaitTimeoutSeconds = Int("db.pool_wait_timeout", s.DbPoolWaitTimeoutSeconds, 1, 3600),
            ListenAddress = address!,
            ListenPort = Int("listen.port", s.ListenPort, 0, 65535),
            SessionLifetimeMinutes = Int("session.lifetime", s.SessionLifetimeMinutes, 1, 525_600),
            LogLevel = level,
            IndexerIntervalSeconds = Int("indexer.interval", s.IndexerIntervalSeconds, 1, 86_400),
            Sources = values.ToDictionary(kv => kv.Key, kv => kv.Value.Source, StringComparer.Ordinal),
        };
    }
}

public enum AuthBackend
{
    Database,
    Ldap,
}
