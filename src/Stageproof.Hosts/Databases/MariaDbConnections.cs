using System.Globalization;
using MySqlConnector;
using Stageproof.Core;

namespace Stageproof.Hosts.Databases;

/// <summary>Connection string helpers shared by the MariaDB facts collector, migrator, rollback points and checks.</summary>
internal static class MariaDbConnections
{
    public static MySqlConnectionStringBuilder Parse(string connectionString, string what)
    {
        try
        {
            return new MySqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException)
        {
            throw new InputException($"database {what}: the connection string does not parse");
        }
    }

    /// <summary>"server:port/database", never the password.</summary>
    public static string Where(MySqlConnectionStringBuilder csb) =>
        $"{(csb.Server is { Length: > 0 } s ? s : "?")}:{csb.Port.ToString(CultureInfo.InvariantCulture)}/{(csb.Database is { Length: > 0 } d ? d : "?")}";

    public static string Redact(string message, string? password) =>
        string.IsNullOrEmpty(password) ? message : message.Replace(password, "********", StringComparison.Ordinal);

    /// <summary>The same server and credentials, another database (or none, for server-wide statements).</summary>
    public static string ForDatabase(MySqlConnectionStringBuilder csb, string database) =>
        new MySqlConnectionStringBuilder(csb.ConnectionString) { Database = database, Pooling = false }.ConnectionString;

    /// <summary>`identifier`, backquotes doubled.</summary>
    public static string Quote(string identifier) => "`" + identifier.Replace("`", "``", StringComparison.Ordinal) + "`";

    /// <summary>
    /// Arguments (server, port, user) and environment (the password, as MYSQL_PWD) for mariadb-dump and the mariadb
    /// client. The password only ever travels in the child's environment, never on its command line.
    /// </summary>
    public static (List<string> Args, Dictionary<string, string> Env) ClientFor(MySqlConnectionStringBuilder csb)
    {
        // --no-defaults first: no ~/.my.cnf of whoever runs Stageproof changes what is dumped or where it goes.
        var args = new List<string> { "--no-defaults" };
        var server = csb.Server;
        if (!string.IsNullOrEmpty(server) && server.StartsWith('/'))
        {
            args.Add("--socket=" + server);
        }
        else
        {
            args.Add("--protocol=TCP");
            args.Add("--host=" + (string.IsNullOrEmpty(server) ? "localhost" : server));
            args.Add("--port=" + csb.Port.ToString(CultureInfo.InvariantCulture));
        }
        if (!string.IsNullOrEmpty(csb.UserID))
        {
            args.Add("--user=" + csb.UserID);
        }
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!string.IsNullOrEmpty(csb.Password))
        {
            env["MYSQL_PWD"] = csb.Password;
        }
        return (args, env);
    }

    /// <summary>The database the connection string names; refused when none or when it could be read as an option.</summary>
    public static string SafeDatabaseName(MySqlConnectionStringBuilder csb)
    {
        var name = csb.Database;
        if (string.IsNullOrEmpty(name))
        {
            throw new InputException("the connection string names no database");
        }
        if (name.StartsWith('-') || name.Contains('\0', StringComparison.Ordinal) || name.Contains('`', StringComparison.Ordinal))
        {
            throw new InputException($"database name {name} cannot be passed to mariadb-dump safely");
        }
        return name;
    }
}
