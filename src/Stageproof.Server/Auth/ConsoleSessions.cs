using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.DependencyInjection;
using Stageproof.Application.Identity;
using Stageproof.Core.State;

namespace Stageproof.Server.Auth;

/// <summary>
/// A console session is re-judged on every request against the users in the state: a removed user is logged out at
/// once, and a changed role or scope applies to the next click, not when the cookie expires. A single sign-on session is
/// judged the same way; its role changes when the provider's claims change, at the next sign-in.
/// </summary>
internal static class ConsoleSessions
{
    public static async Task RevalidateAsync(CookieValidatePrincipalContext context)
    {
        var name = context.Principal?.Identity?.Name;
        var store = context.HttpContext.RequestServices.GetRequiredService<IStateStore>();
        var user = name is null ? null : (await store.ListUsersAsync(context.HttpContext.RequestAborted).ConfigureAwait(false)).FirstOrDefault(u => u.Name == name);
        // A single sign-on session stays one of the user single sign-on made, a password session one of a local user: a
        // name that changed hands (removed, then created the other way) ends the old session.
        var proof = context.Principal?.FindFirstValue(Principals.AuthenticatedByClaim);
        var singleSignOn = proof?.StartsWith(OidcSignIn.ProofPrefix, StringComparison.Ordinal) == true;
        if (user is null || singleSignOn != (user.Issuer is not null))
        {
            context.RejectPrincipal();
            return;
        }
        context.ReplacePrincipal(Principals.ToClaims(new Principal(user.Name, singleSignOn ? proof : "password:" + user.Name, user), CookieAuthenticationDefaults.AuthenticationScheme));
    }
}
