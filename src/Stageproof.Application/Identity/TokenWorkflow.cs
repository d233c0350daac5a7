using System.Globalization;
using Stageproof.Core.Audit;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;
using Stageproof.Core.Validation;

namespace Stageproof.Application.Identity;

/// <summary>A field of a token request that is wrong: which one (<c>user</c>, <c>role</c>, <c>environments</c>,
/// <c>expires</c>) and why, for each entry point to name in its own words (<c>--env</c>, <c>environments</c>).</summary>
public sealed record TokenFieldError(string Field, string Message);

/// <summary>What asking for a token came to: the token and its secret (shown once, stored only as a hash), a refusal
/// (audited), or a field that is wrong.</summary>
public sealed record TokenIssue(ApiToken? Token, string? Secret, GateRefusal? Refusal, TokenFieldError? Invalid);

/// <summary>What revoking a token came to: the token as revoked, or the refusal (audited).</summary>
public sealed record TokenRevocation(ApiToken? Token, GateRefusal? Refusal);

/// <summary>
/// Personal API tokens, for every entry point (<c>stageproof token create|revoke</c>, <c>POST|DELETE /api/v1/tokens</c>,
/// the console's Tokens page): a user for themselves, an admin for anyone; a token never reaches beyond its user, nor
/// beyond the token its creator presented. Created and revoked tokens are audited (<c>token.create</c>,
/// <c>token.revoke</c>), refusals as <c>token.refused</c>.
/// </summary>
public sealed class TokenWorkflow(IStateStore store, StageproofConfig config, TimeProvider time)
{
    /// <summary>The lifetime a token gets unless asked otherwise.</summary>
    public const string DefaultLifetime = "90d";

    private static readonly TimeSpan LongestLifetime = TimeSpan.FromDays(3650);

    /// <summary>A lifetime as configuration writes one (90d, 12h, 30m) or "never" (null); the error (without the field's
    /// name) when it is neither.</summary>
    public static (TimeSpan? Lifetime, string? Error) ParseLifetime(string text) =>
        text == "never" ? (null, null)
        : Durations.TryParse(text, out var lifetime) && lifetime > TimeSpan.Zero && lifetime <= LongestLifetime ? (lifetime, null)
        : (null, $"{Names.Show(text)} is not a duration from 1s to 3650d (e.g. 30d, 12h, 90m) or 'never'");

    /// <summary>The refusal when <paramref name="actor"/> may not manage <paramref name="owner"/>'s tokens (audited as
    /// <c>token.refused</c>); null when it may.</summary>
    public async Task<GateRefusal?> RefusalAsync(Principal actor, string owner, string doing, CancellationToken ct)
    {
        GateRefusal? refusal = actor.User is not { } me
            ? new GateRefusal(GateRules.Role, $"{actor.Name} is not a Stageproof user; to {doing}, one is needed (an admin adds it: stageproof user add {actor.Name} --role ROLE)")
            : AccessPolicy.MayManageTokensOf(me, owner) ? null
            : new GateRefusal(GateRules.Role, $"only an admin may {doing} for another user ({me.Name} is {AccessPolicy.Name(me.Role)})");
        if (refusal is not null)
        {
            await store.AppendAsync(new AuditEvent { Actor = actor.Name, Action = "token.refused", Target = owner, Outcome = refusal.ToString() }, ct).ConfigureAwait(false);
        }
        return refusal;
    }

    /// <summary>
    /// Creates <paramref name="owner"/>'s token. A <paramref name="role"/> or <paramref name="environments"/> scope it
    /// below its user; a scope wider than the user is refused as a wrong field. A user acting through a scoped token
    /// cannot mint a wider one for itself: its own token's scope is the bound, and the default.
    /// </summary>
    public async Task<TokenIssue> IssueAsync(Principal actor, string owner, TimeSpan? lifetime, Role? role, IReadOnlyList<string>? environments, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(actor);
        if (await RefusalAsync(actor, owner, "create a token", ct).ConfigureAwait(false) is { } refusal)
        {
            return new(null, null, refusal, null);
        }
        if (environments?.FirstOrDefault(e => e != "*" && !config.Environments.ContainsKey(e)) is { } unknown)
        {
            return Invalid("environments", $"{config.SourceFile} defines no environment {Names.Show(unknown)} (environments: {string.Join(", ", config.Environments.Keys)})");
        }
        var stored = (await store.ListUsersAsync(ct).ConfigureAwait(false)).FirstOrDefault(u => u.Name == owner);
        if (stored is null)
        {
            return Invalid("user", $"there is no user {Names.Show(owner)} (see 'stageproof user list')");
        }
        var bound = actor.Name == owner ? actor.User! : stored;
        role ??= bound.Role == stored.Role ? null : bound.Role;
        environments ??= bound.Environments.SequenceEqual(stored.Environments) ? null : bound.Environments;
        switch (AccessPolicy.ScopeBeyond(bound, role, environments))
        {
            case "role":
                return Invalid("role", $"{AccessPolicy.Name(role!.Value)} is beyond {owner}, who may act as {AccessPolicy.Name(bound.Role)}; " +
                                       $"a token may be {string.Join(", ", Enum.GetValues<Role>().Where(r => AccessPolicy.RoleWithin(r, bound.Role)).Select(AccessPolicy.Name))}");
            case { } beyond:
                return Invalid("environments", $"{beyond["environment ".Length..]} is beyond {owner}, who may act on {string.Join(", ", bound.Environments)}; " +
                                               "a token's environments must be among its user's");
        }
        var now = time.GetUtcNow();
        var (token, text) = ApiToken.Create(owner, actor.Name, now, lifetime is { } l ? now + l : null, role, environments);
        await store.SaveTokenAsync(token, ct).ConfigureAwait(false);
        await store.AppendAsync(new AuditEvent { Actor = actor.Name, Action = "token.create", Target = owner, Outcome = $"token {token.Id}{Scope(token)}, expires {Expiry(token.ExpiresAt)}" }, ct)
            .ConfigureAwait(false);
        return new(token, text, null, null);
    }

    /// <summary>Revokes <paramref name="token"/> at once (its owner or an admin); one already revoked stays as it was.</summary>
    public async Task<TokenRevocation> RevokeAsync(Principal actor, ApiToken token, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(actor);
        ArgumentNullException.ThrowIfNull(token);
        if (await RefusalAsync(actor, token.User, "revoke a token", ct).ConfigureAwait(false) is { } refusal)
        {
            return new(null, refusal);
        }
        if (token.RevokedAt is null)
        {
            token = token with { RevokedAt = time.GetUtcNow(), RevokedBy = actor.Name };
            await store.SaveTokenAsync(token, ct).ConfigureAwait(false);
            await store.AppendAsync(new AuditEvent { Actor = actor.Name, Action = "token.revoke", Target = token.User, Outcome = $"token {token.Id}" }, ct).ConfigureAwait(false);
        }
        return new(token, null);
    }

    /// <summary>"viewer, operator, approver or admin": what a role may be named.</summary>
    public static string RoleNames
    {
        get
        {
            var names = Enum.GetValues<Role>().Select(AccessPolicy.Name).ToList();
            return string.Join(", ", names[..^1]) + " or " + names[^1];
        }
    }

    /// <summary>", scoped to operator on staging" for a scoped token; empty otherwise.</summary>
    public static string Scope(ApiToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return token.Scoped ? ", scoped to " + AccessPolicy.DescribeScope(token.Role, token.Environments) : "";
    }

    /// <summary>"2026-12-01 10:00 UTC", or "never".</summary>
    public static string Expiry(DateTimeOffset? expiresAt) =>
        expiresAt is { } e ? e.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC" : "never";

    private static TokenIssue Invalid(string field, string message) => new(null, null, null, new TokenFieldError(field, message));
}
