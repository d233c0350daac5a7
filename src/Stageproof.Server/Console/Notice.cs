using Microsoft.AspNetCore.Http;

namespace Stageproof.Server.Console;

/// <summary>
/// The outcome of a form, shown once on the page it redirects to (post, redirect, get): kept in a short-lived cookie
/// that only this browser sends, and rendered escaped like any text, so a tampered one can only mislead its own reader.
/// </summary>
public sealed record Notice(string Kind, string Text)
{
    private const string CookieName = "stageproof-notice";

    public static void Set(HttpContext context, string kind, string text) =>
        context.Response.Cookies.Append(CookieName, kind + "|" + text, new CookieOptions
        {
            HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, MaxAge = TimeSpan.FromMinutes(1), Path = "/",
        });

    /// <summary>The notice for this request, removed so it shows once; null when there is none.</summary>
    public static Notice? Take(HttpContext? context)
    {
        if (context is null || !context.Request.Cookies.TryGetValue(CookieName, out var value) || value.Split('|', 2) is not [var kind, var text])
        {
            return null;
        }
        if (!context.Response.HasStarted)
        {
            context.Response.Cookies.Delete(CookieName, new CookieOptions { Path = "/" });
        }
        return new Notice(kind is "ok" or "refused" ? kind : "refused", text);
    }
}
