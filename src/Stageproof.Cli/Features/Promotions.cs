using Spectre.Console;
using Stageproof.Application.Lifecycle;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Stage;
using Stageproof.Hosts.Rollouts;

namespace Stageproof.Cli.Features;

/// <summary>What promote asks of the gate beyond the set and the target.</summary>
internal sealed record PromoteOptions
{
    public required string Digest { get; init; }
    public required string Target { get; init; }
    public bool Emergency { get; init; }
    public string? Reason { get; init; }
    public string? Ticket { get; init; }
    public bool Now { get; init; }
    public bool Wait { get; init; }
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromHours(24);
    public bool DryRun { get; init; }
}

/// <summary>What a promotion came to: the gate's decision, the plan when allowed, the rollout when one ran (not on a dry run).</summary>
internal sealed record PromoteOutcome(GateDecision Decision, Rollout? Plan, Rollout? Rollout);

/// <summary>The lifecycle's verbs: the gate's inputs gathered from the store and the lab, rollouts built and rendered.</summary>
internal sealed class Promotions(CliSession session)
{
    private LifecycleConfig Lifecycle => session.Config.Lifecycle;

    /// <summary>Evaluates the gate for promoting a stored set into <paramref name="options"/>' target.</summary>
    public async Task<GateDecision> DecideAsync(StoredPatchSet stored, PromoteOptions options, CancellationToken ct)
    {
        await session.RequireAuthenticatedAsync("promote", ct).ConfigureAwait(false);
        var principal = await session.PrincipalAsync(ct).ConfigureAwait(false);
        return await (await WorkflowAsync(ct).ConfigureAwait(false)).DecideAsync(stored, Ask(options), principal, ct).ConfigureAwait(false);
    }

    private static GateAsk Ask(PromoteOptions options) =>
        new() { Target = options.Target, Emergency = options.Emergency, Reason = options.Reason, Ticket = options.Ticket, OverrideWindow = options.Now };

    private async Task<PromotionWorkflow> WorkflowAsync(CancellationToken ct) =>
        new(await session.StoreAsync(ct).ConfigureAwait(false), await session.EnginesAsync(ct).ConfigureAwait(false), session.Time);

    /// <summary>
    /// <c>promote</c>: the gate (waiting for the window with <see cref="PromoteOptions.Wait"/>), refusals reported and
    /// audited, then the canary-first rollout rendered. The verb and the demo both call this.
    /// </summary>
    public async Task<PromoteOutcome> PromoteAsync(StoredPatchSet stored, PromoteOptions options, CancellationToken ct)
    {
        var decision = await DecideAsync(stored, options, ct).ConfigureAwait(false);
        var waited = TimeSpan.Zero;
        while (decision.OnlyWindowClosed && options.Wait && decision.NextWindow is { } opens)
        {
            var delay = opens - session.Time.GetUtcNow();
            if (waited + delay > options.MaxWait)
            {
                break;
            }
            session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"{options.Target}'s maintenance window is closed; waiting {delay:d\\.hh\\:mm\\:ss} for it to open at {opens:u}"));
            await session.AuditAsync("promote.wait", options.Target, $"waiting for the window opening {opens:u}", stored.Digest, cancellationToken: ct).ConfigureAwait(false);
            var step = delay > TimeSpan.Zero ? delay + TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(1);
            await Task.Delay(step, session.Time, ct).ConfigureAwait(false);
            waited += step;
            decision = await DecideAsync(stored, options, ct).ConfigureAwait(false);
        }
        var workflow = await WorkflowAsync(ct).ConfigureAwait(false);
        var principal = await session.PrincipalAsync(ct).ConfigureAwait(false);
        if ((await workflow.BeginAsync(stored, Ask(options), principal, decision, options.DryRun, ct).ConfigureAwait(false)).Plan is not { } plan)
        {
            foreach (var refusal in decision.Refusals)
            {
                session.Ui.Error(refusal.ToString());
            }
            return new PromoteOutcome(decision, null, null);
        }
        session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape(
            $"{(options.Emergency ? "EMERGENCY " : "")}promotion of {stored.Set.Id} ({stored.Digest[..12]}) to {options.Target} allowed: evidence {string.Join(", ", decision.Evidence.DefaultIfEmpty("-"))}, " +
            $"approvals {string.Join(", ", decision.Approvals.DefaultIfEmpty("-"))}; plan: {string.Join("; ", plan.Batches.Select(b => $"{b.Name}: {string.Join(", ", b.Hosts)}"))}"));
        if (options.DryRun)
        {
            return new PromoteOutcome(decision, plan, null);
        }
        var rollout = await workflow.RunAsync(stored, plan, principal, Progress(), ct).ConfigureAwait(false);
        Render(rollout);
        return new PromoteOutcome(decision, plan, rollout);
    }

    /// <summary>
    /// <c>approve</c>: the actor must be an approver or admin covering the environment and not the set's author (four
    /// eyes). Returns the stored approval, or the refusal (reported and audited).
    /// </summary>
    public async Task<(Approval? Approval, GateRefusal? Refusal)> ApproveAsync(StoredPatchSet stored, string environment, string? comment, CancellationToken ct)
    {
        await session.RequireAuthenticatedAsync("approve", ct).ConfigureAwait(false);
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        var principal = await session.PrincipalAsync(ct).ConfigureAwait(false);
        var (approval, refusal) = await new ApprovalWorkflow(store, session.Time, await session.EventsAsync(ct).ConfigureAwait(false)).ApproveAsync(principal, stored, environment, comment, ct).ConfigureAwait(false);
        if (refusal is not null)
        {
            session.Ui.Error(refusal.ToString());
        }
        else if (approval is not null && !session.Ui.Json)
        {
            session.Ui.Say($"{approval.Id}: {session.Actor} approved {stored.Set.Id} ({stored.Digest[..12]}) for {environment}");
            // What the approval covers when it comes to undoing the change: the rollback story of its latest PASS.
            var staged = (await store.ListStageResultsAsync(stored.Digest, null, ct).ConfigureAwait(false))
                .FirstOrDefault(r => r.Verdict == StageVerdict.Pass && r.Rehearsal is { Story.Count: > 0 });
            foreach (var line in staged?.Rehearsal?.Story ?? [])
            {
                session.Ui.Say($"rollback story ({staged!.Id} in {staged.Environment}): {line}");
            }
        }
        return (approval, refusal);
    }

    /// <summary>A rollout engine for resuming (its check runner disposed with the second value).</summary>
    public async Task<(RolloutEngine Engine, IDisposable Checks)> EngineAsync(CancellationToken ct) => (await session.EnginesAsync(ct).ConfigureAwait(false)).Rollouts();

    /// <inheritdoc cref="EstateEngines.TargetAsync"/>
    public async Task<RolloutTarget> TargetAsync(StoredPatchSet stored, Rollout rollout, CancellationToken ct) =>
        await (await session.EnginesAsync(ct).ConfigureAwait(false)).TargetAsync(stored, rollout, session.Actor, ct).ConfigureAwait(false);

    /// <summary>Refuses unless the actor is a user whose role the environment's stage allows (and who covers it).</summary>
    public async Task RequireRoleAsync(string environment, string doing, CancellationToken ct)
    {
        await session.RequireAuthenticatedAsync(doing, ct).ConfigureAwait(false);
        var allowed = Lifecycle.StageOf(environment)?.Roles ?? AccessPolicy.DefaultPromoters;
        var user = await session.ActingUserAsync(ct).ConfigureAwait(false);
        if (user is null || !AccessPolicy.MayPromote(user, environment, allowed))
        {
            var refusal = new GateRefusal(GateRules.Role, user is null
                ? $"{session.Actor} is not a Stageproof user; {doing} on {environment} needs one of: {string.Join(", ", allowed.Select(r => r.ToString().ToLowerInvariant()))}"
                : $"{user.Name} ({user.Role.ToString().ToLowerInvariant()}, environments {string.Join(", ", user.Environments)}) may not {doing} on {environment}; allowed: {string.Join(", ", allowed.Select(r => r.ToString().ToLowerInvariant()))}");
            await session.AuditAsync("refused", environment, refusal.ToString(), cancellationToken: ct).ConfigureAwait(false);
            throw new RefusedException(refusal.Rule, refusal.Message);
        }
    }

    public IProgress<string> Progress() => new PatchRuns(session).Progress();

    public void Render(Rollout rollout)
    {
        if (session.Ui.Json)
        {
            session.Ui.WriteJson(rollout);
            return;
        }
        var console = session.Ui.Human;
        var colour = rollout.Status switch
        {
            RolloutStatus.Succeeded => "green",
            RolloutStatus.Running or RolloutStatus.Scheduled => "blue",
            RolloutStatus.RolledBack or RolloutStatus.Aborted => "yellow",
            _ => "red",
        };
        console.MarkupLine($"[bold]rollout {Infrastructure.Ui.Escape(rollout.Id)}[/]: {Infrastructure.Ui.Escape(rollout.PatchId)} ({rollout.PatchDigest[..12]}) on {Infrastructure.Ui.Escape(rollout.Environment)}, " +
            $"{rollout.Lane.ToString().ToLowerInvariant()} lane, by {Infrastructure.Ui.Escape(rollout.Actor)}: [{colour}]{Infrastructure.Ui.Escape(RolloutEngine.Describe(rollout.Status))}[/]");
        if (rollout.Lane == Lane.Emergency)
        {
            console.MarkupLine($"  [red]EMERGENCY[/] ticket {Infrastructure.Ui.Escape(rollout.Ticket ?? "-")}: {Infrastructure.Ui.Escape(rollout.Reason ?? "")}");
        }
        if (rollout.Status == RolloutStatus.Scheduled)
        {
            console.MarkupLine($"  starts at {rollout.ScheduledFor:u} on a worker of the jobs cluster ('stageproof rollout abort {Infrastructure.Ui.Escape(rollout.Id)}' cancels it)");
        }
        if (rollout.WindowOverride is not null)
        {
            console.MarkupLine($"  outside the maintenance window: {Infrastructure.Ui.Escape(rollout.WindowOverride)}");
        }
        console.MarkupLine($"  evidence: {Infrastructure.Ui.Escape(rollout.Evidence.Count == 0 ? "-" : string.Join(", ", rollout.Evidence))}; approvals: {Infrastructure.Ui.Escape(rollout.Approvals.Count == 0 ? "-" : string.Join(", ", rollout.Approvals))}");
        var table = new Table().Border(TableBorder.Simple).AddColumns("batch", "host", "state", "detail");
        foreach (var batch in rollout.Batches)
        {
            foreach (var host in rollout.Hosts.Where(h => h.Batch == batch.Index))
            {
                var c = host.State switch
                {
                    RolloutHostState.Verified => "green",
                    RolloutHostState.RolledBack => "yellow",
                    RolloutHostState.Pending or RolloutHostState.Untouched => "grey",
                    RolloutHostState.NeedsAttention => "red",
                    _ => "blue",
                };
                table.AddRow(Infrastructure.Ui.Escape($"{batch.Name} ({(batch.State == BatchState.RolledBack ? "rolled back" : batch.State.ToString().ToLowerInvariant())})"), Infrastructure.Ui.Escape(host.Host),
                    $"[{c}]{Infrastructure.Ui.Escape(RolloutEngine.State(host.State))}[/]", Infrastructure.Ui.Escape(host.Message ?? ""));
            }
        }
        console.Write(table);
        if (rollout.DriftZero is { } zero)
        {
            console.MarkupLine(zero ? $"  drift against {Infrastructure.Ui.Escape(rollout.DriftAgainst ?? "")} on the patched scope: [green]zero[/]"
                : $"  drift against {Infrastructure.Ui.Escape(rollout.DriftAgainst ?? "")}: [red]{Infrastructure.Ui.Escape(string.Join("; ", rollout.Drift))}[/]");
            foreach (var cosmetic in rollout.CosmeticDrift)
            {
                console.MarkupLine($"  cosmetic, not counted: {Infrastructure.Ui.Escape(cosmetic)}");
            }
        }
        if (rollout.Message is not null)
        {
            console.MarkupLine("  " + Infrastructure.Ui.Escape(rollout.Message));
        }
    }

    public static int ExitCode(Rollout rollout) => rollout.Status == RolloutStatus.Succeeded ? ExitCodes.Ok : ExitCodes.Finding;
}
