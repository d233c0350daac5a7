using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.DependencyInjection;
using Stageproof.Application.Identity;
using Stageproof.Core.State;

namespace Stageproof.Server.Auth;

/// <summary>
/// A console session is re-judged on every request against the users in the state: a removed user is logged out at
/// once, and a changed role or scope applies to the next click, not when the cookie expires.
/// </summary>
internal static class ConsoleSessions
{
    public static async Task RevalidateAsync(CookieValidatePrincipalContext context)
    {
        var name = context.Principal?.Identity?.Name;
        var store = context.HttpContext.RequestServices.GetRequiredService<IStateStore>();
        var user = name is null ? null : (await store.ListUsersAsync(context.HttpContext.RequestAborted).ConfigureAwait(false)).FirstOrDefault(u => u.Name == name);
        if (user is null)
        {
            context.RejectPrincipal();
            return;
        }
        context.ReplacePrincipal(Principals.ToClaims(new Principal(user.Name, "password:" + user.Name, user), CookieAuthenticationDefaults.AuthenticationScheme));
    }
}
