using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Stageproof.Hosts.Tests.Checks;

/// <summary>
/// A real Kestrel server on its own 127.0.5.x address, shaped like acme-mail: /health, POST /login, /mailbox/{user},
/// /search. Its behaviour can be changed while it runs (slowdown, degraded health, health failing after a time).
/// </summary>
public sealed class MailServer : IAsyncDisposable
{
    private static int s_instances;
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, string> _sessions = new();

    public Dictionary<string, string> Accounts { get; } = new(StringComparer.Ordinal)
    {
        ["user01"] = "password-01", ["user02"] = "password-02", ["user03"] = "password-03",
    };

    /// <summary>Extra milliseconds /search waits before answering.</summary>
    public int SearchDelayMs { get; set; } = 2;
    public string HealthStatus { get; set; } = "ok";
    /// <summary>When set, /health answers 503 from the request after this many healthy ones: counted, not timed, so
    /// a busy machine cannot move the moment it turns.</summary>
    public int? HealthFailsAfterRequests { get; set; }
    private int _healthRequests;
    public int Logins => _logins;
    private int _logins;

    public string Address { get; }
    public int Port { get; private set; }
    public Uri BaseUri => new($"http://{Address}:{Port}/");

    private MailServer(string address)
    {
        Address = address;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Parse(address), 0));
        _app = builder.Build();
        _app.MapGet("/health", () =>
        {
            var served = Interlocked.Increment(ref _healthRequests);
            var failing = HealthFailsAfterRequests is { } healthy && served > healthy;
            return failing ? Results.Json(new Dictionary<string, string> { ["status"] = "down" }, statusCode: 503)
                : Results.Json(new Dictionary<string, string> { ["status"] = HealthStatus, ["version"] = "1.1" });
        });
        _app.MapGet("/slow", async () =>
        {
            await Task.Delay(300);
            return Results.Text("slow");
        });
        // Promises a body it never finishes, as a service that dies mid-answer does: the headers and part of the body
        // go out, and once the client is reading the rest the connection is dropped.
        _app.MapGet("/broken", async (HttpContext context) =>
        {
            context.Response.ContentLength = 1000;
            await context.Response.WriteAsync("{\"status\":");
            await context.Response.Body.FlushAsync();
            await Task.Delay(100);
            context.Abort();
        });
        _app.MapPost("/login", async (HttpRequest request) =>
        {
            Interlocked.Increment(ref _logins);
            var body = await JsonSerializer.DeserializeAsync<Dictionary<string, string>>(request.Body);
            if (body is null || !body.TryGetValue("user", out var user) || !body.TryGetValue("password", out var password)
                || !Accounts.TryGetValue(user, out var expected) || expected != password)
            {
                return Results.StatusCode(401);
            }
            var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            _sessions[token] = user;
            return Results.Json(new Dictionary<string, string> { ["token"] = token });
        });
        _app.MapGet("/mailbox/{user}", (string user, HttpRequest request) =>
        {
            var owner = Owner(request);
            return owner is null ? Results.StatusCode(401)
                : owner != user ? Results.StatusCode(403)
                : Results.Json(new[] { new Dictionary<string, string> { ["subject"] = $"hello {user}" } });
        });
        _app.MapGet("/search", async (HttpRequest request) =>
        {
            // At least the delay by the clock (a timer may fire up to a millisecond early): tests take it as a lower bound.
            var held = System.Diagnostics.Stopwatch.StartNew();
            while (held.ElapsedMilliseconds < SearchDelayMs)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(SearchDelayMs - held.ElapsedMilliseconds + 1));
            }
            return Owner(request) is null ? Results.StatusCode(401) : Results.Json(Array.Empty<string>());
        });
    }

    private string? Owner(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.Ordinal) && _sessions.TryGetValue(header[7..], out var user) ? user : null;
    }

    public static async Task<MailServer> StartAsync()
    {
        var n = Interlocked.Increment(ref s_instances);
        var server = new MailServer($"127.0.5.{2 + (Environment.ProcessId + n * 13) % 250}");
        await server._app.StartAsync();
        var address = server._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Port = new Uri(address).Port;
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
