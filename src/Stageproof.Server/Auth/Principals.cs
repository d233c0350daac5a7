using System.Security.Claims;
using Stageproof.Application.Identity;
using Stageproof.Core.Lifecycle;

namespace Stageproof.Server.Auth;

/// <summary>The application's <see cref="Principal"/> carried as claims through ASP.NET Core's authentication.</summary>
internal static class Principals
{
    public const string AuthenticatedByClaim = "stageproof:authenticated_by";
    public const string EnvironmentClaim = "stageproof:environment";

    public static ClaimsPrincipal ToClaims(Principal principal, string scheme)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, principal.Name), new(AuthenticatedByClaim, principal.AuthenticatedBy ?? "") };
        if (principal.User is { } user)
        {
            claims.Add(new Claim(ClaimTypes.Role, AccessPolicy.Name(user.Role)));
            claims.AddRange(user.Environments.Select(e => new Claim(EnvironmentClaim, e)));
        }
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, ClaimTypes.Name, ClaimTypes.Role));
    }

    /// <summary>The principal an authenticated request acts as; its user as the policy judges it (a token's scope included).</summary>
    public static Principal FromClaims(ClaimsPrincipal claims)
    {
        var name = claims.Identity?.Name ?? throw new InvalidOperationException("an anonymous request reached an endpoint that requires a login");
        var role = claims.FindFirstValue(ClaimTypes.Role);
        var user = role is null || !Enum.TryParse<Role>(role, ignoreCase: true, out var parsed) ? null
            : new User { Name = name, Role = parsed, Environments = claims.FindAll(EnvironmentClaim).Select(c => c.Value).ToList() };
        return new Principal(name, claims.FindFirstValue(AuthenticatedByClaim) is { Length: > 0 } by ? by : null, user);
    }
}
