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
}
