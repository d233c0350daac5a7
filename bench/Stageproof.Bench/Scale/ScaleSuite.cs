using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Npgsql;
using Stageproof.Application.Jobs;
using Stageproof.Application.Lifecycle;
using Stageproof.Application.Notifications;
using Stageproof.Core.Configuration;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Data;
using Stageproof.Testing;

namespace Stageproof.Bench.Scale;

public sealed record ScaleOptions(int Hosts, int Environments, IReadOnlyList<int> Workers, int LatencyMs, int Parallelism, int BatchPercent, int TimeoutSeconds,
    int MaxConnections)
{
    public static ScaleOptions Parse(ReadOnlySpan<string> args)
    {
        var o = new ScaleOptions(1000, 8, [1, 2, 4], 20, 16, 10, 600, 100);
        for (var i = 0; i < args.Length; i++)
        {
            var option = args[i];
            var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"option '{option}' needs a value");
            int Positive() => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 ? v
                : throw new ArgumentException($"option '{option}' needs a positive number, not '{value}'");
            o = args[i] switch
            {
                "--hosts" => o with { Hosts = Positive() },
                "--environments" => o with { Environments = Positive() },
                "--workers" => o with
                {
                    Workers = [.. value.Split(',').Select(w => int.TryParse(w, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is > 0 and <= 16 ? n
                        : throw new ArgumentException($"--workers takes a list such as 1,2,4 (each 1..16), not '{value}'"))],
                },
                "--latency-ms" => o with { LatencyMs = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? l
                    : throw new ArgumentException($"--latency-ms needs a number, not '{value}'") },
                "--parallelism" => o with { Parallelism = Positive() },
                "--batch-percent" => o with { BatchPercent = Math.Min(100, Positive()) },
                "--timeout" => o with { TimeoutSeconds = Positive() },
                "--max-connections" => o with { MaxConnections = Positive() },
                _ => throw new ArgumentException($"unknown option '{args[i]}' (known: --hosts, --environments, --workers, --latency-ms, --parallelism, --batch-percent, --timeout, --max-connections)"),
            };
            i++;
        }
        return o.Environments > o.Hosts ? throw new ArgumentException("--environments may not exceed --hosts") : o;
    }

    public string CommandLine => $"--hosts {Hosts} --environments {Environments} --workers {string.Join(',', Workers)} --latency-ms {LatencyMs} " +
                                 $"--parallelism {Parallelism} --batch-percent {BatchPercent} --max-connections {MaxConnections}";
}

/// <summary>
/// The scale benchmark: a rollout of one patch set over a <see cref="SimulatedEstate"/> of N hosts split into E
/// environments (one rollout each: the lock is per environment, and a rollout is one job), run by 1, 2, 4 … worker
/// processes (<see cref="ScaleWorker"/>: nodes of the clustered Quartz.NET job store) sharing one real PostgreSQL state
/// (<c>PostgresStateStore</c>). Each worker count gets fresh databases and a fresh estate. Measured: the wall time from
/// enqueueing the rollouts to the last one finished, hosts/minute, the state's writes (the engine's store calls, and
/// PostgreSQL's own commits and rows), and where the time went (simulated host latency, store calls, the workers' and
/// PostgreSQL's CPU).
/// </summary>
internal static class ScaleSuite
{
    public const string Name = "scale";
    public const string Description = "a rollout over N simulated hosts by 1, 2, 4 worker processes on a PostgreSQL state";

    private const string PatchText = """
        id: SCALE-1
        title: shorter acme-mail sessions
        reason: the scale benchmark
        severity: low
        author: alice
        files:
          - path: /etc/acme-mail/acme-mail.conf
            set: { session.lifetime: "45" }
        commands:
          post: ["service acme-mail restart"]
        """;

    public sealed record RunResult(int Workers, double WallSeconds, double FirstStartSeconds, IReadOnlyList<Rollout> Rollouts, IReadOnlyList<ScaleWorker.Stats> Stats,
        PgCounters State, PgCounters Jobs, double PostgresCpuSeconds, int PeakConnections, string? Failure = null);

    public sealed record PgCounters(long Commits, long Inserted, long Updated, long Deleted, long Returned)
    {
        public static PgCounters operator -(PgCounters a, PgCounters b) =>
            new(a.Commits - b.Commits, a.Inserted - b.Inserted, a.Updated - b.Updated, a.Deleted - b.Deleted, a.Returned - b.Returned);

        public long RowsWritten => Inserted + Updated + Deleted;
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static async Task<int> RunAsync(ScaleOptions options)
    {
        Console.WriteLine($"Simulated estate: {options.Hosts} hosts (SimulatedEstate: {SimulatedHost.FillerPackages + 1} packages, one tracked config file), " +
                          $"{options.LatencyMs} ms a command; {options.Environments} environment(s) of ~{options.Hosts / options.Environments} hosts, one rollout each " +
                          $"(canary 1, batches of {options.BatchPercent}%, settle 0s, service check per batch, {options.Parallelism} hosts of a batch at once); " +
                          "patch: a key edit of /etc/acme-mail/acme-mail.conf and a service restart.");
        var postgres = new PostgresFixture();
        await postgres.InitializeAsync().ConfigureAwait(false);
        if (postgres.UnavailableReason is { } why)
        {
            Console.Error.WriteLine($"scale: no PostgreSQL: {why}");
            return 2;
        }
        var results = new List<RunResult>();
        try
        {
            if (options.MaxConnections != 100)
            {
                // PostgreSQL reads max_connections at start only: set it, then restart with the fixture's own options.
                await postgres.ExecuteAsync($"ALTER SYSTEM SET max_connections = {options.MaxConnections}", "postgres").ConfigureAwait(false);
                await RestartAsync(postgres).ConfigureAwait(false);
            }
            Console.WriteLine($"PostgreSQL 15 on {postgres.Address}:{postgres.Port} (a private server: fsync=off, as the test fixture starts it; " +
                              $"max_connections {options.MaxConnections})");
            foreach (var workers in options.Workers)
            {
                RunResult result;
                try
                {
                    result = await RunOnceAsync(postgres, options, workers).ConfigureAwait(false);
                }
                catch (StalledException e)
                {
                    result = e.Result;
                }
                results.Add(result);
                Print(options, result);
            }
        }
        finally
        {
            await postgres.DisposeAsync().ConfigureAwait(false);
        }
        Summary(options, results);
        return results.All(r => r.Failure is null && r.Rollouts.All(x => x.Status == RolloutStatus.Succeeded)) ? 0 : 1;
    }

    /// <summary>A run whose rollouts stopped moving (a job ended while its rollout was unfinished), with what it measured.</summary>
    private sealed class StalledException(RunResult result) : Exception(result.Failure)
    {
        public RunResult Result { get; } = result;
    }

    private static async Task RestartAsync(PostgresFixture postgres)
    {
        var psi = new ProcessStartInfo("/usr/sbin/runuser") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var a in new[] { "-u", "postgres", "--", Path.Combine(PostgresFixture.BinDir, "pg_ctl"), "restart", "-w", "-t", "60", "-m", "fast",
                     "-D", postgres.DataDirectory, "-l", Path.Combine(postgres.DataDirectory, "..", "server.log") })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"pg_ctl restart exited {p.ExitCode}");
        }
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static async Task<RunResult> RunOnceAsync(PostgresFixture postgres, ScaleOptions options, int workers)
    {
        var run = $"w{workers}_{Environment.TickCount64 % 100000}";
        await postgres.CreateDatabaseAsync("state_" + run).ConfigureAwait(false);
        await postgres.CreateDatabaseAsync("jobs_" + run).ConfigureAwait(false);
        var dir = Directory.CreateTempSubdirectory("stageproof-scale-").FullName;
        var processes = new List<WorkerProcess>();
        try
        {
            var configPath = Path.Combine(dir, "stageproof.yaml");
            await File.WriteAllTextAsync(configPath, Config(postgres, options, run)).ConfigureAwait(false);
            var password = Path.Combine(dir, "jobs.password");
            await File.WriteAllTextAsync(password, "unused-with-trust-auth\n").ConfigureAwait(false);
            File.SetUnixFileMode(password, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var config = ConfigLoader.Load(configPath);
            var settings = ConfigLoader.LoadStateSettings(configPath);

            // The state: the frozen set and one planned rollout per environment, waiting for its job.
            var store = await StateStores.OpenAsync(settings.Location!, settings, TimeProvider.System).ConfigureAwait(false);
            await using var _ = store.ConfigureAwait(false);
            var frozen = PatchSetFreezer.FreezeText("scale.yaml", PatchText);
            await store.SavePatchSetAsync(frozen).ConfigureAwait(false);
            var stored = (await store.FindPatchSetAsync(frozen.Digest).ConfigureAwait(false))!;
            var rollouts = config.Lifecycle.Stages.Select(s => Plan(config, s.Environment, stored)).ToList();
            foreach (var r in rollouts)
            {
                await store.SaveRolloutAsync(r).ConfigureAwait(false);
            }

            for (var i = 0; i < workers; i++)
            {
                processes.Add(await WorkerProcess.StartAsync(configPath, options.LatencyMs, i + 1).ConfigureAwait(false));
            }
            var engines = new EstateEngines(store, config, TimeProvider.System, dir, new SimulatedEstate(TimeSpan.Zero), NullEventPublisher.Instance);
            var jobs = await RolloutJobs.OpenAsync(config.Jobs!, new PromotionWorkflow(store, engines, TimeProvider.System), store, worker: false, CancellationToken.None)
                .ConfigureAwait(false);
            await using (jobs.ConfigureAwait(false))
            {
                var statsBefore = await Task.WhenAll(processes.Select(p => p.StatsAsync())).ConfigureAwait(false);
                var stateBefore = await CountersAsync(postgres, "state_" + run).ConfigureAwait(false);
                var jobsBefore = await CountersAsync(postgres, "jobs_" + run).ConfigureAwait(false);
                var cpuBefore = PostgresCpuSeconds(postgres);

                var clock = Stopwatch.StartNew();
                var enqueued = DateTimeOffset.UtcNow;
                foreach (var r in rollouts)
                {
                    await jobs.EnqueueAsync(r.Id, null, CancellationToken.None).ConfigureAwait(false);
                }
                List<Rollout> finished = rollouts;
                var peak = 0;
                var saturated = 0;
                var lastChange = clock.Elapsed;
                var lastSeen = "";
                string? failure = null;
                while (true)
                {
                    try
                    {
                        var now = new List<Rollout>();
                        foreach (var r in rollouts)
                        {
                            now.Add((await store.FindRolloutAsync(r.Id).ConfigureAwait(false))!);
                        }
                        finished = now;
                        peak = Math.Max(peak, await ConnectionsAsync(postgres, "state_" + run).ConfigureAwait(false));
                    }
                    catch (Exception e) when (e is PostgresException { SqlState: "53300" } || e.InnerException is PostgresException { SqlState: "53300" })
                    {
                        // The server refused this very connection: every slot is taken.
                        peak = options.MaxConnections;
                        saturated++;
                    }
                    if (finished.All(r => r.Finished))
                    {
                        break;
                    }
                    var seen = string.Join("|", finished.Select(r => r.UpdatedAt + RolloutEngineWhere(r)));
                    if (seen != lastSeen)
                    {
                        (lastSeen, lastChange) = (seen, clock.Elapsed);
                    }
                    // No rollout moved for 30 s: a job ended (an exception) and left its rollout running with no one on it.
                    if (clock.Elapsed - lastChange > TimeSpan.FromSeconds(30) || clock.Elapsed > TimeSpan.FromSeconds(options.TimeoutSeconds))
                    {
                        failure = $"{workers} worker(s): stalled at {F(clock.Elapsed.TotalSeconds)} s (nothing moved for {F((clock.Elapsed - lastChange).TotalSeconds)} s): " +
                                  string.Join("; ", finished.Where(r => !r.Finished).Select(r => $"{r.Id} {RolloutEngineWhere(r)}"));
                        break;
                    }
                    await Task.Delay(100).ConfigureAwait(false);
                }
                var wall = failure is null ? clock.Elapsed.TotalSeconds : lastChange.TotalSeconds;
                var firstStart = finished.Min(r => r.Batches.Min(b => b.StartedAt) ?? DateTimeOffset.MaxValue);
                var statsAfter = await Task.WhenAll(processes.Select(p => p.StatsAsync())).ConfigureAwait(false);
                // The workers leave before PostgreSQL is asked (their pools would hold its connections), and PostgreSQL 15
                // publishes a backend's statistics within a second of its transactions: wait that out.
                foreach (var p in processes)
                {
                    await p.StopAsync().ConfigureAwait(false);
                }
                processes.Clear();
                await Task.Delay(1500).ConfigureAwait(false);
                var stateAfter = await CountersAsync(postgres, "state_" + run).ConfigureAwait(false);
                var jobsAfter = await CountersAsync(postgres, "jobs_" + run).ConfigureAwait(false);
                var cpuAfter = PostgresCpuSeconds(postgres);
                var stats = statsAfter.Select((a, i) => Minus(a, statsBefore[i])).ToList();
                var result = new RunResult(workers, wall, (firstStart - enqueued).TotalSeconds, finished, stats, stateAfter - stateBefore, jobsAfter - jobsBefore,
                    cpuAfter - cpuBefore, peak, failure is null ? null : failure + (saturated > 0 ? $" (this benchmark's own connection was refused {saturated} time(s): 53300 too many clients)" : ""));
                return failure is null ? result : throw new StalledException(result);
            }
        }
        finally
        {
            foreach (var p in processes)
            {
                await p.StopAsync().ConfigureAwait(false);
            }
            Directory.Delete(dir, recursive: true);
            await postgres.DropDatabaseAsync("state_" + run).ConfigureAwait(false);
            await postgres.DropDatabaseAsync("jobs_" + run).ConfigureAwait(false);
        }
    }

    private static string RolloutEngineWhere(Rollout r) => string.Join(", ", r.Hosts.GroupBy(h => h.State).Select(g => $"{g.Key} {g.Count()}"));

    private static Rollout Plan(StageproofConfig config, string environment, StoredPatchSet stored)
    {
        var policy = config.Lifecycle.StageOf(environment)!.Rollout;
        var batches = RolloutPlanner.Plan(config.HostsOf(environment).Select(h => h.Name).ToList(), policy);
        var now = TimeProvider.System.GetUtcNow();
        return new Rollout
        {
            Id = Stageproof.Hosts.Rollouts.RolloutEngine.NewId(TimeProvider.System) + "-" + environment,
            Environment = environment,
            PatchDigest = stored.Digest,
            PatchId = stored.Set.Id,
            Actor = "bench",
            Policy = policy,
            Batches = batches,
            Hosts = batches.SelectMany(b => b.Hosts.Select(h => new RolloutHost { Host = h, Batch = b.Index })).ToList(),
            CreatedAt = now,
            Status = RolloutStatus.Scheduled,
            ScheduledFor = now,
        };
    }

    private static string Config(PostgresFixture postgres, ScaleOptions options, string run)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"state: postgres://postgres@{postgres.Address}:{postgres.Port}/state_{run}\n");
        sb.Append("audit_key_file: audit.key\n");
        sb.Append("hosts:\n");
        for (var i = 1; i <= options.Hosts; i++)
        {
            // Declared local; every command goes to the SimulatedEstate, whatever the transport says.
            sb.Append(CultureInfo.InvariantCulture, $"  sim-{i:D6}: {{ transport: local }}\n");
        }
        sb.Append("environments:\n");
        var per = options.Hosts / options.Environments;
        for (var e = 0; e < options.Environments; e++)
        {
            var first = e * per + 1;
            var last = e == options.Environments - 1 ? options.Hosts : first + per - 1;
            sb.Append(CultureInfo.InvariantCulture, $"  slice-{e + 1}: {{ checks: sim-suite, hosts: [{string.Join(", ", Enumerable.Range(first, last - first + 1).Select(i => $"sim-{i:D6}"))}] }}\n");
        }
        sb.Append("drift:\n  track: [/etc/acme-mail/*.conf]\n");
        sb.Append(CultureInfo.InvariantCulture, $"ssh:\n  parallelism: {options.Parallelism}\n");
        sb.Append("checks:\n  sim-suite:\n    - { name: service, type: service, service: acme-mail }\n");
        sb.Append("lifecycle:\n  stages:\n");
        for (var e = 0; e < options.Environments; e++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    - environment: slice-{e + 1}\n      rollout: {{ canary: 1, batch: {options.BatchPercent}%, settle: 0s, pause: 0s }}\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"jobs:\n  store: postgres://postgres@{postgres.Address}:{postgres.Port}/jobs_{run}\n  password_file: jobs.password\n  checkin: 5s\n");
        return sb.ToString();
    }

    private static async Task<PgCounters> CountersAsync(PostgresFixture postgres, string database)
    {
        await using var conn = new NpgsqlConnection(postgres.ConnectionStringFor("postgres"));
        await conn.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, tup_returned FROM pg_stat_database WHERE datname = @d", conn);
        cmd.Parameters.AddWithValue("d", database);
        await using var reader = await cmd.ExecuteReaderAsync().ConfigureAwait(false);
        await reader.ReadAsync().ConfigureAwait(false);
        return new PgCounters(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
    }

    private static async Task<int> ConnectionsAsync(PostgresFixture postgres, string database)
    {
        await using var conn = new NpgsqlConnection(postgres.ConnectionStringFor("postgres"));
        await conn.OpenAsync().ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE datname = @d", conn);
        cmd.Parameters.AddWithValue("d", database);
        return (int)(long)(await cmd.ExecuteScalarAsync().ConfigureAwait(false))!;
    }

    /// <summary>CPU seconds of the PostgreSQL server: the postmaster's own and its reaped children's, plus every live child's.</summary>
    private static double PostgresCpuSeconds(PostgresFixture postgres)
    {
        var pid = int.Parse(File.ReadLines(Path.Combine(postgres.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        var ticks = 0L;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var p))
            {
                continue;
            }
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            // Fields after the command name "(…)": state ppid … utime(14) stime(15) cutime(16) cstime(17), 1-based overall.
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var parent = int.Parse(f[1], CultureInfo.InvariantCulture);
            if (p == pid)
            {
                ticks += long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)
                         + long.Parse(f[13], CultureInfo.InvariantCulture) + long.Parse(f[14], CultureInfo.InvariantCulture);
            }
            else if (parent == pid)
            {
                ticks += long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
            }
        }
        return ticks / 100.0; // USER_HZ
    }

    private static ScaleWorker.Stats Minus(ScaleWorker.Stats a, ScaleWorker.Stats b) => a with
    {
        CpuSeconds = a.CpuSeconds - b.CpuSeconds,
        Commands = a.Commands - b.Commands,
        CommandSeconds = a.CommandSeconds - b.CommandSeconds,
        SimulationSeconds = a.SimulationSeconds - b.SimulationSeconds,
        StoreReads = a.StoreReads - b.StoreReads,
        StoreReadSeconds = a.StoreReadSeconds - b.StoreReadSeconds,
        StoreWrites = a.StoreWrites - b.StoreWrites,
        StoreWriteSeconds = a.StoreWriteSeconds - b.StoreWriteSeconds,
        StoreCalls = a.StoreCalls.ToDictionary(m => m.Key, m => m.Value - b.StoreCalls.GetValueOrDefault(m.Key), StringComparer.Ordinal),
        StoreSeconds = a.StoreSeconds.ToDictionary(m => m.Key, m => m.Value - b.StoreSeconds.GetValueOrDefault(m.Key), StringComparer.Ordinal),
        HostCommands = a.HostCommands.ToDictionary(m => m.Key, m => m.Value - b.HostCommands.GetValueOrDefault(m.Key), StringComparer.Ordinal),
    };

    private static string F(double v, string format = "0.0") => v.ToString(format, CultureInfo.InvariantCulture);

    private static void Print(ScaleOptions options, RunResult r)
    {
        var hosts = r.Rollouts.Sum(x => x.Hosts.Count);
        var verified = r.Rollouts.Sum(x => x.Hosts.Count(h => h.State == RolloutHostState.Verified));
        var commands = r.Stats.Sum(s => s.Commands);
        Console.WriteLine();
        Console.WriteLine($"### {r.Workers} worker(s)");
        if (r.Failure is { } failure)
        {
            Console.WriteLine($"- **FAILED**: {failure}");
        }
        Console.WriteLine($"- rollouts: {string.Join(", ", r.Rollouts.GroupBy(x => x.Status).Select(g => $"{g.Key} {g.Count()}"))}; hosts verified {verified}/{hosts}; " +
                          $"first batch started {F(r.FirstStartSeconds, "0.00")} s after enqueueing");
        foreach (var x in r.Rollouts.Where(x => x.Status != RolloutStatus.Succeeded))
        {
            Console.WriteLine($"  - {x.Id}: {x.Status}: {x.Message}; {RolloutEngineWhere(x)}");
        }
        Console.WriteLine($"- wall {F(r.WallSeconds, "0.00")} s → {F(verified / r.WallSeconds * 60, "0")} hosts verified a minute");
        foreach (var s in r.Stats)
        {
            Console.WriteLine($"- worker {s.Instance}: ran {s.Rollouts.Count} rollout(s), CPU {F(s.CpuSeconds, "0.00")} s, {s.Commands} host commands " +
                              $"(most in flight {s.MaxInFlight}), store: {s.StoreWrites} writes / {s.StoreReads} reads");
        }
        Console.WriteLine($"- host commands: {commands} ({F(commands / (double)hosts, "0.0")} a host): " +
                          string.Join(", ", r.Stats.SelectMany(s => s.HostCommands).GroupBy(c => c.Key).OrderByDescending(g => g.Sum(c => c.Value)).Select(g => $"{g.Key} {g.Sum(c => c.Value)}")));
        var writes = r.Stats.Sum(s => s.StoreWrites);
        var reads = r.Stats.Sum(s => s.StoreReads);
        Console.WriteLine($"- store calls: {writes} writes ({F(writes / r.WallSeconds, "0")}/s, {F(writes / (double)hosts, "0.0")} a host), {reads} reads ({F(reads / r.WallSeconds, "0")}/s); " +
                          "by method (calls, summed seconds): " + string.Join(", ", r.Stats.SelectMany(s => s.StoreCalls.Select(c => (c.Key, Calls: c.Value, Seconds: s.StoreSeconds[c.Key])))
                              .GroupBy(c => c.Key).Where(g => g.Sum(c => c.Calls) > 0).OrderByDescending(g => g.Sum(c => c.Seconds))
                              .Select(g => $"{g.Key} {g.Sum(c => c.Calls)} {F(g.Sum(c => c.Seconds), "0.0")}s")));
        Console.WriteLine($"- PostgreSQL, state database: {r.State.Commits} commits ({F(r.State.Commits / r.WallSeconds, "0")}/s), {r.State.RowsWritten} rows written " +
                          $"({F(r.State.RowsWritten / r.WallSeconds, "0")}/s; {r.State.Inserted} ins, {r.State.Updated} upd, {r.State.Deleted} del), {r.State.Returned} rows read");
        Console.WriteLine($"- PostgreSQL connections to the state database: at most {r.PeakConnections} at once (sampled every ~0.1 s)");
        Console.WriteLine($"- PostgreSQL, jobs database (Quartz): {r.Jobs.Commits} commits ({F(r.Jobs.Commits / r.WallSeconds, "0")}/s), {r.Jobs.RowsWritten} rows written");
        var commandSeconds = r.Stats.Sum(s => s.CommandSeconds);
        var storeSeconds = r.Stats.Sum(s => s.StoreWriteSeconds + s.StoreReadSeconds);
        Console.WriteLine($"- time: host commands {F(commandSeconds)} host-s (of it the simulated latency {F(commands * options.LatencyMs / 1000.0)} s), " +
                          $"store calls {F(storeSeconds)} s (writes {F(r.Stats.Sum(s => s.StoreWriteSeconds))} s), summed over concurrent tasks; " +
                          $"CPU: workers {F(r.Stats.Sum(s => s.CpuSeconds), "0.00")} s (of it the simulation's answers {F(r.Stats.Sum(s => s.SimulationSeconds), "0.00")} s), " +
                          $"PostgreSQL {F(r.PostgresCpuSeconds, "0.00")} s; wall {F(r.WallSeconds, "0.00")} s × {Environment.ProcessorCount} cores = {F(r.WallSeconds * Environment.ProcessorCount)} core-s");
    }

    private static void Summary(ScaleOptions options, IReadOnlyList<RunResult> results)
    {
        var baseline = results.FirstOrDefault(r => r.Workers == 1);
        Console.WriteLine();
        Console.WriteLine($"command: bench/rollout-scale.sh {options.CommandLine}");
        Console.WriteLine();
        Console.WriteLine("| workers | outcome | wall s | hosts/min | vs 1 worker | store writes/s (calls) | PG commits/s (state) | PG rows written/s | peak connections | workers CPU s | PostgreSQL CPU s | CPU busy % of 2 cores |");
        Console.WriteLine("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results)
        {
            var hosts = r.Rollouts.Sum(x => x.Hosts.Count(h => h.State == RolloutHostState.Verified));
            var cpu = r.Stats.Sum(s => s.CpuSeconds) + r.PostgresCpuSeconds;
            var outcome = r.Failure is null ? $"{r.Rollouts.Count(x => x.Status == RolloutStatus.Succeeded)}/{r.Rollouts.Count} succeeded" : "STALLED";
            Console.WriteLine($"| {r.Workers} | {outcome} | {F(r.WallSeconds, "0.00")} | {F(hosts / r.WallSeconds * 60, "0")} | " +
                              $"{(baseline is null ? "–" : F(baseline.WallSeconds / r.WallSeconds, "0.00") + "×")} | {F(r.Stats.Sum(s => s.StoreWrites) / r.WallSeconds, "0")} | " +
                              $"{F(r.State.Commits / r.WallSeconds, "0")} | {F(r.State.RowsWritten / r.WallSeconds, "0")} | {r.PeakConnections} | {F(r.Stats.Sum(s => s.CpuSeconds), "0.0")} | " +
                              $"{F(r.PostgresCpuSeconds, "0.0")} | {F(cpu / (r.WallSeconds * Environment.ProcessorCount) * 100, "0")} |");
        }
    }

    /// <summary>A <see cref="ScaleWorker"/> child process: this program again, with <c>scale-worker</c>.</summary>
    private sealed class WorkerProcess
    {
        private readonly Process _process;
        private readonly System.Threading.Channels.Channel<string> _lines = System.Threading.Channels.Channel.CreateUnbounded<string>();

        private WorkerProcess(Process process)
        {
            _process = process;
        }

        public static async Task<WorkerProcess> StartAsync(string configPath, int latencyMs, int n)
        {
            var self = Environment.ProcessPath!;
            var psi = new ProcessStartInfo(self)
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false,
            };
            if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                psi.ArgumentList.Add(typeof(ScaleSuite).Assembly.Location);
            }
            foreach (var a in new[] { ScaleWorker.Command, configPath, latencyMs.ToString(CultureInfo.InvariantCulture) })
            {
                psi.ArgumentList.Add(a);
            }
            var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start a worker process");
            var worker = new WorkerProcess(process);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    worker._lines.Writer.TryComplete();
                }
                else if (e.Data.StartsWith("READY ", StringComparison.Ordinal) || e.Data.StartsWith("STATS ", StringComparison.Ordinal))
                {
                    worker._lines.Writer.TryWrite(e.Data);
                }
                else
                {
                    Console.Error.WriteLine($"[worker {n}] {e.Data}");
                }
            };
            process.BeginOutputReadLine();
            var ready = await worker.NextAsync(TimeSpan.FromSeconds(120)).ConfigureAwait(false);
            Console.WriteLine($"- worker {n}: pid {process.Id.ToString(CultureInfo.InvariantCulture)}, node {ready["READY ".Length..]}");
            return worker;
        }

        private async Task<string> NextAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            return await _lines.Reader.ReadAsync(cts.Token).ConfigureAwait(false);
        }

        public async Task<ScaleWorker.Stats> StatsAsync()
        {
            await _process.StandardInput.WriteLineAsync("stats").ConfigureAwait(false);
            await _process.StandardInput.FlushAsync().ConfigureAwait(false);
            var line = await NextAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            return JsonSerializer.Deserialize<ScaleWorker.Stats>(line["STATS ".Length..])!;
        }

        public async Task StopAsync()
        {
            try
            {
                await _process.StandardInput.WriteLineAsync("stop").ConfigureAwait(false);
                _process.StandardInput.Close();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
            {
                _process.Kill(entireProcessTree: true);
            }
            finally
            {
                _process.Dispose();
            }
        }
    }
}
