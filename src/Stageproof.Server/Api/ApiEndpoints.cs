using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Stageproof.Application.Identity;
using Stageproof.Application.Lifecycle;
using Stageproof.Application.Notifications;
using Stageproof.Application.Views;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;
using Stageproof.Core.Validation;
using Stageproof.Core.Webhooks;
using Stageproof.Data;
using Stageproof.Server.Auth;

namespace Stageproof.Server.Api;

/// <summary>What an approval request carries.</summary>
public sealed record ApprovalRequest(string? Environment, string? Comment);

/// <summary>What a promotion request carries: the CLI's promote options (no waiting: a closed window is refused).</summary>
public sealed record PromotionRequest(string? Target, bool Emergency = false, string? Reason = null, string? Ticket = null, bool Now = false, bool DryRun = false);

/// <summary>
/// <c>/api/v1</c>: the estate, patch sets, stage runs, approvals, promotions, rollouts, audit, users, tokens and webhook
/// deliveries. Every endpoint needs
/// an authenticated principal; what it may see or do is the access policy's answer, per environment. Shapes are the
/// CLI's <c>--json</c> shapes.
/// </summary>
internal static class ApiEndpoints
{
    /// <summary>Longest comment an approval keeps; a longer one is refused rather than cut.</summary>
    public const int MaxCommentLength = 4000;

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").RequireAuthorization();

        api.MapGet("/me", (ClaimsPrincipal claims) =>
        {
            var me = Principals.FromClaims(claims);
            return Results.Ok(new { name = me.Name, authenticatedBy = me.AuthenticatedBy, role = me.User is { } u ? AccessPolicy.Name(u.Role) : null, environments = me.User?.Environments ?? [] });
        }).WithSummary("Who the presented credentials are, and their role and environments");

        api.MapGet("/environments", (ClaimsPrincipal claims, StageproofConfig config) =>
        {
            var me = Principals.FromClaims(claims);
            return Results.Ok(config.Environments.Keys.Where(e => MayRead(me, e)).Order(StringComparer.Ordinal).Select(e => EnvironmentView(config, e)));
        }).WithSummary("The environments the caller may read, with their hosts and lifecycle stage");

        api.MapGet("/environments/{name}", (string name, ClaimsPrincipal claims, StageproofConfig config) =>
            !config.Environments.ContainsKey(name) ? Problems.NotFound($"no environment {Shown(name)} in {config.SourceFile}")
            : Denied(Principals.FromClaims(claims), name) ?? Results.Ok(EnvironmentView(config, name)))
            .WithSummary("One environment");

        api.MapGet("/patch-sets", async (IStateStore store, CancellationToken ct) =>
            Results.Ok((await store.ListPatchSetsAsync(ct).ConfigureAwait(false)).Select(PatchSetSummary.Of)))
            .WithSummary("Frozen patch sets, oldest first");

        api.MapGet("/patch-sets/{digest}", async (string digest, IStateStore store, CancellationToken ct) =>
        {
            if (await store.FindPatchSetAsync(digest, ct).ConfigureAwait(false) is not { } stored)
            {
                return Problems.NotFound($"no frozen patch set has a digest starting with {Shown(digest)}");
            }
            using var document = JsonDocument.Parse(stored.Frozen.Json);
            return Results.Ok(new { digest = stored.Digest, frozenAt = stored.FrozenAt, patchSet = document.RootElement.Clone() });
        }).WithSummary("One frozen patch set: its content and digest");

        api.MapGet("/stage-runs", async (string? patch, string? environment, ClaimsPrincipal claims, IStateStore store, CancellationToken ct) =>
        {
            var me = Principals.FromClaims(claims);
            var results = await store.ListStageResultsAsync(patch, environment, ct).ConfigureAwait(false);
            return Results.Ok(results.Where(r => MayRead(me, r.Environment)));
        }).WithSummary("Stage results, newest first, in the environments the caller may read");

        api.MapGet("/approvals", async (string? patch, string? environment, ClaimsPrincipal claims, IStateStore store, CancellationToken ct) =>
        {
            var me = Principals.FromClaims(claims);
            var approvals = await store.ListApprovalsAsync(patch, environment, ct).ConfigureAwait(false);
            return Results.Ok(approvals.Where(a => MayRead(me, a.Environment)).Select(a => a with { Seal = null }));
        }).WithSummary("Approvals, oldest first");

        api.MapPost("/patch-sets/{digest}/approvals", async (string digest, ApprovalRequest body, ClaimsPrincipal claims,
            IStateStore store, StageproofConfig config, TimeProvider time, IEventPublisher events, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(body.Environment))
            {
                return Problems.Invalid("environment: required (the environment the approval is for)");
            }
            if (!config.Environments.ContainsKey(body.Environment))
            {
                return Problems.Invalid($"environment: no environment {Shown(body.Environment)} in {config.SourceFile}");
            }
            if (body.Comment is { Length: > MaxCommentLength })
            {
                return Problems.Invalid($"comment: {body.Comment.Length} characters; at most {MaxCommentLength}");
            }
            if (await store.FindPatchSetAsync(digest, ct).ConfigureAwait(false) is not { } stored)
            {
                return Problems.NotFound($"no frozen patch set has a digest starting with {Shown(digest)}");
            }
            var outcome = await new ApprovalWorkflow(store, time, events).ApproveAsync(Principals.FromClaims(claims), stored, body.Environment, body.Comment, ct).ConfigureAwait(false);
            return outcome.Approval is { } approval
                ? Results.Created($"/api/v1/approvals?patch={stored.Digest}&environment={approval.Environment}", approval with { Seal = null })
                : Problems.Refused(outcome.Refusal!);
        }).WithSummary("Approve promoting a patch set into an environment (four eyes: not its author, not whoever froze it)");

        api.MapPost("/patch-sets/{digest}/promotions", async (string digest, PromotionRequest body, ClaimsPrincipal claims, IStateStore store,
            StageproofConfig config, PromotionWorkflow promotions, RolloutRunner runner, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(body.Target))
            {
                return Problems.Invalid("target: required (the lifecycle stage to promote into)");
            }
            if (!config.Environments.ContainsKey(body.Target))
            {
                return Problems.Invalid($"target: no environment {Shown(body.Target)} in {config.SourceFile}");
            }
            if (await store.FindPatchSetAsync(digest, ct).ConfigureAwait(false) is not { } stored)
            {
                return Problems.NotFound($"no frozen patch set has a digest starting with {Shown(digest)}");
            }
            var outcome = await Promotions.BeginAsync(promotions, store, stored, Promotions.Ask(body.Target, body.Emergency, body.Reason, body.Ticket, body.Now),
                Principals.FromClaims(claims), body.DryRun, runner, ct).ConfigureAwait(false);
            return outcome.Refused is { } refused ? refused
                : body.DryRun ? Results.Ok(new { allowed = true, plan = outcome.Plan })
                : Results.Accepted($"/api/v1/rollouts/{outcome.Plan!.Id}", new { allowed = true, rollout = outcome.Plan });
        }).WithSummary("Promote: the gate's answer (403 a role, 409 anything else it waits for, each refusal named), then the canary-first rollout in the background (202; follow it at /api/v1/rollouts/{id})");

        api.MapGet("/rollouts", async (string? environment, ClaimsPrincipal claims, IStateStore store, CancellationToken ct) =>
        {
            var me = Principals.FromClaims(claims);
            return Results.Ok((await store.ListRolloutsAsync(environment, ct).ConfigureAwait(false)).Where(r => MayRead(me, r.Environment)));
        }).WithSummary("Rollouts, newest first");

        api.MapGet("/rollouts/{id}", async (string id, ClaimsPrincipal claims, IStateStore store, CancellationToken ct) =>
            await store.FindRolloutAsync(id, ct).ConfigureAwait(false) is not { } rollout ? Problems.NotFound($"no rollout {Shown(id)}")
            : Denied(Principals.FromClaims(claims), rollout.Environment) ?? Results.Ok(rollout))
            .WithSummary("One rollout with its per-host state");

        api.MapGet("/audit", async (int? last, ClaimsPrincipal claims, IStateStore store, CancellationToken ct) =>
        {
            if (DeniedWholeEstate(Principals.FromClaims(claims), "read the audit log") is { } denied)
            {
                return denied;
            }
            IEnumerable<Core.Audit.AuditEvent> events = await store.ReadAllAsync(ct).ConfigureAwait(false);
            return Results.Ok(last is > 0 ? events.TakeLast(last.Value) : events);
        }).WithSummary("The audit log (callers whose scope is the whole estate)");

        api.MapGet("/audit/verify", async (ClaimsPrincipal claims, IStateStore store, CancellationToken ct) =>
        {
            if (DeniedWholeEstate(Principals.FromClaims(claims), "verify the audit log") is { } denied)
            {
                return denied;
            }
            var result = await store.VerifyAuditAsync(ct).ConfigureAwait(false);
            return Results.Ok(new { ok = result.IsOk, events = result.EventCount, problem = result.IsOk ? null : result.Problem.ToString().ToLowerInvariant(), sequence = result.Sequence, message = result.Message });
        }).WithSummary("Check that no audit event was altered, removed, reordered or forged");

        api.MapGet("/users", async (ClaimsPrincipal claims, IStateStore store, CancellationToken ct) =>
            !AccessPolicy.MayManageUsers(Principals.FromClaims(claims).User)
                ? Problems.Refused(new GateRefusal(GateRules.Role, "only an admin lists users"))
                : Results.Ok(await store.ListUsersAsync(ct).ConfigureAwait(false)))
            .WithSummary("Users (admins)");

        api.MapGet("/tokens", async (ClaimsPrincipal claims, IStateStore store, TimeProvider time, CancellationToken ct) =>
        {
            var me = Principals.FromClaims(claims);
            var now = time.GetUtcNow();
            var tokens = (await store.ListTokensAsync(ct).ConfigureAwait(false)).Where(t => me.User is { } u && AccessPolicy.MayManageTokensOf(u, t.User));
            return Results.Ok(tokens.Select(t => TokenSummary.Of(t, now)));
        }).WithSummary("Tokens: an admin sees all, others their own; never the secrets");

        api.MapGet("/webhooks/deliveries", async (int? limit, ClaimsPrincipal claims, IStateStore store, CancellationToken ct) =>
            DeniedWholeEstate(Principals.FromClaims(claims), "read webhook deliveries")
            ?? (limit is < 1 or > 10000 ? Problems.Invalid($"limit: from 1 to 10000, not {limit}")
                : Results.Ok((await store.ListDeliveriesAsync(limit ?? 100, ct).ConfigureAwait(false)).Select(DeliverySummary.Of))))
            .WithSummary("Webhook deliveries, newest first, with every attempt (callers whose scope is the whole estate)");
    }

    private static object EnvironmentView(StageproofConfig config, string name)
    {
        var stage = config.Lifecycle.StageOf(name);
        return new
        {
            name,
            hosts = config.HostsOf(name).Select(h => h.Name),
            lifecycle = stage is null ? null : new
            {
                position = config.Lifecycle.Stages.ToList().IndexOf(stage) + 1,
                approvals = stage.Approvals,
                roles = stage.Roles.Select(AccessPolicy.Name),
                window = stage.Window?.ToString(),
            },
        };
    }

    internal static bool MayRead(Principal me, string environment) => me.User is { } u && AccessPolicy.MayRead(u, environment);

    internal static IResult? Denied(Principal me, string environment) =>
        MayRead(me, environment) ? null
        : Problems.Refused(new GateRefusal(GateRules.Role, $"{me.Name} may act on {string.Join(", ", me.User?.Environments ?? [])}, not on {environment}"));

    internal static IResult? DeniedWholeEstate(Principal me, string doing) =>
        me.User is { } u && u.Environments.Contains("*") ? null
        : Problems.Refused(new GateRefusal(GateRules.Role, $"to {doing}, a scope over every environment is needed ({me.Name}'s: {string.Join(", ", me.User?.Environments ?? [])})"));

    /// <summary>A caller's value echoed back in a message: at most 64 characters of it.</summary>
    internal static string Shown(string value) => Names.Show(value.Length <= 64 ? value : value[..64] + "…");
}
