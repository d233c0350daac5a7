using Stageproof.Application.Identity;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Hosts.Rollouts;

namespace Stageproof.Application.Lifecycle;

/// <summary>What a promotion came to before anything ran: the gate's decision, and the plan when it allowed one.</summary>
public sealed record PromotionStart(GateDecision Decision, Rollout? Plan);

/// <summary>
/// <c>promote</c>, for every entry point: the gate's question, its refusal audited or the promotion audited with its
/// plan, then the canary-first rollout, whose every step the engine writes before taking it. The CLI renders it and may
/// wait for a window; the server runs it in the background and shows it live.
/// </summary>
public sealed class PromotionWorkflow(IStateStore store, EstateEngines engines, TimeProvider time)
{
    public async Task<GateDecision> DecideAsync(StoredPatchSet stored, GateAsk ask, Principal actor, CancellationToken ct) =>
        await GateQuestions.AskAsync(store, engines.Config.Lifecycle, stored, ask, actor, await engines.ClonesAsync(ct).ConfigureAwait(false),
            time.GetUtcNow(), ct).ConfigureAwait(false);

    /// <summary>Records the decision: a refusal as <c>promote.refused</c>; an allowed promotion (unless a dry run) as
    /// <c>promote</c> or <c>promote.emergency</c> with its rollout's id, evidence and approvals.</summary>
    public async Task<PromotionStart> BeginAsync(StoredPatchSet stored, GateAsk ask, Principal actor, GateDecision decision, bool dryRun, CancellationToken ct)
    {
        if (!decision.Allowed)
        {
            await AuditAsync(actor, "promote.refused", ask.Target, string.Join("; ", decision.Refusals), stored.Digest, ask.Reason, ct).ConfigureAwait(false);
            return new(decision, null);
        }
        var plan = engines.Plan(stored, ask, decision, actor.Name);
        if (!dryRun)
        {
            await AuditAsync(actor, ask.Emergency ? "promote.emergency" : "promote", ask.Target,
                $"rollout {plan.Id}; evidence {string.Join(", ", decision.Evidence)}; approvals {string.Join(", ", decision.Approvals)}" +
                (ask.Emergency ? $"; ticket {ask.Ticket}" : ""), stored.Digest, ask.Reason, ct).ConfigureAwait(false);
        }
        return new(decision, plan);
    }

    /// <summary>
    /// A promotion whose only refusal is its closed maintenance window, made into a rollout scheduled for the window's
    /// next opening (the caller hands it to a durable job; no process waits): audited as <c>promote.scheduled</c>.
    /// Null when the decision refused anything else.
    /// </summary>
    public async Task<Rollout?> ScheduleAsync(StoredPatchSet stored, GateAsk ask, Principal actor, GateDecision decision, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(decision);
        if (!decision.OnlyWindowClosed || decision.NextWindow is not { } opens)
        {
            return null;
        }
        var plan = engines.Plan(stored, ask, decision, actor.Name) with { Status = RolloutStatus.Scheduled, ScheduledFor = opens };
        await AuditAsync(actor, "promote.scheduled", ask.Target,
            $"rollout {plan.Id} scheduled for {opens:u}, when the maintenance window opens; evidence {string.Join(", ", decision.Evidence)}; approvals {string.Join(", ", decision.Approvals)}",
            stored.Digest, ask.Reason, ct).ConfigureAwait(false);
        return plan;
    }

    /// <summary>Runs the planned rollout to its end (or its rollback). Another rollout holding the environment refuses it
    /// before any host is touched: audited as <c>promote.refused</c>, then thrown.</summary>
    public async Task<Rollout> RunAsync(StoredPatchSet stored, Rollout plan, Principal actor, IProgress<string>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var (engine, checks) = engines.Rollouts();
        using (checks)
        {
            var target = await engines.TargetAsync(stored, plan, actor.Name, ct).ConfigureAwait(false);
            try
            {
                return await engine.StartAsync(plan, target, progress, ct).ConfigureAwait(false);
            }
            catch (RefusedException e) when (e.Rule == RolloutEngine.LockRule)
            {
                await RefusedAsync(stored, plan.Environment, actor, new GateRefusal(e.Rule, $"{e.Reason}; rollout {plan.Id} never started"), plan.Reason, ct).ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>Records a refusal found after the gate allowed the promotion (another rollout holds the environment) as
    /// <c>promote.refused</c>, so that the trail does not end at a <c>promote</c> that never ran.</summary>
    public Task RefusedAsync(StoredPatchSet stored, string target, Principal actor, GateRefusal refusal, string? reason, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(refusal);
        return AuditAsync(actor, "promote.refused", target, refusal.ToString(), stored.Digest, reason, ct);
    }

    /// <summary>Continues an interrupted rollout from where its hosts are (an abort asked for: rolls back what it patched),
    /// as <paramref name="actor"/>; see <see cref="RolloutControl"/> for who may and when.</summary>
    public async Task<Rollout> ResumeAsync(StoredPatchSet stored, Rollout rollout, Principal actor, IProgress<string>? progress, CancellationToken ct,
        bool holderDeclaredDead = false)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        ArgumentNullException.ThrowIfNull(actor);
        var (engine, checks) = engines.Rollouts();
        using (checks)
        {
            var target = await engines.TargetAsync(stored, rollout, actor.Name, ct).ConfigureAwait(false);
            return await engine.ResumeAsync(rollout, target, actor.Name, progress, ct, holderDeclaredDead).ConfigureAwait(false);
        }
    }

    private Task AuditAsync(Principal actor, string action, string target, string outcome, string digest, string? reason, CancellationToken ct) =>
        AuditTrail.AppendAsync(store, actor, action, target, outcome, digest, reason, ct);
}
