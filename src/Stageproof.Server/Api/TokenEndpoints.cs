using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Stageproof.Application.Identity;
using Stageproof.Application.Views;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;
using Stageproof.Core.Validation;
using Stageproof.Server.Auth;

namespace Stageproof.Server.Api;

/// <summary>What a token request carries: whose (default: the caller's), the most it may do (default: its user's, or
/// the presented token's scope for one's own), and its lifetime (<c>90d</c>, <c>12h</c>, <c>never</c>; default 90d).</summary>
public sealed record TokenRequest(string? User = null, string? Role = null, IReadOnlyList<string>? Environments = null, string? Expires = null);

/// <summary><c>POST /api/v1/tokens</c> and <c>DELETE /api/v1/tokens/{id}</c>: <c>stageproof token create|revoke</c>
/// through the server, by the same rules (<see cref="TokenWorkflow"/>).</summary>
internal static class TokenEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").RequireAuthorization();

        api.MapPost("/tokens", async (TokenRequest body, ClaimsPrincipal claims, TokenWorkflow tokens, CancellationToken ct) =>
        {
            var me = Principals.FromClaims(claims);
            var (lifetime, expiresError) = TokenWorkflow.ParseLifetime(body.Expires ?? TokenWorkflow.DefaultLifetime);
            if (expiresError is not null)
            {
                return Problems.Invalid("expires: " + expiresError);
            }
            Role? role = null;
            if (body.Role is { } named)
            {
                if (!Enum.TryParse<Role>(named, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed) || named.Any(char.IsDigit))
                {
                    return Problems.Invalid($"role: {Names.Show(named)} is not {TokenWorkflow.RoleNames}");
                }
                role = parsed;
            }
            if (body.Environments is { Count: 0 })
            {
                return Problems.Invalid("environments: empty; leave it out for the user's own environments");
            }
            var issue = await tokens.IssueAsync(me, string.IsNullOrWhiteSpace(body.User) ? me.Name : body.User, lifetime, role,
                body.Environments?.Distinct(StringComparer.Ordinal).ToList(), ct).ConfigureAwait(false);
            if (issue.Refusal is { } refusal)
            {
                return Problems.Refused(refusal);
            }
            if (issue.Invalid is { } invalid)
            {
                return Problems.Invalid($"{invalid.Field}: {invalid.Message}");
            }
            var token = issue.Token!;
            // The secret is in this answer only: the state keeps its hash.
            return Results.Created("/api/v1/tokens", new
            {
                id = token.Id, user = token.User, createdAt = token.CreatedAt, expiresAt = token.ExpiresAt,
                role = token.Role is { } r ? AccessPolicy.Name(r) : null, environments = token.Environments, token = issue.Secret,
            });
        }).WithSummary("Create a token (for yourself, or anyone for an admin), no wider than its user; the secret is shown in this answer only (201)");

        api.MapDelete("/tokens/{id}", async (string id, ClaimsPrincipal claims, IStateStore store, TokenWorkflow tokens, TimeProvider time, CancellationToken ct) =>
        {
            if (await store.FindTokenAsync(id, ct).ConfigureAwait(false) is not { } token)
            {
                return Problems.NotFound($"no token {Names.Show(id.Length <= 64 ? id : id[..64] + "…")}");
            }
            var revoked = await tokens.RevokeAsync(Principals.FromClaims(claims), token, ct).ConfigureAwait(false);
            return revoked.Refusal is { } refusal ? Problems.Refused(refusal) : Results.Ok(TokenSummary.Of(revoked.Token!, time.GetUtcNow()));
        }).WithSummary("Revoke a token at once (your own, or anyone's for an admin); revoking one already revoked changes nothing");
    }
}
