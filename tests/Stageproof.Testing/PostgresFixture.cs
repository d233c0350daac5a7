using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Stageproof.Testing;

/// <summary>
/// A real, private PostgreSQL 15 server for one test class: a copy of initdb's data directory (<see cref="InitdbTemplate"/>)
/// in a temporary directory owned by postgres, started on its own 127.0.3.x address and a free port, with one database created. Disposing stops
/// it (immediate mode) and deletes the directory. When the machine lacks root or the server binaries the
/// fixture does nothing and <see cref="EnsureAvailable"/> skips (or, under CI=true, fails) the test. A subclass may
/// give the loopback addresses its tests are assigned.
/// </summary>
public class PostgresFixture : IAsyncLifetime
{
    public PostgresFixture()
        : this("127.0.3.", 2, 250)
    {
    }

    /// <summary>A server on one of <paramref name="count"/> addresses from <paramref name="addressPrefix"/><paramref name="first"/>.</summary>
    protected PostgresFixture(string addressPrefix, int first, int count)
    {
        _addressPrefix = addressPrefix;
        _firstAddress = first;
        _addressCount = count;
    }

    private readonly string _addressPrefix;
    private readonly int _firstAddress;
    private readonly int _addressCount;

    public const string BinDir = InitdbTemplate.BinDir;
    public const string DatabaseName = "stageproof_test";

    private static int s_instances;
    private string? _dir;
    private bool _started;

    public string? UnavailableReason { get; private set; }
    public string Address { get; private set; } = "";
    public int Port { get; private set; }
    public string DataDirectory => Path.Combine(_dir ?? "", "data");

    /// <summary>Connection string of <see cref="DatabaseName"/> as the superuser postgres (trust auth).</summary>
    public string ConnectionString => ConnectionStringFor(DatabaseName);

    public string ConnectionStringFor(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = Address, Port = Port, Database = database, Username = "postgres", Pooling = false, Timeout = 10,
    }.ConnectionString;

    /// <summary>Skips the calling test when the server could not be provided (fails under CI=true).</summary>
    public void EnsureAvailable()
    {
        Requires.Root();
        Requires.Executable(Path.Combine(BinDir, "initdb"));
        Requires.Executable("/usr/sbin/runuser");
        Requires.That(UnavailableReason is null, UnavailableReason ?? "");
    }

    public async Task InitializeAsync()
    {
        if (Environment.UserName != "root" || !File.Exists(Path.Combine(BinDir, "initdb")) || !File.Exists("/usr/sbin/runuser"))
        {
            UnavailableReason = "needs root, /usr/sbin/runuser and PostgreSQL 15 server binaries";
            return;
        }
        try
        {
            var n = Interlocked.Increment(ref s_instances);
            Address = $"{_addressPrefix}{_firstAddress + (Environment.ProcessId + n * 7) % _addressCount}";
            Port = FreePort(Address);
            _dir = ScratchDirectory.Create("stageproof-pg-");
            await FixtureProcess.RunAsync("chown", ["postgres:postgres", _dir]).ConfigureAwait(false);
            await InitdbTemplate.CreateAsync(DataDirectory, ["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"]).ConfigureAwait(false);
            _started = true;
            await StartServerAsync().ConfigureAwait(false);
            await using var conn = new NpgsqlConnection(ConnectionStringFor("postgres"));
            await conn.OpenAsync().ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {DatabaseName} STRATEGY FILE_COPY", conn);
            await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        catch
        {
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Stops the server (fast: sessions are ended, as a failover or a minor upgrade ends them), leaves it down for
    /// <paramref name="down"/>, and starts it again on the same address and port: a real outage for whoever is connected.
    /// </summary>
    public async Task RestartAsync(TimeSpan down)
    {
        await FixtureProcess.RunAsync("/usr/sbin/runuser", ["-u", "postgres", "--", Path.Combine(BinDir, "pg_ctl"), "stop", "-w", "-m", "fast", "-D", DataDirectory]).ConfigureAwait(false);
        await Task.Delay(down).ConfigureAwait(false);
        await StartServerAsync().ConfigureAwait(false);
    }

    private async Task StartServerAsync()
    {
        await FixtureProcess.RunAsync("/usr/sbin/runuser", ["-u", "postgres", "--", Path.Combine(BinDir, "pg_ctl"), "start", "-w", "-t", "60",
            "-D", DataDirectory, "-l", Path.Combine(_dir!, "server.log"),
            "-o", $"-c listen_addresses={Address} -p {Port} -k {_dir} -c fsync=off"]).ConfigureAwait(false);
        await WaitReadyAsync().ConfigureAwait(false);
    }

    /// <summary>Runs SQL in the test database.</summary>
    public async Task ExecuteAsync(string sql, string? database = null)
    {
        await using var conn = new NpgsqlConnection(ConnectionStringFor(database ?? DatabaseName));
        await conn.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Creates an empty database on this server (for a test that needs one of its own). Copied file by file: PostgreSQL
    /// 15's default (WAL_LOG) writes the template through the log, 0.09 CPU-second a database against 0.03 here.
    /// </summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        await ExecuteAsync($"CREATE DATABASE {name} STRATEGY FILE_COPY", "postgres").ConfigureAwait(false);
        return ConnectionStringFor(name);
    }

    /// <summary>
    /// Drops <paramref name="name"/> if a previous test left it (ending its sessions), creates it empty and runs
    /// <paramref name="sql"/> in it; its connection string.
    /// </summary>
    public async Task<string> FreshDatabaseAsync(string name, string? sql = null)
    {
        await DropDatabaseAsync(name).ConfigureAwait(false);
        var connectionString = await CreateDatabaseAsync(name).ConfigureAwait(false);
        if (sql is not null)
        {
            await ExecuteAsync(sql, name).ConfigureAwait(false);
        }
        return connectionString;
    }

    /// <summary>Drops a database made by <see cref="CreateDatabaseAsync"/>, ending sessions still connected to it.</summary>
    public Task DropDatabaseAsync(string name) => ExecuteAsync($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", "postgres");

    public async Task DisposeAsync()
    {
        if (_dir is null)
        {
            return;
        }
        try
        {
            if (_started)
            {
                try
                {
                    await FixtureProcess.RunAsync("/usr/sbin/runuser", ["-u", "postgres", "--", Path.Combine(BinDir, "pg_ctl"), "stop",
                        "-m", "immediate", "-w", "-D", DataDirectory]).ConfigureAwait(false);
                }
                catch (InvalidOperationException)
                {
                    KillFromPidFile();
                }
            }
        }
        finally
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
                // A straggling process may still hold a file; the temp dir is cleaned eventually.
            }
            _dir = null;
        }
    }

    private void KillFromPidFile()
    {
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        if (File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid))
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                p.Kill(entireProcessTree: true);
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
        }
    }

    private async Task WaitReadyAsync()
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var conn = new NpgsqlConnection(ConnectionStringFor("postgres"));
                await conn.OpenAsync().ConfigureAwait(false);
                return;
            }
            catch (NpgsqlException) when (waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
        }
    }

    private static int FreePort(string address)
    {
        using var listener = new TcpListener(IPAddress.Parse(address), 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
