using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;
using Stageproof.Application.Jobs;
using Stageproof.Application.Lifecycle;
using Stageproof.Application.Notifications;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Core.Manifests;
using Stageproof.Core.State;
using Stageproof.Core.Webhooks;
using Stageproof.Data;
using Stageproof.Hosts.Transports;
using Stageproof.Server.Api;
using Stageproof.Server.Auth;
using Stageproof.Server.Console;

namespace Stageproof.Server;

/// <summary>
/// <c>stageproof serve</c>: the same configuration and state as the CLI behind an authenticated HTTP API. Built here and
/// returned unstarted, so the CLI runs it until stopped and tests start it on a loopback port and stop it.
/// </summary>
public static class StageproofServer
{
    /// <summary>Loads the configuration and opens the state (bad input fails here, before anything listens), then builds
    /// the application.</summary>
    public static async Task<WebApplication> BuildAsync(ServerOptions options, TimeProvider time, CancellationToken ct)
    {
        var config = ConfigLoader.Load(options.ConfigPath);
        var location = options.State ?? config.State.Location ?? Core.State.StateLocation.InDirectory(options.StateDirectory);
        var store = await StateStores.OpenAsync(location, config.State, time, ct).ConfigureAwait(false);
        try
        {
            if (options.Worker && config.Jobs is null)
            {
                throw new InputException($"--worker: {config.SourceFile} has no jobs: store to take rollout jobs from");
            }
            var app = Build(options, config, store, time);
            if (config.Jobs is { } jobs)
            {
                // Rollouts become durable jobs in the cluster's store; with --worker this server runs them too.
                var runner = app.Services.GetRequiredService<RolloutRunner>();
                runner.Jobs = await RolloutJobs.OpenAsync(jobs, app.Services.GetRequiredService<PromotionWorkflow>(), store, options.Worker, ct, time).ConfigureAwait(false);
            }
            return app;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static WebApplication Build(ServerOptions options, StageproofConfig config, IStateStore store, TimeProvider time)
    {
        // The content root is the program's own directory: ASP.NET Core watches the content root and everything under it
        // for configuration changes, and a server started from / (a service's working directory) would walk the whole
        // filesystem and spend an inotify watch on every directory.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "stageproof", ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // The console's cookie keys sit unencrypted in the private state directory, as the state itself does; no warning.
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);

        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton<IEventPublisher>(sp => config.Webhooks.Count == 0 ? NullEventPublisher.Instance
            : new WebhookDispatcher(config.Webhooks, store, store, time,
                Warner(sp.GetRequiredService<ILoggerFactory>().CreateLogger("Stageproof.Webhooks"))));
        // Facts and rollouts through the server reuse a host's connection for ssh.keep_open (closed when the server
        // stops): a rollout's log markers, apply, checks and the next verb on the host log in once between them.
        builder.Services.AddSingleton(_ => new TransportPool(new TransportFactory(config.Ssh, HostKeyPolicy.Strict, time), config.Ssh.KeepOpen, time));
        builder.Services.AddSingleton(sp => new EstateEngines(store, config, time, options.StateDirectory,
            sp.GetRequiredService<TransportPool>(), sp.GetRequiredService<IEventPublisher>()));
        builder.Services.AddSingleton(sp => new PromotionWorkflow(store, sp.GetRequiredService<EstateEngines>(), time));
        builder.Services.AddSingleton(sp => new RolloutControl(store, sp.GetRequiredService<EstateEngines>()));
        builder.Services.AddSingleton(new Application.Identity.TokenWorkflow(store, config, time));
        builder.Services.AddSingleton<RolloutRunner>();
        builder.Services.Configure<JsonOptions>(o => Copy(ManifestJson.Options, o.SerializerOptions));
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = c =>
        {
            // Kestrel refuses an oversized body before any handler runs; say why in the same words wherever it happens.
            if (c.ProblemDetails.Status == StatusCodes.Status413PayloadTooLarge)
            {
                c.ProblemDetails.Detail ??= TooLarge(options);
            }
        });
        // A body that does not bind (malformed JSON, too large) reaches the exception handler, which names what is wrong.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        // The API and metrics take API tokens only (no ambient cookie can act there); the console takes its login cookie.
        var authentication = builder.Services.AddAuthentication(ConsoleOrApi)
            .AddPolicyScheme(ConsoleOrApi, null, o => o.ForwardDefaultSelector = c =>
                IsApi(c.Request.Path) ? TokenAuthenticationHandler.SchemeName : CookieAuthenticationDefaults.AuthenticationScheme)
            .AddScheme<AuthenticationSchemeOptions, TokenAuthenticationHandler>(TokenAuthenticationHandler.SchemeName, null)
            .AddCookie(CookieAuthenticationDefaults.AuthenticationScheme, o =>
            {
                o.Cookie.Name = "stageproof";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.ExpireTimeSpan = TimeSpan.FromHours(8);
                o.SlidingExpiration = true;
                o.LoginPath = "/login";
                o.Events.OnValidatePrincipal = ConsoleSessions.RevalidateAsync;
                o.Events.OnRedirectToAccessDenied = c =>
                {
                    c.Response.StatusCode = StatusCodes.Status403Forbidden;
                    return Task.CompletedTask;
                };
            });
        if (config.Server.Oidc is { } oidc)
        {
            // Beside the password login, for the console only: the API keeps taking tokens alone.
            authentication.AddSingleSignOn(oidc);
        }
        // Cookies are sealed with keys kept in the (private) state directory, so a restart keeps people logged in.
        builder.Services.AddDataProtection().SetApplicationName("stageproof")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(options.StateDirectory, "console-keys")));
        builder.Services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            // Per client address: a storm of guesses from one place is slowed without touching anyone else's login.
            o.AddPolicy(ConsoleEndpoints.LoginLimiter, c => RateLimitPartition.GetFixedWindowLimiter(c.Connection.RemoteIpAddress?.ToString() ?? "",
                _ => new FixedWindowRateLimiterOptions { PermitLimit = options.LoginsPerMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
        });
        builder.Services.AddAntiforgery(o => o.Cookie.Name = "stageproof-antiforgery");
        builder.Services.AddRazorComponents();
        // Nothing is served to anonymous callers unless an endpoint says so: the health probes, and the login page with
        // its stylesheet and script.
        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        builder.Services.AddOpenApi("v1");

        var app = builder.Build();
        var registry = Metrics.NewCustomRegistry();
        _ = new StateMetrics(registry, store);
        _ = new ConnectionMetrics(registry, app.Services.GetRequiredService<TransportPool>());
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            // Rollouts were cancelled with the stopping token; each stops where it stands, its state written.
            try
            {
                // A worker here hands its running jobs back to the cluster as it leaves.
                app.Services.GetRequiredService<RolloutRunner>().Jobs?.DisposeAsync().AsTask().GetAwaiter().GetResult();
                app.Services.GetRequiredService<RolloutRunner>().WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
                // What did not stop in time is resumable like any interrupted rollout.
            }
            // Deliveries still being sent get a few seconds; what is left stays pending in the state, visible.
            if (app.Services.GetRequiredService<IEventPublisher>() is WebhookDispatcher webhooks)
            {
                webhooks.DrainAsync(TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
            }
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        });

        app.UseExceptionHandler(new ExceptionHandlerOptions { ExceptionHandler = WriteErrorAsync, StatusCodeSelector = StatusOf });
        app.UseStatusCodePages();
        app.Use(async (context, next) =>
        {
            // No page or answer of ours loads anything from elsewhere or may be framed. Set as the response starts (the
            // exception handler clears headers set earlier); a page with a stricter policy of its own keeps it.
            context.Response.OnStarting(() =>
            {
                var headers = context.Response.Headers;
                if (headers.ContentSecurityPolicy.Count == 0)
                {
                    headers.ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
                }
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                return Task.CompletedTask;
            });
            await next(context).ConfigureAwait(false);
        });
        app.UseRouting();
        app.UseHttpMetrics(o => o.SetMetricFactory(Metrics.WithCustomRegistry(registry)));
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.UseAntiforgery();

        app.MapGet("/healthz", () => Results.Text("ok\n")).AllowAnonymous().ExcludeFromDescription();
        app.MapGet("/readyz", async (IStateStore s, CancellationToken ct) =>
        {
            // Ready when the state answers: a store that cannot be read would fail every request.
            await s.ListUsersAsync(ct).ConfigureAwait(false);
            return Results.Text("ready\n");
        }).AllowAnonymous().ExcludeFromDescription();
        app.MapMetrics("/metrics", registry);
        app.MapOpenApi("/openapi/{documentName}.json");
        ApiEndpoints.Map(app);
        UserEndpoints.Map(app);
        RolloutEndpoints.Map(app);
        TokenEndpoints.Map(app);
        EstateEndpoints.Map(app);
        FactsEndpoints.Map(app);
        ConsoleEndpoints.Map(app);
        app.MapRazorComponents<App>();
        return app;
    }

    private const string ConsoleOrApi = "ConsoleOrApi";

    private static bool IsApi(PathString path) =>
        path.StartsWithSegments("/api") || path.StartsWithSegments("/metrics") || path.StartsWithSegments("/openapi");

    /// <summary>Expected failures keep their meaning: bad input 400, a rule's refusal 403, a body too large 413.</summary>
    private static int StatusOf(Exception e) => e switch
    {
        BadHttpRequestException bad => bad.StatusCode,
        InputException => StatusCodes.Status400BadRequest,
        RefusedException => StatusCodes.Status403Forbidden,
        _ => StatusCodes.Status500InternalServerError,
    };

    private static string TooLarge(ServerOptions options) =>
        $"the request body is larger than this server accepts ({options.MaxRequestBodyBytes / 1024} KiB)";

    private static Task WriteErrorAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var status = error is null ? StatusCodes.Status500InternalServerError : StatusOf(error);
        var (title, detail) = error switch
        {
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => ("Content Too Large", null),
            BadHttpRequestException bad => ("Bad request", bad.InnerException is JsonException json ? $"the body is not valid JSON: {json.Message}" : bad.Message),
            StageproofException known => (status == StatusCodes.Status403Forbidden ? "Refused" : "Bad request", known.Message),
            // The trace stays in the server's log; the caller gets one line.
            _ => ("Server error", "the server failed to answer this request; its log has the details"),
        };
        return Problems.Write(context, status, title, detail, (error as RefusedException)?.Rule);
    }

    private static Action<string> Warner(ILogger logger) => message => logger.LogWarning("{Message}", message);

    private static void Copy(JsonSerializerOptions from, JsonSerializerOptions to)
    {
        to.PropertyNamingPolicy = from.PropertyNamingPolicy;
        to.DefaultIgnoreCondition = from.DefaultIgnoreCondition;
        to.Encoder = from.Encoder;
        foreach (var converter in from.Converters)
        {
            to.Converters.Add(converter);
        }
    }
}
