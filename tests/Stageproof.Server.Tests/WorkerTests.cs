using System.Diagnostics;
using System.Globalization;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Testing;
using Xunit.Abstractions;
using static Stageproof.Server.Tests.WorkerRollouts;

namespace Stageproof.Server.Tests;

/// <summary>
/// Rollouts as durable jobs: promoted through a real <c>stageproof serve</c>, run by <c>stageproof worker</c> processes of
/// the Quartz.NET cluster on a real PostgreSQL, surviving the worker that ran them (killed, stopped) and an outage of the
/// database under them. Ten workers killed and started again load the machine for minutes: no latency judge runs beside
/// that test (it takes <see cref="LoadsMachine"/> itself, and runs last, so the class's two single rollouts run while it
/// may still be waiting for the judges to finish). (<see cref="WorkerJobTests"/>, lighter, has an estate of its own and
/// runs beside it.)
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[TestCaseOrderer(RunOrderer.TypeName, RunOrderer.AssemblyName)]
public sealed class WorkerTests(WorkerEstate estate, ITestOutputHelper output) : IClassFixture<WorkerEstate>
{
    /// <summary>Ten trials, each on its own bounded waits; the whole is printed, not asserted (a loaded machine is slower).</summary>
    private const int KillTrials = 10;

    // Minutes of a six-host estate (ten SIGKILLs and their takeovers): with the lab tests, out of the fast tier.
    [Trait("Category", "Lab")]
    [SkippableFact, RunOrder(3)]
    public async Task A_worker_killed_mid_rollout_is_replaced_by_the_other_which_finishes_it_with_no_host_patched_twice()
    {
        estate.Postgres.EnsureAvailable();
        await LoadsMachine.AloneAsync(KillTrialsAsync);
    }

    private async Task KillTrialsAsync()
    {
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

        var done = await estate.WaitAsync(id, r => r.Finished, RolloutLimit, other);
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

    [SkippableFact, RunOrder(1)]
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

            var done = await estate.WaitAsync(id, r => r.Finished, RolloutLimit, other);
            Assert.True(done.Status == RolloutStatus.Succeeded, $"{Describe(done)}\n{other.Output}");
            output.WriteLine($"{running.Name} stopped mid-rollout ({Describe(stopped)}); {other.Name} finished it");
        }
        finally
        {
            server.Dispose();
        }
    }

    [SkippableFact, RunOrder(2)]
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
            var under = await estate.WaitAsync(id, r => r.Hosts.Any(h => h.State != RolloutHostState.Pending), RolloutLimit, worker);
            output.WriteLine($"{id} under way: {Describe(under)}");
            // PostgreSQL (the state and the job store) goes down for longer than a host takes, as a failover or a minor
            // upgrade takes it down: the rollout's next write fails, and its job must bring it to its end.
            await estate.Postgres.RestartAsync(TimeSpan.FromSeconds(WorkerEstate.HostSeconds * 4));

            var done = await estate.WaitAsync(id, r => r.Finished, RolloutLimit, worker);
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
}
