using Stageproof.Core.Compliance;
using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Stage;

namespace Stageproof.Core.Tests.Compliance;

public class ComplianceReportTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 10, 0, 0, TimeSpan.Zero);
    private const string Digest = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    private static readonly StoredPatchSet Set = new(new FrozenPatchSet(Digest, new PatchSet
    {
        Id = "ACME-1",
        Title = "t",
        Reason = "r",
        Severity = PatchSeverity.High,
        Author = "alice",
    }, "{}"), T0);

    private static StageproofConfig Config() => new()
    {
        SourceFile = "/x/stageproof.yaml",
        Hosts = new Dictionary<string, HostConfig>
        {
            ["qa-1"] = new() { Name = "qa-1" },
            ["stg-1"] = new() { Name = "stg-1" },
            ["prod-1"] = new() { Name = "prod-1" },
        },
        Environments = new Dictionary<string, EnvironmentConfig>
        {
            ["qa"] = new() { Name = "qa", Hosts = ["qa-1"] },
            ["staging"] = new() { Name = "staging", Hosts = ["stg-1"] },
            ["prod"] = new() { Name = "prod", Hosts = ["prod-1"] },
        },
        Drift = new DriftRules { Track = ["/etc/app.conf"] },
        Lifecycle = new LifecycleConfig
        {
            Stages = [new() { Environment = "qa" }, new() { Environment = "staging" }, new() { Environment = "prod", Approvals = 1 }],
        },
    };

    private static PatchRun Run(string id, RunKind kind, string env, string host, HostRunStatus status, DateTimeOffset at,
        string? before = null, string? after = null) => new()
    {
        Id = id,
        Kind = kind,
        PatchDigest = Digest,
        PatchId = "ACME-1",
        Environment = env,
        Actor = "bob",
        StartedAt = at,
        FinishedAt = at.AddMinutes(1),
        Hosts = [new HostRunRecord { Host = host, Status = status, FinishedAt = at.AddMinutes(1), ManifestBefore = before, ManifestAfter = after }],
    };

    private static StageResult Pass(string id, string env, DateTimeOffset at) => new()
    {
        Id = id,
        PatchDigest = Digest,
        PatchId = "ACME-1",
        PatchTitle = "t",
        Environment = env,
        Actor = "bob",
        StartedAt = at,
        FinishedAt = at.AddMinutes(5),
        Verdict = StageVerdict.Pass,
    };

    private static Rollout EmergencyRollout(string id, string env, DateTimeOffset at) => new()
    {
        Id = id,
        Environment = env,
        PatchDigest = Digest,
        PatchId = "ACME-1",
        Actor = "carol",
        Lane = Lane.Emergency,
        Reason = "CVE",
        Ticket = "INC-1",
        Policy = new RolloutPolicy(),
        Batches = [],
        Hosts = [],
        Status = RolloutStatus.Succeeded,
        CreatedAt = at,
    };

    private static Manifest Host(string name, DateTimeOffset at, string conf, params PendingUpgrade[] pending) => new()
    {
        Target = name,
        CollectedAt = at,
        Packages = [new PackageInfo("bash", "5.2", "amd64")],
        PendingUpgrades = pending,
        Files = [new ConfigFileInfo("/etc/app.conf", "root", "root", "644", PatchSetFreezer.Sha256(conf), conf.Length, conf)],
    };

    private static ComplianceInput Input(IReadOnlyList<PatchRun>? runs = null, IReadOnlyList<StageResult>? results = null,
        IReadOnlyList<Rollout>? rollouts = null, IReadOnlyDictionary<string, HostManifests>? manifests = null) => new()
    {
        Config = Config(),
        PatchSets = [Set],
        Runs = runs ?? [],
        StageResults = results ?? [],
        Rollouts = rollouts ?? [],
        Manifests = manifests ?? new Dictionary<string, HostManifests>(),
        Now = T0.AddDays(10),
    };

    private static EnvironmentCompliance Env(ComplianceReport report, string env) => report.Environments.Single(e => e.Environment == env);

    [Fact]
    public void Applied_then_rolled_back_is_not_applied()
    {
        var report = ComplianceReport.Build(Input(runs:
        [
            Run("r2", RunKind.Rollback, "qa", "qa-1", HostRunStatus.RolledBack, T0.AddHours(2)),
            Run("r1", RunKind.Apply, "qa", "qa-1", HostRunStatus.Applied, T0.AddHours(1)),
        ]));
        Assert.Empty(Env(report, "qa").Hosts.Single().Applied);
        Assert.Equal(0, report.Totals.Applied);
    }

    [Fact]
    public void Applied_and_not_rolled_back_is_applied_with_its_short_digest()
    {
        var report = ComplianceReport.Build(Input(runs: [Run("r1", RunKind.Apply, "qa", "qa-1", HostRunStatus.Applied, T0)]));
        var applied = Assert.Single(Env(report, "qa").Hosts.Single().Applied);
        Assert.Equal("ACME-1", applied.PatchId);
        Assert.Equal(Digest[..12], applied.ShortDigest);
        Assert.False(applied.Emergency);
    }

    [Fact]
    public void A_set_passing_in_staging_is_owed_to_qa_when_qa_has_no_pass()
    {
        var report = ComplianceReport.Build(Input(results: [Pass("s1", "staging", T0)]));
        var owed = Assert.Single(Env(report, "qa").Owed);
        Assert.Equal(Digest, owed.PatchDigest);
        Assert.False(owed.EmergencyBackfill);
        Assert.Contains("passed in staging", owed.Message);
        Assert.Empty(Env(report, "staging").Owed);
        // Forward as well: staging's PASS waits to be promoted to prod.
        var pending = Assert.Single(Env(report, "prod").Owed);
        Assert.Equal("passed in staging (stage result s1, 2025-03-01), not yet promoted to prod", pending.Message);
        Assert.Single(Env(report, "qa").Hosts.Single().Owed);
        Assert.False(report.Compliant);
    }

    [Fact]
    public void An_emergency_rollout_to_prod_is_owed_to_qa_and_staging_as_a_back_fill_until_each_has_a_pass()
    {
        var rollout = EmergencyRollout("ro-7", "prod", T0);
        var apply = Run("r1", RunKind.Apply, "prod", "prod-1", HostRunStatus.Applied, T0);
        var report = ComplianceReport.Build(Input(runs: [apply], rollouts: [rollout]));
        foreach (var env in new[] { "qa", "staging" })
        {
            var owed = Assert.Single(Env(report, env).Owed);
            Assert.True(owed.EmergencyBackfill);
            Assert.Equal($"emergency back-fill: rolled out to prod by rollout ro-7 on 2025-03-01, not yet proven in {env}", owed.Message);
        }
        Assert.Empty(Env(report, "prod").Owed);
        var applied = Assert.Single(Env(report, "prod").Hosts.Single().Applied);
        Assert.True(applied.Emergency);
        Assert.Equal("ro-7", applied.Rollout);
        Assert.Equal(2, report.Totals.EmergencyBackfills);

        var later = ComplianceReport.Build(Input(runs: [apply], rollouts: [rollout], results: [Pass("s9", "qa", T0.AddDays(1))]));
        Assert.Empty(Env(later, "qa").Owed);
        Assert.True(Assert.Single(Env(later, "staging").Owed).EmergencyBackfill);
    }

    [Fact]
    public void A_set_that_passed_the_stage_before_is_owed_until_it_is_applied_here()
    {
        var passed = ComplianceReport.Build(Input(results: [Pass("s1", "qa", T0)]));
        Assert.Contains("not yet promoted to staging", Assert.Single(Env(passed, "staging").Owed).Message, StringComparison.Ordinal);
        Assert.Empty(Env(passed, "prod").Owed);

        var promoted = ComplianceReport.Build(Input(
            runs: [Run("a1", RunKind.Apply, "staging", Env(passed, "staging").Hosts.Single().Host, HostRunStatus.Applied, T0.AddHours(1))],
            results: [Pass("s1", "qa", T0)]));
        Assert.Empty(Env(promoted, "staging").Owed);
    }

    [Fact]
    public void Pending_security_updates_are_listed_and_other_upgrades_are_not()
    {
        var latest = Host("prod-1", T0, "a=1\n",
            new PendingUpgrade("openssl", "3.0.1", "3.0.2", "Debian-Security", Security: true),
            new PendingUpgrade("vim", "9.0", "9.1", "Debian", Security: false));
        var report = ComplianceReport.Build(Input(manifests: new Dictionary<string, HostManifests>
        {
            ["prod-1"] = new() { Latest = latest, LatestDigest = "m1" },
        }));
        var host = Env(report, "prod").Hosts.Single();
        var update = Assert.Single(host.Security);
        Assert.Equal(("openssl", "3.0.1", "3.0.2"), (update.Name, update.CurrentVersion, update.CandidateVersion));
        Assert.Equal(T0, host.SecurityCollectedAt);
        Assert.Equal(1, report.Totals.SecurityUpdates);
        Assert.False(report.Compliant);
    }

    [Fact]
    public void Drift_from_the_verified_manifest_is_found_when_a_tracked_file_changed_after_verification()
    {
        var verified = Host("prod-1", T0, "pool=10\n");
        var changed = Host("prod-1", T0.AddDays(1), "pool=40\n");
        var report = ComplianceReport.Build(Input(manifests: new Dictionary<string, HostManifests>
        {
            ["prod-1"] = new() { Latest = changed, LatestDigest = "m2", Verified = verified, VerifiedDigest = "m1" },
        }));
        var drift = Env(report, "prod").Hosts.Single().Drift;
        Assert.Equal("drifted", drift.Status);
        Assert.Equal(1, drift.Count);
        var item = Assert.Single(drift.Items);
        Assert.Equal((DriftCategory.ConfigContent, "/etc/app.conf"), (item.Category, item.Key));
        Assert.Equal(1, report.Totals.DriftedHosts);
        Assert.False(report.Compliant);
    }

    [Fact]
    public void No_drift_when_nothing_changed_since_verification()
    {
        var verified = Host("prod-1", T0, "pool=10\n");
        var same = Host("prod-1", T0.AddDays(1), "pool=10\n");
        var report = ComplianceReport.Build(Input(manifests: new Dictionary<string, HostManifests>
        {
            ["prod-1"] = new() { Latest = same, LatestDigest = "m1", Verified = verified, VerifiedDigest = "m1" },
        }));
        var drift = Env(report, "prod").Hosts.Single().Drift;
        Assert.Equal("none", drift.Status);
        Assert.Equal(0, drift.Count);
        Assert.Empty(drift.Items);
        Assert.True(report.Compliant);
    }

    [Fact]
    public void The_verified_manifest_is_the_latest_applied_after_or_the_before_of_already_applied()
    {
        var runs = new[]
        {
            Run("r1", RunKind.Apply, "prod", "prod-1", HostRunStatus.Applied, T0, before: "b1", after: "a1"),
            Run("r2", RunKind.Apply, "prod", "prod-1", HostRunStatus.AlreadyApplied, T0.AddHours(1), before: "b2", after: "a2"),
            Run("r3", RunKind.Apply, "prod", "prod-1", HostRunStatus.FailedNeedsAttention, T0.AddHours(2), before: "b3", after: "a3"),
        };
        Assert.Equal("b2", ComplianceReport.VerifiedManifestDigest("prod-1", runs));
        Assert.Equal("a1", ComplianceReport.VerifiedManifestDigest("prod-1", runs.Take(1)));
        Assert.Null(ComplianceReport.VerifiedManifestDigest("qa-1", runs));
    }
}
