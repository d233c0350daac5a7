using System.Security.Claims;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Stageproof.Application.Estate;
using Stageproof.Application.Identity;
using Stageproof.Application.Views;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Manifests;
using Stageproof.Core.State;
using Stageproof.Hosts.Transports;
using Stageproof.Server.Auth;

namespace Stageproof.Server.Api;

/// <summary>The body of <c>POST /api/v1/facts</c>: what to collect from, as <c>stageproof facts TARGET…</c> names it.</summary>
public sealed record FactsRequest(IReadOnlyList<string>? Targets);

/// <summary>
/// <c>POST /api/v1/facts</c>: collect and store the manifests of environments, groups or hosts, as <c>stageproof facts</c>
/// does, over the server's SSH connections: a connection stays open for <c>ssh.keep_open</c> after its use, so a
/// collection that follows another does not pay the key exchange and login again.
/// The only endpoint that reaches hosts to read them; it stores what it read and audits it as the caller.
/// </summary>
internal static class FactsEndpoints
{
    /// <summary>At most this many targets in one request.</summary>
    public const int MaxTargets = 256;

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").RequireAuthorization();

        api.MapPost("/facts", async (FactsRequest? body, HttpContext context, ClaimsPrincipal claims, StageproofConfig config, IStateStore store,
            TransportPool transports, TimeProvider time, CancellationToken ct) =>
        {
            if (body?.Targets is not { Count: > 0 } targets)
            {
                return Problems.Invalid("targets: required (environments, groups or hosts to collect from)");
            }
            if (targets.Count > MaxTargets)
            {
                return Problems.Invalid($"targets: {targets.Count} given; at most {MaxTargets}");
            }
            var me = Principals.FromClaims(claims);
            if (me.User is not { Role: Role.Operator or Role.Admin } user)
            {
                return Problems.Refused(new GateRefusal(GateRules.Role,
                    $"{me.Name} is {(me.User is { } u ? AccessPolicy.Name(u.Role) : "nobody known")}: collecting facts reaches the hosts, which an operator or an admin does"));
            }
            FactsScope scope;
            try
            {
                scope = FactsScope.Resolve(config, targets);
            }
            catch (InputException e)
            {
                return Problems.Invalid("targets: " + e.Message);
            }
            var outside = scope.Hosts.Where(h => !EstateEndpoints.MayReadEnvironmentOf(me, h.Environment)).Select(h => h.Host.Name)
                .Concat(scope.Databases.Where(d => !ApiEndpoints.MayRead(me, d.Environment)).Select(d => $"{d.Environment}/{d.Name}"))
                .Concat(scope.Directories.Where(d => !ApiEndpoints.MayRead(me, d.Environment)).Select(d => $"{d.Environment}/{d.Name}"))
                .ToList();
            if (outside.Count > 0)
            {
                return Problems.Refused(new GateRefusal(GateRules.Role,
                    $"{me.Name} may act on {string.Join(", ", user.Environments)}, not on {string.Join(", ", outside.Take(5))}{(outside.Count > 5 ? $" and {outside.Count - 5} more" : "")}"));
            }
            var collector = new FactsCollector(config, store, transports, time, me.Name);
            if (!WantsLines(context.Request))
            {
                return Results.Ok(FactsDocument.Of(await collector.CollectAsync(scope, progress: null, ct).ConfigureAwait(false)));
            }
            await StreamAsync(context.Response, collector, scope, ct).ConfigureAwait(false);
            return Results.Empty;
        }).WithSummary("Collect and store the manifests of environments, groups or hosts ('stageproof facts TARGET… --json'), over connections the server keeps open for ssh.keep_open; operators and admins, within their environments. With Accept: application/x-ndjson, one line per target as it is done ({\"progress\"}), then {\"result\"}");
    }

    private const string LinesType = "application/x-ndjson";

    private static bool WantsLines(HttpRequest request) =>
        request.GetTypedHeaders().Accept.Any(a => string.Equals(a.MediaType.Value, LinesType, StringComparison.OrdinalIgnoreCase));

    /// <summary>Each target as it is done, then the document, one JSON line each: a long collection shows its progress
    /// as the local verb does. Lines come from the collector's threads and are written by one writer.</summary>
    private static async Task StreamAsync(HttpResponse response, FactsCollector collector, FactsScope scope, CancellationToken ct)
    {
        response.ContentType = LinesType;
        var lines = Channel.CreateUnbounded<FactsLine>(new UnboundedChannelOptions { SingleReader = true });
        var writer = Task.Run(async () =>
        {
            await foreach (var line in lines.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                await JsonSerializer.SerializeAsync(response.Body, line, ManifestJson.Options, ct).ConfigureAwait(false);
                await response.Body.WriteAsync(NewLine, ct).ConfigureAwait(false);
                await response.Body.FlushAsync(ct).ConfigureAwait(false);
            }
        }, ct);
        try
        {
            var run = await collector.CollectAsync(scope, new SyncProgress<FactsProgress>(p => lines.Writer.TryWrite(new FactsLine(p, null))), ct).ConfigureAwait(false);
            lines.Writer.TryWrite(new FactsLine(null, FactsDocument.Of(run)));
        }
        finally
        {
            lines.Writer.Complete();
            await writer.ConfigureAwait(false);
        }
    }

    private static readonly ReadOnlyMemory<byte> NewLine = "\n"u8.ToArray();
}
