using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Testing;

namespace Stageproof.Server.Tests;

/// <summary>What the worker tests share: waiting for a rollout in the state, and reading what it did.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class WorkerRollouts
{
    /// <summary>How long any rollout of these tests may take to reach what a test waits for.</summary>
    public static readonly TimeSpan RolloutLimit = TimeSpan.FromSeconds(120);

    /// <summary>Of all the apply runs of the rollout, at most one left each host patched.</summary>
    public static async Task AssertNoHostPatchedTwiceAsync(IStateStore store, Rollout done)
    {
        var runs = done.Batches.SelectMany(b => b.ApplyRuns).ToHashSet(StringComparer.Ordinal);
        var records = (await store.ListPatchRunsAsync(done.Environment)).Where(r => runs.Contains(r.Id)).SelectMany(r => r.Hosts).ToList();
        foreach (var host in done.Hosts)
        {
            var patched = records.Count(r => r.Host == host.Host && r.Status is HostRunStatus.Applied or HostRunStatus.AlreadyApplied);
            Assert.True(patched <= 1, $"{host.Host} was patched {patched} times by {done.Id}");
        }
    }

    /// <summary>Polls the estate's state until rollout <paramref name="id"/> is <paramref name="done"/>.</summary>
    public static async Task<Rollout> WaitAsync(this WorkerEstate estate, string id, Func<Rollout, bool> done, TimeSpan limit, StageproofProcess worker)
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
    public static async Task LockReleasedAsync(IStateStore store, string id, StageproofProcess worker)
    {
        var until = DateTimeOffset.UtcNow + RolloutLimit;
        while ((await store.FindRolloutLockAsync("staging"))?.RolloutId == id)
        {
            Assert.True(DateTimeOffset.UtcNow < until, $"rollout {id} still held staging's lock after {RolloutLimit}\n{worker.Output}");
            await Task.Delay(250);
        }
    }

    public static string Describe(Rollout r) =>
        $"{r.Status}; " + string.Join(", ", r.Hosts.Select(h => $"{h.Host} {h.State}" + (h.State is RolloutHostState.Verified or RolloutHostState.Pending ? "" : $" ({h.Message})")));
}
