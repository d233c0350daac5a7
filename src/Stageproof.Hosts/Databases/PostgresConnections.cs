using Npgsql;
using Stageproof.Core;

namespace Stageproof.Hosts.Databases;

/// <summary>Connection string helpers shared by the migrator and the rollback points.</summary>
internal static class PostgresConnections
{
    public static NpgsqlConnectionStringBuilder Parse(string connectionString, string what)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException)
        {
            throw new InputException($"database {what}: the connection string does not parse");
        }
    }

    /// <summary>"host:port/database", never the password.</summary>
    public static string Where(NpgsqlConnectionStringBuilder csb) => $"{csb.Host ?? "?"}:{csb.Port}/{csb.Database ?? "?"}";

    public static string Redact(string message, string? password) =>
        string.IsNullOrEmpty(password) ? message : message.Replace(password, "********", StringComparison.Ordinal);

    /// <summary>The same server and credentials, another database (e.g. the maintenance database <c>postgres</c>).</summary>
    public static string ForDatabase(NpgsqlConnectionStringBuilder csb, string database) =>
        new NpgsqlConnectionStringBuilder(csb.ConnectionString) { Database = database, Pooling = false }.ConnectionString;

    /// <summary>
    /// libpq arguments (host, port, user) and environment (password, SSL mode, connect timeout) for pg_dump and
    /// pg_restore. The password only ever travels in the child's environment, never on its command line.
    /// </summary>
    public static (List<string> Args, Dictionary<string, string> Env) LibpqFor(NpgsqlConnectionStringBuilder csb)
    {
        var args = new List<string>();
        if (!string.IsNullOrEmpty(csb.Host))
        {
            args.Add("--host=" + csb.Host);
        }
        args.Add("--port=" + csb.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (!string.IsNullOrEmpty(csb.Username))
        {
            args.Add("--username=" + csb.Username);
        }
        args.Add("--no-password");
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PGCONNECT_TIMEOUT"] = Math.Max(2, csb.Timeout).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PGSSLMODE"] = csb.SslMode switch
            {
                SslMode.Disable => "disable",
                SslMode.Allow => "allow",
                SslMode.Require => "require",
                SslMode.VerifyCA => "verify-ca",
                SslMode.VerifyFull => "verify-full",
                _ => "prefer",
            },
        };
        if (!string.IsNullOrEmpty(csb.Password))
        {
            env["PGPASSWORD"] = csb.Password;
        }
        return (args, env);
    }

    /// <summary>
    /// pg_dump and pg_restore read a database argument that contains "=" or starts with a URI prefix as a
    /// connection string; such names are refused rather than reinterpreted.
    /// </summary>
    public static string SafeDatabaseName(NpgsqlConnectionStringBuilder csb)
    {
        var name = csb.Database;
        if (string.IsNullOrEmpty(name))
        {
            throw new InputException("the connection string names no database");
        }
        if (name.Contains('=', StringComparison.Ordinal) || name.StartsWith("postgres", StringComparison.OrdinalIgnoreCase) && name.Contains("://", StringComparison.Ordinal)
            || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new InputException($"database name {name} cannot be passed to pg_dump safely");
        }
        return name;
    }
}
