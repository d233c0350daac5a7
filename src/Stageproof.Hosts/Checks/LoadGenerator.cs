using System.Collections.Concurrent;
using System.Diagnostics;
using Stageproof.Core.Checks;

namespace Stageproof.Hosts.Checks;

/// <summary>
/// N concurrent clients, each looping over one iteration (the auth sequence, then the requests) until the duration
/// has passed, the warm-up plus the iteration count is reached or <see cref="CheckSuiteRunner.MaxSamples"/> samples were taken.
/// Every request is a sample: when it started, how long it took, whether it met its expectation.
/// </summary>
internal sealed class LoadGenerator(CheckSuiteRunner runner, HttpExecutor http)
{
    public sealed record Result(LoadRun Run, string? FirstError)
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

    public async Task<Result> RunAsync(LoadCheck check, AuthCheck? auth, IReadOnlyList<Account> accounts, Uri baseUri, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var deadline = check.Duration;
        var warmup = check.Warmup;
        var limit = check.Iterations is { } n ? n + warmup : int.MaxValue;
        var started = 0;
        var measuredFrom = warmup == 0 ? TimeSpan.Zero : (TimeSpan?)null;
        var measuredLock = new object();
        var samples = new ConcurrentQueue<LoadSample>();
        var sampleCount = 0;
        string? firstError = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // A request in flight at the deadline may finish; nothing longer. An iteration-only run is capped at an hour.
        stop.CancelAfter((deadline ?? MaxUnboundedRun) + check.Timeout);

        // The number of the iteration a client may start next, or -1 when the run is over.
        int Next()
        {
            if (stop.IsCancellationRequested || (deadline is not null && clock.Elapsed >= deadline) || Volatile.Read(ref sampleCount) >= CheckSuiteRunner.MaxSamples)
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

        void Add(LoadSample sample, string? error, int iteration)
        {
            if (iteration < warmup)
            {
                return;
            }
            samples.Enqueue(sample);
            Interlocked.Increment(ref sampleCount);
            if (error is not null)
            {
                Interlocked.CompareExchange(ref firstError, error, null);
            }
        }

        async Task Client()
        {
            int iteration;
            while ((iteration = Next()) >= 0)
            {
                var variables = new Dictionary<string, string>(StringComparer.Ordinal);
                if (auth is not null)
                {
                    var account = accounts[iteration % accounts.Count]; // accounts in turn, across all clients
                    var (ok, message, steps) = await runner.AuthSequenceAsync(auth, baseUri, account, stop.Token, clock, variables).ConfigureAwait(false);
                    foreach (var s in steps)
                    {
                        Add(s, null, iteration);
                    }
                    if (!ok)
                    {
                        if (iteration >= warmup)
                        {
                            Interlocked.CompareExchange(ref firstError, $"user {account.User}: {message}", null);
                        }
                        continue;
                    }
                }
                foreach (var request in check.Requests)
                {
                    var start = clock.Elapsed.TotalMilliseconds;
                    var outcome = await http.SendAsync(baseUri, request, variables, check.Timeout, stop.Token).ConfigureAwait(false);
                    var ok = outcome.Error is null && outcome.Status == request.ExpectStatus;
                    Add(new LoadSample(start, outcome.Latency.TotalMilliseconds, ok, $"{request.Method} {request.Path}"),
                        ok ? null : $"{outcome.Description}: {outcome.Error ?? $"status {outcome.Status}, expected {request.ExpectStatus}"}", iteration);
                }
            }
        }

        try
        {
            await Task.WhenAll(Enumerable.Range(0, check.Clients).Select(_ => Task.Run(Client, CancellationToken.None))).ConfigureAwait(false);
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
        return new Result(new LoadRun { Samples = ordered, Elapsed = elapsed, Clients = check.Clients }, firstError);
    }
}
