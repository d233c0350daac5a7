using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Server.Tests;

/// <summary>
/// Rollouts as durable jobs: promoted through a real <c>stageproof serve</c>, run by <c>stageproof worker</c> processes of
/// the Quartz.NET cluster on a real PostgreSQL, surviving the process that submitted them and the worker that ran them.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class WorkerTests(WorkerEstate estate, ITestOutputHelper output) : IClassFixture<WorkerEstate>, IClassFixture<LoadsMachine>
{
    private static readonly TimeSpan RolloutLimit = TimeSpan.FromSeconds(120);

    [SkippableFact]
    public async Task A_rollout_promoted_through_the_server_runs_on_a_worker_process_after_the_server_is_gone()
    {
        estate.Postgres.EnsureAvailable();
        estate.ResetHosts();
        using var worker = estate.StartWorker("worker");
        var (server, address) = await estate.StartServerAsync("127.0.14.5");
        try
        {
            await worker.WaitForLineAsync(l => l.Contains("runs rollout jobs", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            var accepted = await estate.PromoteAsync(address, "staging");
            Assert.Equal("scheduled", accepted.GetProperty("status").GetString());
            var id = accepted.GetProperty("id").GetString()!;
            // The server that took the promotion goes away: only the worker can run it now.
            server.KillHard();

            var done = await WaitAsync(id, r => r.Finished, RolloutLimit, worker);
            Assert.True(done.Status == RolloutStatus.Succeeded, $"{id}: {done.Status} {Describe(done)}\n{worker.Output}");
            Assert.All(done.Hosts, h => Assert.Equal(RolloutHostState.Verified, h.State));
            output.WriteLine(string.Join("\n", done.Batches.Select(b => $"{b.Name}: {string.Join(", ", b.Hosts)} {b.StartedAt:HH:mm:ss.fff}–{b.FinishedAt:HH:mm:ss.fff}")));
            output.WriteLine(string.Join("\n", done.Hosts.Select(h => $"{h.Host}: {h.Message}")));
            await using var store = await estate.OpenStateAsync();
            var started = (await store.ReadAllAsync()).Single(e => e.Action == "rollout.start" && e.Outcome?.StartsWith(id, StringComparison.Ordinal) == true);
            Assert.Equal("bob", started.Actor);
            var (code, _, stderr) = await estate.CliRawAsync("audit", "verify");
            Assert.True(code == 0, stderr);
        }
        finally
        {
            server.Dispose();
        }
    }

    /// <summary>Ten trials, each on its own bounded waits; the whole is printed, not asserted (a loaded machine is slower).</summary>
    private const int KillTrials = 10;

    // Minutes of a six-host estate (ten SIGKILLs and their takeovers): with the lab tests, out of the fast tier.
    [Trait("Category", "Lab")]
    [SkippableFact]
    public async Task A_worker_killed_mid_rollout_is_replaced_by_the_other_which_finishes_it_with_no_host_patched_twice()
    {
        estate.Postgres.EnsureAvailable();
        var (server, address) = await estate.StartServerAsync("127.0.14.6");
        var started = new List<StageproofProcess>();
        var budget = Stopwatch.StartNew();
        try
        {
            async Task<StageproofProcess> WorkerAsync(string name)
            {
                var worker = estate.StartWorker(name);
                started.Add(worker);
                await worker.WaitForLineAsync(l => l.Contains("runs rollout jobs", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
                return worker;
            }
            // Two workers, kept across trials: the one killed is replaced by a new process (its machine back) after each.
            var first = WorkerAsync("worker-1");
            var second = WorkerAsync("worker-2");
            var pair = (await first, await second);
            var replay = Environment.GetEnvironmentVariable("STAGEPROOF_KILL_SEED");
            var trials = replay is null ? KillTrials : 1;
            for (var trial = 1; trial <= trials; trial++)
            {
                var seed = replay is not null ? int.Parse(replay, CultureInfo.InvariantCulture) : Random.Shared.Next();
                output.WriteLine($"kill trial {trial}: seed {seed} (replay with STAGEPROOF_KILL_SEED={seed})");
                var lap = budget.Elapsed;
                var finisher = await KillTrialAsync(address, seed, pair.Item1, pair.Item2);
                output.WriteLine($"  trial {trial} took {(budget.Elapsed - lap).TotalSeconds:0.0}s");
                if (trial < trials)
                {
                    pair = (finisher, await WorkerAsync($"worker-{trial + 2}"));
                }
            }
            output.WriteLine($"{trials} kill trials in {budget.Elapsed.TotalSeconds:0}s");
        }
        finally
        {
            server.Dispose();
            foreach (var worker in started)
            {
                worker.Dispose();
            }
        }
    }

    /// <summary>One trial: a rollout promoted, its worker SIGKILLed a random while in; the other must finish it. Returns
    /// the worker that did.</summary>
    private async Task<StageproofProcess> KillTrialAsync(Uri address, int seed, StageproofProcess first, StageproofProcess second)
    {
        var random = new Random(seed);
        estate.ResetHosts();
        var id = (await estate.PromoteAsync(address, "staging")).GetProperty("id").GetString()!;
        await using var store = await estate.OpenStateAsync();
        // Wait for a worker to take it (its lock names its process), then let it run a random while: up to the last batch.
        RolloutLock? holder = null;
        var until = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(60);
        while ((holder = await store.FindRolloutLockAsync("staging")) is null || holder.RolloutId != id)
        {
            Assert.True(DateTimeOffset.UtcNow < until, $"no worker took {id}:\n{first.Output}\n{second.Output}");
            await Task.Delay(50);
        }
        var (running, other) = holder.ProcessId == first.Id ? (first, second) : (second, first);
        Assert.Equal(holder.ProcessId, running.Id);
        Assert.Equal(TimeSpan.FromSeconds(WorkerEstate.HeartbeatSeconds), holder.HeartbeatEvery);
        // Four batches of HostSeconds each: the kill lands anywhere from the canary's start to the last batch.
        var wait = TimeSpan.FromMilliseconds(random.Next(0, WorkerEstate.HostSeconds * 4 * 1000 - 500));
        await Task.Delay(wait);
        var before = await store.FindRolloutAsync(id);
        running.KillHard();
        output.WriteLine($"  killed {running.Name} (pid {running.Id}) {wait.TotalSeconds:0.0}s into {id}: {Describe(before!)}");
        Assert.False(before!.Finished, $"{id} ended before the kill: the trial proves nothing");

        var done = await WaitAsync(id, r => r.Finished, RolloutLimit, other);
        output.WriteLine($"  {other.Name} ended it: {done.Status}; {Describe(done)}");
        Assert.True(done.Status is RolloutStatus.Succeeded or RolloutStatus.RolledBack, $"{id}: {done.Status} {Describe(done)}\n{other.Output}");
        Assert.All(done.Hosts, h => Assert.True(h.State is RolloutHostState.Verified or RolloutHostState.RolledBack, $"{h.Host}: {h.State} {h.Message}"));
        await AssertNoHostPatchedTwiceAsync(store, done);
        // The dead worker's lock was taken over once its heartbeat fell silent, and the audit log names it.
        var takeover = (await store.ReadAllAsync()).Where(e => e.Action == "rollout.lock-takeover" && e.Outcome?.Contains($"rollout {id} (process {running.Id} ", StringComparison.Ordinal) == true);
        Assert.Single(takeover);
        var (code, _, stderr) = await estate.CliRawAsync("audit", "verify");
        Assert.True(code == 0, stderr);
        return other;
    }

    [SkippableFact]
    public async Task A_job_finding_its_environment_held_by_a_live_rollout_elsewhere_waits_for_it_and_gives_up_after_its_attempts()
    {
        estate.Postgres.EnsureAvailable();
        var (server, address) = await estate.StartServerAsync("127.0.14.9");
        StageproofProcess? worker = null;
        await using var store = await estate.OpenStateAsync();
        // Another rollout, run by a process on another machine, holds staging and beats: it is alive.
        RolloutLock Elsewhere() => new()
        {
            Environment = "staging", RolloutId = "r-on-ops-9", ProcessId = 4242, Machine = "ops-9",
            AcquiredAt = DateTimeOffset.UtcNow, HeartbeatAt = DateTimeOffset.UtcNow, HeartbeatEvery = TimeSpan.FromHours(1),
        };
        try
        {
            // Promoted while staging is free (a held environment is refused at the door), then taken before any worker runs.
            estate.ResetHosts();
            var id = (await estate.PromoteAsync(address, "staging")).GetProperty("id").GetString()!;
            Assert.Null(await store.TryLockRolloutAsync(Elsewhere()));
            worker = estate.StartWorker("worker");
            var waiting = await WaitAsync(id, r => r.Message?.StartsWith("waiting for staging's lock", StringComparison.Ordinal) == true, RolloutLimit, worker);
            output.WriteLine($"{id}: {waiting.Message}");
            Assert.Equal(RolloutStatus.Scheduled, waiting.Status);
            Assert.Contains("rollout r-on-ops-9 is running on staging (process 4242 on ops-9", waiting.Message, StringComparison.Ordinal);
            Assert.Contains($"of {WorkerEstate.LockAttempts}", waiting.Message, StringComparison.Ordinal);
            // The other rollout ends: the waiting one runs at its next attempt.
            await store.ReleaseRolloutLockAsync("staging", "r-on-ops-9");
            var done = await WaitAsync(id, r => r.Finished, RolloutLimit, worker);
            Assert.True(done.Status == RolloutStatus.Succeeded, $"{Describe(done)}\n{worker.Output}");
            Assert.All(done.Hosts, h => Assert.Equal(RolloutHostState.Verified, h.State));
            // The worker saves the end before it lets go of staging's lock. Killed in between, it left the lock to go stale
            // and the next promotion was refused (409, once in the fast tier): wait for the release before the kill.
            await LockReleasedAsync(store, id, worker);

            // Held throughout: after its attempts the job gives up, and the rollout says why, no host touched.
            worker.Dispose();
            estate.ResetHosts();
            var starved = (await estate.PromoteAsync(address, "staging")).GetProperty("id").GetString()!;
            Assert.Null(await store.TryLockRolloutAsync(Elsewhere()));
            worker = estate.StartWorker("worker-again");
            var gaveUp = await WaitAsync(starved, r => r.Finished, RolloutLimit, worker);
            output.WriteLine($"{starved}: {gaveUp.Message}");
            Assert.Equal(RolloutStatus.Aborted, gaveUp.Status);
            Assert.StartsWith($"gave up waiting for staging's lock after {WorkerEstate.LockAttempts} attempt(s): rollout r-on-ops-9 is running on staging",
                gaveUp.Message, StringComparison.Ordinal);
            Assert.All(gaveUp.Hosts, h => Assert.Equal(RolloutHostState.Untouched, h.State));
            Assert.All(WorkerEstate.HostNames, h => Assert.False(estate.Patched(h), $"{h} was patched"));
            Assert.Contains(await store.ReadAllAsync(), e => e.Action == "rollout.lock-wait" && e.Outcome?.StartsWith(starved, StringComparison.Ordinal) == true);
            Assert.Equal("r-on-ops-9", (await store.FindRolloutLockAsync("staging"))?.RolloutId);
        }
        finally
        {
            await store.ReleaseRolloutLockAsync("staging", "r-on-ops-9");
            server.Dispose();
            worker?.Dispose();
        }
    }

    [SkippableFact]
    public async Task A_worker_stopped_with_SIGTERM_hands_its_rollout_back_and_the_other_worker_finishes_it()
    {
        estate.Postgres.EnsureAvailable();
        estate.ResetHosts();
        var (server, address) = await estate.StartServerAsync("127.0.14.8");
        using var first = estate.StartWorker("worker-1");
        using var second = estate.StartWorker("worker-2");
        try
        {
            foreach (var w in new[] { first, second })
            {
                await w.WaitForLineAsync(l => l.Contains("runs rollout jobs", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            }
            var id = (await estate.PromoteAsync(address, "staging")).GetProperty("id").GetString()!;
            await using var store = await estate.OpenStateAsync();
            RolloutLock? holder;
            var until = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(60);
            while ((holder = await store.FindRolloutLockAsync("staging")) is null || holder.RolloutId != id)
            {
                Assert.True(DateTimeOffset.UtcNow < until, $"no worker took {id}");
                await Task.Delay(50);
            }
            var (running, other) = holder.ProcessId == first.Id ? (first, second) : (second, first);
            await Task.Delay(TimeSpan.FromSeconds(WorkerEstate.HostSeconds + 1));

            var code = await running.TerminateAsync(TimeSpan.FromSeconds(60));
            Assert.True(code == 0, $"{running.Name} exited {code}:\n{running.Output}");
            Assert.Contains("return to the cluster", running.Output, StringComparison.Ordinal);
            var stopped = (await store.FindRolloutAsync(id))!;
            Assert.False(stopped.Finished, $"{id} ended before the worker was stopped: {Describe(stopped)}");

            var done = await WaitAsync(id, r => r.Finished, RolloutLimit, other);
            Assert.True(done.Status == RolloutStatus.Succeeded, $"{Describe(done)}\n{other.Output}");
            output.WriteLine($"{running.Name} stopped mid-rollout ({Describe(stopped)}); {other.Name} finished it");
        }
        finally
        {
            server.Dispose();
        }
    }

    // Waits for a cron window a minute or two ahead (cron is minute-grained): with the lab tests, out of the fast tier.
    [Trait("Category", "Lab")]
    [SkippableFact]
    public async Task A_promotion_outside_its_window_waits_as_a_job_and_starts_on_time_on_a_worker_with_its_submitter_gone()
    {
        estate.Postgres.EnsureAvailable();
        estate.ResetHosts();
        // The window opens at the start of the first minute at least 45 seconds from now (cron is minute-grained): time
        // enough to start the server, submit, cancel and hand over to a worker, and 75 s of waiting on average.
        var now = DateTimeOffset.UtcNow;
        var opens = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(now.Second < 15 ? 1 : 2);
        await File.WriteAllTextAsync(estate.ConfigPath, estate.Config($"{opens.Minute} {opens.Hour} * * *"));
        var (server, address) = await estate.StartServerAsync("127.0.14.7");
        StageproofProcess? worker = null;
        try
        {
            var scheduled = await estate.PromoteAsync(address, "staging");
            Assert.Equal("scheduled", scheduled.GetProperty("status").GetString());
            Assert.Equal(opens, scheduled.GetProperty("scheduledFor").GetDateTimeOffset());
            var id = scheduled.GetProperty("id").GetString()!;
            var list = await estate.CliAsync("rollout", "list", "--env", "staging");
            Assert.Contains($"scheduled for {opens:u}", list, StringComparison.Ordinal);

            // A second one is cancelled while it waits: nothing of it ever runs.
            var cancelled = (await estate.PromoteAsync(address, "staging")).GetProperty("id").GetString()!;
            using (var bob = estate.Client(address, "bob"))
            {
                using var abort = await bob.PostAsJsonAsync(new Uri($"/api/v1/rollouts/{cancelled}/abort", UriKind.Relative), new { comment = "not this one" });
                Assert.Equal(System.Net.HttpStatusCode.Accepted, abort.StatusCode);
                var answer = JsonDocument.Parse(await abort.Content.ReadAsStringAsync()).RootElement.GetProperty("rollout");
                Assert.Equal("aborted", answer.GetProperty("status").GetString());
            }

            // Whoever submitted it is gone; a worker joins later, and nothing runs before the window opens.
            server.KillHard();
            worker = estate.StartWorker("worker");
            await using var store = await estate.OpenStateAsync();
            while (DateTimeOffset.UtcNow < opens - TimeSpan.FromSeconds(3))
            {
                Assert.Equal(RolloutStatus.Scheduled, (await store.FindRolloutAsync(id))!.Status);
                await Task.Delay(1000);
            }
            var done = await WaitAsync(id, r => r.Finished, opens - DateTimeOffset.UtcNow + RolloutLimit, worker);
            Assert.Equal(RolloutStatus.Succeeded, done.Status);
            var startedAt = done.Batches[0].StartedAt!.Value;
            output.WriteLine($"window opened {opens:u}; {id} started {startedAt:O}");
            Assert.InRange(startedAt, opens, opens + TimeSpan.FromSeconds(15));
            var gone = (await store.FindRolloutAsync(cancelled))!;
            Assert.Equal(RolloutStatus.Aborted, gone.Status);
            Assert.All(gone.Hosts, h => Assert.Equal(RolloutHostState.Untouched, h.State));
        }
        finally
        {
            server.Dispose();
            worker?.Dispose();
            await File.WriteAllTextAsync(estate.ConfigPath, estate.Config());
        }
    }

    /// <summary>Of all the apply runs of the rollout, at most one left each host patched.</summary>
    private static async Task AssertNoHostPatchedTwiceAsync(Core.State.IStateStore store, Rollout done)
    {
        var runs = done.Batches.SelectMany(b => b.ApplyRuns).ToHashSet(StringComparer.Ordinal);
        var records = (await store.ListPatchRunsAsync(done.Environment)).Where(r => runs.Contains(r.Id)).SelectMany(r => r.Hosts).ToList();
        foreach (var host in done.Hosts)
        {
            var patched = records.Count(r => r.Host == host.Host && r.Status is HostRunStatus.Applied or HostRunStatus.AlreadyApplied);
            Assert.True(patched <= 1, $"{host.Host} was patched {patched} times by {done.Id}");
        }
    }

    [SkippableFact]
    public async Task A_rollout_whose_state_database_restarts_under_it_is_retried_by_its_job_and_finishes_with_no_host_patched_twice()
    {
        estate.Postgres.EnsureAvailable();
        var (server, address) = await estate.StartServerAsync("127.0.14.10");
        StageproofProcess? worker = null;
        try
        {
            estate.ResetHosts();
            worker = estate.StartWorker("worker-outage");
            await worker.WaitForLineAsync(l => l.Contains("runs rollout jobs", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            var id = (await estate.PromoteAsync(address, "staging")).GetProperty("id").GetString()!;
            var under = await WaitAsync(id, r => r.Hosts.Any(h => h.State != RolloutHostState.Pending), RolloutLimit, worker);
            output.WriteLine($"{id} under way: {Describe(under)}");
            // PostgreSQL (the state and the job store) goes down for longer than a host takes, as a failover or a minor
            // upgrade takes it down: the rollout's next write fails, and its job must bring it to its end.
            await estate.Postgres.RestartAsync(TimeSpan.FromSeconds(WorkerEstate.HostSeconds * 4));

            var done = await WaitAsync(id, r => r.Finished, RolloutLimit, worker);
            output.WriteLine($"{id} ended: {Describe(done)}");
            Assert.True(done.Status == RolloutStatus.Succeeded, $"{id}: {done.Status} {done.Message} {Describe(done)}\n{worker.Output}");
            Assert.All(done.Hosts, h => Assert.Equal(RolloutHostState.Verified, h.State));
            Assert.All(WorkerEstate.HostNames, h => Assert.True(estate.Patched(h), $"{h} was not patched"));
            await using var store = await estate.OpenStateAsync();
            await AssertNoHostPatchedTwiceAsync(store, done);
            var errors = (await store.ReadAllAsync()).Where(e => e.Action == "rollout.error" && e.Outcome?.StartsWith(id, StringComparison.Ordinal) == true).ToList();
            output.WriteLine(string.Join("\n", errors.Select(e => e.Outcome)));
            Assert.Contains(errors, e => e.Outcome!.Contains(": interrupted by an error: ", StringComparison.Ordinal)
                && e.Outcome.Contains("; trying again at ", StringComparison.Ordinal));
            var (code, _, stderr) = await estate.CliRawAsync("audit", "verify");
            Assert.True(code == 0, stderr);
        }
        finally
        {
            server.Dispose();
            worker?.Dispose();
        }
    }

    private async Task<Rollout> WaitAsync(string id, Func<Rollout, bool> done, TimeSpan limit, StageproofProcess worker)
    {
        await using var store = await estate.OpenStateAsync();
        var until = DateTimeOffset.UtcNow + limit;
        Rollout? rollout;
        while ((rollout = await store.FindRolloutAsync(id)) is null || !done(rollout))
        {
            Assert.True(DateTimeOffset.UtcNow < until, $"rollout {id} did not get there within {limit}: {(rollout is null ? "not stored" : Describe(rollout))}\n{worker.Output}");
            await Task.Delay(250);
        }
        return rollout;
    }

    /// <summary>Polls until rollout <paramref name="id"/> no longer holds staging's lock.</summary>
    private static async Task LockReleasedAsync(IStateStore store, string id, StageproofProcess worker)
    {
        var until = DateTimeOffset.UtcNow + RolloutLimit;
        while ((await store.FindRolloutLockAsync("staging"))?.RolloutId == id)
        {
            Assert.True(DateTimeOffset.UtcNow < until, $"rollout {id} still held staging's lock after {RolloutLimit}\n{worker.Output}");
            await Task.Delay(250);
        }
    }

    private static string Describe(Rollout r) =>
        $"{r.Status}; " + string.Join(", ", r.Hosts.Select(h => $"{h.Host} {h.State}" + (h.State is RolloutHostState.Verified or RolloutHostState.Pending ? "" : $" ({h.Message})")));
}
