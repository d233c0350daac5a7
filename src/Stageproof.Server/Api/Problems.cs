using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Stageproof.Core.Lifecycle;

namespace Stageproof.Server.Api;

/// <summary>Every error the API returns is RFC 9457 Problem Details: a status, a title, one readable line, and the rule
/// for a refusal, so a client can tell "not allowed" from "not found" without reading prose.</summary>
internal static class Problems
{
    public static IResult Of(int status, string title, string detail, string? rule = null)
    {
        var extensions = rule is null ? null : new Dictionary<string, object?> { ["rule"] = rule };
        return Results.Problem(detail: detail, statusCode: status, title: title, extensions: extensions);
    }

    public static IResult Refused(GateRefusal refusal) => Of(StatusCodes.Status403Forbidden, "Refused", refusal.ToString(), refusal.Rule);

    public static IResult NotFound(string detail) => Of(StatusCodes.Status404NotFound, "Not found", detail);

    public static IResult Invalid(string detail) => Of(StatusCodes.Status422UnprocessableEntity, "Invalid request", detail);

    public static Task Write(HttpContext context, int status, string title, string? detail, string? rule = null)
    {
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        if (rule is not null)
        {
            problem.Extensions["rule"] = rule;
        }
        context.Response.StatusCode = status;
        return Results.Problem(problem).ExecuteAsync(context);
    }
}
