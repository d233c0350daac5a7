using System.Globalization;
using Stageproof.Application.Identity;
using Stageproof.Core.Audit;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Hosts.Rollouts;

namespace Stageproof.Application.Lifecycle;

/// <summary>
/// The rules of <c>rollout abort</c> and <c>rollout resume</c>, for every entry point: whoever may promote into the
/// rollout's environment (a role its lifecycle stage allows, or an admin, covering it; checked first) may abort or resume it; a finished
/// rollout can be neither (rule <see cref="FinishedRule"/>); a rollout whose process still runs it cannot be resumed
/// (rule <see cref="RolloutEngine.LockRule"/>). An abort is a flag in the state, which the engine reads before each batch
/// and then rolls back every host it patched, ending <see cref="RolloutStatus.Aborted"/>.
/// </summary>
public sealed class RolloutControl(IStateStore store, EstateEngines engines)
{
    /// <summary>The rule that refuses acting on a rollout that already ended.</summary>
    public const string FinishedRule = "rollout-finished";

    /// <summary>The rule that refuses resuming a rollout whose durable job waits to start it (its window).</summary>
    public const string ScheduledRule = "rollout-scheduled";

    /// <summary>The refusal when <paramref name="actor"/> may not <paramref name="doing"/> (e.g. "abort a rollout") on
    /// <paramref name="rollout"/>, audited as <c>refused</c>; null when it may.</summary>
    public async Task<GateRefusal?> RoleRefusalAsync(Principal actor, Rollout rollout, string doing, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(actor);
        ArgumentNullException.ThrowIfNull(rollout);
        var environment = rollout.Environment;
        var allowed = engines.Config.Lifecycle.StageOf(environment)?.Roles ?? AccessPolicy.DefaultPromoters;
        if (actor.User is { } user && AccessPolicy.MayPromote(user, environment, allowed))
        {
            return null;
        }
        var refusal = new GateRefusal(GateRules.Role, actor.User is not { } u
            ? $"{actor.Name} is not a Stageproof user; {doing} on {environment} needs one of: {string.Join(", ", allowed.Select(AccessPolicy.Name))}"
            : $"{u.Name} ({AccessPolicy.Name(u.Role)}, environments {string.Join(", ", u.Environments)}) may not {doing} on {environment}; allowed: {string.Join(", ", allowed.Select(AccessPolicy.Name))}");
        await store.AppendAsync(new AuditEvent { Actor = actor.Name, Action = "refused", Target = environment, Outcome = refusal.ToString() }, ct).ConfigureAwait(false);
        return refusal;
    }

    /// <summary>The refusal for acting on a rollout that ended.</summary>
    public static GateRefusal Finished(Rollout rollout)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        return new(FinishedRule, $"rollout {rollout.Id} already ended: {RolloutEngine.Describe(rollout.Status)}");
    }

    /// <summary>The lock of the rollout's environment when this rollout holds it and its process still runs (here or
    /// in another process); null when nobody runs it.</summary>
    public async Task<RolloutLock?> RunnerAsync(Rollout rollout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        if (await store.FindRolloutLockAsync(rollout.Environment, ct).ConfigureAwait(false) is not { } holder || holder.RolloutId != rollout.Id)
        {
            return null;
        }
        var (engine, checks) = engines.Rollouts();
        using (checks)
        {
            return await engine.IsStaleAsync(holder, ct).ConfigureAwait(false) ? null : holder;
        }
    }

    /// <summary>The refusal for resuming a rollout whose process still runs it.</summary>
    public static GateRefusal Running(Rollout rollout, RolloutLock holder)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        ArgumentNullException.ThrowIfNull(holder);
        return new(RolloutEngine.LockRule,
            $"rollout {rollout.Id} is running (process {holder.ProcessId.ToString(CultureInfo.InvariantCulture)} on {holder.Machine} since {holder.AcquiredAt:u}): nothing to resume");
    }

    /// <summary>
    /// Asks <paramref name="rollout"/> to stop, as <paramref name="actor"/>: refused when the actor may not or it ended;
    /// otherwise the abort is written to the state (over its newest record) and audited as <c>rollout.abort</c>. Whoever
    /// runs it stops before its next batch and rolls back; when nobody does, the caller resumes it to roll it back.
    /// </summary>
    public async Task<(Rollout? Rollout, GateRefusal? Refusal)> RequestAbortAsync(Principal actor, Rollout rollout, string? reason, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(actor);
        ArgumentNullException.ThrowIfNull(rollout);
        if (await RoleRefusalAsync(actor, rollout, "abort a rollout", ct).ConfigureAwait(false) is { } refusal)
        {
            return (null, refusal);
        }
        // Read again just before writing: the engine may have written a step (or finished) since the caller looked.
        var fresh = await store.FindRolloutAsync(rollout.Id, ct).ConfigureAwait(false) ?? rollout;
        if (fresh.Finished)
        {
            return (null, Finished(fresh));
        }
        fresh = fresh with { AbortRequestedBy = actor.Name };
        await store.SaveRolloutAsync(fresh, ct).ConfigureAwait(false);
        await store.AppendAsync(new AuditEvent
        {
            Actor = actor.Name, Action = "rollout.abort", Target = fresh.Environment, Outcome = $"{fresh.Id}: abort requested", PayloadDigest = fresh.PatchDigest, Reason = reason,
        }, ct).ConfigureAwait(false);
        return (fresh, null);
    }

    /// <summary>Whether <paramref name="actor"/> may resume <paramref name="rollout"/> now: refused when the actor may not, it
    /// ended, or a live process runs it.</summary>
    public async Task<GateRefusal?> ResumeRefusalAsync(Principal actor, Rollout rollout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        if (await RoleRefusalAsync(actor, rollout, "resume a rollout", ct).ConfigureAwait(false) is { } refusal)
        {
            return refusal;
        }
        if (rollout.Finished)
        {
            return Finished(rollout);
        }
        if (rollout.Status == RolloutStatus.Scheduled)
        {
            return new(ScheduledRule, $"rollout {rollout.Id} is scheduled for {rollout.ScheduledFor:u}: a worker starts it then (abort cancels it)");
        }
        return await RunnerAsync(rollout, ct).ConfigureAwait(false) is { } holder ? Running(rollout, holder) : null;
    }
}
