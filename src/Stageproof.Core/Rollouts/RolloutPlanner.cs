using Stageproof.Core.Lifecycle;

namespace Stageproof.Core.Rollouts;

/// <summary>Cuts an environment's hosts into a canary batch and later batches, in configuration order.</summary>
public static class RolloutPlanner
{
    public static IReadOnlyList<RolloutBatch> Plan(IReadOnlyList<string> hosts, RolloutPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(policy);
        var batches = new List<RolloutBatch>();
        var rest = hosts.ToList();
        var canary = Math.Min(Math.Max(policy.Canary, 0), rest.Count);
        if (canary > 0 && rest.Count > 0)
        {
            batches.Add(new RolloutBatch { Index = 0, Name = "canary", Hosts = rest.Take(canary).ToList() });
            rest = rest.Skip(canary).ToList();
        }
        var size = policy.BatchIsPercent
            ? (int)Math.Ceiling(hosts.Count * Math.Clamp(policy.Batch, 1, 100) / 100.0)
            : Math.Max(policy.Batch, 1);
        size = Math.Max(size, 1);
        var n = 1;
        while (rest.Count > 0)
        {
            batches.Add(new RolloutBatch { Index = batches.Count, Name = $"batch {n++}", Hosts = rest.Take(size).ToList() });
            rest = rest.Skip(size).ToList();
        }
        return batches;
    }
}
