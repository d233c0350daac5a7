using Stageproof.Core.Lifecycle;

namespace Stageproof.Core.Configuration;

/// <summary><c>server:</c> what only <c>stageproof serve</c> uses.</summary>
public sealed record ServerConfig
{
    /// <summary>Single sign-on for the web console (<c>server.oidc</c>); null when only local passwords log in.</summary>
    public OidcConfig? Oidc { get; init; }
}

/// <summary>
/// <c>server.oidc</c>: an OpenID Connect provider whose people sign in to the web console. Their role is not stored by
/// hand: it is derived from one claim's values (<see cref="RoleClaim"/>) through <see cref="Roles"/> at every sign-in.
/// </summary>
public sealed record OidcConfig
{
    /// <summary>The issuer URL; its /.well-known/openid-configuration is read at the first sign-in.</summary>
    public required Uri Authority { get; init; }
    public required string ClientId { get; init; }
    /// <summary>The absolute path of the file the secret was read from.</summary>
    public required string ClientSecretFile { get; init; }
    /// <summary>The secret file's text without its trailing line break. Never shown.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string ClientSecret { get; init; } = "";
    /// <summary>The claim whose values are looked up in <see cref="Roles"/> ("groups").</summary>
    public string RoleClaim { get; init; } = "groups";
    /// <summary>Claim value → the role (and environments) it gives.</summary>
    public required IReadOnlyDictionary<string, OidcRoleMapping> Roles { get; init; }
    /// <summary>The claim that becomes the Stageproof user name ("preferred_username").</summary>
    public string NameClaim { get; init; } = "preferred_username";
    public bool RequireHttpsMetadata { get; init; } = true;
    public required ValueSource Source { get; init; }

    /// <summary>Names the provider without the secret (a record's default would print it).</summary>
    public override string ToString() => $"{ClientId} at {Authority}";

    /// <summary>
    /// What a person with these claim values is: the highest role any value maps to (viewer, operator, approver, admin,
    /// in that order), on the environments of every value mapping to that role; null when no value maps to a role.
    /// </summary>
    public OidcRoleMapping? RoleFor(IEnumerable<string> claimValues)
    {
        var mapped = claimValues.Distinct(StringComparer.Ordinal).Where(Roles.ContainsKey).Select(v => Roles[v]).ToList();
        if (mapped.Count == 0)
        {
            return null;
        }
        var highest = mapped.Max(m => m.Role);
        var environments = mapped.Where(m => m.Role == highest).SelectMany(m => m.Environments).Distinct(StringComparer.Ordinal).ToList();
        return new OidcRoleMapping(highest, environments.Contains("*") ? ["*"] : environments);
    }
}

/// <summary>The role a claim value gives, on these environments ("*": all).</summary>
public sealed record OidcRoleMapping(Role Role, IReadOnlyList<string> Environments);
