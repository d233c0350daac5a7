using Stageproof.Core.Audit;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;

namespace Stageproof.Core.State;

/// <summary>A manifest as stored: its digest and when it was stored.</summary>
public sealed record StoredManifest(string Digest, Manifest Manifest);

/// <summary>
/// Stageproof's own state, one contract made of one interface per area: manifests, patch sets, runs and rollback points,
/// stage results, identity, approvals, rollouts and their locks, webhook deliveries and the audit chain. A workflow that
/// needs one area takes that interface. Two implementations keep the whole contract: SQLite (a directory, the embedded
/// default) and PostgreSQL (a database shared by several machines); one contract test suite runs against both.
/// </summary>
public interface IStateStore : IManifestStore, IPatchSetStore, IPatchRunStore, IStageResultStore, IIdentityStore, IApprovalStore,
    IRolloutStore, IAuditStore, Webhooks.IWebhookDeliveryStore, IAsyncDisposable
{
    /// <summary>Where the state is, for messages: a directory, or a database URL without any password.</summary>
    string Location { get; }
}

/// <summary>Host and environment manifests, by digest and by target over time.</summary>
public interface IManifestStore
{
    /// <summary>Stores a manifest (idempotent for the same digest and time) and returns its digest.</summary>
    Task<string> SaveManifestAsync(Manifest manifest, CancellationToken cancellationToken = default);

    /// <summary>Finds a manifest by digest or unique digest prefix; throws <see cref="InputException"/> when ambiguous.</summary>
    Task<StoredManifest?> FindManifestAsync(string digestOrPrefix, CancellationToken cancellationToken = default);

    /// <summary>The latest manifest of a target collected at or before <paramref name="atOrBefore"/> (now when null).</summary>
    Task<StoredManifest?> LatestManifestAsync(string target, DateTimeOffset? atOrBefore = null, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<StoredManifest>> ListManifestsAsync(string? target = null, CancellationToken cancellationToken = default);
}

/// <summary>Frozen patch sets: written once, never rewritten.</summary>
public interface IPatchSetStore
{
    /// <summary>Stores a frozen patch set; idempotent (a stored digest is never rewritten). True when it was new.</summary>
    Task<bool> SavePatchSetAsync(FrozenPatchSet patchSet, CancellationToken cancellationToken = default);

    /// <summary>Finds a frozen patch set by digest or unique digest prefix; throws <see cref="InputException"/> when ambiguous.</summary>
    Task<StoredPatchSet?> FindPatchSetAsync(string digestOrPrefix, CancellationToken cancellationToken = default);

    /// <summary>Every frozen patch set, oldest first.</summary>
    Task<IReadOnlyList<StoredPatchSet>> ListPatchSetsAsync(CancellationToken cancellationToken = default);
}

/// <summary>Apply and rollback runs and the rollback points they took: written before each step, so a run can be resumed.</summary>
public interface IPatchRunStore
{
    /// <summary>Writes (or rewrites) the record of an apply or rollback run.</summary>
    Task SavePatchRunAsync(PatchRun run, CancellationToken cancellationToken = default);

    Task<PatchRun?> FindPatchRunAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Runs, newest first, of one environment or of all.</summary>
    Task<IReadOnlyList<PatchRun>> ListPatchRunsAsync(string? environment = null, CancellationToken cancellationToken = default);

    /// <summary>Writes (or rewrites) a rollback point.</summary>
    Task SaveRollbackPointAsync(RollbackPoint point, CancellationToken cancellationToken = default);

    Task<RollbackPoint?> FindRollbackPointAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Rollback points, newest first, of one environment or of all.</summary>
    Task<IReadOnlyList<RollbackPoint>> ListRollbackPointsAsync(string? environment = null, CancellationToken cancellationToken = default);
}

/// <summary>Stage results: the evidence attached to a patch set's digest and an environment.</summary>
public interface IStageResultStore
{
    /// <summary>Writes (or rewrites) a stage run's result: the evidence attached to its patch digest and environment.</summary>
    Task SaveStageResultAsync(Stage.StageResult result, CancellationToken cancellationToken = default);

    /// <summary>Stage results, newest first, filtered by patch digest and/or environment.</summary>
    Task<IReadOnlyList<Stage.StageResult>> ListStageResultsAsync(string? patchDigest = null, string? environment = null, CancellationToken cancellationToken = default);
}

/// <summary>Users, their sealed passwords and API tokens, and the failed-login counts behind lockout.</summary>
public interface IIdentityStore
{
    /// <summary>Adds or replaces a user.</summary>
    Task SaveUserAsync(Lifecycle.User user, CancellationToken cancellationToken = default);

    /// <summary>Adds <paramref name="user"/> only while the store has no users at all, in one atomic step, so two
    /// processes bootstrapping at once cannot both create a first user; false when some user already exists.</summary>
    Task<bool> SaveFirstUserAsync(Lifecycle.User user, CancellationToken cancellationToken = default);

    /// <summary>Removes a user; false when there was none by that name.</summary>
    Task<bool> DeleteUserAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every user, by name.</summary>
    Task<IReadOnlyList<Lifecycle.User>> ListUsersAsync(CancellationToken cancellationToken = default);

    /// <summary>Stores (or rewrites, e.g. revoked) an API token, sealed under the audit key.</summary>
    Task SaveTokenAsync(Lifecycle.ApiToken token, CancellationToken cancellationToken = default);

    /// <summary>A token by id, its seal checked (<see cref="Lifecycle.ApiToken.SealBroken"/>).</summary>
    Task<Lifecycle.ApiToken?> FindTokenAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Every token, newest first, seals checked.</summary>
    Task<IReadOnlyList<Lifecycle.ApiToken>> ListTokensAsync(CancellationToken cancellationToken = default);

    /// <summary>Stores (or replaces) a user's password hash, sealed under the audit key.</summary>
    Task SavePasswordAsync(Lifecycle.PasswordCredential credential, CancellationToken cancellationToken = default);

    /// <summary>A user's password hash, its seal checked (<see cref="Lifecycle.PasswordCredential.SealBroken"/>); null when
    /// the user has none.</summary>
    Task<Lifecycle.PasswordCredential?> FindPasswordAsync(string user, CancellationToken cancellationToken = default);

    /// <summary>The failed logins counted against a name (any name, known or not, so lockout does not tell which exist);
    /// null when there are none.</summary>
    Task<Lifecycle.LoginState?> FindLoginStateAsync(string user, CancellationToken cancellationToken = default);

    /// <summary>Writes a name's failed logins and lock, or clears them when <paramref name="state"/> has neither.</summary>
    Task SaveLoginStateAsync(Lifecycle.LoginState state, CancellationToken cancellationToken = default);
}

/// <summary>Approvals of a patch set for an environment, sealed under the audit key.</summary>
public interface IApprovalStore
{
    Task SaveApprovalAsync(Lifecycle.Approval approval, CancellationToken cancellationToken = default);

    /// <summary>Approvals, oldest first, filtered by patch digest and/or environment; an approval whose seal does not
    /// verify comes back with <see cref="Lifecycle.Approval.SealBroken"/> set.</summary>
    Task<IReadOnlyList<Lifecycle.Approval>> ListApprovalsAsync(string? patchDigest = null, string? environment = null, CancellationToken cancellationToken = default);
}

/// <summary>Rollouts (written before each of their steps) and the per-environment rollout lock with its heartbeat.</summary>
public interface IRolloutStore
{
    /// <summary>Writes (or rewrites) a rollout: called before each of its steps.</summary>
    Task SaveRolloutAsync(Rollouts.Rollout rollout, CancellationToken cancellationToken = default);

    /// <summary>Finds a rollout by id or unique id prefix; throws <see cref="InputException"/> when ambiguous.</summary>
    Task<Rollouts.Rollout?> FindRolloutAsync(string idOrPrefix, CancellationToken cancellationToken = default);

    /// <summary>Rollouts, newest first, of one environment or of all.</summary>
    Task<IReadOnlyList<Rollouts.Rollout>> ListRolloutsAsync(string? environment = null, CancellationToken cancellationToken = default);

    /// <summary>Takes the environment's rollout lock atomically. Returns null when taken; otherwise the current holder,
    /// untouched. With <paramref name="replacing"/>, takes it only from that holder (a stale lock, or a resume).</summary>
    Task<Rollouts.RolloutLock?> TryLockRolloutAsync(Rollouts.RolloutLock wanted, Rollouts.RolloutLock? replacing = null, CancellationToken cancellationToken = default);

    /// <summary>Takes the environment's rollout lock when it is free, or when its holder's heartbeat has been silent past
    /// <see cref="Rollouts.RolloutLock.SilentAfter"/> by this store's clock: judged and replaced in one transaction, so of
    /// racing takers exactly one wins. A holder without heartbeats is never taken over here.</summary>
    Task<Rollouts.RolloutLockTake> TakeRolloutLockAsync(Rollouts.RolloutLock wanted, CancellationToken cancellationToken = default);

    /// <summary>Refreshes <paramref name="held"/>'s heartbeat to this store's clock; the lock as it now stands, or null when
    /// <paramref name="held"/> no longer holds it (released, or taken over after its heartbeat went silent).</summary>
    Task<Rollouts.RolloutLock?> HeartbeatRolloutLockAsync(Rollouts.RolloutLock held, CancellationToken cancellationToken = default);

    /// <summary>Releases the environment's lock if <paramref name="rolloutId"/> holds it.</summary>
    Task ReleaseRolloutLockAsync(string environment, string rolloutId, CancellationToken cancellationToken = default);

    Task<Rollouts.RolloutLock?> FindRolloutLockAsync(string environment, CancellationToken cancellationToken = default);
}
