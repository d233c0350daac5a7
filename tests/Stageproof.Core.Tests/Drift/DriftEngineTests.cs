using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Manifests;

namespace Stageproof.Core.Tests.Drift;

public class DriftEngineTests
{
    private static readonly DriftRules NoRules = new() { Ignore = [] };

    private static Manifest ThreeDifferences(Manifest prod) => prod
        .WithPackage("acme-mail", "1.1-1")
        .WithFile(Samples.File("/etc/acme-mail/mail.conf", Samples.MailConf.Replace("workers = 4", "workers = 8", StringComparison.Ordinal)), "/etc/acme-mail/mail.conf")
        .WithService("cron", running: false);

    [Fact]
    public void Identical_manifests_have_no_items_and_fidelity_one()
    {
        var drift = DriftEngine.Compare(Samples.Host("prod-app-1"), Samples.Host("stage-app-1"), NoRules);

        Assert.Empty(drift.Items);
        Assert.Equal(1.0, drift.Fidelity);
        Assert.Equal(4 + 20 + 3 + 4 + 2, drift.Compared);
        Assert.All(drift.Families, f => Assert.Equal(1.0, f.Fidelity));
        Assert.Null(drift.MaxSeverity);
    }

    [Fact]
    public void Empty_manifests_compare_nothing_and_have_fidelity_one()
    {
        var drift = DriftEngine.Compare(new Manifest { Target = "a" }, new Manifest { Target = "b" }, NoRules);

        Assert.Empty(drift.Items);
        Assert.Equal(0, drift.Compared);
        Assert.Equal(1.0, drift.Fidelity);
    }

    [Fact]
    public void One_package_one_config_line_and_one_service_yield_exactly_three_items()
    {
        var prod = Samples.Host("prod-app-1");
        var staging = ThreeDifferences(Samples.Host("stage-app-1", environment: "staging"));

        var drift = DriftEngine.Compare(prod, staging, NoRules);

        Assert.Collection(drift.Items,
            i =>
            {
                Assert.Equal((DriftCategory.PackageVersion, "acme-mail", "1.0-1", "1.1-1", DriftSeverity.Medium), (i.Category, i.Key, i.Left, i.Right, i.Severity));
                Assert.Null(i.MissingOn);
            },
            i =>
            {
                Assert.Equal((DriftCategory.ConfigContent, "/etc/acme-mail/mail.conf", DriftSeverity.High), (i.Category, i.Key, i.Severity));
                Assert.StartsWith("sha256:", i.Left, StringComparison.Ordinal);
                Assert.NotEqual(i.Left, i.Right);
                Assert.NotNull(i.Diff);
            },
            i => Assert.Equal((DriftCategory.ServiceState, "service:cron", "running", "stopped", DriftSeverity.High), (i.Category, i.Key, i.Left, i.Right, i.Severity)));

        // By hand: os 4/4, packages 19/20, files 2/3, services 3/4, ports 2/2 → 30/33.
        Assert.Equal((4, 4), (drift.Figures(DriftFamily.Os).Compared, drift.Figures(DriftFamily.Os).Matching));
        Assert.Equal((20, 19), (drift.Figures(DriftFamily.Package).Compared, drift.Figures(DriftFamily.Package).Matching));
        Assert.Equal((3, 2), (drift.Figures(DriftFamily.File).Compared, drift.Figures(DriftFamily.File).Matching));
        Assert.Equal((4, 3), (drift.Figures(DriftFamily.Service).Compared, drift.Figures(DriftFamily.Service).Matching));
        Assert.Equal((2, 2), (drift.Figures(DriftFamily.Port).Compared, drift.Figures(DriftFamily.Port).Matching));
        Assert.Equal(0.95, drift.Figures(DriftFamily.Package).Fidelity, 10);
        Assert.Equal(2.0 / 3, drift.Figures(DriftFamily.File).Fidelity, 10);
        Assert.Equal(0.75, drift.Figures(DriftFamily.Service).Fidelity, 10);
        Assert.Equal(33, drift.Compared);
        Assert.Equal(30, drift.Matching);
        Assert.Equal(30.0 / 33, drift.Fidelity, 10);
        Assert.True(drift.BelowThreshold(0.98));
        Assert.False(drift.BelowThreshold(0.9));
        Assert.Equal(DriftSeverity.High, drift.MaxSeverity);
        Assert.Equal(
            [new CategoryCount(DriftCategory.PackageVersion, 1), new CategoryCount(DriftCategory.ConfigContent, 1), new CategoryCount(DriftCategory.ServiceState, 1)],
            drift.Categories);
    }

    [Fact]
    public void Config_diff_is_unified_with_headers_hunk_and_changed_line_as_minus_plus()
    {
        var drift = DriftEngine.Compare(Samples.Host("prod-app-1"), ThreeDifferences(Samples.Host("stage-app-1")), NoRules);

        var diff = drift.Items.Single(i => i.Category == DriftCategory.ConfigContent).Diff!;
        var lines = diff.Split('\n');
        Assert.Equal("--- prod-app-1:/etc/acme-mail/mail.conf", lines[0]);
        Assert.Equal("+++ stage-app-1:/etc/acme-mail/mail.conf", lines[1]);
        Assert.StartsWith("@@ -1,", lines[2], StringComparison.Ordinal);
        Assert.Contains("-workers = 4", lines);
        Assert.Contains("+workers = 8", lines);
        // Three lines of context either side of line 3: lines 1–2 before, 4–6 after; line 7 is not shown.
        Assert.Contains(" listen = 0.0.0.0:8080", lines);
        Assert.Contains(" max_message_size = 10M", lines);
        Assert.DoesNotContain(" tls = on", lines);
        Assert.Equal(1, lines.Count(l => l.StartsWith('-') && !l.StartsWith("---", StringComparison.Ordinal)));
        Assert.Equal(1, lines.Count(l => l.StartsWith('+') && !l.StartsWith("+++", StringComparison.Ordinal)));
    }

    [Fact]
    public void Content_unknown_on_one_side_yields_content_item_without_diff()
    {
        var prod = Samples.Host("prod-app-1");
        var big = Samples.File("/etc/ssh/sshd_config", "PermitRootLogin yes\n") with { Content = null };
        var staging = prod.WithFile(big, "/etc/ssh/sshd_config");

        var item = Assert.Single(DriftEngine.Compare(prod, staging, NoRules).Items);

        Assert.Equal(DriftCategory.ConfigContent, item.Category);
        Assert.Null(item.Diff);
    }

    [Fact]
    public void A_file_whose_comments_and_order_differ_but_not_its_values_is_cosmetic_counts_as_matching_and_never_fails()
    {
        var prod = Samples.Host("prod-app-1");
        var reordered = "tls = on\n# storage\nstorage = /var/lib/acme-mail\n\nlisten = 0.0.0.0:8080\nworkers=4\nlog_level = info\nmax_message_size = 10M\ntoken_check = strict\n";
        var staging = prod.WithFile(Samples.File("/etc/acme-mail/mail.conf", reordered), "/etc/acme-mail/mail.conf");

        var drift = DriftEngine.Compare(prod, staging, NoRules);

        var item = Assert.Single(drift.Items);
        Assert.Equal((DriftCategory.ConfigCosmetic, "/etc/acme-mail/mail.conf", DriftSeverity.Info), (item.Category, item.Key, item.Severity));
        Assert.Equal("read as ini (its name)", item.Format);
        Assert.Empty(item.Values!);
        Assert.NotNull(item.Diff);
        Assert.Equal((3, 3), (drift.Figures(DriftFamily.File).Compared, drift.Figures(DriftFamily.File).Matching));
        Assert.Equal(1.0, drift.Fidelity);
        Assert.Null(drift.MaxSeverity); // so fail_on, even "info", is not met
    }

    [Fact]
    public void A_value_change_names_its_key_and_a_file_of_no_known_format_says_it_was_compared_by_bytes()
    {
        var prod = Samples.Host("prod-app-1");
        var staging = prod.WithFile(Samples.File("/etc/acme-mail/mail.conf", Samples.MailConf.Replace("workers = 4", "# tuned\nworkers = 8", StringComparison.Ordinal)), "/etc/acme-mail/mail.conf")
            .WithFile(Samples.File("/etc/motd", "\nAuthorised use only.\n"), "/etc/motd");

        var drift = DriftEngine.Compare(prod, staging, NoRules);

        var conf = drift.Items.Single(i => i.Key == "/etc/acme-mail/mail.conf");
        Assert.Equal(DriftCategory.ConfigContent, conf.Category);
        Assert.Equal("workers: 4 → 8", Assert.Single(conf.Values!).ToString());
        var motd = drift.Items.Single(i => i.Key == "/etc/motd");
        Assert.Equal(DriftCategory.ConfigContent, motd.Category);
        Assert.Null(motd.Values);
        Assert.Equal("compared by bytes: no format is known for it", motd.Format);
    }

    [Fact]
    public void Declared_formats_reach_the_comparison_of_two_environments()
    {
        var prod = Samples.Host("prod-app-1");
        var staging = prod.WithFile(Samples.File("/etc/motd", "# banner\nBANNER='Authorised use only.'\n"), "/etc/motd") with { Target = "stage-app-1" };
        prod = prod.WithFile(Samples.File("/etc/motd", "BANNER=\"Authorised use only.\"\n"), "/etc/motd");
        var rules = NoRules with { Formats = [new Stageproof.Core.ConfigFiles.FormatRule("/etc/motd", Stageproof.Core.ConfigFiles.ConfigFormat.Shell)] };

        var drift = DriftEngine.CompareEnvironments("prod", [prod], "staging", [staging], rules);

        Assert.Equal(DriftCategory.ConfigCosmetic, Assert.Single(Assert.Single(drift.Hosts).Drift.Items).Category);
        Assert.Equal(DriftCategory.ConfigContent, Assert.Single(DriftEngine.CompareEnvironments("prod", [prod], "staging", [staging], NoRules).Hosts).Drift.Items.Single().Category);
    }

    [Fact]
    public void Owner_group_and_mode_are_config_meta()
    {
        var prod = Samples.Host("prod-app-1");
        var staging = prod.WithFile(Samples.File("/etc/motd", "Authorised use only.\n", group: "adm", mode: "0640"), "/etc/motd");

        var item = Assert.Single(DriftEngine.Compare(prod, staging, NoRules).Items);

        Assert.Equal((DriftCategory.ConfigMeta, "/etc/motd", "root:root 0644", "root:adm 0640", DriftSeverity.Medium),
            (item.Category, item.Key, item.Left, item.Right, item.Severity));
    }

    [Fact]
    public void Content_and_meta_differences_on_one_file_count_once()
    {
        var prod = Samples.Host("prod-app-1");
        var staging = prod.WithFile(Samples.File("/etc/motd", "Go away.\n", mode: "0600"), "/etc/motd");

        var drift = DriftEngine.Compare(prod, staging, NoRules);

        Assert.Equal([DriftCategory.ConfigContent, DriftCategory.ConfigMeta], drift.Items.Select(i => i.Category));
        Assert.Equal((3, 2), (drift.Figures(DriftFamily.File).Compared, drift.Figures(DriftFamily.File).Matching));
    }

    [Fact]
    public void Missing_package_file_and_service_say_which_side_lacks_them()
    {
        var prod = Samples.Host("prod-app-1");
        var staging = prod
            .WithPackage("pkg-03", null)
            .WithPackage("debug-tools", "2.0")
            .WithFile(null, "/etc/motd")
            .WithService("unattended-upgrades", null);

        var drift = DriftEngine.Compare(prod, staging, NoRules);

        var byKey = drift.Items.ToDictionary(i => i.Key);
        Assert.Equal(4, drift.Items.Count);
        Assert.Equal((DriftCategory.PackageMissing, DriftSide.Right, "1.3-1", DriftSeverity.High),
            (byKey["pkg-03"].Category, byKey["pkg-03"].MissingOn, byKey["pkg-03"].Left, byKey["pkg-03"].Severity));
        Assert.Equal((DriftCategory.PackageMissing, DriftSide.Left, "2.0"),
            (byKey["debug-tools"].Category, byKey["debug-tools"].MissingOn, byKey["debug-tools"].Right));
        Assert.Equal((DriftCategory.ConfigMissing, DriftSide.Right), (byKey["/etc/motd"].Category, byKey["/etc/motd"].MissingOn));
        Assert.Equal((DriftCategory.ServiceState, DriftSide.Right, "stopped"),
            (byKey["service:unattended-upgrades"].Category, byKey["service:unattended-upgrades"].MissingOn, byKey["service:unattended-upgrades"].Left));
        // The union of keys is compared: 21 packages, one of them only on each side.
        Assert.Equal((21, 19), (drift.Figures(DriftFamily.Package).Compared, drift.Figures(DriftFamily.Package).Matching));
    }

    [Fact]
    public void Ports_compare_by_protocol_and_number_not_address()
    {
        var prod = Samples.Host("prod-app-1");
        var staging = prod with
        {
            Ports =
            [
                new ListeningPort("tcp6", "::", 22),
                new ListeningPort("tcp", "127.0.30.11", 8080),
                new ListeningPort("udp", "0.0.0.0", 5353),
            ],
        };

        var item = Assert.Single(DriftEngine.Compare(prod, staging, NoRules).Items);

        Assert.Equal((DriftCategory.Port, "udp/5353", null, "listening on 0.0.0.0", DriftSeverity.Medium),
            (item.Category, item.Key, item.Left, item.Right, item.Severity));
    }

    [Fact]
    public void Os_fields_are_items_and_kernel_is_low()
    {
        var prod = Samples.Host("prod-app-1");
        var staging = prod with { Os = prod.Os! with { Kernel = "6.1.0-27-amd64", VersionId = "13" } };

        var drift = DriftEngine.Compare(prod, staging, NoRules);

        Assert.Equal([("version", DriftSeverity.High), ("kernel", DriftSeverity.Low)], drift.Items.Select(i => (i.Key, i.Severity)).OrderByDescending(x => x.Severity));
        Assert.All(drift.Items, i => Assert.Equal(DriftCategory.Os, i.Category));
    }

    [Fact]
    public void Pending_upgrades_are_not_drift()
    {
        var prod = Samples.Host("prod-app-1");
        var staging = prod with { PendingUpgrades = [new PendingUpgrade("acme-mail", "1.0-1", "1.1-1", "acme", true)] };

        var drift = DriftEngine.Compare(prod, staging, new DriftRules { Ignore = ["upgrade:*"] });

        Assert.Empty(drift.Items);
        Assert.Equal(1.0, drift.Fidelity);
    }

    [Fact]
    public void Ignore_rules_remove_items_and_they_no_longer_count()
    {
        var prod = Samples.Host("prod-app-1").WithPackage("linux-image-6.1.0-26-amd64", "6.1.99-1");
        var staging = ThreeDifferences(Samples.Host("stage-app-1"))
            .WithPackage("linux-image-6.1.0-27-amd64", "6.1.112-1")
            .WithFile(Samples.File("/etc/motd", "Staging!\n"), "/etc/motd");
        var rules = new DriftRules { Ignore = ["package:linux-image-*", "file:/etc/motd", "service:cron"] };

        var drift = DriftEngine.Compare(prod, staging, rules);

        Assert.Equal([DriftCategory.PackageVersion, DriftCategory.ConfigContent], drift.Items.Select(i => i.Category));
        Assert.Equal(("acme-mail", "/etc/acme-mail/mail.conf"), (drift.Items[0].Key, drift.Items[1].Key));
        Assert.Equal((20, 19, 2), (drift.Figures(DriftFamily.Package).Compared, drift.Figures(DriftFamily.Package).Matching, drift.Figures(DriftFamily.Package).Ignored));
        Assert.Equal((2, 1, 1), (drift.Figures(DriftFamily.File).Compared, drift.Figures(DriftFamily.File).Matching, drift.Figures(DriftFamily.File).Ignored));
        Assert.Equal((3, 3, 1), (drift.Figures(DriftFamily.Service).Compared, drift.Figures(DriftFamily.Service).Matching, drift.Figures(DriftFamily.Service).Ignored));
        // os 4/4 + packages 19/20 + files 1/2 + services 3/3 + ports 2/2 = 29/31.
        Assert.Equal(29.0 / 31, drift.Fidelity, 10);
    }

    [Fact]
    public void Ignore_rules_apply_within_their_own_family_only()
    {
        var prod = Samples.Host("prod-app-1");
        var staging = prod.WithPackage("cron", "3.0").WithService("cron", false);

        var drift = DriftEngine.Compare(prod, staging, new DriftRules { Ignore = ["service:cron"] });

        var item = Assert.Single(drift.Items);
        Assert.Equal(DriftCategory.PackageMissing, item.Category);
    }

    [Fact]
    public void Manifests_of_different_kinds_are_bad_input()
    {
        var ex = Assert.Throws<InputException>(() => DriftEngine.Compare(Samples.Host("prod-app-1"), Samples.Database("prod"), NoRules));

        Assert.Contains("'prod-app-1'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'prod/mail'", ex.Message, StringComparison.Ordinal);
    }
}
