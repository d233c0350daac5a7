using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Stageproof.Application.Identity;
using Stageproof.Core.Configuration;
using Stageproof.Core.State;

namespace Stageproof.Server.Auth;

/// <summary>
/// The console's single sign-on (<c>server.oidc</c>): OpenID Connect's authorization code flow with PKCE, beside the
/// password login. The provider's answer never becomes a session by itself: <see cref="OidcSignIn"/> decides who the
/// person is to Stageproof (just-in-time user, role from the role claim) and the console's own cookie is issued for that
/// user, so the session is re-judged per request like a password session (<see cref="ConsoleSessions"/>).
/// </summary>
internal static class SingleSignOn
{
    public const string Scheme = "oidc";
    public const string CallbackPath = "/signin-oidc";

    public static AuthenticationBuilder AddSingleSignOn(this AuthenticationBuilder auth, OidcConfig oidc) =>
        auth.AddOpenIdConnect(Scheme, "single sign-on", o =>
        {
            o.Authority = oidc.Authority.ToString();
            o.ClientId = oidc.ClientId;
            o.ClientSecret = oidc.ClientSecret;
            o.RequireHttpsMetadata = oidc.RequireHttpsMetadata;
            o.ResponseType = OpenIdConnectResponseType.Code;
            o.UsePkce = true;
            // The code comes back on a top-level GET: the correlation and nonce cookies (SameSite=Lax) travel with it,
            // where a cross-site form post would leave them behind.
            o.ResponseMode = OpenIdConnectResponseMode.Query;
            o.CallbackPath = CallbackPath;
            o.SignInScheme = CookieAuthenticationDefaults.AuthenticationScheme;
            o.MapInboundClaims = false;
            o.GetClaimsFromUserInfoEndpoint = false;
            o.SaveTokens = false;
            o.TokenValidationParameters.NameClaimType = oidc.NameClaim;
            o.CorrelationCookie.SameSite = SameSiteMode.Lax;
            o.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.NonceCookie.SameSite = SameSiteMode.Lax;
            o.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.Events.OnTicketReceived = c => SignInAsync(c, oidc);
            o.Events.OnRemoteFailure = c =>
            {
                c.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Stageproof.SingleSignOn")
                    .LogWarning("single sign-on failed: {Message}", c.Failure?.Message);
                c.HandleResponse();
                return WritePageAsync(c.Response, StatusCodes.Status400BadRequest, "Single sign-on failed",
                    $"the identity provider's answer was not accepted: {c.Failure?.Message ?? "no reason given"}", "/login", "Back to the login page", refresh: false);
            };
        });

    /// <summary>The provider vouched for someone: Stageproof decides whether, and as whom, they get a console session.</summary>
    private static async Task SignInAsync(TicketReceivedContext context, OidcConfig oidc)
    {
        context.HandleResponse();
        var claims = context.Principal ?? new ClaimsPrincipal();
        var subject = claims.FindFirst("sub");
        var identity = new OidcIdentity(
            claims.FindFirstValue("iss") ?? subject?.Issuer ?? oidc.Authority.ToString(),
            subject?.Value ?? "",
            claims.FindFirstValue(oidc.NameClaim),
            claims.FindAll(oidc.RoleClaim).Select(c => c.Value).ToList());
        var services = context.HttpContext.RequestServices;
        var check = await OidcSignIn.SignInAsync(services.GetRequiredService<IStateStore>(), oidc, identity,
            services.GetRequiredService<TimeProvider>().GetUtcNow(), context.HttpContext.RequestAborted).ConfigureAwait(false);
        if (check.Principal is not { } principal)
        {
            await WritePageAsync(context.Response, StatusCodes.Status403Forbidden, "Single sign-on refused", check.Refusal!, "/login", "Back to the login page", refresh: false)
                .ConfigureAwait(false);
            return;
        }
        await context.HttpContext.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme,
            Principals.ToClaims(principal, CookieAuthenticationDefaults.AuthenticationScheme)).ConfigureAwait(false);
        // Not a redirect: this request came from the provider's site, and a browser withholds the SameSite=Strict session
        // cookie along a redirect chain that began elsewhere. A page of this site moving on does carry it.
        var back = Redirects.LocalOrHome(context.ReturnUri);
        await WritePageAsync(context.Response, StatusCodes.Status200OK, "Signed in",
            $"signed in as {principal.Name} ({Core.Lifecycle.AccessPolicy.Name(principal.User!.Role)})", back, "Continue", refresh: true).ConfigureAwait(false);
    }

    private static Task WritePageAsync(HttpResponse response, int status, string title, string text, string link, string linkText, bool refresh)
    {
        var html = HtmlEncoder.Default;
        response.StatusCode = status;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        var meta = refresh ? $"<meta http-equiv=\"refresh\" content=\"0;url={html.Encode(link)}\">" : "";
        return response.WriteAsync($"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">{meta}<title>Stageproof: {html.Encode(title)}</title><link rel="stylesheet" href="/console.css"></head>
            <body><main><h1>{html.Encode(title)}</h1>
            <p id="sso-outcome" class="notice {(status == StatusCodes.Status200OK ? "ok" : "refused")}" role="status">{html.Encode(text)}</p>
            <p><a href="{html.Encode(link)}">{html.Encode(linkText)}</a></p></main></body></html>
            """, response.HttpContext.RequestAborted);
    }
}

/// <summary>Where a login may send its browser on.</summary>
internal static class Redirects
{
    /// <summary>A path of this site only, never another site (an open redirect).</summary>
    public static string LocalOrHome(string? url) =>
        url is { Length: > 0 } u && u.StartsWith('/') && !u.StartsWith("//", StringComparison.Ordinal) && !u.StartsWith("/\\", StringComparison.Ordinal) ? u : "/";
}
