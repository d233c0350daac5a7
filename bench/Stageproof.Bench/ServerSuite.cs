using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Stageproof.Cli;
using Stageproof.Core.State;
using Stageproof.Server;

namespace Stageproof.Bench;

/// <summary>How the server suite runs: concurrent clients and seconds per load phase.</summary>
public sealed record ServerBenchOptions(int Clients, int Seconds)
{
    public const int LoginsPerMinute = 20;
    public const int StormAttempts = 200;
    public const int StormConnections = 8;
    public const int AloneSeconds = 3;

    public static ServerBenchOptions Parse(ReadOnlySpan<string> args)
    {
        var clients = 50;
        var seconds = 30;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0
                ? v
                : throw new ArgumentException($"option '{args[i]}' needs a positive number");
            switch (args[i])
            {
                case "--clients": clients = Math.Min(value, 500); break;
                case "--seconds": seconds = Math.Min(value, 300); break;
                default: throw new ArgumentException($"unknown option '{args[i]}' (known: --clients, --seconds)");
            }
            i++;
        }
        return new ServerBenchOptions(clients, seconds);
    }
}

/// <summary>
/// The server under load, in-process on 127.0.12.1: the API and the approvals queue page under N closed-loop clients
/// for S seconds each, then a storm of wrong passwords from 127.0.0.2 while a legitimate client on 127.0.0.3 works.
/// Not an <see cref="IBenchmarkSuite"/>: its numbers are throughput and latency percentiles, not per-operation runs.
/// </summary>
public static class ServerSuite
{
    public const string Name = "server";
    public const string Description = "API and approvals page under 50 clients for 30 s each; a login storm of 200 wrong passwords";

    private const int PatchSets = 20;
    private const string Password = "a bench password of some length";
    private const string StormName = "alice";
    private const string LegitName = "vera";
    private static readonly IPAddress StormAddress = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress LegitAddress = IPAddress.Parse("127.0.0.3");
    private static readonly IPAddress WarmupAddress = IPAddress.Parse("127.0.0.4");

    private const string Config = """
        hosts:
          stage-1: { transport: local }
          prod-1: { transport: local }
          prod-2: { transport: local }
        environments:
          staging: { hosts: [stage-1] }
          prod: { hosts: [prod-1, prod-2] }
        lifecycle:
          stages:
            - environment: staging
              approvals: 1
            - environment: prod
              approvals: 2
        """;

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static async Task<int> RunAsync(ServerBenchOptions options)
    {
        // Bounded overall: setup, two load phases and the storm must finish well within this.
        using var overall = new CancellationTokenSource(TimeSpan.FromSeconds(options.Seconds * 2 + 120));
        var ct = overall.Token;
        var dir = Directory.CreateTempSubdirectory("stageproof-bench-server-").FullName;
        WebApplication? app = null;
        try
        {
            var setup = Stopwatch.StartNew();
            var state = await BuildStateAsync(dir, ct);
            app = await StageproofServer.BuildAsync(new ServerOptions
            {
                Urls = "http://127.0.12.1:0",
                ConfigPath = state.ConfigPath,
                StateDirectory = state.StatePath,
                LoginsPerMinute = ServerBenchOptions.LoginsPerMinute,
            }, TimeProvider.System, ct);
            await app.StartAsync(ct);
            var baseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
            Console.WriteLine($"Workload: a scratch state built through the CLI in {setup.Elapsed.TotalSeconds:0.0} s: an admin, approvers alice " +
                $"(author) and carol, viewer {LegitName} (token and password); {PatchSets} frozen patch sets, {state.Approvals} approvals by carol " +
                "(each set waits for one more in prod, half also in staging). Server in-process on " +
                $"{baseAddress.Authority}, LoginsPerMinute {ServerBenchOptions.LoginsPerMinute}; the clients run in the same process " +
                "(same 2 cores), closed loop: each client sends its next request when the last one is answered.");
            Console.WriteLine();

            // Warm-up (JIT, connection setup, first page render), unmeasured.
            var cookie = await LoginCookieAsync(baseAddress, IPAddress.Loopback, LegitName, Password, ct);
            await LoadAsync(baseAddress, 4, TimeSpan.FromSeconds(2), "/api/v1/patch-sets", Bearer(state.ViewerToken), ct);
            await LoadAsync(baseAddress, 4, TimeSpan.FromSeconds(2), "/approvals", Cookie(cookie), ct);

            var store = app.Services.GetRequiredService<IStateStore>();
            var auditBefore = (await store.ReadAllAsync(ct)).Count;
            var duration = TimeSpan.FromSeconds(options.Seconds);
            var api = await LoadAsync(baseAddress, options.Clients, duration, "/api/v1/patch-sets", Bearer(state.ViewerToken), ct);
            var page = await LoadAsync(baseAddress, options.Clients, duration, "/approvals", Cookie(cookie), ct);
            Console.WriteLine("### load");
            Console.WriteLine();
            Console.WriteLine("| phase | clients | seconds | requests | req/s | p50 | p95 | p99 | max | errors | bytes/response |");
            Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            Console.WriteLine(api.Row($"API GET /api/v1/patch-sets (token, viewer)", options.Clients));
            Console.WriteLine(page.Row($"console GET /approvals (cookie, {LegitName})", options.Clients));
            Console.WriteLine();
            Console.WriteLine($"The audit log held {auditBefore} events when the load began (each approvals page reads it whole once, " +
                "for all the gate's questions).");
            Console.WriteLine();

            await StormAsync(baseAddress, ct);
            Console.WriteLine($"The audit log held {(await store.ReadAllAsync(ct)).Count} events after the storm (every processed attempt is audited; a 429 is refused before the endpoint and is not).");
            return 0;
        }
        finally
        {
            if (app is not null)
            {
                await app.StopAsync(CancellationToken.None);
                await app.DisposeAsync();
            }
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task StormAsync(Uri baseAddress, CancellationToken ct)
    {
        // The legitimate user logs in from its own address and measures its page alone first.
        var legitCookie = await LoginCookieAsync(baseAddress, LegitAddress, LegitName, Password, ct);
        using var legit = Client(baseAddress, LegitAddress, Cookie(legitCookie));
        var alone = await LoopAsync(legit, "/", () => false, TimeSpan.FromSeconds(ServerBenchOptions.AloneSeconds), ct);

        // Warm-up from a third address for a third name, so the refusal, lockout and 429 paths are compiled before the storm.
        using (var warm = Client(baseAddress, WarmupAddress, null, cookies: new CookieContainer()))
        {
            var token = await AntiforgeryTokenAsync(warm, ct);
            for (var i = 0; i < ServerBenchOptions.LoginsPerMinute + 5; i++)
            {
                using var form = LoginForm("nobody-warmup", "wrong", token);
                using var response = await warm.PostAsync("/login", form, ct);
            }
        }

        // The storm: one client address, a few connections, wrong passwords for someone else's name, as fast as answered.
        using var storm = Client(baseAddress, StormAddress, null, cookies: new CookieContainer());
        var antiforgery = await AntiforgeryTokenAsync(storm, ct);
        var next = -1;
        var codes = new int[600];
        var stormClock = Stopwatch.StartNew();
        var stormTasks = Enumerable.Range(0, ServerBenchOptions.StormConnections).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < ServerBenchOptions.StormAttempts && !ct.IsCancellationRequested)
            {
                using var form = LoginForm(StormName, "wrong password " + next.ToString(CultureInfo.InvariantCulture), antiforgery);
                using var response = await storm.PostAsync("/login", form, ct);
                Interlocked.Increment(ref codes[(int)response.StatusCode]);
            }
        }, ct)).ToArray();
        var all = Task.WhenAll(stormTasks);
        var during = await LoopAsync(legit, "/", () => all.IsCompleted, TimeSpan.FromSeconds(60), ct);
        await all;
        var stormTime = stormClock.Elapsed;

        // And its login still works from its own address, while the storm's address is refused.
        var loginClock = Stopwatch.StartNew();
        var loginAfter = await TryLoginAsync(baseAddress, LegitAddress, LegitName, Password, ct);
        var loginTime = loginClock.Elapsed;

        var throttled = codes[429];
        var processed = codes[302];
        var other = ServerBenchOptions.StormAttempts - throttled - processed;
        Console.WriteLine("### login storm");
        Console.WriteLine();
        Console.WriteLine($"{ServerBenchOptions.StormAttempts} POST /login with wrong passwords for '{StormName}' from {StormAddress} over " +
            $"{ServerBenchOptions.StormConnections} connections, as fast as answered; meanwhile '{LegitName}' from {LegitAddress} loops GET / " +
            $"(the estate page) with its session, measured alone for {ServerBenchOptions.AloneSeconds} s just before. The refusal, lockout and 429 " +
            $"paths were warmed up first from {WarmupAddress} on another name.");
        Console.WriteLine();
        Console.WriteLine("| storm attempts | answered 429 (throttled) | processed (302, refused) | other | storm took | legit login after storm |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | --- |");
        Console.WriteLine($"| {ServerBenchOptions.StormAttempts} | {throttled} | {processed} | {other} | {Ms(stormTime)} | " +
            $"{(loginAfter ? "accepted" : "REFUSED")} in {Ms(loginTime)} |");
        Console.WriteLine();
        Console.WriteLine("| legit client GET / | requests | p50 | p95 | max | errors |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        Console.WriteLine($"| alone ({ServerBenchOptions.AloneSeconds} s) | {alone.Requests} | {Ms(alone.P(50))} | {Ms(alone.P(95))} | {Ms(alone.Max)} | {alone.Errors} |");
        Console.WriteLine($"| during storm | {during.Requests} | {Ms(during.P(50))} | {Ms(during.P(95))} | {Ms(during.Max)} | {during.Errors} |");
        Console.WriteLine($"| ratio during / alone | | {Ratio(during.P(50), alone.P(50))} | {Ratio(during.P(95), alone.P(95))} | | |");
        Console.WriteLine();
    }

    private sealed record State(string ConfigPath, string StatePath, string ViewerToken, int Approvals);

    /// <summary>Users, passwords, a token, frozen sets and approvals, all through the real CLI.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static async Task<State> BuildStateAsync(string dir, CancellationToken ct)
    {
        var configPath = Path.Combine(dir, "stageproof.yaml");
        var statePath = Path.Combine(dir, ".stageproof");
        await File.WriteAllTextAsync(configPath, Config, ct);
        var passwordFile = PrivateFile(dir, "password", Password);

        async Task<string> Cli(params string[] args)
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var code = await StageproofCli.RunAsync(["--config", configPath, "--state", statePath, .. args], stdout, stderr, cancellationToken: ct);
            return code == 0 ? stdout.ToString()
                : throw new InvalidOperationException($"stageproof {string.Join(' ', args)}: exit {code}\n{stdout}\n{stderr}");
        }
        async Task<string> Token(string user) =>
            JsonDocument.Parse(await Cli("--json", "token", "create", user, "--expires", "1d")).RootElement.GetProperty("token").GetString()!;

        await Cli("user", "add", Environment.UserName, "--role", "admin");
        foreach (var (name, role) in new[] { ("alice", "approver"), ("carol", "approver"), (LegitName, "viewer") })
        {
            await Cli("user", "add", name, "--role", role);
            await Cli("user", "password", name, "--password-file", passwordFile);
        }
        var alice = PrivateFile(dir, "alice.token", await Token("alice"));
        var carol = PrivateFile(dir, "carol.token", await Token("carol"));
        var viewer = await Token(LegitName);

        var approvals = 0;
        for (var i = 1; i <= PatchSets; i++)
        {
            var set = Path.Combine(dir, $"set-{i:00}.yaml");
            await File.WriteAllTextAsync(set, $"""
                id: BENCH-{i:00}
                title: bench update number {i}
                reason: the server benchmark needs content on its pages
                severity: {(i % 3 == 0 ? "high" : "low")}
                author: alice
                commands:
                  post: ["true", "echo {i}"]
                """, ct);
            var digest = JsonDocument.Parse(await Cli("--token-file", alice, "--json", "patch", "freeze", set)).RootElement.GetProperty("digest").GetString()!;
            await Cli("--token-file", carol, "approve", digest, "--env", "prod", "--comment", "read the report");
            approvals++;
            if (i % 2 == 0)
            {
                await Cli("--token-file", carol, "approve", digest, "--env", "staging");
                approvals++;
            }
        }
        return new State(configPath, statePath, viewer, approvals);
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static string PrivateFile(string dir, string name, string content)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    private static Action<HttpRequestHeaders> Bearer(string token) => h => h.Authorization = new AuthenticationHeaderValue("Bearer", token);
    private static Action<HttpRequestHeaders> Cookie(string cookie) => h => h.Add("Cookie", cookie);

    /// <summary>A client of its own (one connection pool) whose connections leave from <paramref name="local"/>.</summary>
    private static HttpClient Client(Uri baseAddress, IPAddress local, Action<HttpRequestHeaders>? headers, CookieContainer? cookies = null)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = cookies is not null,
            CookieContainer = cookies ?? new CookieContainer(),
            ConnectCallback = async (context, token) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(local, 0));
                    await socket.ConnectAsync(IPAddress.Parse(context.DnsEndPoint.Host), context.DnsEndPoint.Port, token);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        headers?.Invoke(client.DefaultRequestHeaders);
        return client;
    }

    private static async Task<string> AntiforgeryTokenAsync(HttpClient client, CancellationToken ct)
    {
        var html = await client.GetStringAsync("/login", ct);
        var match = Regex.Match(html, "name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"");
        if (!match.Success)
        {
            match = Regex.Match(html, "value=\"([^\"]+)\"[^>]*name=\"__RequestVerificationToken\"");
        }
        return match.Success ? WebUtility.HtmlDecode(match.Groups[1].Value)
            : throw new InvalidOperationException("GET /login: no __RequestVerificationToken in the form");
    }

    private static FormUrlEncodedContent LoginForm(string user, string password, string antiforgery) => new(
    [
        new("user", user), new("password", password), new("returnUrl", "/"), new("__RequestVerificationToken", antiforgery),
    ]);

    /// <summary>Logs in through the real form; the session cookie ("stageproof=…"), or null if refused.</summary>
    private static async Task<string?> LoginAsync(Uri baseAddress, IPAddress local, string user, string password, CancellationToken ct)
    {
        var cookies = new CookieContainer();
        using var client = Client(baseAddress, local, null, cookies);
        var antiforgery = await AntiforgeryTokenAsync(client, ct);
        using var form = LoginForm(user, password, antiforgery);
        using var response = await client.PostAsync("/login", form, ct);
        var session = cookies.GetCookies(baseAddress)["stageproof"];
        return response.StatusCode == HttpStatusCode.Redirect && session is not null ? $"stageproof={session.Value}" : null;
    }

    private static async Task<bool> TryLoginAsync(Uri baseAddress, IPAddress local, string user, string password, CancellationToken ct) =>
        await LoginAsync(baseAddress, local, user, password, ct) is not null;

    private static async Task<string> LoginCookieAsync(Uri baseAddress, IPAddress local, string user, string password, CancellationToken ct) =>
        await LoginAsync(baseAddress, local, user, password, ct) ?? throw new InvalidOperationException($"POST /login as {user} from {local}: refused");

    /// <summary><paramref name="clients"/> clients, each its own connection, looping GET <paramref name="path"/> for <paramref name="duration"/>.</summary>
    private static async Task<Run> LoadAsync(Uri baseAddress, int clients, TimeSpan duration, string path, Action<HttpRequestHeaders> headers, CancellationToken ct)
    {
        var http = Enumerable.Range(0, clients).Select(_ => Client(baseAddress, IPAddress.Loopback, headers)).ToArray();
        try
        {
            var clock = Stopwatch.StartNew();
            var runs = await Task.WhenAll(http.Select(c => Task.Run(() => LoopAsync(c, path, () => false, duration, ct), ct)));
            return Run.Merge(runs, clock.Elapsed);
        }
        finally
        {
            foreach (var c in http) c.Dispose();
        }
    }

    /// <summary>GET <paramref name="path"/> (errors: anything but 200, a failed connection, a timeout) in a loop until <paramref name="stop"/> says so or <paramref name="duration"/> passes.</summary>
    private static async Task<Run> LoopAsync(HttpClient client, string path, Func<bool> stop, TimeSpan duration, CancellationToken ct)
    {
        const int MostRequests = 1_000_000;
        var times = new List<long>(4096);
        var errors = 0;
        long bytes = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration && !stop() && times.Count < MostRequests && !ct.IsCancellationRequested)
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                using var response = await client.GetAsync(path, ct);
                var body = await response.Content.ReadAsByteArrayAsync(ct);
                bytes += body.Length;
                if (response.StatusCode != HttpStatusCode.OK) errors++;
            }
            catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !ct.IsCancellationRequested))
            {
                // A refused connection or the client's 30 s timeout: an error with its time, not the end of the run.
                errors++;
            }
            times.Add(Stopwatch.GetTimestamp() - start);
        }
        return new Run(times, errors, bytes, clock.Elapsed);
    }

    private sealed class Run(List<long> times, int errors, long bytes, TimeSpan elapsed)
    {
        private readonly long[] _sorted = Sorted(times);
        public int Requests => _sorted.Length;
        public int Errors => errors;
        public TimeSpan Max => _sorted.Length == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(0, _sorted[^1]);

        /// <summary>Nearest-rank percentile.</summary>
        public TimeSpan P(double percent) => _sorted.Length == 0 ? TimeSpan.Zero
            : Stopwatch.GetElapsedTime(0, _sorted[Math.Clamp((int)Math.Ceiling(percent / 100 * _sorted.Length) - 1, 0, _sorted.Length - 1)]);

        public static Run Merge(IEnumerable<Run> runs, TimeSpan elapsed)
        {
            var list = runs.ToList();
            return new Run(list.SelectMany(r => r._sorted).ToList(), list.Sum(r => r.Errors), list.Sum(r => r._bytes), elapsed);
        }

        private readonly long _bytes = bytes;

        public string Row(string phase, int clients) =>
            $"| {phase} | {clients} | {elapsed.TotalSeconds:0.0} | {Requests} | {(Requests / elapsed.TotalSeconds).ToString("0", CultureInfo.InvariantCulture)} | " +
            $"{Ms(P(50))} | {Ms(P(95))} | {Ms(P(99))} | {Ms(Max)} | {Errors} | {(Requests == 0 ? 0 : _bytes / Requests)} |";

        private static long[] Sorted(List<long> times)
        {
            var a = times.ToArray();
            Array.Sort(a);
            return a;
        }
    }

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture) + " ms";

    private static string Ratio(TimeSpan during, TimeSpan alone) =>
        alone <= TimeSpan.Zero ? "n/a" : (during / alone).ToString("0.00", CultureInfo.InvariantCulture) + "×";
}
