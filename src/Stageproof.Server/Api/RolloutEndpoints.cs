using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Stageproof.Application.Identity;
using Stageproof.Application.Lifecycle;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Core.Validation;
using Stageproof.Hosts.Rollouts;
using Stageproof.Server.Auth;

namespace Stageproof.Server.Api;

/// <summary>What an abort request carries: why (recorded in the audit log).</summary>
public sealed record AbortRequest(string? Comment);

/// <summary>
/// <c>POST /api/v1/rollouts/{id}/abort</c> and <c>/resume</c>: the CLI's <c>rollout abort|resume</c> through the
/// server, under the same rules (<see cref="RolloutControl"/>); both answer 202 with the rollout and what happens to it
/// now, and are followed at <c>/api/v1/rollouts/{id}</c>.
/// </summary>
internal static class RolloutEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").RequireAuthorization();

        api.MapPost("/rollouts/{id}/abort", async (string id, AbortRequest? body, ClaimsPrincipal claims, IStateStore store, RolloutControl control,
            RolloutRunner runner, CancellationToken ct) =>
        {
            if (body?.Comment is { Length: > ApiEndpoints.MaxCommentLength } comment)
            {
                return Problems.Invalid($"comment: {comment.Length} characters; at most {ApiEndpoints.MaxCommentLength}");
            }
            if (await store.FindRolloutAsync(id, ct).ConfigureAwait(false) is not { } rollout)
            {
                return Problems.NotFound($"no rollout {Shown(id)}");
            }
            return Answer(await RolloutActions.AbortAsync(control, runner, store, rollout, Principals.FromClaims(claims), body?.Comment, ct).ConfigureAwait(false));
        }).WithSummary("Abort a rollout: one running in this server stops at once and rolls back every host it patched; one running elsewhere stops before its next batch (202; 403 a role, 409 when it already ended)");

        api.MapPost("/rollouts/{id}/resume", async (string id, ClaimsPrincipal claims, IStateStore store, RolloutControl control, RolloutRunner runner,
            CancellationToken ct) =>
            await store.FindRolloutAsync(id, ct).ConfigureAwait(false) is not { } rollout ? Problems.NotFound($"no rollout {Shown(id)}")
            : Answer(await RolloutActions.ResumeAsync(control, runner, store, rollout, Principals.FromClaims(claims), ct).ConfigureAwait(false)))
            .WithSummary("Resume an interrupted rollout where its hosts are, in the server's background (202; 403 a role, 409 when it ended or still runs)");
    }

    private static IResult Answer(RolloutActions.Outcome outcome) =>
        outcome.Refusal is { } refusal
            ? Problems.Of(refusal.Rule == GateRules.Role ? StatusCodes.Status403Forbidden : StatusCodes.Status409Conflict, "Refused", refusal.ToString(), refusal.Rule)
            : Results.Accepted($"/api/v1/rollouts/{outcome.Rollout!.Id}", new { rollout = outcome.Rollout, message = outcome.Message });

    private static string Shown(string value) => Names.Show(value.Length <= 64 ? value : value[..64] + "…");
}

/// <summary>Aborting and resuming through the server (API or console): the rules, then the work in the background.</summary>
internal static class RolloutActions
{
    /// <summary>The rollout and what happens to it now, or the refusal (a role: 403; anything else: 409).</summary>
    public sealed record Outcome(Rollout? Rollout, string? Message, GateRefusal? Refusal);

    /// <summary>The rule that refuses a second abort while the first one's rollback runs here.</summary>
    public const string AbortingRule = "rollout-aborting";

    /// <summary>How long an abort waits for the rollout running here to stop where it stands.</summary>
    private static readonly TimeSpan StopLimit = TimeSpan.FromSeconds(30);

    public static async Task<Outcome> AbortAsync(RolloutControl control, RolloutRunner runner, IStateStore store, Rollout rollout, Principal actor,
        string? comment, CancellationToken ct)
    {
        if (await control.RoleRefusalAsync(actor, rollout, "abort a rollout", ct).ConfigureAwait(false) is { } role)
        {
            return new(null, null, role);
        }
        if (rollout.Finished)
        {
            return new(null, null, RolloutControl.Finished(rollout));
        }
        if (rollout.AbortRequestedBy is { } by && runner.IsRunning(rollout.Id))
        {
            return new(null, null, new GateRefusal(AbortingRule, $"rollout {rollout.Id} is already being aborted ({by} asked): its hosts are rolling back"));
        }
        // Waiting for a worker or its window: cancelled where it waits, no host touched.
        if (rollout.Status == RolloutStatus.Scheduled)
        {
            var (asked, refused) = await control.RequestAbortAsync(actor, rollout, comment, ct).ConfigureAwait(false);
            if (refused is not null)
            {
                return new(null, null, refused);
            }
            if (await runner.CancelScheduledAsync(asked!, ct).ConfigureAwait(false))
            {
                return new(await store.FindRolloutAsync(rollout.Id, ct).ConfigureAwait(false), "cancelled before it started: no host was touched", null);
            }
            return new(asked, "a worker had just started it: it stops before its first batch and ends aborted", null);
        }
        // Running here: stop it where it stands first (as a stopping server does), so nothing writes the rollout while
        // the abort is recorded; then it is rolled back from its rollback points.
        var stopped = await runner.StopAsync(rollout.Id, StopLimit).ConfigureAwait(false);
        var (aborted, refusal) = await control.RequestAbortAsync(actor, rollout, comment, ct).ConfigureAwait(false);
        if (refusal is not null)
        {
            return new(null, null, refusal);
        }
        if (await control.RunnerAsync(aborted!, ct).ConfigureAwait(false) is { } holder)
        {
            return new(aborted, $"running in process {holder.ProcessId} on {holder.Machine}: it stops before its next batch and rolls back every host it patched", null);
        }
        var stored = await store.FindPatchSetAsync(aborted!.PatchDigest, ct).ConfigureAwait(false)
                     ?? throw new Core.InputException($"rollout {aborted.Id} names patch set {aborted.PatchDigest[..12]}, which this state does not hold");
        await runner.ResumeAsync(stored, aborted, actor, ct).ConfigureAwait(false);
        return new(aborted, (stopped ? "stopped where it stood" : "nobody was running it") + "; rolling back every host it patched", null);
    }

    public static async Task<Outcome> ResumeAsync(RolloutControl control, RolloutRunner runner, IStateStore store, Rollout rollout, Principal actor, CancellationToken ct)
    {
        if (await control.ResumeRefusalAsync(actor, rollout, ct).ConfigureAwait(false) is { } refusal)
        {
            return new(null, null, refusal);
        }
        var runningHere = new GateRefusal(RolloutEngine.LockRule, $"rollout {rollout.Id} is running in this server: nothing to resume");
        if (runner.IsRunning(rollout.Id))
        {
            return new(null, null, runningHere);
        }
        var stored = await store.FindPatchSetAsync(rollout.PatchDigest, ct).ConfigureAwait(false)
                     ?? throw new Core.InputException($"rollout {rollout.Id} names patch set {rollout.PatchDigest[..12]}, which this state does not hold");
        return await runner.ResumeAsync(stored, rollout, actor, ct).ConfigureAwait(false)
            ? new(rollout, $"resuming where its hosts are: {RolloutEngine.Where(rollout)}", null)
            : new(null, null, runningHere);
    }
}
