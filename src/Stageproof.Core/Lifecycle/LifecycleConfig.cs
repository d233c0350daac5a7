using Cronos;

namespace Stageproof.Core.Lifecycle;

/// <summary>
/// The routine lane (ordered stages, each an environment behind its gate) and the emergency lane, as stageproof.yaml's
/// <c>lifecycle:</c> declares them.
/// </summary>
public sealed record LifecycleConfig
{
    /// <summary>Stages in promotion order, e.g. qa → staging → prod.</summary>
    public IReadOnlyList<LifecycleStage> Stages { get; init; } = [];
    public EmergencyLane Emergency { get; init; } = new();

    public bool Defined => Stages.Count > 0;

    /// <summary>The stage of an environment, or null when the environment is not in the lifecycle.</summary>
    public LifecycleStage? StageOf(string environment) => Stages.FirstOrDefault(s => s.Environment == environment);

    /// <summary>The stage before <paramref name="environment"/>'s, or null for the first one.</summary>
    public LifecycleStage? Previous(string environment)
    {
        var index = Stages.ToList().FindIndex(s => s.Environment == environment);
        return index > 0 ? Stages[index - 1] : null;
    }

    /// <summary>The stages before <paramref name="environment"/>'s, in order.</summary>
    public IReadOnlyList<LifecycleStage> Before(string environment)
    {
        var index = Stages.ToList().FindIndex(s => s.Environment == environment);
        return index > 0 ? Stages.Take(index).ToList() : [];
    }
}

/// <summary>One environment of the lifecycle and the gate a patch set must pass to be promoted into it.</summary>
public sealed record LifecycleStage
{
    public required string Environment { get; init; }
    /// <summary>Approvals by distinct people (approver or admin role, neither the set's author nor its promoter).</summary>
    public int Approvals { get; init; }
    /// <summary>Roles allowed to promote into (and roll out on) this environment.</summary>
    public IReadOnlyList<Role> Roles { get; init; } = [Role.Operator, Role.Admin];
    /// <summary>The previous stage's PASS must be at most this old (null: any age).</summary>
    public TimeSpan? MaxEvidenceAge { get; init; }
    /// <summary>When rollouts may run (null: any time).</summary>
    public MaintenanceWindow? Window { get; init; }
    public RolloutPolicy Rollout { get; init; } = new();
}

/// <summary>Emergency patches skip the earlier stages but must pass in a fresh clone of the target made for them.</summary>
public sealed record EmergencyLane
{
    /// <summary>The clone (made after the set was frozen, and staged after it was made) must be at most this old at promotion.</summary>
    public TimeSpan MaxCloneAge { get; init; } = TimeSpan.FromHours(24);
    /// <summary>Roles allowed to promote in the emergency lane.</summary>
    public IReadOnlyList<Role> Roles { get; init; } = [Role.Operator, Role.Admin];
}

/// <summary>A recurring maintenance window: it opens at each occurrence of <see cref="Cron"/> (in <see cref="TimeZone"/>)
/// and stays open for <see cref="Duration"/>.</summary>
public sealed record MaintenanceWindow
{
    public required string Cron { get; init; }
    public required TimeSpan Duration { get; init; }
    public string TimeZone { get; init; } = "UTC";

    public static CronExpression ParseCron(string cron) =>
        CronExpression.Parse(cron, cron.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);

    private TimeZoneInfo Zone => TimeZoneInfo.FindSystemTimeZoneById(TimeZone);

    /// <summary>The window that is open at <paramref name="now"/>: its opening and closing; null when none is.</summary>
    public (DateTimeOffset Opens, DateTimeOffset Closes)? OpenAt(DateTimeOffset now)
    {
        var cron = ParseCron(Cron);
        var from = now - Duration;
        // The latest opening in (now − duration, now] is the one whose window contains now.
        DateTimeOffset? latest = null;
        foreach (var opening in cron.GetOccurrences(from, now, Zone, fromInclusive: false, toInclusive: true))
        {
            latest = opening;
        }
        return latest is { } o ? (o, o + Duration) : null;
    }

    /// <summary>The next opening after <paramref name="now"/>.</summary>
    public DateTimeOffset? NextOpening(DateTimeOffset now) => ParseCron(Cron).GetNextOccurrence(now, Zone);

    public override string ToString() => $"'{Cron}' for {Duration} ({TimeZone})";
}

public enum RollbackScope
{
    /// <summary>A failed batch is rolled back; batches that passed stay patched.</summary>
    Batch,
    /// <summary>A failed batch and every batch before it are rolled back: the environment returns to where it was.</summary>
    All,
}

/// <summary>How a rollout walks an environment: canary first, then batches, checks after each.</summary>
public sealed record RolloutPolicy
{
    /// <summary>Hosts in the canary batch (0: no canary).</summary>
    public int Canary { get; init; } = 1;
    /// <summary>Hosts per later batch: a count, or with <see cref="BatchIsPercent"/> a percentage of the environment.</summary>
    public int Batch { get; init; } = 50;
    public bool BatchIsPercent { get; init; } = true;
    /// <summary>Hosts of one batch patched at the same time; null: <c>ssh.parallelism</c>. A stage whose hosts share a
    /// load balancer or a license server can keep a batch from draining it all at once.</summary>
    public int? Parallel { get; init; }
    /// <summary>Failed hosts tolerated over the whole rollout before it stops and rolls back.</summary>
    public int MaxFailures { get; init; }
    /// <summary>Wait between batches (and after the canary).</summary>
    public TimeSpan Pause { get; init; } = TimeSpan.Zero;
    /// <summary>Wait after a batch is patched before its checks run, so a fault that shows after a few seconds shows.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Check names (from the environment's suite) run on each batch; empty: every check except load and soak.</summary>
    public IReadOnlyList<string> Checks { get; init; } = [];
    public RollbackScope RollbackOnFailure { get; init; } = RollbackScope.All;
}
