using System.Globalization;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Stage;

namespace Stageproof.Core.Retention;

/// <summary>A kept .deb in the artifact store.</summary>
public sealed record StoredArtifact(string Sha256, long Size, DateTimeOffset WrittenAt);

/// <summary>A rollback point's database dumps on the control machine (one directory per point).</summary>
public sealed record StoredDump(string PointId, string Directory, long Size, DateTimeOffset WrittenAt);

/// <summary>Everything retention weighs: the records that may reference an artifact or a dump, and what is stored.</summary>
public sealed record RetentionInput
{
    public required DateTimeOffset Now { get; init; }
    public required TimeSpan Keep { get; init; }
    public IReadOnlyList<RollbackPoint> Points { get; init; } = [];
    public IReadOnlyList<PatchRun> Runs { get; init; } = [];
    public IReadOnlyList<StageResult> Stages { get; init; } = [];
    public IReadOnlyList<Rollout> Rollouts { get; init; } = [];
    public IReadOnlyList<StoredArtifact> Artifacts { get; init; } = [];
    public IReadOnlyList<StoredDump> Dumps { get; init; } = [];
}

/// <summary>One artifact, dump or snapshot and why it goes or stays.</summary>
public sealed record RetentionItem(string Kind, string Id, long Size, string Why);

public sealed record RetentionPlan(IReadOnlyList<RetentionItem> Remove, IReadOnlyList<RetentionItem> Keep, IReadOnlyList<string> KeptClosures)
{
    public long RemoveBytes => Remove.Sum(r => r.Size);
}

/// <summary>
/// What `stageproof gc` may remove: artifacts no active rollback point, running promotion or recent record (the last
/// N days) references, and dumps of points that are no longer active and older than N days. What an active rollback
/// point needs — its closure's .debs, those it replaced, its dumps — is never in <see cref="RetentionPlan.Remove"/>.
/// </summary>
public static class RetentionPlanner
{
    public static RetentionPlan Plan(RetentionInput input)
    {
        var since = input.Now - input.Keep;
        var days = input.Keep.TotalDays.ToString("0.##", CultureInfo.InvariantCulture);
        var active = input.Points.Where(p => p.Status == RollbackPointStatus.Active).ToDictionary(p => p.Id, StringComparer.Ordinal);

        // Why each closure stays: the strongest reason first.
        var closures = new Dictionary<string, (PackageClosure Closure, string Why)>(StringComparer.Ordinal);
        void Hold(PackageClosure? closure, string why)
        {
            if (closure is not null && !closures.ContainsKey(closure.Digest))
            {
                closures[closure.Digest] = (closure, why);
            }
        }
        foreach (var run in input.Runs.Where(r => r.RollbackPoint is { } id && active.ContainsKey(id)))
        {
            Hold(run.Closure, $"needed by active rollback point {run.RollbackPoint}");
        }
        foreach (var rollout in input.Rollouts.Where(r => !r.Finished))
        {
            foreach (var stage in input.Stages.Where(s => rollout.Evidence.Contains(s.Id)))
            {
                Hold(stage.Closure, $"promotion {rollout.Id} is running");
            }
        }
        foreach (var stage in input.Stages.Where(s => s.StartedAt >= since))
        {
            Hold(stage.Closure, $"proven by stage {stage.Id} within {days} day(s)");
        }
        foreach (var run in input.Runs.Where(r => r.StartedAt >= since))
        {
            Hold(run.Closure, $"installed by run {run.Id} within {days} day(s)");
        }

        var held = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (closure, why) in closures.Values)
        {
            foreach (var deb in closure.Packages.Concat(closure.Previous))
            {
                held.TryAdd(deb.Sha256, $"{deb.Spec} of closure {closure.Digest[..12]}: {why}");
            }
        }

        var remove = new List<RetentionItem>();
        var keep = new List<RetentionItem>();
        foreach (var a in input.Artifacts.OrderBy(a => a.Sha256, StringComparer.Ordinal))
        {
            if (held.TryGetValue(a.Sha256, out var why))
            {
                keep.Add(new RetentionItem("artifact", a.Sha256, a.Size, why));
            }
            else if (a.WrittenAt >= since)
            {
                keep.Add(new RetentionItem("artifact", a.Sha256, a.Size, $"written within {days} day(s)"));
            }
            else
            {
                remove.Add(new RetentionItem("artifact", a.Sha256, a.Size, "no active rollback point, running promotion or recent record references it"));
            }
        }

        var points = input.Points.ToDictionary(p => p.Id, StringComparer.Ordinal);
        foreach (var d in input.Dumps.OrderBy(d => d.PointId, StringComparer.Ordinal))
        {
            var point = points.GetValueOrDefault(d.PointId);
            if (point?.Status == RollbackPointStatus.Active)
            {
                keep.Add(new RetentionItem("dump", d.PointId, d.Size, "its rollback point is active"));
            }
            else if ((point?.CreatedAt ?? d.WrittenAt) >= since)
            {
                keep.Add(new RetentionItem("dump", d.PointId, d.Size, $"taken within {days} day(s)"));
            }
            else
            {
                remove.Add(new RetentionItem("dump", d.PointId, d.Size, point is null ? "no rollback point has this id" : $"its rollback point is {point.Status.ToString().ToLowerInvariant()}"));
            }
        }
        return new RetentionPlan(remove, keep, [.. closures.Keys.Order(StringComparer.Ordinal)]);
    }
}
