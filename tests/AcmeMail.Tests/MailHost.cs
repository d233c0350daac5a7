using System.Net.Http.Json;
using System.Text.Json;
using MySqlConnector;
using Stageproof.Testing;

namespace AcmeMail.Tests;

/// <summary>Files for one acme-mail instance in a temporary directory: configuration, log, migrations copy.</summary>
public sealed class MailFiles : IDisposable
{
    public static string ShippedShare => Path.Combine(AppContext.BaseDirectory, "share");

    public MailFiles(PgServer pg, string database, string extraConfig = "")
        : this($"db.connection = {pg.ConnectionString(database, pooling: true)}", extraConfig)
    {
    }

    private MailFiles(string databaseConfig, string extraConfig)
    {
        Dir = ScratchDirectory.Create("acme-mail-test-");
        Migrations = Path.Combine(Dir, "migrations");
        var shipped = Path.Combine(ShippedShare, "migrations");
        foreach (var dir in Directory.GetDirectories(shipped, "*", SearchOption.AllDirectories).Prepend(shipped))
        {
            Directory.CreateDirectory(Path.Combine(Migrations, Path.GetRelativePath(shipped, dir)));
        }
        foreach (var f in Directory.GetFiles(shipped, "*", SearchOption.AllDirectories))
        {
            File.Copy(f, Path.Combine(Migrations, Path.GetRelativePath(shipped, f)));
        }
        ListenAddress = PgServer.NextAddress();
        File.WriteAllText(Path.Combine(Dir, "acme-mail.conf"), $"""
            # test overrides
            {databaseConfig}
            listen.address = {ListenAddress}
            listen.port = 0
            indexer.interval = 1
            {extraConfig}
            """);
        Paths = new AppPaths(
            Path.Combine(ShippedShare, "defaults.conf"),
            Path.Combine(Dir, "acme-mail.conf"),
            Migrations,
            Path.Combine(ShippedShare, "seed.sql"),
            Path.Combine(Dir, "log", "acme-mail.log"),
            null)
        {
            // Never the host's /usr/share/acme-mail/faults.conf: a test injects faults by writing this file.
            Faults = Path.Combine(Dir, "faults.conf"),
        };
    }

    /// <summary>Files of an acme-mail on MariaDB (db.engine = mariadb): <paramref name="database"/> on the fixture's server.</summary>
    public static MailFiles OnMariaDb(MariaDbFixture server, string database, string extraConfig = "") =>
        new($"db.engine = mariadb\ndb.connection = {new MySqlConnectionStringBuilder(server.ConnectionStringFor(database)) { Pooling = true }.ConnectionString}",
            extraConfig);

    /// <summary>The migrations this engine reads (the copy's mariadb/ for MariaDB).</summary>
    public string MigrationsOf(DbEngine engine) => engine == DbEngine.MariaDb ? Path.Combine(Migrations, "mariadb") : Migrations;

    /// <summary>Writes the fault injection file (e.g. "fault.login_race = true").</summary>
    public void WriteFaults(string text) => File.WriteAllText(Paths.Faults, text + "\n");

    /// <summary>The environment that makes a separate acme-mail process use these files.</summary>
    public Dictionary<string, string> Environment() => new()
    {
        ["ACME_MAIL_DEFAULTS"] = Paths.Defaults,
        ["ACME_MAIL_CONF"] = Paths.Config,
        ["ACME_MAIL_HOST_CONF"] = Path.Combine(Dir, "no-host.conf"),
        ["ACME_MAIL_MIGRATIONS"] = Paths.Migrations,
        ["ACME_MAIL_SEED"] = Paths.Seed,
        ["ACME_MAIL_LOG"] = Paths.Log,
        ["ACME_MAIL_FAULTS"] = Paths.Faults,
    };

    public string Dir { get; }
    public string Migrations { get; }
    public string ListenAddress { get; }
    public AppPaths Paths { get; }

    public string ReadLog()
    {
        if (!File.Exists(Paths.Log))
        {
            return "";
        }
        using var s = new FileStream(Paths.Log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    /// <summary>Polls the log until a line contains <paramref name="text"/> (no fixed sleeps).</summary>
    public async Task<string> WaitForLogLineAsync(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var line = ReadLog().Split('\n').FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (line is not null)
            {
                return line;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no log line with '{text}' within the time; log:\n{ReadLog()}");
            }
            await Task.Delay(50);
        }
    }

    public Task<int> RunCliAsync(params string[] args) => AcmeMailCli.RunAsync(args, Paths, CancellationToken.None);

    public void Dispose()
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

/// <summary>acme-mail running in this process (Kestrel on a 127.0.4.x address), stopped by DisposeAsync.</summary>
public sealed class MailHost : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly Task<int> _run;

    private MailHost(Task<int> run, CancellationTokenSource stop, Uri baseAddress)
    {
        _run = run;
        _stop = stop;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public HttpClient Http { get; }

    public static async Task<MailHost> StartAsync(MailFiles files, MailAppOptions? options = null)
    {
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stop = new CancellationTokenSource();
        var run = Task.Run(() => AcmeMailCli.RunAsync([], files.Paths, stop.Token, options, uri => listening.TrySetResult(uri)));
        var first = await Task.WhenAny(listening.Task, run, Task.Delay(TimeSpan.FromSeconds(60)));
        if (first != listening.Task)
        {
            await stop.CancelAsync();
            var code = await run.WaitAsync(TimeSpan.FromSeconds(30));
            stop.Dispose();
            throw new InvalidOperationException($"acme-mail did not start (exit {code}); log:\n{files.ReadLog()}");
        }
        return new MailHost(run, stop, await listening.Task);
    }

    public async Task<string> LoginAsync(string user, string password)
    {
        using var resp = await Http.PostAsJsonAsync("/login", new { user, password });
        resp.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await resp.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("token").GetString()!;
    }

    public async Task<(int Status, string Body)> GetAsync(string path, string? token)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
        {
            req.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }
        using var resp = await Http.SendAsync(req);
        return ((int)resp.StatusCode, await resp.Content.ReadAsStringAsync());
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _stop.CancelAsync();
        await _run.WaitAsync(TimeSpan.FromSeconds(30));
        _stop.Dispose();
    }
}
