using Stageproof.Core.Audit;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;

namespace Stageproof.Data.Tests.Contract;

public abstract partial class StateStoreContract
{
    private static RolloutLock Lock(string rolloutId, int processId = 100, string environment = "prod", string machine = "ops-1", int minute = 0) => new()
    {
        Environment = environment,
        RolloutId = rolloutId,
        ProcessId = processId,
        Machine = machine,
        AcquiredAt = FakeClock.Start.AddMinutes(minute).AddTicks(1234567),
    };

    [SkippableFact]
    public async Task The_first_taker_holds_the_lock_and_a_second_rollout_gets_the_holder_back()
    {
        await using var store = await OpenAsync();
        var first = Lock("r-1");

        Assert.Null(await store.FindRolloutLockAsync("prod"));
        Assert.Null(await store.TryLockRolloutAsync(first));
        Assert.Equal(first, await store.FindRolloutLockAsync("prod"));

        Assert.Equal(first, await store.TryLockRolloutAsync(Lock("r-2", processId: 200, minute: 1)));
        // Taking it again as the same rollout does not touch it either.
        Assert.Equal(first, await store.TryLockRolloutAsync(first with { AcquiredAt = first.AcquiredAt.AddHours(1) }));
        Assert.Equal(first, await store.FindRolloutLockAsync("prod"));

        // Other environments have their own lock.
        Assert.Null(await store.TryLockRolloutAsync(Lock("r-2", environment: "staging")));
        Assert.Equal("r-2", (await store.FindRolloutLockAsync("staging"))?.RolloutId);
    }

    [SkippableFact]
    public async Task Replacing_takes_the_lock_from_the_named_holder_only()
    {
        await using var store = await OpenAsync();
        var stale = Lock("r-1");
        await store.TryLockRolloutAsync(stale);

        var resumed = Lock("r-1", processId: 300, machine: "ops-2", minute: 5);
        foreach (var wrong in new[]
                 {
                     stale with { RolloutId = "r-9" },
                     stale with { ProcessId = 101 },
                     stale with { Machine = "ops-9" },
                     stale with { AcquiredAt = stale.AcquiredAt.AddTicks(1) },
                 })
        {
            Assert.Equal(stale, await store.TryLockRolloutAsync(resumed, replacing: wrong));
            Assert.Equal(stale, await store.FindRolloutLockAsync("prod"));
        }

        Assert.Null(await store.TryLockRolloutAsync(resumed, replacing: stale));
        Assert.Equal(resumed, await store.FindRolloutLockAsync("prod"));

        // The old holder is gone now: replacing it again fails and names the new one.
        Assert.Equal(resumed, await store.TryLockRolloutAsync(Lock("r-2", minute: 6), replacing: stale));
    }

    [SkippableFact]
    public async Task Replacing_a_holder_that_has_released_takes_the_free_lock()
    {
        await using var store = await OpenAsync();
        var old = Lock("r-1");
        await store.TryLockRolloutAsync(old);
        await store.ReleaseRolloutLockAsync("prod", "r-1");

        var wanted = Lock("r-2", minute: 1);
        Assert.Null(await store.TryLockRolloutAsync(wanted, replacing: old));
        Assert.Equal(wanted, await store.FindRolloutLockAsync("prod"));
    }

    [SkippableFact]
    public async Task Only_the_holder_releases_the_lock()
    {
        await using var store = await OpenAsync();
        var held = Lock("r-1");
        await store.TryLockRolloutAsync(held);

        await store.ReleaseRolloutLockAsync("prod", "r-2");
        await store.ReleaseRolloutLockAsync("staging", "r-1");
        Assert.Equal(held, await store.FindRolloutLockAsync("prod"));

        await store.ReleaseRolloutLockAsync("prod", "r-1");
        Assert.Null(await store.FindRolloutLockAsync("prod"));
        Assert.Null(await store.TryLockRolloutAsync(Lock("r-2")));
    }

    [SkippableFact]
    public async Task Replacing_a_lock_of_another_environment_is_refused()
    {
        await using var store = await OpenAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => store.TryLockRolloutAsync(Lock("r-1"), Lock("r-0", environment: "staging")));
    }

    [SkippableFact]
    public async Task Two_stores_racing_for_the_same_lock_have_exactly_one_winner_every_round()
    {
        await using var one = await OpenAsync();
        await using var two = await OpenAsync();

        for (var round = 0; round < 20; round++)
        {
            var environment = $"env-{round}";
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var wantedOne = Lock($"r-{round}-a", processId: 1, environment: environment, machine: "a");
            var wantedTwo = Lock($"r-{round}-b", processId: 2, environment: environment, machine: "b");
            var raceOne = Task.Run(async () => { await start.Task; return await one.TryLockRolloutAsync(wantedOne); });
            var raceTwo = Task.Run(async () => { await start.Task; return await two.TryLockRolloutAsync(wantedTwo); });
            start.SetResult();
            var results = await Task.WhenAll(raceOne, raceTwo);

            Assert.Single(results, r => r is null);
            var holder = await one.FindRolloutLockAsync(environment);
            Assert.NotNull(holder);
            var (winner, loserSaw) = results[0] is null ? (wantedOne, results[1]) : (wantedTwo, results[0]);
            Assert.Equal(winner, holder);
            Assert.Equal(winner, loserSaw);
            Assert.Equal(holder, await two.FindRolloutLockAsync(environment));
        }
    }

    private static readonly TimeSpan Beat = TimeSpan.FromSeconds(10);

    /// <summary>A lock as a heartbeating holder takes it: beating now, every ten seconds.</summary>
    private RolloutLock Beating(string rolloutId, int processId = 100, string machine = "ops-1", string environment = "prod") =>
        Lock(rolloutId, processId, environment, machine) with { AcquiredAt = Clock.GetUtcNow(), HeartbeatAt = Clock.GetUtcNow(), HeartbeatEvery = Beat };

    [SkippableFact]
    public async Task A_heartbeat_is_stamped_with_the_store_clock_and_only_the_holder_beats()
    {
        await using var store = await OpenAsync();
        var held = Beating("r-1");
        Assert.True((await store.TakeRolloutLockAsync(held)).Taken);
        Assert.Equal(held, await store.FindRolloutLockAsync("prod"));

        Clock.Advance(TimeSpan.FromSeconds(7));
        var beat = await store.HeartbeatRolloutLockAsync(held);
        Assert.Equal(held with { HeartbeatAt = Clock.GetUtcNow() }, beat);
        Assert.Equal(beat, await store.FindRolloutLockAsync("prod"));

        // Another process of the same rollout, or on another machine, is not the holder.
        Assert.Null(await store.HeartbeatRolloutLockAsync(held with { ProcessId = 101 }));
        Assert.Null(await store.HeartbeatRolloutLockAsync(held with { Machine = "ops-2" }));
        await store.ReleaseRolloutLockAsync("prod", "r-1");
        Assert.Null(await store.HeartbeatRolloutLockAsync(held));
        Assert.Null(await store.FindRolloutLockAsync("prod"));
    }

    [SkippableFact]
    public async Task A_lock_whose_heartbeat_stopped_is_taken_over_from_another_machine_and_a_beating_one_is_not()
    {
        await using var one = await OpenAsync();
        await using var two = await OpenAsync();
        var held = Beating("r-1", machine: "ops-1");
        Assert.True((await one.TakeRolloutLockAsync(held)).Taken);

        // The holder beats every ten seconds for a minute: however long it holds the lock, nobody takes it.
        for (var i = 0; i < 6; i++)
        {
            Clock.Advance(Beat);
            held = (await one.HeartbeatRolloutLockAsync(held))!;
            Assert.NotNull(held);
            var refused = await two.TakeRolloutLockAsync(Beating("r-2", processId: 200, machine: "ops-2"));
            Assert.False(refused.Taken);
            Assert.Equal(held, refused.Holder);
            Assert.Null(refused.TakenOver);
        }

        // Silent for exactly three intervals: still its own.
        Clock.Advance(Beat * RolloutLock.MissedBeats);
        Assert.False((await two.TakeRolloutLockAsync(Beating("r-2", processId: 200, machine: "ops-2"))).Taken);

        // One tick more: another machine takes it, and is told whose it was.
        Clock.Advance(TimeSpan.FromMilliseconds(1));
        var taker = Beating("r-2", processId: 200, machine: "ops-2");
        var taken = await two.TakeRolloutLockAsync(taker);
        Assert.True(taken.Taken);
        Assert.Equal(held, taken.TakenOver);
        Assert.Equal(taker, await one.FindRolloutLockAsync("prod"));

        // The old holder, waking up, learns it lost the lock; it cannot release the new holder's either.
        Assert.Null(await one.HeartbeatRolloutLockAsync(held));
        await one.ReleaseRolloutLockAsync("prod", "r-1");
        Assert.Equal(taker, await one.FindRolloutLockAsync("prod"));
    }

    [SkippableFact]
    public async Task A_lock_written_without_a_heartbeat_is_never_taken_over_by_its_age()
    {
        await using var store = await OpenAsync();
        // A row as a store before heartbeats wrote it: only the old columns.
        await ExecuteRawAsync(
            "INSERT INTO rollout_locks (environment, rollout_id, process_id, machine, acquired_at) " +
            $"VALUES ('prod', 'r-old', 100, 'ops-1', '{AuditChain.FormatTime(FakeClock.Start)}')");
        var old = await store.FindRolloutLockAsync("prod");
        Assert.Equal(Lock("r-old") with { AcquiredAt = FakeClock.Start }, old);
        Assert.Null(old!.SilentAfter);

        Clock.Advance(TimeSpan.FromDays(30));
        var refused = await store.TakeRolloutLockAsync(Beating("r-new"));
        Assert.False(refused.Taken);
        Assert.Equal(old, refused.Holder);
        // Judged as before (its process gone from its machine, or its node declared dead): replaced by name.
        Assert.Null(await store.TryLockRolloutAsync(Beating("r-new"), replacing: old));
        Assert.Equal("r-new", (await store.FindRolloutLockAsync("prod"))?.RolloutId);
    }

    [SkippableFact]
    public async Task A_holder_judged_stale_that_beats_before_the_replacement_keeps_its_lock()
    {
        await using var store = await OpenAsync();
        var held = Beating("r-1");
        await store.TakeRolloutLockAsync(held);
        // Someone reads the holder and judges it gone; meanwhile it beats.
        var judged = await store.FindRolloutLockAsync("prod");
        Clock.Advance(Beat);
        var beat = await store.HeartbeatRolloutLockAsync(held);

        Assert.Equal(beat, await store.TryLockRolloutAsync(Beating("r-2", processId: 200), replacing: judged));
        Assert.Equal(beat, await store.FindRolloutLockAsync("prod"));
    }

    [SkippableFact]
    public async Task Two_machines_taking_over_the_same_silent_lock_have_exactly_one_winner_every_round()
    {
        await using var one = await OpenAsync();
        await using var two = await OpenAsync();

        for (var round = 0; round < 20; round++)
        {
            var environment = $"env-{round}";
            var dead = Beating($"r-{round}-dead", processId: 9, machine: "gone", environment: environment);
            Assert.True((await one.TakeRolloutLockAsync(dead)).Taken);
            Clock.Advance(Beat * (RolloutLock.MissedBeats + 1));

            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var wantedOne = Beating($"r-{round}-a", processId: 1, machine: "a", environment: environment);
            var wantedTwo = Beating($"r-{round}-b", processId: 2, machine: "b", environment: environment);
            var raceOne = Task.Run(async () => { await start.Task; return await one.TakeRolloutLockAsync(wantedOne); });
            var raceTwo = Task.Run(async () => { await start.Task; return await two.TakeRolloutLockAsync(wantedTwo); });
            start.SetResult();
            var results = await Task.WhenAll(raceOne, raceTwo);

            var winners = results.Where(r => r.Taken).ToList();
            Assert.Single(winners);
            Assert.Equal(dead, winners[0].TakenOver);
            var (winner, loser) = results[0].Taken ? (wantedOne, results[1]) : (wantedTwo, results[0]);
            // The loser was refused by the winner's fresh lock, not by the dead one.
            Assert.Equal(winner, loser.Holder);
            Assert.Equal(winner, await one.FindRolloutLockAsync(environment));
            Assert.Equal(winner, await two.FindRolloutLockAsync(environment));
        }
    }
}
