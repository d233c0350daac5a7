using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Stageproof.Application.Identity;
using Stageproof.Core.State;
using Stageproof.Server.Api;

namespace Stageproof.Server.Auth;

/// <summary>
/// <c>Authorization: Bearer spt_…</c>: a personal API token, checked by the same rule the CLI uses
/// (<see cref="TokenAuthenticator"/>). A request without one is anonymous; one with a bad token is refused with 401 and
/// the reason, never served as anonymous.
/// </summary>
internal sealed class TokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    IStateStore store, TimeProvider time)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "StageproofToken";
    private const string RefusalItem = "stageproof:token-refusal";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return AuthenticateResult.NoResult();
        }
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Fail("Authorization: only 'Bearer <token>' is accepted");
        }
        var check = await TokenAuthenticator.VerifyAsync(store, header["Bearer ".Length..].Trim(), time.GetUtcNow(), Context.RequestAborted).ConfigureAwait(false);
        return check.Principal is { } principal
            ? AuthenticateResult.Success(new AuthenticationTicket(Principals.ToClaims(principal, SchemeName), SchemeName))
            : Fail("Authorization: " + check.Refusal);
    }

    private AuthenticateResult Fail(string why)
    {
        Context.Items[RefusalItem] = why;
        return AuthenticateResult.Fail(why);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer realm=\"stageproof\"";
        var detail = Context.Items[RefusalItem] as string ?? "log in: present an API token as 'Authorization: Bearer spt_…'";
        return Problems.Write(Context, StatusCodes.Status401Unauthorized, "Not authenticated", detail);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.Write(Context, StatusCodes.Status403Forbidden, "Forbidden", "your role does not allow this");
}
