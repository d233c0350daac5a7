using System.Net.Http.Json;
using System.Text.Json;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Testing;
using Xunit.Abstractions;
using static Stageproof.Server.Tests.WorkerRollouts;

namespace Stageproof.Server.Tests;

/// <summary>
/// Rollouts as durable jobs, the light cases: a rollout that outlives the server it was promoted through, one that waits
/// for its environment's lock, one that waits for its maintenance window. One server and one worker at a time, mostly
/// waiting: an estate of its own, beside <see cref="WorkerTests"/> (which keeps latency judges off the machine).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class WorkerJobTests(WorkerEstate estate, ITestOutputHelper output) : IClassFixture<WorkerEstate>
{
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

            var done = await estate.WaitAsync(id, r => r.Finished, RolloutLimit, worker);
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
            var waiting = await estate.WaitAsync(id, r => r.Message?.StartsWith("waiting for staging's lock", StringComparison.Ordinal) == true, RolloutLimit, worker);
            output.WriteLine($"{id}: {waiting.Message}");
            Assert.Equal(RolloutStatus.Scheduled, waiting.Status);
            Assert.Contains("rollout r-on-ops-9 is running on staging (process 4242 on ops-9", waiting.Message, StringComparison.Ordinal);
            Assert.Contains($"of {WorkerEstate.LockAttempts}", waiting.Message, StringComparison.Ordinal);
            // The other rollout ends: the waiting one runs at its next attempt.
            await store.ReleaseRolloutLockAsync("staging", "r-on-ops-9");
            var done = await estate.WaitAsync(id, r => r.Finished, RolloutLimit, worker);
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
            var gaveUp = await estate.WaitAsync(starved, r => r.Finished, RolloutLimit, worker);
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
            var done = await estate.WaitAsync(id, r => r.Finished, opens - DateTimeOffset.UtcNow + RolloutLimit, worker);
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
}
