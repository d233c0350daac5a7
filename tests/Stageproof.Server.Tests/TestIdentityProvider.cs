using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Stageproof.Server.Tests;

/// <summary>
/// A real OpenID Connect provider for the tests (OpenIddict's server, degraded mode: no database, this class validates the
/// client itself), on a loopback address over plain HTTP. Its login page, titled "Test identity provider", signs in any
/// of <see cref="People"/> by name; the id token carries <c>sub</c>, <c>preferred_username</c> and a <c>groups</c>
/// claim whose values a test may change between sign-ins. Keys are ephemeral.
/// </summary>
public sealed class TestIdentityProvider : IAsyncDisposable
{
    public const string ClientId = "stageproof";
    public const string ClientSecret = "client-secret-of-the-test-provider";

    /// <summary>Who may sign in here and the groups each is in now.</summary>
    public ConcurrentDictionary<string, string[]> People { get; } = new(StringComparer.Ordinal);

    /// <summary>The issuer URL (http://ADDRESS:PORT/).</summary>
    public Uri Authority { get; private set; } = null!;

    /// <summary>The one redirect URI the client is registered with; until set, every authorization request is refused.</summary>
    public string? RedirectUri { get; set; }

    private WebApplication _app = null!;

    public static async Task<TestIdentityProvider> StartAsync(string address)
    {
        var provider = new TestIdentityProvider();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "test-identity-provider" });
        builder.WebHost.UseUrls($"http://{address}:0");
        builder.Logging.ClearProviders();
        builder.Services.AddAuthentication();
        builder.Services.AddOpenIddict().AddServer(o =>
        {
            o.SetAuthorizationEndpointUris("connect/authorize").SetTokenEndpointUris("connect/token");
            o.AllowAuthorizationCodeFlow().RequireProofKeyForCodeExchange();
            o.RegisterScopes(Scopes.OpenId, Scopes.Profile);
            o.RegisterClaims(Claims.Subject, Claims.PreferredUsername, "groups");
            o.AddEphemeralEncryptionKey().AddEphemeralSigningKey();
            o.EnableDegradedMode();
            o.UseAspNetCore().EnableAuthorizationEndpointPassthrough().DisableTransportSecurityRequirement();
            // Degraded mode leaves client validation to the application: one client, one redirect URI, one secret.
            o.AddEventHandler<ValidateAuthorizationRequestContext>(b => b.UseInlineHandler(c =>
            {
                if (c.ClientId != ClientId)
                {
                    c.Reject(Errors.InvalidClient, "unknown client_id");
                }
                else if (provider.RedirectUri is null || c.RedirectUri != provider.RedirectUri)
                {
                    c.Reject(Errors.InvalidRequest, "redirect_uri is not the client's");
                }
                return default;
            }));
            o.AddEventHandler<ValidateTokenRequestContext>(b => b.UseInlineHandler(c =>
            {
                if (c.ClientId != ClientId || c.ClientSecret != ClientSecret)
                {
                    c.Reject(Errors.InvalidClient, "client_id or client_secret not accepted");
                }
                return default;
            }));
        });
        provider._app = builder.Build();
        provider._app.UseAuthentication();
        provider._app.MapGet("/favicon.ico", () => Results.NoContent());
        provider._app.MapMethods("/connect/authorize", ["GET", "POST"], (Delegate)provider.AuthorizeAsync);
        await provider._app.StartAsync();
        provider.Authority = new Uri(provider._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single() + "/");
        return provider;
    }

    /// <summary>The login page, and the sign-in once a known person is posted with the request's own parameters.</summary>
    private async Task<IResult> AuthorizeAsync(HttpContext http)
    {
        var request = http.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("not an OpenID Connect request");
        var person = http.Request.HasFormContentType ? (await http.Request.ReadFormAsync()).TryGetValue("person", out var p) ? p.ToString() : null : null;
        if (person is null || !People.TryGetValue(person, out var groups))
        {
            return Results.Content(LoginPage(request, person), "text/html; charset=utf-8");
        }
        var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
        identity.AddClaim(new Claim(Claims.Subject, "subject-of-" + person));
        identity.AddClaim(new Claim(Claims.PreferredUsername, person));
        identity.AddClaim(new Claim(Claims.Name, person));
        foreach (var group in groups)
        {
            identity.AddClaim(new Claim("groups", group));
        }
        identity.SetDestinations(_ => [Destinations.IdentityToken, Destinations.AccessToken]);
        var principal = new ClaimsPrincipal(identity);
        principal.SetScopes(request.GetScopes());
        return Results.SignIn(principal, null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    private static string LoginPage(OpenIddictRequest request, string? unknown)
    {
        var html = HtmlEncoder.Default;
        var page = new StringBuilder("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Test identity provider</title></head><body>");
        page.Append("<h1>Test identity provider</h1>");
        if (unknown is not null)
        {
            page.Append("<p id=\"unknown\">no such person: ").Append(html.Encode(unknown)).Append("</p>");
        }
        page.Append("<form method=\"post\" action=\"/connect/authorize\">");
        foreach (var (name, value) in request.GetParameters())
        {
            page.Append("<input type=\"hidden\" name=\"").Append(html.Encode(name)).Append("\" value=\"").Append(html.Encode((string?)value ?? "")).Append("\">");
        }
        page.Append("<label>Person <input id=\"person\" name=\"person\" autocomplete=\"username\"></label> <button id=\"idp-sign-in\" type=\"submit\">Sign in</button></form></body></html>");
        return page.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
