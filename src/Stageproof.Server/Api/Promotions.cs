using Microsoft.AspNetCore.Http;
using Stageproof.Application.Identity;
using Stageproof.Application.Lifecycle;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;

namespace Stageproof.Server.Api;

/// <summary>A promotion through the server (API or console): the gate, then the rollout started in the background.</summary>
internal static class Promotions
{
    /// <summary>The plan when the promotion was allowed (and, unless a dry run, started), else the refusal: as a problem
    /// for the API and as one line for the console.</summary>
    public sealed record Outcome(Rollout? Plan, IResult? Refused, string? Why);

    public static GateAsk Ask(string target, bool emergency, string? reason, string? ticket, bool now) =>
        new() { Target = target, Emergency = emergency, Reason = reason, Ticket = ticket, OverrideWindow = now };

    public static async Task<Outcome> BeginAsync(PromotionWorkflow promotions, IStateStore store, StoredPatchSet stored, GateAsk ask, Principal actor,
        bool dryRun, RolloutRunner runner, CancellationToken ct)
    {
        var decision = await promotions.DecideAsync(stored, ask, actor, ct).ConfigureAwait(false);
        // With durable jobs, a closed window is no refusal: the rollout waits for it as a scheduled job, in no process.
        if (runner.Jobs is not null && !dryRun && decision.OnlyWindowClosed
            && await promotions.ScheduleAsync(stored, ask, actor, decision, ct).ConfigureAwait(false) is { } scheduled)
        {
            return new(await runner.ScheduleAsync(scheduled, ct).ConfigureAwait(false), null, null);
        }
        var start = await promotions.BeginAsync(stored, ask, actor, decision, dryRun, ct).ConfigureAwait(false);
        if (start.Plan is not { } plan)
        {
            return new(null, Refusal(decision.Refusals), string.Join("; ", decision.Refusals));
        }
        if (!dryRun)
        {
            // One rollout per environment: a held lock is answered now, not discovered by a background task.
            if (await store.FindRolloutLockAsync(ask.Target, ct).ConfigureAwait(false) is { } held)
            {
                var refusal = new GateRefusal(Hosts.Rollouts.RolloutEngine.LockRule, $"rollout {held.RolloutId} holds {ask.Target} (since {held.AcquiredAt:u}); rollout {plan.Id} never started");
                await promotions.RefusedAsync(stored, ask.Target, actor, refusal, ask.Reason, ct).ConfigureAwait(false);
                return new(null, Problems.Of(StatusCodes.Status409Conflict, "Refused", refusal.ToString(), refusal.Rule), refusal.ToString());
            }
            return new(await runner.StartAsync(stored, plan, actor, ct).ConfigureAwait(false), null, null);
        }
        return new(plan, null, null);
    }

    /// <summary>403 when a role refused (the caller may not do this), 409 otherwise (the set is not ready: evidence,
    /// approvals, the window); every refusal is listed with its rule.</summary>
    private static IResult Refusal(IReadOnlyList<GateRefusal> refusals)
    {
        var status = refusals.Any(r => r.Rule is GateRules.Role or GateRules.WindowOverride) ? StatusCodes.Status403Forbidden : StatusCodes.Status409Conflict;
        return Results.Problem(detail: string.Join("; ", refusals), statusCode: status, title: "Refused by the gate",
            extensions: new Dictionary<string, object?> { ["rule"] = refusals[0].Rule, ["refusals"] = refusals });
    }
}
