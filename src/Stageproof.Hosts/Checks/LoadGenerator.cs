using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Stageproof.Core.Checks;

namespace Stageproof.Hosts.Checks;

/// <summary>
/// N concurrent clients, each looping over one iteration (the auth sequence, then the requests) until the duration
/// has passed, the warm-up plus the iteration count is reached or <see cref="CheckSuiteRunner.MaxSamples"/> samples were taken.
/// Every request is a sample: when it started, how long it took, whether it met its expectation.
/// </summary>
internal sealed class LoadGenerator(CheckSuiteRunner runner, HttpExecutor http)
{
    /// <param name="StarvedClients">Clients with not one successful request in a measured window that ran its whole
    /// duration: a server that serves only some clients at a time leaves the rest waiting, where errors and
    /// percentiles may barely move.</param>
    public sealed record Result(LoadRun Run, string? FirstError, int StarvedClients = 0)
    {
        public int Requests => Run.Requests;
        public int Errors => Run.Errors;
        public double ErrorRate => Run.ErrorRate;
        public double Throughput => Run.Throughput;
        public TimeSpan Elapsed => Run.Elapsed;
        public LatencySummary Latency => Run.Latency;
        public IReadOnlyList<LoadSample> Samples => Run.Samples;
    }

    /// <summary>The longest a load check without a duration may run.</summary>
    public static readonly TimeSpan MaxUnboundedRun = TimeSpan.FromHours(1);

    public Task<Result> RunAsync(LoadCheck check, AuthCheck? auth, IReadOnlyList<Account> accounts, Uri baseUri, CancellationToken ct) =>
        RunLoopAsync(new LoadShape(check.Clients, check.Duration, check.Iterations, check.Warmup, check.Timeout), () => new LoadClient(async (iteration, clock, add, token) =>
        {
            var variables = new Dictionary<string, string>(StringComparer.Ordinal);
            if (auth is not null)
            {
                var account = accounts[iteration % accounts.Count]; // accounts in turn, across all clients
                var (ok, message, steps) = await runner.AuthSequenceAsync(auth, baseUri, account, token, clock, variables).ConfigureAwait(false);
                foreach (var s in steps)
                {
                    add(s, null);
                }
                if (!ok)
                {
                    add(null, $"user {account.User}: {message}");
                    return;
                }
            }
            foreach (var request in check.Requests)
            {
                var start = clock.Elapsed.TotalMilliseconds;
                var outcome = await http.SendAsync(baseUri, request, variables, check.Timeout, token).ConfigureAwait(false);
                var ok = outcome.Error is null && outcome.Status == request.ExpectStatus;
                add(new LoadSample(start, outcome.Latency.TotalMilliseconds, ok, $"{request.Method} {request.Path}"),
                    ok ? null : $"{outcome.Description}: {outcome.Error ?? $"status {outcome.Status}, expected {request.ExpectStatus}"}");
            }
        }), ct);

    /// <summary>How many clients, for how long or how many iterations, how many unrecorded first, and one attempt's bound.</summary>
    public sealed record LoadShape(int Clients, TimeSpan? Duration, int? Iterations, int Warmup, TimeSpan Timeout);

    /// <summary>Records a sample (null: none) and, for a failure, its error (the first one is kept).</summary>
    public delegate void Recorder(LoadSample? sample, string? error);

    /// <summary>One iteration of one client: its number (across all clients), the run's clock, where samples go.</summary>
    public delegate Task Iteration(int iteration, Stopwatch clock, Recorder add, CancellationToken ct);

    /// <summary>One client of a load: its iteration, and what it holds (a connection) to dispose when it ends.</summary>
    public sealed record LoadClient(Iteration Body, IDisposable? Owned = null);

    /// <summary>
    /// The loop every load shares: <see cref="LoadShape.Clients"/> clients, each made by <paramref name="newClient"/>
    /// (a client keeps what it holds, e.g. a connection, in its closure and names it to be disposed when it ends), run on a thread of their own so a client that blocks (a synchronous LDAP call) never
    /// waits for the thread pool to grow.
    /// </summary>
    public static async Task<Result> RunLoopAsync(LoadShape shape, Func<LoadClient> newClient, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(newClient);
        var clock = Stopwatch.StartNew();
        var deadline = shape.Duration;
        var warmup = shape.Warmup;
        var limit = shape.Iterations is { } n ? n + warmup : int.MaxValue;
        var started = 0;
        var measuredFrom = warmup == 0 ? TimeSpan.Zero : (TimeSpan?)null;
        var measuredLock = new object();
        var samples = new ConcurrentQueue<LoadSample>();
        var sampleCount = 0;
        string? firstError = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // The duration is the measured window, after the warmup: on a busy machine a slow warmup would otherwise eat the
        // window (a 5 s load whose warmup took 5 s measured nothing). The warmup may take one more duration at most.
        var warmupAllowance = warmup > 0 && deadline is { } d ? d : TimeSpan.Zero;
        // A request in flight at the deadline may finish; nothing longer. An iteration-only run is capped at an hour.
        stop.CancelAfter((deadline ?? MaxUnboundedRun) + warmupAllowance + shape.Timeout);

        bool Over()
        {
            if (deadline is not { } window)
            {
                return false;
            }
            lock (measuredLock)
            {
                return measuredFrom is { } from ? clock.Elapsed - from >= window : clock.Elapsed >= window + warmupAllowance;
            }
        }

        bool InWindow()
        {
            lock (measuredLock)
            {
                return measuredFrom is { } from && clock.Elapsed >= from;
            }
        }

        // The number of the iteration a client may start next, or -1 when the run is over.
        int Next()
        {
            if (stop.IsCancellationRequested || Over() || Volatile.Read(ref sampleCount) >= CheckSuiteRunner.MaxSamples)
            {
                return -1;
            }
            var next = Interlocked.Increment(ref started) - 1;
            if (next == warmup && warmup > 0)
            {
                lock (measuredLock)
                {
                    measuredFrom = clock.Elapsed;
                }
            }
            return next < limit ? next : -1;
        }

        var starved = 0;
        async Task Client()
        {
            var client = newClient();
            var body = client.Body;
            var served = false;
            try
            {
                int iteration;
                while ((iteration = Next()) >= 0)
                {
                    var measured = iteration >= warmup;
                    await body(iteration, clock, (sample, error) =>
                    {
                        // The warm-up keeps cold latency out, not failures: a warm-up request that fails once the
                        // window has begun counts (a client that got no answer from its first request on, e.g. from a
                        // server that can serve only some of the clients, would otherwise never show).
                        if (!measured && !(sample is { Ok: false } && InWindow()))
                        {
                            return;
                        }
                        if (sample is { } s)
                        {
                            // Served: answered within the window (a request answered only after it, e.g. once the
                            // other clients left, says the client waited the window out).
                            served |= measured && s.Ok && !Over();
                            samples.Enqueue(s);
                            Interlocked.Increment(ref sampleCount);
                        }
                        if (error is not null)
                        {
                            Interlocked.CompareExchange(ref firstError, error, null);
                        }
                    }, stop.Token).ConfigureAwait(false);
                }
            }
            finally
            {
                client.Owned?.Dispose();
                if (!served)
                {
                    Interlocked.Increment(ref starved);
                }
            }
        }

        try
        {
            await Task.WhenAll(Enumerable.Range(0, shape.Clients).Select(_ =>
                Task.Factory.StartNew(Client, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap())).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // the hard stop after the deadline: what was measured stands
        }
        TimeSpan from;
        lock (measuredLock)
        {
            from = measuredFrom ?? clock.Elapsed;
        }
        var elapsed = clock.Elapsed - from;
        var ordered = samples.OrderBy(s => s.OffsetMs).ToList();
        // Only a run the window ended says a client was starved: an iteration count or the sample cap may end it
        // before every client had its turn.
        var windowRan = deadline is { } window && elapsed >= window && shape.Iterations is null && sampleCount < CheckSuiteRunner.MaxSamples;
        return new Result(new LoadRun { Samples = ordered, Elapsed = elapsed, Clients = shape.Clients }, firstError, windowRan ? starved : 0);
    }

    /// <summary>A load run's measurements and verdict (error rate and p95 within the check's limits), as the HTTP load reports them.</summary>
    public static CheckSuiteRunner.Outcome Summarise(int clients, double maxErrorRate, TimeSpan? maxP95, string target, Result run)
    {
        var summary = run.Latency;
        var inv = CultureInfo.InvariantCulture;
        var m = new Dictionary<string, double>
        {
            ["requests"] = run.Requests, ["errors"] = run.Errors, ["error_rate"] = run.ErrorRate,
            ["throughput_rps"] = Math.Round(run.Throughput, 3), ["p50_ms"] = Math.Round(summary.P50, 3), ["p90_ms"] = Math.Round(summary.P90, 3),
            ["p95_ms"] = Math.Round(summary.P95, 3), ["p99_ms"] = Math.Round(summary.P99, 3), ["max_ms"] = Math.Round(summary.Max, 3),
            ["clients"] = clients, ["seconds"] = Math.Round(run.Elapsed.TotalSeconds, 3),
        };
        var text = string.Create(inv, $"{run.Requests} requests from {clients} clients in {run.Elapsed.TotalSeconds:0.00}s against {target}: {run.Throughput:0.#}/s, errors {run.Errors} ({run.ErrorRate * 100:0.00}%), {summary}");
        var problems = new List<string>();
        if (run.Requests == 0)
        {
            problems.Add("no request completed");
        }
        if (run.StarvedClients > 0)
        {
            m["starved_clients"] = run.StarvedClients;
            problems.Add(string.Create(inv, $"{run.StarvedClients} of {clients} clients had no request answered in the {run.Elapsed.TotalSeconds:0.##}s window"));
        }
        if (run.ErrorRate > maxErrorRate)
        {
            var firstErrors = run.Samples.Where(s => !s.Ok).GroupBy(s => s.Request).Select(g => $"{g.Key} ×{g.Count()}").Take(3);
            problems.Add(string.Create(inv, $"error rate {run.ErrorRate * 100:0.00}% over the limit {maxErrorRate * 100:0.00}% (failed: {string.Join(", ", firstErrors)}; first: {run.FirstError})"));
        }
        if (maxP95 is { } max && summary.P95 > max.TotalMilliseconds)
        {
            problems.Add(string.Create(inv, $"p95 {summary.P95:0.#}ms over the limit {max.TotalMilliseconds:0.#}ms"));
        }
        return new CheckSuiteRunner.Outcome(problems.Count == 0 ? CheckStatus.Passed : CheckStatus.Failed,
            problems.Count == 0 ? text : string.Join("; ", problems) + " — " + text, m, run.Run);
    }
}
