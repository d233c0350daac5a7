using Stageproof.Core.Audit;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;
using Stageproof.Core.Validation;

namespace Stageproof.Application.Identity;

/// <summary>What a single sign-on came to: the principal, or why Stageproof refused the person the provider vouched for.</summary>
public sealed record OidcCheck(Principal? Principal, string? Refusal);

/// <summary>What the identity provider proved about a person: its issuer and subject, the name claim's value (null when
/// the token has none) and the role claim's values.</summary>
public sealed record OidcIdentity(string Issuer, string Subject, string? Name, IReadOnlyList<string> RoleValues);

/// <summary>
/// Single sign-on (OpenID Connect) for every entry point: the provider proves who someone is, Stageproof decides what
/// they are. The user is created just in time and its role re-derived from the role claim at every sign-in
/// (<see cref="OidcConfig.RoleFor"/>), so the provider's groups are the one place roles are kept. Refused: no name claim
/// or one that is no user name, no mapped role, and a name already held by a local user or by another account of a
/// provider (single sign-on never takes over an account it did not create); a user it made whose claims no longer map
/// to a role is removed. Audited as <c>user.add</c>, <c>user.role-changed</c>, <c>user.remove</c>, <c>login</c> (its
/// outcome the <c>oidc:NAME</c> proof) and <c>login.refused</c>.
/// </summary>
public static class OidcSignIn
{
    public const string ProofPrefix = "oidc:";

    public static async Task<OidcCheck> SignInAsync(IStateStore store, OidcConfig config, OidcIdentity identity, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(identity);
        var who = identity.Name ?? $"subject {identity.Subject}";
        if (identity.Name is not { } name)
        {
            return await RefuseAsync(store, identity, who, $"the identity provider sent no '{config.NameClaim}' claim to name you by", ct).ConfigureAwait(false);
        }
        if (Names.UserNameError(name) is { } nameError)
        {
            return await RefuseAsync(store, identity, who, $"'{config.NameClaim}': {nameError}", ct).ConfigureAwait(false);
        }
        var existing = (await store.ListUsersAsync(ct).ConfigureAwait(false)).FirstOrDefault(u => u.Name == name);
        var mine = existing is not null && existing.Issuer == identity.Issuer && existing.Subject == identity.Subject;
        if (config.RoleFor(identity.RoleValues) is not { } mapped)
        {
            var values = identity.RoleValues.Count == 0 ? "none" : string.Join(", ", identity.RoleValues.Take(20));
            if (mine)
            {
                // The provider took every mapped group away: the user goes now, with its sessions and tokens, rather than
                // keep the last role it had until some session expires.
                await store.DeleteUserAsync(name, ct).ConfigureAwait(false);
                await AuditAsync(store, name, "user.remove", $"no role any more ({ProofPrefix}{name}: {config.RoleClaim} {values})", ct).ConfigureAwait(false);
            }
            return await RefuseAsync(store, identity, name,
                $"{name} has no Stageproof role: none of your '{config.RoleClaim}' values ({values}) is mapped to one (server.oidc.roles maps {string.Join(", ", config.Roles.Keys)})", ct)
                .ConfigureAwait(false);
        }
        if (existing is { Issuer: null })
        {
            var hasPassword = await store.FindPasswordAsync(name, ct).ConfigureAwait(false) is not null;
            return await RefuseAsync(store, identity, name,
                $"{name} is a local Stageproof user{(hasPassword ? " with a password" : "")}; single sign-on does not take over a local account " +
                $"({(hasPassword ? "log in with the password, or " : "")}an admin removes the local user first)", ct)
                .ConfigureAwait(false);
        }
        if (existing is not null && !mine)
        {
            return await RefuseAsync(store, identity, name,
                $"{name} already belongs to another single sign-on account (subject {existing.Subject} at {existing.Issuer})", ct).ConfigureAwait(false);
        }

        var user = new User
        {
            Name = name, Role = mapped.Role, Environments = mapped.Environments, Issuer = identity.Issuer, Subject = identity.Subject,
            CreatedAt = existing?.CreatedAt ?? now, CreatedBy = existing?.CreatedBy ?? ProofPrefix + name,
        };
        var proof = ProofPrefix + name;
        var from = $"from {config.RoleClaim} {string.Join(", ", identity.RoleValues.Where(config.Roles.ContainsKey))}";
        if (existing is null)
        {
            await store.SaveUserAsync(user, ct).ConfigureAwait(false);
            await AuditAsync(store, name, "user.add", $"{Describe(user)} ({proof}, {from})", ct).ConfigureAwait(false);
        }
        else if (existing.Role != user.Role || !existing.Environments.SequenceEqual(user.Environments, StringComparer.Ordinal))
        {
            await store.SaveUserAsync(user, ct).ConfigureAwait(false);
            await AuditAsync(store, name, "user.role-changed", $"{Describe(existing)} -> {Describe(user)} ({proof}, {from})", ct).ConfigureAwait(false);
        }
        await AuditAsync(store, name, "login", $"{proof} ({Describe(user)}; subject {identity.Subject} at {identity.Issuer})", ct).ConfigureAwait(false);
        return new(new Principal(name, proof, user), null);
    }

    private static async Task<OidcCheck> RefuseAsync(IStateStore store, OidcIdentity identity, string who, string why, CancellationToken ct)
    {
        await AuditAsync(store, who, "login.refused", $"refused: {why} ({ProofPrefix}subject {identity.Subject} at {identity.Issuer})", ct).ConfigureAwait(false);
        return new(null, why);
    }

    private static string Describe(User user) => $"{AccessPolicy.Name(user.Role)} on {string.Join(", ", user.Environments)}";

    private static Task AuditAsync(IStateStore store, string who, string action, string outcome, CancellationToken ct) =>
        store.AppendAsync(new AuditEvent { Actor = who, Action = action, Target = who, Outcome = outcome }, ct);
}
