using System.Globalization;
using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>
/// One MariaDB server per environment of the mail estate, from this machine's Debian binaries, run as user mysql.
/// Its files sit beside PostgreSQL's would: data in LABDIR/db/ENV, socket and pid file in LABDIR/db/ENV.sock, its own
/// tmpdir (a starting mariadbd deletes the #sql* files of its tmpdir, so a shared /tmp would pull temporary tables from
/// under the other environments' servers).
/// </summary>
internal static class MariaDbServer
{
    public const string InstallDb = "/usr/bin/mariadb-install-db";
    public const string Server = "/usr/sbin/mariadbd";
    public const string Client = "/usr/bin/mariadb";
    public const string Dump = "/usr/bin/mariadb-dump";
    public const string User = PostgresServer.Role;
    public const string Password = PostgresServer.Password;
    public const string Database = PostgresServer.Database;

    /// <summary>acme-mail's and Stageproof's connection string (MySqlConnector keys).</summary>
    public static string ConnectionString(string address, int port) =>
        $"Server={address};Port={port.ToString(CultureInfo.InvariantCulture)};Database={Database};User ID={User};Password={Password}";

    public static string Socket(EnvState env) => Path.Combine(env.SocketDir, "mariadb.sock");

    public static string PidFile(string dataDir) => Path.Combine(dataDir + ".sock", "mariadbd.pid");

    /// <summary>Whether a directory under LABDIR/db is a MariaDB data directory (mariadb-install-db writes aria_log_control).</summary>
    public static bool IsDataDirectory(string dir) => File.Exists(Path.Combine(dir, "aria_log_control"));

    public static async Task InitAsync(EnvState env, int port, CancellationToken ct)
    {
        var subject = $"{env.Name}-db";
        foreach (var tool in new[] { InstallDb, Server, Client, Dump })
        {
            if (!File.Exists(tool))
            {
                throw new InfrastructureException(subject, $"{tool} not found (apt-get install mariadb-server mariadb-client)");
            }
        }
        var tmp = env.DataDir + ".tmp";
        foreach (var d in new[] { env.DataDir, env.SocketDir, tmp })
        {
            System.IO.Directory.CreateDirectory(d);
        }
        await Run.CheckedAsync(subject, "/bin/chown", ["mysql:mysql", env.DataDir, env.SocketDir, tmp], TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        await Run.CheckedAsync(subject, InstallDb, ["--no-defaults", "--user=mysql", $"--datadir={env.DataDir}", $"--tmpdir={tmp}",
            "--auth-root-authentication-method=socket", "--skip-test-db", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M"],
            TimeSpan.FromMinutes(3), ct).ConfigureAwait(false);
        await StartAsync(env, port, ct).ConfigureAwait(false);
        // root speaks through the socket (we are root); acme gets every privilege, as the PostgreSQL role may create
        // databases: a rollback restore loads into a database beside the live one and swaps the tables.
        await RootSqlAsync(env, $"CREATE DATABASE {Database} CHARACTER SET utf8mb4; " +
            $"CREATE USER '{User}'@'127.%' IDENTIFIED BY '{Password}'; GRANT ALL PRIVILEGES ON *.* TO '{User}'@'127.%';", ct).ConfigureAwait(false);
    }

    /// <summary>Starts mariadbd detached (setsid -f) and waits until it answers on its socket and its address.</summary>
    public static async Task StartAsync(EnvState env, int port, CancellationToken ct)
    {
        var subject = $"{env.Name}-db";
        await Run.DaemonAsync(subject, env.DataDir + ".log", "/usr/bin/setsid", ["-f", Server,
            "--no-defaults", "--user=mysql", $"--datadir={env.DataDir}", $"--tmpdir={env.DataDir}.tmp", $"--socket={Socket(env)}",
            $"--port={port.ToString(CultureInfo.InvariantCulture)}", $"--bind-address={env.DatabaseAddress}", $"--pid-file={PidFile(env.DataDir)}",
            $"--log-error={env.DataDir}.err", "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=0", "--skip-innodb-doublewrite"], TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        var ready = await Net.WaitUntilAsync(async c => File.Exists(Socket(env)) && await Net.TcpOpenAsync(env.DatabaseAddress, port, c).ConfigureAwait(false),
            TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
        if (!ready)
        {
            var err = env.DataDir + ".err";
            var tail = File.Exists(err) ? Run.Tail(await File.ReadAllTextAsync(err, ct).ConfigureAwait(false)) : "(no error log)";
            throw new InfrastructureException(subject, $"mariadbd did not answer on {env.DatabaseAddress}:{port} within 60s: {tail}");
        }
    }

    /// <summary>Stops a server by its pid file: SIGTERM (a clean shutdown), SIGKILL after 30 s. True if one was running.</summary>
    public static Task<bool> StopAsync(string dataDir, CancellationToken ct) => Processes.StopByPidFileAsync(PidFile(dataDir), TimeSpan.FromSeconds(30), ct);

    /// <summary>Copies the mail database of one server into another (mariadb-dump, then the client loads the file).</summary>
    public static async Task CopyDatabaseAsync(string subject, string fromAddress, string toAddress, int port, string scratch, CancellationToken ct)
    {
        var env = new Dictionary<string, string> { ["MYSQL_PWD"] = Password };
        var dump = Path.Combine(scratch, $"mail-{Guid.NewGuid():N}.sql");
        var p = port.ToString(CultureInfo.InvariantCulture);
        await Run.CheckedAsync(subject, Dump, ["--no-defaults", "-h", fromAddress, "-P", p, "-u", User, "--single-transaction",
            "--routines", "--triggers", "--events", $"--result-file={dump}", Database], TimeSpan.FromMinutes(10), ct, env).ConfigureAwait(false);
        try
        {
            // The path is the lab's own (no white space: the lab directory is validated), so the client's source command takes it.
            await Run.CheckedAsync(subject, Client, ["--no-defaults", "-h", toAddress, "-P", p, "-u", User, Database, "-e", $"source {dump}"],
                TimeSpan.FromMinutes(10), ct, env).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(dump);
        }
    }

    private static Task RootSqlAsync(EnvState env, string sql, CancellationToken ct) =>
        Run.CheckedAsync($"{env.Name}-db", Client, ["--no-defaults", $"--socket={Socket(env)}", "-u", "root", "-e", sql], TimeSpan.FromMinutes(1), ct);
}
