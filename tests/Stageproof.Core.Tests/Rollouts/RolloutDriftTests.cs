using Stageproof.Core.ConfigFiles;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;

namespace Stageproof.Core.Tests.Rollouts;

public class RolloutDriftTests
{
    private static readonly PatchSet Set = new()
    {
        Id = "P-1", Title = "t", Reason = "r", Severity = PatchSeverity.High, Author = "alice",
        Packages = [new PatchPackage("acme-mail", "1.1-1")],
        Files = [new PatchFile { Path = "/etc/acme-mail/acme-mail.conf", Set = new Dictionary<string, string> { ["session.lifetime"] = "30" } }],
    };

    private static Manifest Host(string name, string role, string version, string conf, params (string Path, string Sha)[] more) => new()
    {
        Target = name,
        Role = role,
        Packages = [new PackageInfo("acme-mail", version, "amd64"), new PackageInfo("libc6", "2.36-9", "amd64")],
        Files = [new ConfigFileInfo("/etc/acme-mail/acme-mail.conf", "root", "root", "0644", PatchSetFreezer.Sha256(conf), conf.Length, conf),
            .. more.Select(m => new ConfigFileInfo(m.Path, "root", "root", "0644", m.Sha, 1, null))],
    };

    [Fact]
    public void A_host_patched_like_its_staging_twin_shows_zero_differences_even_where_its_environment_differs_outside_the_scope()
    {
        var before = Host("prod-app-1", "app", "1.0-1", "listen.address = 127.0.10.11\n", ("/etc/ssh/sshd_config", "aaa"));
        var after = Host("prod-app-1", "app", "1.1-1", "listen.address = 127.0.10.11\nsession.lifetime = 30\n", ("/etc/ssh/sshd_config", "aaa"));
        var staging = Host("staging-app-1", "app", "1.1-1", "listen.address = 127.0.30.11\nsession.lifetime = 30\n", ("/etc/ssh/sshd_config", "bbb"));

        Assert.Empty(RolloutDrift.Compare(Set, [(before, after)], [staging], ConfigFormats.None).Differences);
    }

    [Fact]
    public void A_package_version_a_key_and_an_undeclared_change_that_staging_never_got_are_each_named()
    {
        var before = Host("prod-app-1", "app", "1.0-1", "x = 1\n", ("/etc/cron.d/job", "old"));
        var after = Host("prod-app-1", "app", "1.1-1", "x = 1\nsession.lifetime = 45\n", ("/etc/cron.d/job", "new"));
        var staging = Host("staging-app-1", "app", "1.0-1", "x = 1\nsession.lifetime = 30\n", ("/etc/cron.d/job", "old"));

        var drift = RolloutDrift.Compare(Set, [(before, after)], [staging], ConfigFormats.None).Differences;

        Assert.Contains(drift, d => d.Contains("package acme-mail 1.1-1 vs 1.0-1", StringComparison.Ordinal));
        Assert.Contains(drift, d => d.Contains("session.lifetime = 45 vs 30", StringComparison.Ordinal));
        Assert.Contains(drift, d => d.Contains("/etc/cron.d/job changed in the rollout", StringComparison.Ordinal));
        Assert.Equal(3, drift.Count);
    }

    [Fact]
    public void A_file_the_rollout_changed_that_differs_from_staging_only_in_comments_and_order_is_cosmetic_and_a_value_is_named()
    {
        const string defaults = "/usr/share/acme-mail/defaults.conf";
        var before = Host("prod-app-1", "app", "1.0-1", "session.lifetime = 30\n");
        var staging = Host("staging-app-1", "app", "1.1-1", "session.lifetime = 30\n");
        var prodDefaults = "# defaults\nlog.level = info\nlisten.port = 8080\n";
        var stagingDefaults = "listen.port = 8080\n\n# the log level\nlog.level   =   info\n";
        Manifest With(Manifest m, string content) => m with
        {
            Files = [.. m.Files, new ConfigFileInfo(defaults, "root", "root", "0644", PatchSetFreezer.Sha256(content), content.Length, content)],
        };

        var cosmetic = RolloutDrift.Compare(Set, [(With(before, "old"), With(before, prodDefaults))], [With(staging, stagingDefaults)], ConfigFormats.None);
        Assert.Contains(cosmetic.Differences, d => d.Contains("package acme-mail 1.0-1 vs 1.1-1", StringComparison.Ordinal));
        Assert.DoesNotContain(cosmetic.Differences, d => d.Contains(defaults, StringComparison.Ordinal));
        Assert.Contains(defaults + " differs only in comments, whitespace or order", Assert.Single(cosmetic.Cosmetic), StringComparison.Ordinal);

        var changed = RolloutDrift.Compare(Set, [(With(before, "old"), With(before, prodDefaults.Replace("info", "debug", StringComparison.Ordinal)))],
            [With(staging, stagingDefaults)], ConfigFormats.None);
        Assert.Contains(changed.Differences, d => d.Contains($"{defaults} changed in the rollout and differs from staging", StringComparison.Ordinal)
            && d.Contains("log.level: debug → info", StringComparison.Ordinal));
        Assert.Empty(changed.Cosmetic);
    }

    [Fact]
    public void A_patched_host_without_a_staging_twin_is_a_difference()
    {
        var host = Host("prod-app-1", "app", "1.1-1", "session.lifetime = 30\n");
        Assert.Single(RolloutDrift.Compare(Set, [(host, host)], [], ConfigFormats.None).Differences);
    }
}

public class RolloutPlannerCanaryTests
{
    [Fact]
    public void Every_host_lands_in_exactly_one_batch_in_configuration_order()
    {
        var hosts = Enumerable.Range(1, 7).Select(i => $"h{i}").ToList();
        var batches = RolloutPlanner.Plan(hosts, new Stageproof.Core.Lifecycle.RolloutPolicy { Canary = 2, Batch = 2, BatchIsPercent = false });
        Assert.Equal(hosts, batches.SelectMany(b => b.Hosts));
        Assert.Equal(["canary", "batch 1", "batch 2", "batch 3"], batches.Select(b => b.Name));
        Assert.Equal([0, 1, 2, 3], batches.Select(b => b.Index));
    }
}
