using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Stageproof.Application.Estate;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Stageproof.Application.Identity;
using Stageproof.Application.Lifecycle;
using Stageproof.Application.Notifications;
using Stageproof.Application.Reports;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Manifests;
using Stageproof.Core.State;
using Stageproof.Server.Auth;

namespace Stageproof.Server.Console;

/// <summary>The console's form posts (log in, log out, approve, promote, abort and resume a rollout, revoke a token), the stage report page, its stylesheet and script, and
/// the rollout's live event stream. Every form is antiforgery-checked; every page but the login needs a session.</summary>
internal static class ConsoleEndpoints
{
    public const string LoginLimiter = "login";

    private static readonly SemaphoreSlim LoginChecks = new(1, 1);

    /// <summary>Longest time one browser keeps a rollout's event stream open; it reconnects after.</summary>
    private static readonly TimeSpan LongestStream = TimeSpan.FromMinutes(30);

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/login", async ([FromForm] string? user, [FromForm] string? password, [FromForm] string? returnUrl, HttpContext context,
            IStateStore store, TimeProvider time) =>
        {
            var back = LocalOrHome(returnUrl);
            if (string.IsNullOrEmpty(user) || string.IsNullOrEmpty(password))
            {
                Notice.Set(context, "refused", "user and password: both are required");
                return Results.Redirect("/login?returnUrl=" + Uri.EscapeDataString(back));
            }
            PasswordCheck check;
            // One password check at a time: each is ~100 ms of PBKDF2 on a thread plus an audit write, and a storm of
            // them run at once would take the thread pool from everyone else (bench/README.md, server). Waiting here
            // holds no thread.
            await LoginChecks.WaitAsync(context.RequestAborted).ConfigureAwait(false);
            try
            {
                check = await PasswordAuthenticator.VerifyAsync(store, user, password, time.GetUtcNow(), context.RequestAborted).ConfigureAwait(false);
            }
            finally
            {
                LoginChecks.Release();
            }
            if (check.Principal is not { } principal)
            {
                Notice.Set(context, "refused", check.Refusal!);
                return Results.Redirect("/login?returnUrl=" + Uri.EscapeDataString(back));
            }
            await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, Principals.ToClaims(principal, CookieAuthenticationDefaults.AuthenticationScheme)).ConfigureAwait(false);
            return Results.Redirect(back);
        }).AllowAnonymous().RequireRateLimiting(LoginLimiter).ExcludeFromDescription();

        // Single sign-on starts from a link, not a form: the console's form-action 'self' would stop a form's redirect to
        // the provider. Only when server.oidc is configured.
        if (app.ServiceProvider.GetRequiredService<StageproofConfig>().Server.Oidc is { } oidc)
        {
            app.MapGet("/login/sso", async ([FromQuery] string? returnUrl, HttpContext context, ILoggerFactory logs) =>
            {
                var back = LocalOrHome(returnUrl);
                try
                {
                    await context.ChallengeAsync(SingleSignOn.Scheme, new AuthenticationProperties { RedirectUri = back }).ConfigureAwait(false);
                    return Results.Empty;
                }
                catch (InvalidOperationException e)
                {
                    // The provider's metadata could not be read (down, unreachable, not a provider): say so on the login
                    // page, where the password still works, rather than answer with a server error.
                    logs.CreateLogger("Stageproof.SingleSignOn").LogWarning("single sign-on: {Authority}: {Message}", oidc.Authority, e.Message);
                    Notice.Set(context, "refused", $"single sign-on is unavailable: the identity provider {oidc.Authority} did not answer; try again later or log in with a password");
                    return Results.Redirect("/login?returnUrl=" + Uri.EscapeDataString(back));
                }
            }).AllowAnonymous().RequireRateLimiting(LoginLimiter).ExcludeFromDescription();
        }

        app.MapPost("/logout", async (HttpContext context, IStateStore store) =>
        {
            await store.AppendAsync(new Core.Audit.AuditEvent { Actor = context.User.Identity?.Name ?? "", Action = "logout", Target = "console" }, context.RequestAborted).ConfigureAwait(false);
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme).ConfigureAwait(false);
            return Results.Redirect("/login");
        }).ExcludeFromDescription();

        app.MapPost("/console/approve", async ([FromForm] string? digest, [FromForm] string? environment, [FromForm] string? comment,
            HttpContext context, ClaimsPrincipal claims, IStateStore store, StageproofConfig config, TimeProvider time, IEventPublisher events) =>
        {
            if (digest is null || environment is null || !config.Environments.ContainsKey(environment) || comment is { Length: > Api.ApiEndpoints.MaxCommentLength }
                || await store.FindPatchSetAsync(digest, context.RequestAborted).ConfigureAwait(false) is not { } stored)
            {
                return Results.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Invalid request",
                    detail: $"digest, environment: a frozen patch set and an environment of stageproof.yaml are required; comment: at most {Api.ApiEndpoints.MaxCommentLength} characters");
            }
            var outcome = await new ApprovalWorkflow(store, time, events).ApproveAsync(Principals.FromClaims(claims), stored, environment,
                string.IsNullOrWhiteSpace(comment) ? null : comment, context.RequestAborted).ConfigureAwait(false);
            if (outcome.Approval is { } approval)
            {
                Notice.Set(context, "ok", $"{approval.Id}: {approval.Approver} approved {stored.Set.Id} for {environment}");
            }
            else
            {
                Notice.Set(context, "refused", outcome.Refusal!.ToString());
            }
            return Results.Redirect($"/patch-sets/{stored.Digest}", permanent: false, preserveMethod: false);
        }).ExcludeFromDescription();

        app.MapPost("/console/promote", async ([FromForm] string? digest, [FromForm] string? target, [FromForm] string? confirm,
            HttpContext context, ClaimsPrincipal claims, IStateStore store, StageproofConfig config, PromotionWorkflow promotions, RolloutRunner runner) =>
        {
            if (digest is null || target is null || !config.Environments.ContainsKey(target)
                || await store.FindPatchSetAsync(digest, context.RequestAborted).ConfigureAwait(false) is not { } stored)
            {
                return Results.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Invalid request",
                    detail: "digest, target: a frozen patch set and an environment of stageproof.yaml are required");
            }
            if (confirm != "yes")
            {
                Notice.Set(context, "refused", $"promoting {stored.Set.Id} to {target} changes its hosts: tick the confirmation first");
                return Results.Redirect($"/patch-sets/{stored.Digest}");
            }
            var outcome = await Api.Promotions.BeginAsync(promotions, store, stored, Api.Promotions.Ask(target, false, null, null, false),
                Principals.FromClaims(claims), dryRun: false, runner, context.RequestAborted).ConfigureAwait(false);
            if (outcome.Plan is not { } plan)
            {
                Notice.Set(context, "refused", outcome.Why!);
                return Results.Redirect($"/patch-sets/{stored.Digest}");
            }
            Notice.Set(context, "ok", plan.Status == Core.Rollouts.RolloutStatus.Scheduled
                ? $"{plan.Id}: {stored.Set.Id} is scheduled to roll out to {target} at {plan.ScheduledFor:u}, canary first, on a worker"
                : $"{plan.Id}: {stored.Set.Id} is rolling out to {target}, canary first");
            return Results.Redirect($"/rollouts/{plan.Id}");
        }).ExcludeFromDescription();

        app.MapPost("/console/rollouts/abort", async ([FromForm] string? id, [FromForm] string? confirm, [FromForm] string? comment,
            HttpContext context, ClaimsPrincipal claims, IStateStore store, RolloutControl control, RolloutRunner runner) =>
            await ControlRolloutAsync(context, store, id, confirm, comment, "abort", "stops it and rolls back every host it patched", rollout =>
                Api.RolloutActions.AbortAsync(control, runner, store, rollout, Principals.FromClaims(claims), string.IsNullOrWhiteSpace(comment) ? null : comment,
                    context.RequestAborted)).ConfigureAwait(false))
            .ExcludeFromDescription();

        app.MapPost("/console/rollouts/resume", async ([FromForm] string? id, [FromForm] string? confirm,
            HttpContext context, ClaimsPrincipal claims, IStateStore store, RolloutControl control, RolloutRunner runner) =>
            await ControlRolloutAsync(context, store, id, confirm, null, "resume", "continues patching its hosts where they are", rollout =>
                Api.RolloutActions.ResumeAsync(control, runner, store, rollout, Principals.FromClaims(claims), context.RequestAborted)).ConfigureAwait(false))
            .ExcludeFromDescription();

        app.MapPost("/console/tokens/revoke", async ([FromForm] string? id, HttpContext context, ClaimsPrincipal claims, IStateStore store,
            Application.Identity.TokenWorkflow tokens) =>
        {
            if (id is null || await store.FindTokenAsync(id, context.RequestAborted).ConfigureAwait(false) is not { } token)
            {
                return Results.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Invalid request", detail: "id: a token of this state is required");
            }
            var revoked = await tokens.RevokeAsync(Principals.FromClaims(claims), token, context.RequestAborted).ConfigureAwait(false);
            Notice.Set(context, revoked.Refusal is null ? "ok" : "refused", revoked.Refusal?.ToString() ?? $"token {token.Id} revoked: it authenticates nobody from now on");
            return Results.Redirect("/tokens");
        }).ExcludeFromDescription();

        app.MapGet("/stage-runs/{id}/report", async (string id, ClaimsPrincipal claims, IStateStore store, HttpContext context) =>
        {
            var result = (await store.ListStageResultsAsync(null, null, context.RequestAborted).ConfigureAwait(false)).FirstOrDefault(r => r.Id == id);
            var me = Principals.FromClaims(claims);
            if (result is null || me.User is not { } user || !AccessPolicy.MayRead(user, result.Environment))
            {
                return Results.NotFound();
            }
            // The report is one self-contained page: its own inline styles and SVG charts, nothing else, no script.
            context.Response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'";
            return Results.Content(StageHtml.Render(result), "text/html; charset=utf-8");
        }).ExcludeFromDescription();

        app.MapGet("/compliance/report", async (string? environment, ClaimsPrincipal claims, IStateStore store, StageproofConfig config, TimeProvider time,
            HttpContext context) =>
        {
            var me = Principals.FromClaims(claims);
            var allowed = me.User is { } user && (environment is null ? user.Environments.Contains("*")
                : config.Environments.ContainsKey(environment) && AccessPolicy.MayRead(user, environment));
            if (!allowed)
            {
                return Results.NotFound();
            }
            var report = await new ComplianceWorkflow(config, store, time).BuildAsync(environment, context.RequestAborted).ConfigureAwait(false);
            context.Response.Headers.ContentSecurityPolicy = Api.EstateEndpoints.ReportPolicy;
            return Results.Content(ComplianceHtml.Render(report), "text/html; charset=utf-8");
        }).ExcludeFromDescription();

        app.MapGet("/rollouts/{id}/events", async (string id, ClaimsPrincipal claims, IStateStore store, TimeProvider time, HttpContext context) =>
        {
            var me = Principals.FromClaims(claims);
            if (await store.FindRolloutAsync(id, context.RequestAborted).ConfigureAwait(false) is not { } first || me.User is not { } user || !AccessPolicy.MayRead(user, first.Environment))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-store";
            var until = time.GetUtcNow() + LongestStream;
            string? sent = null;
            while (!context.RequestAborted.IsCancellationRequested && time.GetUtcNow() < until)
            {
                var rollout = await store.FindRolloutAsync(first.Id, context.RequestAborted).ConfigureAwait(false);
                if (rollout is null)
                {
                    break;
                }
                var json = JsonSerializer.Serialize(new
                {
                    status = ConsolePage.Lower(rollout.Status),
                    batches = rollout.Batches.Select(b => new { b.Index, State = ConsolePage.Lower(b.State) }),
                    hosts = rollout.Hosts.Select(h => new { h.Host, State = ConsolePage.Lower(h.State), h.Message }),
                }, ManifestJson.Options);
                if (json != sent)
                {
                    await context.Response.WriteAsync($"data: {json}\n\n", context.RequestAborted).ConfigureAwait(false);
                    await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
                    sent = json;
                }
                if (rollout.Finished)
                {
                    break;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(500), time, context.RequestAborted).ConfigureAwait(false);
            }
        }).ExcludeFromDescription();

        // Browsers ask for it on every site; there is none, and saying so is not an error.
        app.MapGet("/favicon.ico", () => Results.NoContent()).AllowAnonymous().ExcludeFromDescription();
        app.MapGet("/console.css", () => Results.Text(ConsoleAssets.Css, "text/css")).AllowAnonymous().ExcludeFromDescription();
        app.MapGet("/console.js", () => Results.Text(ConsoleAssets.Script, "text/javascript")).AllowAnonymous().ExcludeFromDescription();
    }

    /// <summary>An abort or resume form: the rollout, the confirmation ticked, then the action; its outcome is shown on
    /// the rollout's page.</summary>
    private static async Task<IResult> ControlRolloutAsync(HttpContext context, IStateStore store, string? id, string? confirm, string? comment, string verb,
        string effect, Func<Core.Rollouts.Rollout, Task<Api.RolloutActions.Outcome>> act)
    {
        if (id is null || comment is { Length: > Api.ApiEndpoints.MaxCommentLength }
            || await store.FindRolloutAsync(id, context.RequestAborted).ConfigureAwait(false) is not { } rollout)
        {
            return Results.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Invalid request",
                detail: $"id: a rollout of this state is required; comment: at most {Api.ApiEndpoints.MaxCommentLength} characters");
        }
        if (confirm != "yes")
        {
            Notice.Set(context, "refused", $"to {verb} {rollout.Id}, which {effect}: tick the confirmation first");
            return Results.Redirect($"/rollouts/{rollout.Id}");
        }
        var outcome = await act(rollout).ConfigureAwait(false);
        Notice.Set(context, outcome.Refusal is null ? "ok" : "refused", outcome.Refusal?.ToString() ?? $"{rollout.Id}: {outcome.Message}");
        return Results.Redirect($"/rollouts/{rollout.Id}");
    }

    /// <summary>Where to go after logging in: a path of this site only, never another site (an open redirect).</summary>
    private static string LocalOrHome(string? url) => Redirects.LocalOrHome(url);
}
