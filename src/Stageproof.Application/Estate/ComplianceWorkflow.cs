using Stageproof.Core.Audit;
using Stageproof.Core.Compliance;
using Stageproof.Core.Configuration;
using Stageproof.Core.Patches;
using Stageproof.Core.State;

namespace Stageproof.Application.Estate;

/// <summary><c>compliance</c> for every entry point: the report built from the state store (of one environment, or
/// of all), and its audit line.</summary>
public sealed class ComplianceWorkflow(StageproofConfig config, IStateStore store, TimeProvider time)
{
    /// <summary>The report from the state store: of one environment, or of all (null).</summary>
    public async Task<ComplianceReport> BuildAsync(string? only, CancellationToken ct)
    {
        var runs = await store.ListPatchRunsAsync(null, ct).ConfigureAwait(false);
        var hosts = (only is null ? config.Environments.Values : [config.Environments[only]]).SelectMany(e => e.Hosts).Distinct().ToList();
        var manifests = new Dictionary<string, HostManifests>(StringComparer.Ordinal);
        foreach (var host in hosts)
        {
            manifests[host] = await ManifestsAsync(host, runs, ct).ConfigureAwait(false);
        }
        return ComplianceReport.Build(new ComplianceInput
        {
            Config = config,
            Environment = only,
            PatchSets = await store.ListPatchSetsAsync(ct).ConfigureAwait(false),
            Runs = runs,
            StageResults = await store.ListStageResultsAsync(null, null, ct).ConfigureAwait(false),
            Rollouts = await store.ListRolloutsAsync(null, ct).ConfigureAwait(false),
            Manifests = manifests,
            Now = time.GetUtcNow(),
        });
    }

    /// <summary>Records that <paramref name="actor"/> produced <paramref name="report"/>, with its totals.</summary>
    public Task AuditAsync(string actor, string? only, ComplianceReport report, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(report);
        var t = report.Totals;
        return store.AppendAsync(new AuditEvent
        {
            Actor = actor,
            Action = "compliance.report",
            Target = only ?? "all",
            Outcome = $"{t.Hosts} host(s): {t.Applied} applied, {t.Owed} owed ({t.EmergencyBackfills} emergency back-fill), " +
                      $"{t.SecurityUpdates} security update(s) on {t.HostsWithSecurityUpdates} host(s), {t.DriftedHosts} drifted host(s) ({t.DriftItems} item(s))",
        }, ct);
    }

    private async Task<HostManifests> ManifestsAsync(string host, IReadOnlyList<PatchRun> runs, CancellationToken ct)
    {
        var latest = await store.LatestManifestAsync(host, null, ct).ConfigureAwait(false);
        var verifiedDigest = ComplianceReport.VerifiedManifestDigest(host, runs);
        var verified = verifiedDigest is null ? null : await store.FindManifestAsync(verifiedDigest, ct).ConfigureAwait(false);
        return new HostManifests
        {
            Latest = latest?.Manifest,
            LatestDigest = latest?.Digest,
            Verified = verified?.Manifest,
            VerifiedDigest = verified?.Digest ?? verifiedDigest,
        };
    }
}
