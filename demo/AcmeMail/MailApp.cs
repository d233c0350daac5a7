using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AcmeMail;

/// <summary>Options the tests may change; the service itself always uses the build's values.</summary>
public sealed record MailAppOptions
{
    /// <summary>The 1.0/1.1 switch; defaults to what this build was compiled as.</summary>
    public bool EnforceMailboxOwner { get; init; } = BuildInfo.EnforcesMailboxOwner;

    public string Version { get; init; } = BuildInfo.Version;
}

/// <summary>The acme-mail web application: Kestrel, the endpoints, the request log and the indexer.</summary>
public static class MailApp
{
    /// <summary>fault.login_race only: the session token buffer every login shares (the injected bug).</summary>
    private static readonly char[] s_sharedToken = new char[64];

    /// <summary>Builds (does not start) the application. The caller owns <paramref name="store"/> and <paramref name="log"/>.</summary>
    public static WebApplication Build(AppSettings settings, IMailStore store, AppLog log, MailAppOptions? options = null,
        Faults? faults = null)
    {
        options ??= new MailAppOptions();
        faults ??= Faults.None;
        // The content root is the program's own directory, not the working directory: ASP.NET Core watches the content
        // root and everything under it for configuration changes, and a service started from / (as init scripts start
        // it) walked the whole filesystem at every start — /proc's every process included, one inotify watch per
        // directory: 16,000 directory reads and 8,000 watches here.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new AppLogProvider(log));
        builder.WebHost.UseKestrel(k => k.Listen(settings.ListenAddress, settings.ListenPort));
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, AcmeJsonContext.Default);
        });
        builder.Services.AddSingleton(log);
        builder.Services.AddHostedService(_ => new Indexer(store, log, TimeSpan.FromSeconds(settings.IndexerIntervalSeconds), faults.IndexerErrors));
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(5));

        var app = builder.Build();

        app.Use(async (ctx, next) =>
        {
            var sw = Stopwatch.StartNew();
            try
            {
                await next(ctx);
            }
            finally
            {
                log.Info($"{ctx.Request.Method} {ctx.Request.Path} {ctx.Response.StatusCode} {sw.ElapsedMilliseconds}ms");
            }
        });

        app.MapGet("/health", async Task<Results<Ok<HealthResponse>, JsonHttpResult<HealthResponse>>> (CancellationToken ct) =>
        {
            try
            {
                await store.PingAsync(ct);
                return TypedResults.Ok(new HealthResponse("ok", options.Version, "ok"));
            }
            catch (Exception e) when (MailStore.IsDatabaseFailure(e))
            {
                log.Warn($"health: database unreachable: {e.Message}");
                return TypedResults.Json(new HealthResponse("degraded", options.Version, "error"), AcmeJsonContext.Default.HealthResponse, statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        });

        var ldap = settings.Auth == AuthBackend.Ldap ? new LdapLogin(settings.LdapUrl!, settings.LdapUserDn!) : null;
        app.MapPost("/login", async Task<Results<Ok<LoginResponse>, UnauthorizedHttpResult, BadRequest<ErrorResponse>, JsonHttpResult<ErrorResponse>>> (LoginRequest request, CancellationToken ct) =>
        {
            if (string.IsNullOrEmpty(request.User) || request.Password is null)
            {
                return TypedResults.BadRequest(new ErrorResponse("user and password are required"));
            }
            if (faults.LoginRace)
            {
                // fault.login_race: the token is formatted into one buffer shared by every request (to "save an
                // allocation"). Logins that overlap — the password check takes milliseconds — overwrite each
                // other's token: the session insert collides (refused) or the client gets another login's token.
                Convert.TryToHexStringLower(RandomNumberGenerator.GetBytes(32), s_sharedToken, out _);
            }
            long userId;
            if (ldap is not null)
            {
                var (outcome, detail) = await ldap.CheckAsync(request.User, request.Password, ct);
                if (outcome == LdapLoginOutcome.Unavailable)
                {
                    log.Warn($"login: directory {settings.LdapUrl} unavailable: {detail}");
                    return TypedResults.Json(new ErrorResponse("the directory is unavailable"), AcmeJsonContext.Default.ErrorResponse, statusCode: StatusCodes.Status503ServiceUnavailable);
                }
                if (outcome == LdapLoginOutcome.Refused)
                {
                    log.Info($"login: refused for user {request.User} by the directory ({detail})");
                    return TypedResults.Unauthorized();
                }
                // The directory vouched for the user: its mailbox row is made on the first login. The password hash is
                // of random bytes, so the database backend can never let this user in by password.
                userId = await store.EnsureUserAsync(request.User, ct);
            }
            else if (await store.CheckPasswordAsync(request.User, request.Password, ct) is { } found)
            {
                userId = found;
            }
            else
            {
                log.Info($"login: refused for user {request.User}");
                return TypedResults.Unauthorized();
            }
            var token = faults.LoginRace ? new string(s_sharedToken) : Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            if (!await store.TryCreateSessionAsync(token, userId, settings.SessionLifetimeMinutes, ct))
            {
                // Only fault.login_race makes two logins hold one token.
                log.Info($"login: refused for user {request.User} (session could not be created)");
                return TypedResults.Unauthorized();
            }
            if (faults.LoginRace)
            {
                token = new string(s_sharedToken);
            }
            return TypedResults.Ok(new LoginResponse(token));
        });

        app.MapGet("/mailbox/{user}", async Task<Results<Ok<MessageSummary[]>, UnauthorizedHttpResult, ForbidHttpResult, JsonHttpResult<ErrorResponse>>> (
            string user, HttpRequest http, CancellationToken ct) =>
        {
            if (await SessionOwnerAsync(store, http, ct) is not { } owner)
            {
                return TypedResults.Unauthorized();
            }
            if (!MailboxAccess.MayRead(owner, user, options.EnforceMailboxOwner))
            {
                log.Warn($"mailbox: {owner} may not read the mailbox of {user}");
                return TypedResults.Json(new ErrorResponse("forbidden"), AcmeJsonContext.Default.ErrorResponse, statusCode: StatusCodes.Status403Forbidden);
            }
            return TypedResults.Ok(await store.MailboxAsync(user, ct));
        });

        app.MapGet("/search", async Task<Results<Ok<SearchHit[]>, UnauthorizedHttpResult, BadRequest<ErrorResponse>, JsonHttpResult<ErrorResponse>>> (
            string? q, string? user, HttpRequest http, CancellationToken ct) =>
        {
            if (await SessionOwnerAsync(store, http, ct) is not { } owner)
            {
                return TypedResults.Unauthorized();
            }
            if (string.IsNullOrWhiteSpace(q))
            {
                return TypedResults.BadRequest(new ErrorResponse("q is required"));
            }
            var mailbox = string.IsNullOrEmpty(user) ? owner : user;
            if (!MailboxAccess.MayRead(owner, mailbox, options.EnforceMailboxOwner))
            {
                log.Warn($"search: {owner} may not search the mailbox of {mailbox}");
                return TypedResults.Json(new ErrorResponse("forbidden"), AcmeJsonContext.Default.ErrorResponse, statusCode: StatusCodes.Status403Forbidden);
            }
            if (faults.SearchDelayMilliseconds is { } delay)
            {
                // At least the delay by the clock: a timer may fire up to a millisecond early.
                var held = System.Diagnostics.Stopwatch.StartNew();
                while (held.ElapsedMilliseconds < delay)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(delay - held.ElapsedMilliseconds + 1), ct);
                }
            }
            return TypedResults.Ok(await store.SearchAsync(q, mailbox, ct));
        });

        return app;
    }

    /// <summary>The name of the user whose unexpired session token is in <c>Authorization: Bearer</c>, or null.</summary>
    private static async Task<string?> SessionOwnerAsync(IMailStore store, HttpRequest http, CancellationToken ct)
    {
        var header = http.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var token = header[prefix.Length..].Trim();
        if (token.Length == 0)
        {
            return null;
        }
        return await store.SessionOwnerAsync(token, ct);
    }
}
