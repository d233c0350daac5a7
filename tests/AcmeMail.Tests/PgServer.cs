using System.Net;
using System.Net.Sockets;
using Npgsql;
using Stageproof.Testing;

namespace AcmeMail.Tests;

/// <summary>
/// A throw-away PostgreSQL 15 cluster: initdb into a temporary directory as user postgres, listening only on a
/// 127.0.4.x address and a free port. DisposeAsync stops it (immediate) and deletes the directory.
/// </summary>
public sealed class PgServer : IAsyncDisposable
{
    public const string Bin = "/usr/lib/postgresql/15/bin";
    private static int s_nextHost = 10 + (Environment.ProcessId % 100);
    private bool _stopped;
    private readonly SemaphoreSlim _seeding = new(1, 1);
    private string? _seeded;

    private PgServer(string dir, string address, int port)
    {
        Dir = dir;
        Address = address;
        Port = port;
    }

    public string Dir { get; }
    public string Address { get; }
    public int Port { get; }
    public string DataDir => Path.Combine(Dir, "data");

    /// <summary>A new 127.0.4.x address (x from 10 to 249), distinct within this test process.</summary>
    public static string NextAddress() => $"127.0.4.{10 + (Interlocked.Increment(ref s_nextHost) % 240)}";

    public static int FreePort(string address)
    {
        using var l = new TcpListener(IPAddress.Parse(address), 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public static async Task<PgServer> StartAsync()
    {
        var address = NextAddress();
        var dir = ScratchDirectory.Create("acme-pg-");
        var server = new PgServer(dir, address, FreePort(address));
        try
        {
            (await Proc.RunAsync("chown", "postgres:postgres", dir)).Check("chown");
            await InitdbTemplate.CreateAsync(server.DataDir, ["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
            await server.StartAgainAsync();
            await using var conn = new NpgsqlConnection(server.ConnectionString("postgres", "postgres"));
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("CREATE ROLE acme LOGIN", conn);
            await cmd.ExecuteNonQueryAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public async Task StartAgainAsync()
    {
        (await Proc.RunAsync("runuser", "-u", "postgres", "--", $"{Bin}/pg_ctl", "-D", DataDir, "-l", Path.Combine(Dir, "pg.log"),
            "-w", "-t", "60", "start", "-o", $"-c listen_addresses={Address} -p {Port} -k {Dir} -c fsync=off -c max_connections=200")).Check("pg_ctl start");
        _stopped = false;
    }

    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }
        await Proc.RunAsync("runuser", "-u", "postgres", "--", $"{Bin}/pg_ctl", "-D", DataDir, "-m", "immediate", "-w", "stop");
        _stopped = true;
    }

    /// <summary>Unpooled by default so that a test's own connections never linger and block DROP/TEMPLATE.</summary>
    public string ConnectionString(string database, string user = "acme", bool pooling = false) =>
        $"Host={Address};Port={Port};Database={database};Username={user};Pooling={(pooling ? "true" : "false")};Timeout=5";

    /// <summary>
    /// Creates a database owned by the unprivileged role <c>acme</c>, as the lab does: empty, or a copy of
    /// <paramref name="template"/>. Copied file by file: PostgreSQL 15's default (WAL_LOG) writes the template through
    /// the log, 0.09 CPU-second an empty database against 0.03 here.
    /// </summary>
    public async Task<string> CreateDatabaseAsync(string? template = null)
    {
        var name = "mail_" + Guid.NewGuid().ToString("N")[..12];
        await using var conn = new NpgsqlConnection(ConnectionString("postgres", "postgres"));
        await conn.OpenAsync();
        var from = template is null ? "" : $" TEMPLATE {template}";
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}{from} OWNER acme STRATEGY FILE_COPY", conn);
        await cmd.ExecuteNonQueryAsync();
        return name;
    }

    /// <summary>
    /// A new database as <c>acme-mail --seed</c> leaves one (migrations applied, 50 users, 20,000 messages): a copy of
    /// one this server seeded with that command the first time it was asked. A seed costs PostgreSQL about 0.7
    /// CPU-second (the messages and their search index) and the fast tier seeded seventeen times; a copy costs a few
    /// hundredths. ServiceTests' seed test still seeds a database of its own.
    /// </summary>
    public async Task<string> CreateSeededDatabaseAsync()
    {
        await _seeding.WaitAsync();
        try
        {
            if (_seeded is null)
            {
                var seeded = await CreateDatabaseAsync();
                using var files = new MailFiles(this, seeded);
                var code = await files.RunCliAsync("--seed");
                if (code != 0)
                {
                    throw new InvalidOperationException($"acme-mail --seed exited {code}:\n{files.ReadLog()}");
                }
                _seeded = seeded;
            }
            return await CreateDatabaseAsync(template: _seeded);
        }
        finally
        {
            _seeding.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _seeding.Dispose();
        try
        {
            await StopAsync();
        }
        finally
        {
            try
            {
                Directory.Delete(Dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>One PostgreSQL for the tests of the "postgres" collection; each test makes its own database.</summary>
public sealed class PgFixture : IAsyncLifetime
{
    private PgServer? _server;

    public PgServer Server => _server ?? throw new InvalidOperationException("PostgreSQL did not start");

    public async Task InitializeAsync()
    {
        if (Environment.UserName != "root" || !File.Exists($"{PgServer.Bin}/initdb"))
        {
            return; // each test calls Requires.Root() / Requires.Executable() and skips or fails there
        }
        _server = await PgServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

[CollectionDefinition("postgres")]
public sealed class PgCollection : ICollectionFixture<PgFixture>;
