using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using MySqlConnector;

namespace Stageproof.Testing;

/// <summary>
/// A real, private MariaDB server for one test class: mariadb-install-db into a temporary directory owned by mysql,
/// then its own mariadbd (never the system service) on STAGEPROOF_TEST_LOOPBACK (default 127.0.0.1) and a free port,
/// with its own socket, one database and a password-authenticated user. Disposing stops the server by its pid and
/// deletes the directory. When the machine lacks root or the server binaries the fixture does nothing and
/// <see cref="EnsureAvailable"/> skips (or, under CI=true, fails) the test.
/// </summary>
public class MariaDbFixture : IAsyncLifetime
{
    public const string InstallDb = "/usr/bin/mariadb-install-db";
    public const string Server = "/usr/sbin/mariadbd";
    public const string Client = "/usr/bin/mariadb";
    public const string DatabaseName = "stageproof_test";
    public const string User = "stageproof";
    /// <summary>A password with characters a shell would act on ($, !): it must only ever travel in the environment.</summary>
    public const string Password = "s3cr$t-pw!";

    private string? _dir;
    private Process? _server;

    /// <summary>Arguments a subclass adds to mariadbd's (a binary log, for a replication source).</summary>
    protected virtual IEnumerable<string> ServerArguments => [];

    /// <summary>The server's replication id: distinct for each fixture of a process, as a source and its replica need.</summary>
    public int ServerId { get; } = Interlocked.Increment(ref _serverIds);

    private static int _serverIds;

    public string? UnavailableReason { get; private set; }
    public string Address { get; private set; } = "";
    public int Port { get; private set; }
    public string Socket => Path.Combine(_dir ?? "", "mariadb.sock");

    /// <summary>Connection string (MySqlConnector) of <see cref="DatabaseName"/> as <see cref="User"/>.</summary>
    public string ConnectionString => ConnectionStringFor(DatabaseName);

    public string ConnectionStringFor(string database) => new MySqlConnectionStringBuilder
    {
        Server = Address, Port = (uint)Port, Database = database, UserID = User, Password = Password, Pooling = false, ConnectionTimeout = 10,
    }.ConnectionString;

    /// <summary>The database as stageproof.yaml's one-string form carries it ("mariadb:…").</summary>
    public string Endpoint => EndpointFor(DatabaseName);

    public string EndpointFor(string database) => "mariadb:" + ConnectionStringFor(database);

    /// <summary>Skips the calling test when the server could not be provided (fails under CI=true).</summary>
    public void EnsureAvailable()
    {
        Requires.Root();
        Requires.Executable(InstallDb);
        Requires.Executable(Server);
        Requires.That(UnavailableReason is null, UnavailableReason ?? "");
    }

    public async Task InitializeAsync()
    {
        if (Environment.UserName != "root" || !File.Exists(InstallDb) || !File.Exists(Server) || !File.Exists(Client))
        {
            UnavailableReason = "needs root and MariaDB server binaries (apt-get install mariadb-server mariadb-client)";
            return;
        }
        try
        {
            Address = Environment.GetEnvironmentVariable("STAGEPROOF_TEST_LOOPBACK") is { Length: > 0 } a ? a : "127.0.0.1";
            Port = FreePort(Address);
            _dir = ScratchDirectory.Create("stageproof-mariadb-");
            var data = Path.Combine(_dir, "data");
            // Its own tmpdir: a mariadbd starting (mariadb-install-db's included) deletes every #sql* file of the mysql
            // user in its tmpdir, so in a shared /tmp it pulled the internal temp tables from under the other fixtures'
            // servers, which then failed a query ("Error on delete of '/tmp/#sql-temptable-…'") or crashed (SIGSEGV
            // in ha_maria::drop_table) when a server started while they ran.
            var tmp = Directory.CreateDirectory(Path.Combine(_dir, "tmp")).FullName;
            await FixtureProcess.RunAsync("chown", ["mysql:mysql", _dir, tmp]).ConfigureAwait(false);
            await InstallAsync(data, tmp).ConfigureAwait(false);
            var psi = new ProcessStartInfo(Server)
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/tmp",
            };
            string[] arguments =
            [
                "--no-defaults", "--user=mysql", $"--datadir={data}", $"--tmpdir={tmp}", $"--socket={Socket}", $"--port={Port}", $"--bind-address={Address}",
                $"--pid-file={Path.Combine(_dir, "mariadbd.pid")}", $"--log-error={Path.Combine(_dir, "server.log")}",
                "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
                "--innodb-flush-log-at-trx-commit=0", "--skip-innodb-doublewrite", "--event-scheduler=OFF",
                $"--server-id={ServerId}", .. ServerArguments,
            ];
            foreach (var arg in arguments)
            {
                psi.ArgumentList.Add(arg);
            }
            _server = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {Server}");
            _server.OutputDataReceived += (_, _) => { };
            _server.ErrorDataReceived += (_, _) => { };
            _server.BeginOutputReadLine();
            _server.BeginErrorReadLine();
            await WaitReadyAsync().ConfigureAwait(false);
            // root authenticates by its unix socket (we are root): it creates the test user, who then speaks TCP with a password.
            var quoted = Password.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal);
            await FixtureProcess.RunAsync(Client, ["--no-defaults", $"--socket={Socket}", "-u", "root", "-e",
                $"CREATE DATABASE {DatabaseName}; CREATE USER '{User}'@'%' IDENTIFIED BY '{quoted}'; " +
                $"GRANT ALL PRIVILEGES ON *.* TO '{User}'@'%' WITH GRANT OPTION;"]).ConfigureAwait(false);
        }
        catch
        {
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>One mariadb-install-db at a time in this process, retried on a fresh directory: once, on a loaded CI
    /// machine, a bootstrap failed ("Installation of system tables failed!") while three fixtures installed at once.</summary>
    private static readonly SemaphoreSlim Installs = new(1, 1);

    private static async Task InstallAsync(string data, string tmp)
    {
        await Installs.WaitAsync().ConfigureAwait(false);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await FixtureProcess.RunAsync(InstallDb, ["--no-defaults", "--user=mysql", $"--datadir={data}", $"--tmpdir={tmp}", "--auth-root-authentication-method=socket",
                        "--skip-test-db", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M"]).ConfigureAwait(false);
                    return;
                }
                catch (InvalidOperationException e) when (attempt < 3)
                {
                    Console.WriteLine($"MariaDbFixture: {InstallDb} failed (attempt {attempt} of 3), trying again on a fresh directory: {e.Message}");
                    if (Directory.Exists(data))
                    {
                        Directory.Delete(data, recursive: true);
                    }
                }
            }
        }
        finally
        {
            Installs.Release();
        }
    }

    /// <summary>Runs SQL (one or more statements) in the test database or another.</summary>
    public async Task ExecuteAsync(string sql, string? database = null)
    {
        await using var conn = new MySqlConnection(ConnectionStringFor(database ?? DatabaseName) + ";Allow User Variables=true");
        await conn.OpenAsync().ConfigureAwait(false);
        await using var cmd = new MySqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public async Task<object?> ScalarAsync(string sql, string? database = null)
    {
        await using var conn = new MySqlConnection(ConnectionStringFor(database ?? DatabaseName));
        await conn.OpenAsync().ConfigureAwait(false);
        await using var cmd = new MySqlCommand(sql, conn);
        return await cmd.ExecuteScalarAsync().ConfigureAwait(false);
    }

    /// <summary>Creates an empty database on this server; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        await ExecuteAsync($"CREATE DATABASE `{name}`").ConfigureAwait(false);
        return ConnectionStringFor(name);
    }

    public Task DropDatabaseAsync(string name) => ExecuteAsync($"DROP DATABASE IF EXISTS `{name}`");

    public async Task DisposeAsync()
    {
        try
        {
            if (_server is { } server)
            {
                _server = null;
                if (server.HasExited)
                {
                    // It died under the tests (mariadbd has crashed in CI): its own account of why, where CI shows it.
                    var log = _dir is null ? null : Path.Combine(_dir, "server.log");
                    if (log is not null && File.Exists(log))
                    {
                        // Kept past the directory's removal, for the next person to read.
                        var kept = Path.Combine(Path.GetTempPath(), $"stageproof-mariadb-crash-{Environment.ProcessId}-{Port}.log");
                        File.Copy(log, kept, overwrite: true);
                        log = kept;
                    }
                    await Console.Error.WriteLineAsync($"mariadbd on {Address}:{Port} exited on its own ({server.ExitCode}); the end of {log}:\n" +
                        (log is not null && File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(60)) : "(no log)")).ConfigureAwait(false);
                }
                else
                {
                    // SIGTERM: mariadbd shuts down cleanly; SIGKILL only if it does not within 20 s.
                    _ = kill(server.Id, 15);
                    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                    try
                    {
                        await server.WaitForExitAsync(wait.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        server.Kill(entireProcessTree: true);
                    }
                }
                server.Dispose();
            }
        }
        finally
        {
            if (_dir is not null)
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
    }

    private async Task WaitReadyAsync()
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            if (_server is { HasExited: true })
            {
                var log = Path.Combine(_dir!, "server.log");
                throw new InvalidOperationException($"mariadbd exited {_server.ExitCode}: {(File.Exists(log) ? await File.ReadAllTextAsync(log).ConfigureAwait(false) : "")}");
            }
            if (File.Exists(Socket))
            {
                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync(IPAddress.Parse(Address), Port).ConfigureAwait(false);
                    return;
                }
                catch (SocketException) when (waited.Elapsed < TimeSpan.FromSeconds(60))
                {
                }
            }
            else if (waited.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new InvalidOperationException("mariadbd did not open its socket within 60 s");
            }
            await Task.Delay(50).ConfigureAwait(false);
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

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
