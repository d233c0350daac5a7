using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

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

    /// <summary>
    /// The search (parameters @q, @user). Full text first: the GIN index on search_vector finds the matching messages of
    /// every mailbox, then the mailbox filter keeps the user's. Without that index each search reads every message.
    /// </summary>
    public const string SearchSql = """
        WITH hits AS MATERIALIZED (
            SELECT m.id, m.owner_id, m.sender, m.subject, m.sent_at, ts_rank(m.search_vector, query) AS rank
            FROM messages m, plainto_tsquery('english', @q) AS query
            WHERE m.search_vector @@ query
        )
        SELECT h.id, h.sender, h.subject, h.sent_at, h.rank
        FROM hits h JOIN users u ON u.id = h.owner_id
        WHERE u.name = @user
        ORDER BY h.rank DESC, h.sent_at DESC
        LIMIT 20
        """;

    public static NpgsqlDataSource CreateDataSource(AppSettings settings)
    {
        var b = new NpgsqlSlimDataSourceBuilder(settings.EffectiveConnectionString());
        b.EnableTransportSecurity();
        return b.Build();
    }

    /// <summary>Builds (does not start) the application. The caller owns <paramref name="dataSource"/> and <paramref name="log"/>.</summary>
    public static WebApplication Build(AppSettings settings, NpgsqlDataSource dataSource, AppLog log, MailAppOptions? options = null,
        Faults? faults = null)
    {
        options ??= new MailAppOptions();
        faults ??= Faults.None;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new AppLogProvider(log));
        builder.WebHost.UseKestrel(k => k.Listen(settings.ListenAddress, settings.ListenPort));
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, AcmeJsonContext.Default);
        });
        builder.Services.AddSingleton(dataSource);
        builder.Services.AddSingleton(log);
        builder.Services.AddHostedService(_ => new Indexer(dataSource, log, TimeSpan.FromSeconds(settings.IndexerIntervalSeconds), faults.IndexerErrors));
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
                await using var cmd = dataSource.CreateCommand("SELECT 1");
                cmd.CommandTimeout = 5;
                await cmd.ExecuteScalarAsync(ct);
                return TypedResults.Ok(new HealthResponse("ok", options.Version, "ok"));
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
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
                await using var upsert = dataSource.CreateCommand(
                    "INSERT INTO users (name, password_hash) VALUES (@user, crypt(encode(gen_random_bytes(32), 'hex'), gen_salt('bf', 4))) " +
                    "ON CONFLICT (name) DO NOTHING");
                upsert.Parameters.AddWithValue("user", request.User);
                await upsert.ExecuteNonQueryAsync(ct);
                await using var find = dataSource.CreateCommand("SELECT id FROM users WHERE name = @user");
                find.Parameters.AddWithValue("user", request.User);
                userId = (long)(await find.ExecuteScalarAsync(ct))!;
            }
            else
            {
                await using var cmd = dataSource.CreateCommand("SELECT id FROM users WHERE name = @user AND crypt(@password, password_hash) = password_hash");
                cmd.Parameters.AddWithValue("user", request.User);
                cmd.Parameters.AddWithValue("password", request.Password);
                if (await cmd.ExecuteScalarAsync(ct) is not long found)
                {
                    log.Info($"login: refused for user {request.User}");
                    return TypedResults.Unauthorized();
                }
                userId = found;
            }
            var token = faults.LoginRace ? new string(s_sharedToken) : Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            await using var insert = dataSource.CreateCommand(
                "INSERT INTO sessions (token, user_id, expires_at) VALUES (@token, @user_id, now() + make_interval(mins => @minutes))");
            insert.Parameters.AddWithValue("token", token);
            insert.Parameters.AddWithValue("user_id", userId);
            insert.Parameters.AddWithValue("minutes", settings.SessionLifetimeMinutes);
            try
            {
                await insert.ExecuteNonQueryAsync(ct);
            }
            catch (PostgresException e) when (faults.LoginRace && e.SqlState == PostgresErrorCodes.UniqueViolation)
            {
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
            if (await SessionOwnerAsync(dataSource, http, ct) is not { } owner)
            {
                return TypedResults.Unauthorized();
            }
            if (!MailboxAccess.MayRead(owner, user, options.EnforceMailboxOwner))
            {
                log.Warn($"mailbox: {owner} may not read the mailbox of {user}");
                return TypedResults.Json(new ErrorResponse("forbidden"), AcmeJsonContext.Default.ErrorResponse, statusCode: StatusCodes.Status403Forbidden);
            }
            await using var cmd = dataSource.CreateCommand("""
                SELECT m.id, m.sender, m.subject, m.sent_at
                FROM messages m JOIN users u ON u.id = m.owner_id
                WHERE u.name = @user
                ORDER BY m.sent_at DESC, m.id DESC
                LIMIT 20
                """);
            cmd.Parameters.AddWithValue("user", user);
            return TypedResults.Ok(await ReadSummariesAsync(cmd, ct));
        });

        app.MapGet("/search", async Task<Results<Ok<SearchHit[]>, UnauthorizedHttpResult, BadRequest<ErrorResponse>, JsonHttpResult<ErrorResponse>>> (
            string? q, string? user, HttpRequest http, CancellationToken ct) =>
        {
            if (await SessionOwnerAsync(dataSource, http, ct) is not { } owner)
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
            await using var cmd = dataSource.CreateCommand(SearchSql);
            cmd.Parameters.AddWithValue("q", q);
            cmd.Parameters.AddWithValue("user", mailbox);
            var hits = new List<SearchHit>();
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                hits.Add(new SearchHit(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetDateTime(3), r.GetFloat(4)));
            }
            return TypedResults.Ok(hits.ToArray());
        });

        return app;
    }

    /// <summary>The name of the user whose unexpired session token is in <c>Authorization: Bearer</c>, or null.</summary>
    private static async Task<string?> SessionOwnerAsync(NpgsqlDataSource dataSource, HttpRequest http, CancellationToken ct)
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
        await using var cmd = dataSource.CreateCommand(
            "SELECT u.name FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = @token AND s.expires_at > now()");
        cmd.Parameters.AddWithValue("token", token);
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    private static async Task<MessageSummary[]> ReadSummariesAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var list = new List<MessageSummary>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new MessageSummary(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetDateTime(3)));
        }
        return list.ToArray();
    }
}
