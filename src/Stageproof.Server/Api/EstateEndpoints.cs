using System.Globalization;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Stageproof.Application.Estate;
using Stageproof.Application.Identity;
using Stageproof.Application.Patches;
using Stageproof.Application.Reports;
using Stageproof.Application.Views;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;
using Stageproof.Core.State;
using Stageproof.Server.Auth;
using static Stageproof.Server.Api.ApiEndpoints;

namespace Stageproof.Server.Api;

/// <summary>
/// <c>/api/v1</c>, what the CLI reads about the estate: hosts and their last facts, stored manifests, drift and
/// compliance (from recorded facts only: a read never reaches a host), the audit log as a file, and freezing a patch
/// set by upload. Shapes are the CLI's <c>--json</c> shapes.
/// </summary>
internal static class EstateEndpoints
{
    /// <summary>Content types a patch set upload may declare: YAML, or plain text.</summary>
    private static readonly string[] YamlTypes = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"];

    /// <summary>How an uploaded set is named in its problems ("upload:3:8: severity: …").</summary>
    public const string UploadName = "upload";

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").RequireAuthorization();

        api.MapGet("/hosts", async (ClaimsPrincipal claims, StageproofConfig config, IStateStore store, CancellationToken ct) =>
        {
            var me = Principals.FromClaims(claims);
            var records = new EstateRecords(config, store);
            return Results.Ok(await records.HostsAsync(h => MayReadHost(me, records.EnvironmentsOf(h)), ct).ConfigureAwait(false));
        }).WithSummary("The configured hosts the caller may read: environments, transport, role and the last recorded facts");

        api.MapGet("/hosts/{name}", async (string name, ClaimsPrincipal claims, StageproofConfig config, IStateStore store, CancellationToken ct) =>
        {
            if (!config.Hosts.ContainsKey(name))
            {
                return Problems.NotFound($"no host {Shown(name)} in {config.SourceFile}");
            }
            var me = Principals.FromClaims(claims);
            var records = new EstateRecords(config, store);
            var environments = records.EnvironmentsOf(name);
            return MayReadHost(me, environments) ? Results.Ok(await records.HostAsync(name, ct).ConfigureAwait(false))
                : Problems.Refused(new GateRefusal(GateRules.Role, $"{me.Name} may read {Scope(me)}, not host {name} ({(environments.Count == 0 ? "in no environment" : string.Join(", ", environments))})"));
        }).WithSummary("One host and its last recorded facts");

        api.MapGet("/manifests", async (ClaimsPrincipal claims, StageproofConfig config, IStateStore store, CancellationToken ct) =>
        {
            var me = Principals.FromClaims(claims);
            var records = new EstateRecords(config, store);
            var entries = new List<ManifestEntry>();
            foreach (var env in config.Environments.Keys.Where(e => MayRead(me, e)).Order(StringComparer.Ordinal))
            {
                entries.AddRange(await records.LatestManifestsAsync(env, ct).ConfigureAwait(false));
            }
            return Results.Ok(entries.DistinctBy(e => (e.Manifest.Target, e.Digest)));
        }).WithSummary("The latest stored manifest of every host and database in the environments the caller may read");

        api.MapGet("/manifests/{environment}", async (string environment, ClaimsPrincipal claims, StageproofConfig config, IStateStore store, CancellationToken ct) =>
            !config.Environments.ContainsKey(environment) ? Problems.NotFound($"no environment {Shown(environment)} in {config.SourceFile}")
            : Denied(Principals.FromClaims(claims), environment)
              ?? Results.Ok(await new EstateRecords(config, store).LatestManifestsAsync(environment, ct).ConfigureAwait(false)))
            .WithSummary("The latest stored manifest of each host and database of one environment");

        api.MapGet("/drift", async (string? from, string? to, double? minFidelity, ClaimsPrincipal claims, StageproofConfig config, IStateStore store,
            TimeProvider time, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(from))
            {
                return Problems.Invalid("from: required (A, the reference: an environment, group, host, NAME@TIME or a stored manifest's digest)");
            }
            if (string.IsNullOrWhiteSpace(to))
            {
                return Problems.Invalid("to: required (B, the one checked against from)");
            }
            var threshold = minFidelity ?? config.Drift.MinFidelity;
            if (threshold is < 0 or > 1 || double.IsNaN(threshold))
            {
                return Problems.Invalid($"minFidelity: between 0 and 1, not {threshold.ToString(CultureInfo.InvariantCulture)}");
            }
            var me = Principals.FromClaims(claims);
            if ((OperandRefusal(me, config, from) ?? OperandRefusal(me, config, to)) is { } refusal)
            {
                return Problems.Refused(new GateRefusal(GateRules.Role, refusal));
            }
            try
            {
                // Stored manifests only: a GET never reaches a host (the CLI collects unless --stored). No webhook either:
                // a dashboard polling this would announce the same drift over and over.
                var outcome = await new DriftWorkflow(config, store, time).CompareAsync(from, to, storedOnly: true, threshold, me.Name, announce: false, ct,
                    m => MayReadEnvironmentOf(me, m.Environment) ? null : $"{me.Name} may read {Scope(me)}, not {m.Target}'s manifest").ConfigureAwait(false);
                return Results.Ok(outcome.Document);
            }
            catch (InputException e)
            {
                return Problems.Invalid(e.Message);
            }
        }).WithSummary("How B (to) differs from A (from), from their latest stored manifests: the same document as 'stageproof drift A B --stored --json'");

        api.MapGet("/compliance", async (string? environment, ClaimsPrincipal claims, StageproofConfig config, IStateStore store, TimeProvider time, CancellationToken ct) =>
        {
            var (report, refused) = await ComplianceAsync(environment, claims, config, store, time, ct).ConfigureAwait(false);
            return refused ?? Results.Ok(report);
        }).WithSummary("The compliance report ('stageproof compliance --json'): of one environment, or of all for a caller whose scope is the whole estate");

        api.MapGet("/compliance/report", async (string? environment, ClaimsPrincipal claims, StageproofConfig config, IStateStore store, TimeProvider time,
            HttpContext context, CancellationToken ct) =>
        {
            var (report, refused) = await ComplianceAsync(environment, claims, config, store, time, ct).ConfigureAwait(false);
            if (refused is not null)
            {
                return refused;
            }
            context.Response.Headers.ContentSecurityPolicy = ReportPolicy;
            return Results.Content(ComplianceHtml.Render(report!), "text/html; charset=utf-8");
        }).WithSummary("The compliance report as the self-contained HTML page 'stageproof compliance --html' writes");

        api.MapGet("/audit/export", async (ClaimsPrincipal claims, IStateStore store, TimeProvider time, HttpContext context, CancellationToken ct) =>
        {
            var me = Principals.FromClaims(claims);
            if (DeniedWholeEstate(me, "export the audit log") is { } denied)
            {
                return denied;
            }
            var events = await store.ReadAllAsync(ct).ConfigureAwait(false);
            var text = new StringWriter(CultureInfo.InvariantCulture);
            await AuditExport.WriteJsonLinesAsync(events, text, ct).ConfigureAwait(false);
            // Recorded after the read: the export is exactly the chain as it stood, verifiable offline to its last event.
            await store.AppendAsync(new AuditEvent { Actor = me.Name, Action = "audit.export", Target = "api", Outcome = $"{events.Count} event(s)" }, ct).ConfigureAwait(false);
            var name = $"stageproof-audit-{time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}.jsonl";
            return Results.File(Encoding.UTF8.GetBytes(text.ToString()), "application/x-ndjson", name);
        }).WithSummary("The audit log as 'stageproof audit export' writes it: JSON Lines with every chain hash, to verify offline (callers whose scope is the whole estate)");

        api.MapPost("/patch-sets", async (HttpContext context, ClaimsPrincipal claims, IStateStore store, CancellationToken ct) =>
        {
            var type = context.Request.ContentType is { } header && Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(header, out var parsed)
                ? parsed.MediaType.Value?.ToLowerInvariant() : null;
            if (type is null || !YamlTypes.Contains(type))
            {
                return Problems.Of(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                    $"Content-Type: the body is a patch set's YAML ({string.Join(", ", YamlTypes)}), not {(type is null ? "nothing" : Shown(type))}");
            }
            string text;
            using (var body = new MemoryStream())
            {
                // Kestrel's limit stops an oversized body here (413), before any of it is parsed.
                await context.Request.Body.CopyToAsync(body, ct).ConfigureAwait(false);
                try
                {
                    text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(body.ToArray());
                }
                catch (DecoderFallbackException)
                {
                    return Problems.Invalid("the body is not UTF-8 text");
                }
            }
            FrozenPatchSet frozen;
            try
            {
                frozen = PatchSetFreezer.FreezeText(UploadName, text.TrimStart('\uFEFF'));
            }
            catch (InputException e)
            {
                return Problems.Invalid(e.Message);
            }
            if (await store.FindPatchSetAsync(frozen.Digest, ct).ConfigureAwait(false) is { } already)
            {
                return Problems.Of(StatusCodes.Status409Conflict, "Already frozen",
                    $"{frozen.Set.Id} is already frozen with this content as {already.Digest} (at {already.FrozenAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC)");
            }
            // Who froze a set is its author for four eyes: the token's user, whatever the YAML's author: says.
            var me = Principals.FromClaims(claims);
            await FreezeWorkflow.FreezeAsync(store, me.Name, frozen, ct).ConfigureAwait(false);
            return Results.Created($"/api/v1/patch-sets/{frozen.Digest}", new { digest = frozen.Digest, id = frozen.Set.Id });
        }).Accepts<string>("application/yaml", "text/plain").WithSummary("Freeze a patch set by upload (its YAML as the body), as 'stageproof patch freeze' does, the caller recorded as who froze it; a set that refers to files is refused (422)");
    }

    /// <summary>The self-contained reports' policy: their own inline styles and data: images, nothing else, no script.</summary>
    public const string ReportPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'";

    /// <summary>The report of <paramref name="environment"/>, or of every environment for a caller whose scope is the
    /// whole estate (an environment-scoped caller names one of theirs); audited as the CLI's is.</summary>
    private static async Task<(Core.Compliance.ComplianceReport? Report, IResult? Refused)> ComplianceAsync(string? environment, ClaimsPrincipal claims,
        StageproofConfig config, IStateStore store, TimeProvider time, CancellationToken ct)
    {
        var me = Principals.FromClaims(claims);
        if (environment is not null)
        {
            if (!config.Environments.ContainsKey(environment))
            {
                return (null, Problems.Invalid($"environment: no environment {Shown(environment)} in {config.SourceFile} (known: {string.Join(", ", config.Environments.Keys)})"));
            }
            if (Denied(me, environment) is { } denied)
            {
                return (null, denied);
            }
        }
        else if (DeniedWholeEstate(me, "read the compliance of every environment (name one with ?environment=)") is { } denied)
        {
            return (null, denied);
        }
        var compliance = new ComplianceWorkflow(config, store, time);
        var report = await compliance.BuildAsync(environment, ct).ConfigureAwait(false);
        await compliance.AuditAsync(me.Name, environment, report, ct).ConfigureAwait(false);
        return (report, null);
    }

    /// <summary>Why <paramref name="me"/> may not compare what <paramref name="spec"/> names (an environment, group or host,
    /// at a time or not), asked before anything is looked up; null when they may, or when it is a digest (whose manifest
    /// is judged once found).</summary>
    private static string? OperandRefusal(Principal me, StageproofConfig config, string spec)
    {
        var name = spec.IndexOf('@', StringComparison.Ordinal) is > 0 and var at ? spec[..at] : spec;
        var hosts = config.Environments.TryGetValue(name, out var env) ? null
            : config.Groups.TryGetValue(name, out var group) ? group
            : config.Hosts.ContainsKey(name) ? [name]
            : null;
        var readable = env is not null ? MayRead(me, name) : hosts is null || hosts.All(h => MayReadHost(me, EstateRecords.EnvironmentsOf(config, h)));
        return readable ? null : $"{me.Name} may read {Scope(me)}, not {name}";
    }

    /// <summary>A host is read through its environments; a host in none only by a caller whose scope is the whole estate.</summary>
    private static bool MayReadHost(Principal me, IReadOnlyList<string> environments) =>
        environments.Count == 0 ? WholeEstate(me) : environments.Any(e => MayRead(me, e));

    internal static bool MayReadEnvironmentOf(Principal me, string? environment) => environment is null ? WholeEstate(me) : MayRead(me, environment);

    private static bool WholeEstate(Principal me) => me.User is { } u && u.Environments.Contains("*");

    private static string Scope(Principal me) => string.Join(", ", me.User?.Environments ?? []);
}
