using System.Globalization;
using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Stage;

namespace Stageproof.Core.Compliance;

/// <summary>A host's manifests: the latest stored one, and the last one an apply run verified (with their digests).</summary>
public sealed record HostManifests
{
    public Manifest? Latest { get; init; }
    public string? LatestDigest { get; init; }
    public Manifest? Verified { get; init; }
    public string? VerifiedDigest { get; init; }
}

/// <summary>Everything a compliance report looks at. Pure data: the caller reads it from the store.</summary>
public sealed record ComplianceInput
{
    public required StageproofConfig Config { get; init; }
    /// <summary>Only this environment (null: every environment).</summary>
    public string? Environment { get; init; }
    public IReadOnlyList<StoredPatchSet> PatchSets { get; init; } = [];
    public IReadOnlyList<PatchRun> Runs { get; init; } = [];
    public IReadOnlyList<StageResult> StageResults { get; init; } = [];
    public IReadOnlyList<Rollout> Rollouts { get; init; } = [];
    /// <summary>Host name → its manifests; a host missing here has none.</summary>
    public IReadOnlyDictionary<string, HostManifests> Manifests { get; init; } = new Dictionary<string, HostManifests>();
    public required DateTimeOffset Now { get; init; }
}

/// <summary>A patch set that is on a host: when it got there, and whether by the emergency lane.</summary>
public sealed record AppliedPatch
{
    public required string PatchId { get; init; }
    public required string PatchDigest { get; init; }
    public string ShortDigest => PatchDigest.Length > 12 ? PatchDigest[..12] : PatchDigest;
    public required DateTimeOffset At { get; init; }
    public required string Run { get; init; }
    public bool Emergency { get; init; }
    /// <summary>The emergency rollout that brought it, when <see cref="Emergency"/>.</summary>
    public string? Rollout { get; init; }
}

/// <summary>A patch set owed to a stage: it is further along the lifecycle but was never proven or applied here.</summary>
public sealed record OwedPatch
{
    public required string PatchId { get; init; }
    public required string PatchDigest { get; init; }
    public string ShortDigest => PatchDigest.Length > 12 ? PatchDigest[..12] : PatchDigest;
    /// <summary>True when it reached a later stage by the emergency lane: it must be back-filled here.</summary>
    public bool EmergencyBackfill { get; init; }
    /// <summary>One line per piece of evidence that it is further along ("passed in staging 2025-...").</summary>
    public IReadOnlyList<string> Evidence { get; init; } = [];
    public required string Message { get; init; }
}

public sealed record SecurityUpdate(string Name, string? CurrentVersion, string CandidateVersion, string Origin);

/// <summary>One difference between a host's last verified manifest and its latest one.</summary>
public sealed record DriftLine(DriftCategory Category, string Key, string? Before, string? After, DriftSeverity Severity);

/// <summary>What changed on a host since a change was last verified on it.</summary>
public sealed record VerifiedDrift
{
    /// <summary>"none", "drifted", "no-verified-manifest", "no-manifest", or "not-collected-since" (the latest manifest is the verified one or older).</summary>
    public required string Status { get; init; }
    public string? VerifiedDigest { get; init; }
    public DateTimeOffset? VerifiedAt { get; init; }
    public string? LatestDigest { get; init; }
    public DateTimeOffset? LatestAt { get; init; }
    public int Count { get; init; }
    /// <summary>The top ten differences, most severe first.</summary>
    public IReadOnlyList<DriftLine> Items { get; init; } = [];
}

public sealed record HostCompliance
{
    public required string Host { get; init; }
    public IReadOnlyList<AppliedPatch> Applied { get; init; } = [];
    /// <summary>The environment's owed patch sets (every host of a stage owes them).</summary>
    public IReadOnlyList<OwedPatch> Owed { get; init; } = [];
    public IReadOnlyList<SecurityUpdate> Security { get; init; } = [];
    /// <summary>When the manifest the security updates come from was collected.</summary>
    public DateTimeOffset? SecurityCollectedAt { get; init; }
    public required VerifiedDrift Drift { get; init; }
    public bool Clean => Owed.Count == 0 && Security.Count == 0 && Drift.Count == 0;
}

public sealed record EnvironmentCompliance
{
    public required string Environment { get; init; }
    /// <summary>1-based position in the lifecycle; null when the environment is not a stage.</summary>
    public int? Stage { get; init; }
    public IReadOnlyList<OwedPatch> Owed { get; init; } = [];
    public IReadOnlyList<HostCompliance> Hosts { get; init; } = [];
}

public sealed record ComplianceTotals(int Environments, int Hosts, int Applied, int Owed, int EmergencyBackfills, int SecurityUpdates,
    int HostsWithSecurityUpdates, int DriftedHosts, int DriftItems);

/// <summary>
/// Where each environment and host stands: what is applied (and whether by the emergency lane), what is owed along
/// the lifecycle, which security updates are pending, and what drifted since a change was last verified. Pure.
/// </summary>
public sealed record ComplianceReport
{
    public const int TopDrift = 10;

    public required DateTimeOffset GeneratedAt { get; init; }
    /// <summary>The lifecycle's stages in order (empty when none is defined).</summary>
    public IReadOnlyList<string> Lifecycle { get; init; } = [];
    public IReadOnlyList<EnvironmentCompliance> Environments { get; init; } = [];
    public required ComplianceTotals Totals { get; init; }
    /// <summary>Nothing owed, nothing drifted, no security update pending.</summary>
    public bool Compliant => Totals.Owed == 0 && Totals.DriftedHosts == 0 && Totals.SecurityUpdates == 0;

    /// <summary>The digest of a host's last verified manifest: the ManifestAfter of its latest Applied apply-run record,
    /// or the ManifestBefore of an AlreadyApplied one; null when there is none.</summary>
    public static string? VerifiedManifestDigest(string host, IEnumerable<PatchRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        return runs.Where(r => r.Kind == RunKind.Apply)
            .SelectMany(r => r.Hosts.Where(h => h.Host == host && h.Status is HostRunStatus.Applied or HostRunStatus.AlreadyApplied)
                .Select(h => (At: h.FinishedAt ?? r.FinishedAt ?? r.StartedAt, Digest: h.Status == HostRunStatus.Applied ? h.ManifestAfter : h.ManifestBefore)))
            .Where(x => x.Digest is not null)
            .OrderByDescending(x => x.At)
            .Select(x => x.Digest)
            .FirstOrDefault();
    }

    public static ComplianceReport Build(ComplianceInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var config = input.Config;
        var lifecycle = config.Lifecycle;
        var stages = lifecycle.Stages.Select(s => s.Environment).ToList();
        var names = PatchNames(input);

        var environments = stages.Where(config.Environments.ContainsKey)
            .Concat(config.Environments.Keys.Where(e => !stages.Contains(e)))
            .Where(e => input.Environment is null || e == input.Environment)
            .ToList();

        // What is on each host now, per environment (every environment of the lifecycle, for owed).
        var appliedByEnv = config.Environments.Keys.Union(stages).ToDictionary(e => e, e => AppliedIn(input, e, names));

        var result = new List<EnvironmentCompliance>();
        foreach (var env in environments)
        {
            var owed = Owed(input, env, stages, appliedByEnv, names);
            var hosts = new List<HostCompliance>();
            var hostNames = config.Environments[env].Hosts;
            foreach (var host in hostNames)
            {
                input.Manifests.TryGetValue(host, out var manifests);
                var latest = manifests?.Latest;
                hosts.Add(new HostCompliance
                {
                    Host = host,
                    Applied = appliedByEnv[env].TryGetValue(host, out var applied) ? applied : [],
                    Owed = owed,
                    Security = latest?.PendingUpgrades.Where(u => u.Security).OrderBy(u => u.Name, StringComparer.Ordinal)
                        .Select(u => new SecurityUpdate(u.Name, u.CurrentVersion, u.CandidateVersion, u.Origin)).ToList() ?? [],
                    SecurityCollectedAt = latest?.CollectedAt,
                    Drift = DriftSince(manifests, config.Drift),
                });
            }
            var stageIndex = stages.IndexOf(env);
            result.Add(new EnvironmentCompliance { Environment = env, Stage = stageIndex >= 0 ? stageIndex + 1 : null, Owed = owed, Hosts = hosts });
        }

        var allHosts = result.SelectMany(e => e.Hosts).ToList();
        var totals = new ComplianceTotals(
            result.Count,
            allHosts.Count,
            allHosts.Sum(h => h.Applied.Count),
            result.Sum(e => e.Owed.Count),
            result.Sum(e => e.Owed.Count(o => o.EmergencyBackfill)),
            allHosts.Sum(h => h.Security.Count),
            allHosts.Count(h => h.Security.Count > 0),
            allHosts.Count(h => h.Drift.Count > 0),
            allHosts.Sum(h => h.Drift.Count));
        return new ComplianceReport { GeneratedAt = input.Now, Lifecycle = stages, Environments = result, Totals = totals };
    }

    private static Dictionary<string, string> PatchNames(ComplianceInput input)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (digest, id) in input.PatchSets.Select(p => (p.Digest, p.Set.Id))
                     .Concat(input.Runs.Select(r => (r.PatchDigest, r.PatchId)))
                     .Concat(input.StageResults.Select(r => (r.PatchDigest, r.PatchId)))
                     .Concat(input.Rollouts.Select(r => (r.PatchDigest, r.PatchId))))
        {
            names.TryAdd(digest, id);
        }
        return names;
    }

    /// <summary>Host → patch sets on it in <paramref name="env"/>: the host's latest apply or rollback of each digest left it applied.</summary>
    private static Dictionary<string, IReadOnlyList<AppliedPatch>> AppliedIn(ComplianceInput input, string env, Dictionary<string, string> names)
    {
        var events = input.Runs.Where(r => r.Environment == env)
            .SelectMany(r => r.Hosts.Select(h => (Run: r, Host: h, At: h.FinishedAt ?? r.FinishedAt ?? r.StartedAt)))
            .Where(x => x.Host.Status is HostRunStatus.Applied or HostRunStatus.AlreadyApplied or HostRunStatus.RolledBack)
            .Where(x => x.Run.Kind == RunKind.Apply || x.Host.Status == HostRunStatus.RolledBack);
        var byHost = new Dictionary<string, IReadOnlyList<AppliedPatch>>(StringComparer.Ordinal);
        foreach (var host in events.GroupBy(x => x.Host.Host))
        {
            var applied = new List<AppliedPatch>();
            foreach (var digest in host.GroupBy(x => x.Run.PatchDigest))
            {
                var last = digest.OrderBy(x => x.At).ThenBy(x => x.Run.Kind == RunKind.Rollback ? 1 : 0).Last();
                if (last.Host.Status == HostRunStatus.RolledBack)
                {
                    continue;
                }
                var emergency = EmergencyRollouts(input, digest.Key, env)
                    .OrderByDescending(r => r.Batches.Any(b => b.ApplyRuns.Contains(last.Run.Id)))
                    .FirstOrDefault();
                applied.Add(new AppliedPatch
                {
                    PatchId = names.GetValueOrDefault(digest.Key, last.Run.PatchId),
                    PatchDigest = digest.Key,
                    At = last.At,
                    Run = last.Run.Id,
                    Emergency = emergency is not null,
                    Rollout = emergency?.Id,
                });
            }
            byHost[host.Key] = applied.OrderBy(a => a.At).ThenBy(a => a.PatchId, StringComparer.Ordinal).ToList();
        }
        return byHost;
    }

    /// <summary>Emergency rollouts of a digest to an environment that did not end rolled back or aborted.</summary>
    private static IEnumerable<Rollout> EmergencyRollouts(ComplianceInput input, string digest, string env) =>
        input.Rollouts.Where(r => r.Lane == Lane.Emergency && r.PatchDigest == digest && r.Environment == env
            && r.Status is not (RolloutStatus.RolledBack or RolloutStatus.Aborted));

    private static bool Passed(ComplianceInput input, string digest, string env) =>
        input.StageResults.Any(r => r.PatchDigest == digest && r.Environment == env && r.Verdict == StageVerdict.Pass);

    private static bool AppliedAnywhere(Dictionary<string, Dictionary<string, IReadOnlyList<AppliedPatch>>> appliedByEnv, string digest, string env) =>
        appliedByEnv.TryGetValue(env, out var hosts) && hosts.Values.Any(list => list.Any(a => a.PatchDigest == digest));

    private static IReadOnlyList<OwedPatch> Owed(ComplianceInput input, string env, IReadOnlyList<string> stages,
        Dictionary<string, Dictionary<string, IReadOnlyList<AppliedPatch>>> appliedByEnv, Dictionary<string, string> names)
    {
        var index = stages.ToList().IndexOf(env);
        if (index < 0)
        {
            return [];
        }
        var inv = CultureInfo.InvariantCulture;
        var owed = new List<OwedPatch>();
        foreach (var (digest, id) in names.OrderBy(n => n.Value, StringComparer.Ordinal).ThenBy(n => n.Key, StringComparer.Ordinal))
        {
            if (Passed(input, digest, env) || AppliedAnywhere(appliedByEnv, digest, env))
            {
                continue;
            }
            var evidence = new List<string>();
            var backfills = new List<string>();
            foreach (var later in stages.Skip(index + 1))
            {
                var pass = input.StageResults.Where(r => r.PatchDigest == digest && r.Environment == later && r.Verdict == StageVerdict.Pass)
                    .OrderByDescending(r => r.FinishedAt ?? r.StartedAt).FirstOrDefault();
                if (pass is not null)
                {
                    evidence.Add($"passed in {later} (stage result {pass.Id}, {Day(pass.FinishedAt ?? pass.StartedAt)})");
                }
                if (AppliedAnywhere(appliedByEnv, digest, later))
                {
                    evidence.Add($"applied in {later}");
                }
                foreach (var rollout in EmergencyRollouts(input, digest, later).OrderBy(r => r.CreatedAt))
                {
                    var line = $"rolled out to {later} by rollout {rollout.Id} on {Day(rollout.CreatedAt)}";
                    evidence.Add($"emergency lane: {line}");
                    backfills.Add(line);
                }
            }
            // Forward: passed the stage before this one, so it is waiting to be promoted here.
            var forward = index > 0
                ? input.StageResults.Where(r => r.PatchDigest == digest && r.Environment == stages[index - 1] && r.Verdict == StageVerdict.Pass)
                    .OrderByDescending(r => r.FinishedAt ?? r.StartedAt).FirstOrDefault()
                : null;
            if (evidence.Count == 0 && forward is not null)
            {
                owed.Add(new OwedPatch
                {
                    PatchId = id,
                    PatchDigest = digest,
                    EmergencyBackfill = false,
                    Evidence = [$"passed in {stages[index - 1]} (stage result {forward.Id}, {Day(forward.FinishedAt ?? forward.StartedAt)})"],
                    Message = $"passed in {stages[index - 1]} (stage result {forward.Id}, {Day(forward.FinishedAt ?? forward.StartedAt)}), not yet promoted to {env}",
                });
                continue;
            }
            if (evidence.Count == 0)
            {
                continue;
            }
            owed.Add(new OwedPatch
            {
                PatchId = id,
                PatchDigest = digest,
                EmergencyBackfill = backfills.Count > 0,
                Evidence = evidence,
                Message = backfills.Count > 0
                    ? $"emergency back-fill: {backfills[0]}, not yet proven in {env}"
                    : $"{evidence[0]}, not yet proven or applied in {env}",
            });
        }
        return owed;

        string Day(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd", inv);
    }

    private static VerifiedDrift DriftSince(HostManifests? manifests, DriftRules rules)
    {
        if (manifests?.Latest is not { } latest)
        {
            return new VerifiedDrift { Status = "no-manifest", VerifiedDigest = manifests?.VerifiedDigest, VerifiedAt = manifests?.Verified?.CollectedAt };
        }
        if (manifests.Verified is not { } verified)
        {
            return new VerifiedDrift { Status = "no-verified-manifest", LatestDigest = manifests.LatestDigest, LatestAt = latest.CollectedAt };
        }
        var shape = new VerifiedDrift
        {
            Status = "not-collected-since",
            VerifiedDigest = manifests.VerifiedDigest,
            VerifiedAt = verified.CollectedAt,
            LatestDigest = manifests.LatestDigest,
            LatestAt = latest.CollectedAt,
        };
        if (latest.CollectedAt <= verified.CollectedAt)
        {
            return shape;
        }
        var drift = DriftEngine.Compare(verified, latest, rules);
        var items = drift.Items
            .OrderByDescending(i => i.Severity).ThenBy(i => i.Category).ThenBy(i => i.Key, StringComparer.Ordinal)
            .Take(TopDrift)
            .Select(i => new DriftLine(i.Category, i.Key, i.Left, i.Right, i.Severity))
            .ToList();
        return shape with { Status = drift.Items.Count > 0 ? "drifted" : "none", Count = drift.Items.Count, Items = items };
    }
}
