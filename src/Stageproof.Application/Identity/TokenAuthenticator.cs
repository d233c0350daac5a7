using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;

namespace Stageproof.Application.Identity;

/// <summary>What presenting a token came to: the principal, or why it was refused (one line, no secret in it).</summary>
public sealed record TokenCheck(Principal? Principal, string? Refusal);

/// <summary>
/// Turns a presented API token into a principal. One rule for every entry point: a token that is not shaped like one,
/// unknown, not sealed by this state's audit key, expired, revoked, or whose user is gone authenticates nobody; one that
/// does is its user narrowed by the token's scope.
/// </summary>
public static class TokenAuthenticator
{
    public static async Task<TokenCheck> VerifyAsync(IStateStore store, string text, DateTimeOffset now, CancellationToken ct)
    {
        if (ApiToken.Parse(text) is not { } parsed)
        {
            return new(null, "not a Stageproof token (they look like spt_<12 hex>_<secret>)");
        }
        var token = await store.FindTokenAsync(parsed.Id, ct).ConfigureAwait(false);
        if (token is null || !token.Accepts(parsed.Secret))
        {
            return new(null, $"token {parsed.Id} is not known to this state");
        }
        if (token.Unusable(now) is { } why)
        {
            return new(null, $"token {parsed.Id} of {token.User} is {why}");
        }
        var user = (await store.ListUsersAsync(ct).ConfigureAwait(false)).FirstOrDefault(u => u.Name == token.User);
        if (user is null)
        {
            return new(null, $"token {parsed.Id} belongs to {token.User}, who is no longer a Stageproof user");
        }
        // The principal is the user as the token lets it act: never wider than either.
        return new(new Principal(user.Name, "token:" + token.Id, AccessPolicy.Within(user, token)), null);
    }
}
