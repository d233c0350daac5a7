using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Stageproof.Application.Identity;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;
using Stageproof.Core.Validation;
using Stageproof.Server.Auth;

namespace Stageproof.Server.Api;

/// <summary>What adding (or changing) a user carries: the CLI's <c>user add NAME --role R [--env E…]</c>.</summary>
public sealed record UserRequest(string? Name, string? Role, IReadOnlyList<string>? Environments);

/// <summary><c>/api/v1/users</c>: admins add, change and remove users, under the same rules as the CLI's <c>user</c>
/// verbs (<see cref="UserAdministration"/>).</summary>
internal static class UserEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").RequireAuthorization();

        api.MapPost("/users", async (UserRequest body, ClaimsPrincipal claims, IStateStore store, StageproofConfig config, TimeProvider time, CancellationToken ct) =>
        {
            if (Names.UserNameError(body.Name) is { } nameError)
            {
                return Problems.Invalid($"name: {nameError}");
            }
            if (!Enum.TryParse<Role>(body.Role, ignoreCase: true, out var role) || !Enum.IsDefined(role) || int.TryParse(body.Role, out _))
            {
                return Problems.Invalid($"role: {Names.Show(body.Role)} is not one of viewer, operator, approver, admin");
            }
            var environments = body.Environments ?? [];
            if (UserAdministration.EnvironmentsError(config, environments) is { } unknown)
            {
                return Problems.Invalid($"environments: {unknown}");
            }
            try
            {
                var user = await UserAdministration.AddAsync(store, Principals.FromClaims(claims), body.Name!, role, environments, time, ct).ConfigureAwait(false);
                return Results.Ok(user);
            }
            catch (RefusedException e)
            {
                return Problems.Refused(new GateRefusal(e.Rule, e.Reason));
            }
            catch (InputException e)
            {
                return Problems.Of(StatusCodes.Status409Conflict, "Conflict", e.Message);
            }
        }).WithSummary("Add a user, or change one's role and environments (admins; never the last admin away)");

        api.MapDelete("/users/{name}", async (string name, ClaimsPrincipal claims, IStateStore store, CancellationToken ct) =>
        {
            try
            {
                return await UserAdministration.RemoveAsync(store, Principals.FromClaims(claims), name, ct).ConfigureAwait(false)
                    ? Results.NoContent()
                    : Problems.NotFound($"there is no user {Names.Show(name.Length <= 64 ? name : name[..64] + "…")}");
            }
            catch (RefusedException e)
            {
                return Problems.Refused(new GateRefusal(e.Rule, e.Reason));
            }
        }).WithSummary("Remove a user and their password (admins; never the last admin)");
    }
}
