using Npgsql;
using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>One PostgreSQL server per environment, from Debian's binaries, run as user postgres on this machine.</summary>
internal static class PostgresServer
{
    public const string Bin = "/usr/lib/postgresql/15/bin";
    public const string Role = "acme";
    public const string Password = "acme";
    public const string Database = "mail";

    public static string ConnectionString(string address, int port) =>
        $"Host={address};Port={port};Database={Database};Username={Role};Password={Password}";

    public static async Task InitAsync(EnvState env, int port, CancellationToken ct)
    {
        var subject = $"{env.Name}-db";
        if (!File.Exists(Path.Combine(Bin, "initdb")))
        {
            throw new InfrastructureException(subject, $"{Bin}/initdb not found (apt-get install postgresql-15)");
        }
        var dbRoot = Path.GetDirectoryName(env.DataDir)!;
        System.IO.Directory.CreateDirectory(dbRoot);
        System.IO.Directory.CreateDirectory(env.SocketDir);
        await Run.CheckedAsync(subject, "/bin/chown", ["postgres:postgres", dbRoot, env.SocketDir], TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        await AsPostgresAsync(subject, "initdb", ["-D", env.DataDir, "-U", "postgres", "-E", "UTF8", "--no-locale",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"], ct).ConfigureAwait(false);
        // Lab hosts reach the server from 127/8 addresses other than 127.0.0.1.
        await File.AppendAllTextAsync(Path.Combine(env.DataDir, "pg_hba.conf"),
            "# Stageproof lab: every loopback address, password required\nhost all all 127.0.0.0/8 scram-sha-256\n", ct).ConfigureAwait(false);
        await StartAsync(env, port, ct).ConfigureAwait(false);
        await using var conn = await OpenAdminAsync(env, port, ct).ConfigureAwait(false);
        await ExecAsync(conn, $"CREATE ROLE {Role} LOGIN CREATEDB PASSWORD '{Password}'", ct).ConfigureAwait(false);
        await ExecAsync(conn, $"CREATE DATABASE {Database} OWNER {Role}", ct).ConfigureAwait(false);
    }

    public static Task StartAsync(EnvState env, int port, CancellationToken ct) =>
        AsPostgresAsync($"{env.Name}-db", "pg_ctl", ["-D", env.DataDir, "-l", env.DataDir + ".log", "-w", "-t", "60",
            "-o", $"-c listen_addresses={env.DatabaseAddress} -p {port} -k {env.SocketDir}", "start"], ct);

    /// <summary>Stops a server: fast, then immediate, then SIGKILL of the postmaster. True if one was running.</summary>
    public static async Task<bool> StopAsync(string dataDir, CancellationToken ct)
    {
        var pidFile = Path.Combine(dataDir, "postmaster.pid");
        if (!File.Exists(pidFile))
        {
            return false;
        }
        foreach (var mode in new[] { "fast", "immediate" })
        {
            var r = await Run.ExecAsync("lab-db", "/usr/sbin/runuser", ["-u", "postgres", "--", Path.Combine(Bin, "pg_ctl"),
                "-D", dataDir, "-m", mode, "-w", "-t", "20", "stop"], TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
            if (r.Succeeded || !File.Exists(pidFile))
            {
                return true;
            }
        }
        if (int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid))
        {
            Processes.Signal(pid, 9);
            await Net.WaitUntilAsync(_ => Task.FromResult(!Processes.Alive(pid)), TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        }
        return true;
    }

    public static bool Running(string dataDir)
    {
        var pidFile = Path.Combine(dataDir, "postmaster.pid");
        return File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid) && Processes.Alive(pid);
    }

    public static async Task<NpgsqlConnection> OpenAdminAsync(EnvState env, int port, CancellationToken ct, string database = "postgres")
    {
        var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = env.SocketDir, Port = port, Username = "postgres", Database = database, Pooling = false,
        }.ConnectionString);
        try
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            return conn;
        }
        catch (NpgsqlException e)
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw new InfrastructureException($"{env.Name}-db", $"cannot connect to PostgreSQL at {env.SocketDir}: {e.Message}", e);
        }
    }

    /// <summary>Runs a SQL file with psql as the application role over TCP (psql semantics, stop on first error).</summary>
    public static Task RunFileAsync(string subject, string address, int port, string file, CancellationToken ct) =>
        Run.CheckedAsync(subject, "/usr/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", address, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-U", Role, "-d", Database, "-f", file], TimeSpan.FromMinutes(5), ct, new Dictionary<string, string> { ["PGPASSWORD"] = Password });

    /// <summary>Copies the mail database of one server into another (pg_dump | psql, through a file).</summary>
    public static async Task CopyDatabaseAsync(string subject, string fromAddress, string toAddress, int port, string scratch, CancellationToken ct)
    {
        var env = new Dictionary<string, string> { ["PGPASSWORD"] = Password };
        var dump = Path.Combine(scratch, "mail.sql");
        await Run.CheckedAsync(subject, "/usr/bin/pg_dump", ["-h", fromAddress, "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-U", Role, "-d", Database, "--no-owner", "-f", dump], TimeSpan.FromMinutes(10), ct, env).ConfigureAwait(false);
        try
        {
            await RunFileAsync(subject, toAddress, port, dump, ct).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(dump);
        }
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static Task AsPostgresAsync(string subject, string tool, IEnumerable<string> args, CancellationToken ct) =>
        Run.CheckedAsync(subject, "/usr/sbin/runuser", ["-u", "postgres", "--", Path.Combine(Bin, tool), .. args], TimeSpan.FromMinutes(2), ct);
}
