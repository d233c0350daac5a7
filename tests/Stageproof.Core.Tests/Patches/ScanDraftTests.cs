using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;

namespace Stageproof.Core.Tests.Patches;

public class ScanDraftTests
{
    private static Manifest Host(string name, params PendingUpgrade[] upgrades) => new() { Target = name, PendingUpgrades = upgrades };

    private static readonly Manifest[] Estate =
    [
        Host("prod-1", new PendingUpgrade("openssl", "3.0.14", "3.0.15", "Debian-Security", true), new PendingUpgrade("acme-mail", "1.0-1", "1.1-1", "lab", false)),
        Host("prod-2", new PendingUpgrade("openssl", "3.0.14", "3.0.15", "Debian-Security", true)),
    ];

    [Fact]
    public void Every_pending_upgrade_is_listed_once_with_its_exact_candidate_and_the_hosts_that_lack_it()
    {
        var upgrades = ScanDraft.Collect(Estate, securityOnly: false);
        Assert.Equal(["acme-mail", "openssl"], upgrades.Select(u => u.Name));
        Assert.Equal("3.0.15", upgrades[1].CandidateVersion);
        Assert.Equal(["prod-1", "prod-2"], upgrades[1].Hosts);
        Assert.Equal(["prod-1"], upgrades[0].Hosts);
    }

    [Fact]
    public void Security_only_keeps_the_security_archive()
    {
        Assert.Equal(["openssl"], ScanDraft.Collect(Estate, securityOnly: true).Select(u => u.Name));
    }

    [Fact]
    public void The_draft_is_a_patch_set_that_freezes_as_written()
    {
        var draft = ScanDraft.Render("prod", ScanDraft.Collect(Estate, false), 2, false, "alice", new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        var dir = Directory.CreateTempSubdirectory("stageproof-scan-");
        try
        {
            var file = Path.Combine(dir.FullName, "draft.yaml");
            File.WriteAllText(file, draft);
            var set = PatchSetFreezer.Freeze(file).Set;
            Assert.Equal("prod-updates-20261123", set.Id);
            Assert.Equal([new PatchPackage("acme-mail", "1.1-1"), new PatchPackage("openssl", "3.0.15")], set.Packages);
            Assert.Equal(PatchSeverity.High, set.Severity);
            Assert.Equal("alice", set.Author);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_draft_scanned_on_one_role_is_for_that_role_alone()
    {
        var draft = ScanDraft.Render("prod", ScanDraft.Collect(Estate, false), 2, false, "alice", new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero), "proxy");
        var dir = Directory.CreateTempSubdirectory("stageproof-scan-");
        try
        {
            var file = Path.Combine(dir.FullName, "draft.yaml");
            File.WriteAllText(file, draft);
            Assert.Equal(["proxy"], PatchSetFreezer.Freeze(file).Set.Roles);
            Assert.StartsWith("# Draft written by `stageproof scan prod --role proxy`", draft, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
