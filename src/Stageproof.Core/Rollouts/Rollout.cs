using Stageproof.Core.Lifecycle;

namespace Stageproof.Core.Rollouts;

public enum RolloutStatus
{
    /// <summary>Under way (or interrupted: its process is gone and it waits for <c>rollout resume</c>).</summary>
    Running,
    /// <summary>Every host patched and verified, and the environment shows no drift from staging on the patched scope.</summary>
    Succeeded,
    /// <summary>A batch failed its checks; what the policy says was rolled back, and every host ended known.</summary>
    RolledBack,
    /// <summary>Stopped by <c>rollout abort</c>; hosts already patched were rolled back.</summary>
    Aborted,
    /// <summary>Something could not be returned to a known state: a person must look (see the hosts).</summary>
    NeedsAttention,
    /// <summary>A durable job waits to start it at <see cref="Rollout.ScheduledFor"/> (its maintenance window's next
    /// opening, or now when a worker is free); nothing has touched a host. Last, so stored numbers keep their meaning.</summary>
    Scheduled,
}

public enum Lane
{
    Routine,
    Emergency,
}

/// <summary>Where one host of a rollout is. Written before each step is taken, so a resumed rollout knows exactly.</summary>
public enum RolloutHostState
{
    /// <summary>Not touched yet.</summary>
    Pending,
    /// <summary>Its patch is being applied (an apply run is, or was, under way).</summary>
    Applying,
    /// <summary>Patched; its batch's checks have not passed yet.</summary>
    Applied,
    /// <summary>Patched, and its batch's checks passed.</summary>
    Verified,
    /// <summary>Being returned to its rollback point.</summary>
    RollingBack,
    /// <summary>Returned to its rollback point and matching its manifest from before the change.</summary>
    RolledBack,
    /// <summary>Never touched, and never will be by this rollout (it stopped before this host's batch).</summary>
    Untouched,
    /// <summary>Could not be returned to a known state.</summary>
    NeedsAttention,
}

public enum BatchState
{
    Pending,
    Applying,
    Checking,
    Passed,
    Failed,
    RolledBack,
    Skipped,
}

public sealed record RolloutHost
{
    public required string Host { get; init; }
    public required int Batch { get; init; }
    public RolloutHostState State { get; init; } = RolloutHostState.Pending;
    public string? Message { get; init; }
    public DateTimeOffset? UpdatedAt { get; init; }
}

public sealed record RolloutBatch
{
    public required int Index { get; init; }
    /// <summary>"canary" or "batch N".</summary>
    public required string Name { get; init; }
    public required IReadOnlyList<string> Hosts { get; init; }
    public BatchState State { get; init; } = BatchState.Pending;
    /// <summary>The apply runs that patched this batch (a resumed batch may need a second one).</summary>
    public IReadOnlyList<string> ApplyRuns { get; init; } = [];
    /// <summary>The rollback points those runs took.</summary>
    public IReadOnlyList<string> RollbackPoints { get; init; } = [];
    public IReadOnlyList<string> RollbackRuns { get; init; } = [];
    /// <summary>One line per check that ran on the batch: "PASS health (prod-app-1) ...".</summary>
    public IReadOnlyList<string> Checks { get; init; } = [];
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
}

/// <summary>A rollout of one frozen patch set to one environment: its plan, where every host is, and its outcome.</summary>
public sealed record Rollout
{
    public required string Id { get; init; }
    public required string Environment { get; init; }
    public required string PatchDigest { get; init; }
    public required string PatchId { get; init; }
    public required string Actor { get; init; }
    public Lane Lane { get; init; } = Lane.Routine;
    public string? Reason { get; init; }
    public string? Ticket { get; init; }
    /// <summary>Set when an admin ran it outside its maintenance window: their reason.</summary>
    public string? WindowOverride { get; init; }
    /// <summary>The stage result (or results) whose PASS admitted it.</summary>
    public IReadOnlyList<string> Evidence { get; init; } = [];
    public IReadOnlyList<string> Approvals { get; init; } = [];
    public required RolloutPolicy Policy { get; init; }
    public required IReadOnlyList<RolloutBatch> Batches { get; init; }
    public required IReadOnlyList<RolloutHost> Hosts { get; init; }
    public RolloutStatus Status { get; init; } = RolloutStatus.Running;
    /// <summary>Failed hosts so far.</summary>
    public int Failures { get; init; }
    /// <summary>The environment the patched scope is compared with after the last batch (the staging mirror).</summary>
    public string? DriftAgainst { get; init; }
    public bool? DriftZero { get; init; }
    public IReadOnlyList<string> Drift { get; init; } = [];
    /// <summary>Files on the patched scope that differ from staging only in comments, whitespace or order: shown, not failing.</summary>
    public IReadOnlyList<string> CosmeticDrift { get; init; } = [];
    /// <summary>Set by <c>rollout abort</c> while the rollout runs: it stops at its next step.</summary>
    public string? AbortRequestedBy { get; init; }
    public string? Message { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    /// <summary>When its durable job fires (<see cref="RolloutStatus.Scheduled"/>); null for a rollout run where it was promoted.</summary>
    public DateTimeOffset? ScheduledFor { get; init; }
    public DateTimeOffset? UpdatedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }

    public bool Finished => Status is not (RolloutStatus.Running or RolloutStatus.Scheduled);

    public Rollout WithHost(string host, RolloutHostState state, string? message, DateTimeOffset at) =>
        this with { Hosts = Hosts.Select(h => h.Host == host ? h with { State = state, Message = message ?? h.Message, UpdatedAt = at } : h).ToList(), UpdatedAt = at };

    public Rollout WithBatch(RolloutBatch batch) =>
        this with { Batches = Batches.Select(b => b.Index == batch.Index ? batch : b).ToList() };
}

/// <summary>Who holds an environment's rollout lock: one rollout per environment at a time.</summary>
public sealed record RolloutLock
{
    public required string Environment { get; init; }
    public required string RolloutId { get; init; }
    public required int ProcessId { get; init; }
    public required string Machine { get; init; }
    public required DateTimeOffset AcquiredAt { get; init; }
    /// <summary>When the holder last said it is alive; null on a lock written without heartbeats (judged only from its own
    /// machine, or by the job cluster, as before).</summary>
    public DateTimeOffset? HeartbeatAt { get; init; }
    /// <summary>How often the holder promised to refresh <see cref="HeartbeatAt"/> (<c>jobs.lock_heartbeat</c>).</summary>
    public TimeSpan? HeartbeatEvery { get; init; }

    /// <summary>Heartbeats a holder may miss before anyone, on any machine, may take its lock over.</summary>
    public const int MissedBeats = 3;

    /// <summary>The moment after which the holder counts as gone: <see cref="MissedBeats"/> of its own intervals after its
    /// last heartbeat (the holder's promise, not the taker's configuration, sets the limit); null without heartbeats.</summary>
    public DateTimeOffset? SilentAfter => HeartbeatAt + HeartbeatEvery * MissedBeats;

    /// <summary>True when the holder's heartbeat has been silent past <see cref="SilentAfter"/> at <paramref name="now"/>.</summary>
    public bool IsSilentAt(DateTimeOffset now) => SilentAfter is { } limit && now > limit;
}

/// <summary>What <see cref="State.IStateStore.TakeRolloutLockAsync"/> came to: taken (over <see cref="TakenOver"/>, whose
/// heartbeat had gone silent, when not free), or refused by <see cref="Holder"/>.</summary>
public sealed record RolloutLockTake(RolloutLock? Holder, RolloutLock? TakenOver)
{
    public bool Taken => Holder is null;
}
