using Stageproof.Core.Checks;

namespace Stageproof.Core.Stage;

public enum StageVerdict
{
    Pass,
    Fail,
}

public enum StepStatus
{
    Passed,
    Warned,
    Failed,
    /// <summary>Not run: an earlier step decided the verdict, or the step was turned off.</summary>
    Skipped,
}

/// <summary>The steps of a stage run, in order.</summary>
public static class StageSteps
{
    public const string Fidelity = "fidelity", Baseline = "baseline", Apply = "apply", Compare = "compare", Drift = "drift",
        Soak = "soak", Rehearsal = "rollback-rehearsal", Reapply = "reapply";

    public static readonly IReadOnlyList<string> All = [Fidelity, Baseline, Apply, Compare, Drift, Soak, Rehearsal, Reapply];
}

/// <summary>One step: its outcome, a one-line summary with the numbers, and how long it took.</summary>
public sealed record StageStep
{
    public required string Name { get; init; }
    public required StepStatus Status { get; init; }
    public required string Summary { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public TimeSpan Duration { get; init; }
}

/// <summary>Why a run failed (or warned): the step, the check or item, and the evidence with its numbers.</summary>
/// <param name="Confidence">How sure the reason is, 0–1: 1 for what was observed directly (a check that stopped passing,
/// a changed file, lost rows); for a latency regression, 1 − its Mann–Whitney p against what it was judged against.
/// A run lists its reasons most certain first.</param>
public sealed record StageReason(string Step, string Subject, string Evidence, double Confidence = 1);

/// <summary>A difference between an environment and its mirror_of, one of the top ones shown when fidelity fails.</summary>
public sealed record FidelityItem(string Pair, string Category, string Key, string? Mirror, string? Staged, string Severity);

/// <summary>What changed on a host from before the change to after it, and whether the patch set accounts for it.</summary>
public sealed record ChangeItem
{
    public required string Host { get; init; }
    public required string Category { get; init; }
    public required string Key { get; init; }
    public string? Before { get; init; }
    public string? After { get; init; }
    public required bool Expected { get; init; }
    /// <summary>A tracked file whose bytes changed but whose values did not (comments, whitespace, order): neither
    /// expected nor unexpected, shown and never failing.</summary>
    public bool Cosmetic { get; init; }
    /// <summary>Neither declared by the set nor cosmetic: judged by the policy.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Unexpected => !Expected && !Cosmetic;
    /// <summary>Why it is expected (what in the set declares it) or why it is not.</summary>
    public required string Why { get; init; }
    /// <summary>Unexpected changes fail or warn by policy; expected ones are "ok".</summary>
    public required StepStatus Status { get; init; }
    public string? Diff { get; init; }
}

/// <summary>The rollback rehearsal: was the host returned exactly, did the suite pass again, and at what cost.</summary>
public sealed record RehearsalResult
{
    /// <summary>True when the suite only passed again after the databases were restored from their dumps.</summary>
    public bool DatabaseRestoreNeeded { get; init; }
    public bool RolledBack { get; init; }
    public IReadOnlyList<string> Residue { get; init; } = [];
    public bool SuitePassedAfterRollback { get; init; }
    /// <summary>Data written since the change that the restore discarded (per table).</summary>
    public IReadOnlyList<string> Discarded { get; init; } = [];
    public bool Reapplied { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];
    /// <summary>The migrations the change added to the databases' histories, each with the way back the set declares (way_back).</summary>
    public IReadOnlyList<Patches.AddedMigration> Migrations { get; init; } = [];
    /// <summary>The declared down scripts the rehearsal ran ("FILE for MIGRATION").</summary>
    public IReadOnlyList<string> DownScripts { get; init; } = [];
    /// <summary>The rollback story of a passing rehearsal, one line per migration: how it is undone, as rehearsed (what the
    /// report and the approver read). Empty when the change added no migration.</summary>
    public IReadOnlyList<string> Story { get; init; } = [];
}

/// <summary>Everything a stage run found, stored as evidence for the patch digest and environment.</summary>
public sealed record StageResult
{
    public required string Id { get; init; }
    public required string PatchDigest { get; init; }
    public required string PatchId { get; init; }
    public required string PatchTitle { get; init; }
    public required string Environment { get; init; }
    public string? MirrorOf { get; init; }
    public required string Actor { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public StageVerdict Verdict { get; init; } = StageVerdict.Fail;
    public IReadOnlyList<StageReason> Reasons { get; init; } = [];
    public IReadOnlyList<StageReason> Warnings { get; init; } = [];
    public IReadOnlyList<StageStep> Steps { get; init; } = [];

    public double? Fidelity { get; init; }
    public double MinFidelity { get; init; }
    /// <summary>Set when the operator accepted a drifted mirror: their reason.</summary>
    public string? AcceptedDrift { get; init; }
    public IReadOnlyList<FidelityItem> FidelityItems { get; init; } = [];

    public CheckSuiteResult? Baseline { get; init; }
    /// <summary>The load checks run a second time before the change, when there is no control: the noise floor.</summary>
    public IReadOnlyList<CheckResult> BaselineRepeat { get; init; } = [];
    /// <summary>The environment whose twins stayed on the old version and were loaded in the same seconds (control:).</summary>
    public string? Control { get; init; }
    public CheckSuiteResult? After { get; init; }
    /// <summary>The load checks that regressed after the change, run a second time to confirm it (with their control runs).</summary>
    public CheckSuiteResult? AfterRepeat { get; init; }
    /// <summary>The load checks left inconclusive because the control sped up, run again beside the control once staging
    /// was rolled back (the third measurement of an A/B/A comparison).</summary>
    public CheckSuiteResult? RolledBackLoad { get; init; }
    public IReadOnlyList<CheckComparison> Comparisons { get; init; } = [];
    public IReadOnlyList<ChangeItem> Changes { get; init; } = [];
    /// <summary>Tables whose rows fell between the rollback point and the after-change suite (data continuity).</summary>
    public IReadOnlyList<RowLoss> DataLosses { get; init; } = [];
    /// <summary>Continuity queries (sql checks with <c>continuity:</c>) whose values moved beyond their rule between the
    /// rollback point and the after-change suite.</summary>
    public IReadOnlyList<ValueLoss> ValueLosses { get; init; } = [];
    public IReadOnlyList<CheckResult> Soak { get; init; } = [];
    public RehearsalResult? Rehearsal { get; init; }

    public string? ApplyRun { get; init; }
    /// <summary>The exact .debs the change installed here: a PASS is bound to these bytes, and a promotion installs them.</summary>
    public Patches.PackageClosure? Closure { get; init; }
    public IReadOnlyList<string> RollbackRuns { get; init; } = [];
    public string? RollbackPoint { get; init; }
    /// <summary>Where the time went, in seconds: "total", and what the suite and the change themselves ask for — "load"
    /// (load checks), "soak" (waiting for the soak window, which opens once the changed service answers again, to close after the
    /// comparison and drift it ran beside), "soak_window" (the whole window but the loads run inside it, which "load"
    /// counts: the wall time the soak alone asked for), "apt" (package installs and restores), "commands" (the set's own pre and
    /// post commands, e.g. its service restart, also after a rollback), "ready" (a restarted service coming up before
    /// it is judged) — the rest being Stageproof's own.</summary>
    public IReadOnlyDictionary<string, double> Seconds { get; init; } = new Dictionary<string, double>();
    /// <summary>Audit chain sequence numbers of the events this run appended (first and last).</summary>
    public long? AuditFrom { get; init; }
    public long? AuditTo { get; init; }
}
