using Stageproof.Core.Configuration;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;
using Stageproof.Core.Stage;
using Stageproof.Core.Tests.Drift;

namespace Stageproof.Core.Tests.Stage;

/// <summary>What a stage's drift step makes of a package update that rewrote a tracked defaults file.</summary>
public class ChangeClassifierTests
{
    private const string Defaults = "/usr/share/acme-mail/defaults.conf";
    private const string Shipped = "# Minutes a login session token stays valid.\nsession.lifetime = 60\nlog.level = info\n";

    private static readonly PatchSet Set = new()
    {
        Id = "P-1", Title = "t", Reason = "r", Severity = PatchSeverity.High, Author = "alice",
        Packages = [new PatchPackage("acme-mail", "1.1-1")],
    };

    private static IReadOnlyList<ChangeItem> Classify(string after)
    {
        var before = Samples.Host("app-1").WithFile(Samples.File(Defaults, Shipped), Defaults);
        var now = before.WithFile(Samples.File(Defaults, after), Defaults);
        return ChangeClassifier.Classify("app-1", before, now, Set, null, new DriftRules(), new StagePolicy());
    }

    [Fact]
    public void Reworded_comments_and_reordered_keys_are_cosmetic_shown_and_passing()
    {
        var change = Assert.Single(Classify("log.level = info\n\n# How long a session lasts, in minutes.\nsession.lifetime = 60\n"));

        Assert.True(change.Cosmetic);
        Assert.False(change.Unexpected);
        Assert.Equal(StepStatus.Passed, change.Status);
        Assert.Equal("config-cosmetic", change.Category);
        Assert.Equal("cosmetic: only comments, whitespace, blank lines or order changed (read as ini (its name))", change.Why);
        Assert.NotNull(change.Diff);
    }

    [Fact]
    public void A_changed_default_among_cosmetic_edits_fails_naming_only_that_key()
    {
        var change = Assert.Single(Classify("log.level = info\n# shorter sessions\nsession.lifetime = 5\n"));

        Assert.True(change.Unexpected);
        Assert.Equal(StepStatus.Failed, change.Status);
        Assert.Equal("tracked config changed, not declared by the set: session.lifetime: 60 → 5", change.Why);
    }

    [Theory]
    [InlineData("0644", "0666", "0644 → 0666: group-writable, world-writable")]
    [InlineData("0664", "0666", "0664 → 0666: world-writable")]
    [InlineData("0640", "0660", "0640 → 0660: group-writable")]
    [InlineData("0755", "4755", "0755 → 4755: setuid")]
    [InlineData("0755", "2775", "0755 → 2775: group-writable, setgid")]
    public void A_tracked_file_made_writable_by_others_or_setuid_fails_naming_what_it_gained(string before, string after, string widened)
    {
        var host = Samples.Host("app-1").WithFile(Samples.File(Defaults, Shipped, mode: before), Defaults);
        var change = Assert.Single(ChangeClassifier.Classify("app-1", host, host.WithFile(Samples.File(Defaults, Shipped, mode: after), Defaults),
            Set, null, new DriftRules(), new StagePolicy()));

        Assert.Equal(("config-meta", StepStatus.Failed), (change.Category, change.Status));
        Assert.Equal($"permissions widened without the set declaring it: {widened}", change.Why);
    }

    [Fact]
    public void A_mode_that_narrows_or_an_owner_that_changes_only_warns()
    {
        var host = Samples.Host("app-1").WithFile(Samples.File(Defaults, Shipped, mode: "0644"), Defaults);
        var narrowed = Assert.Single(ChangeClassifier.Classify("app-1", host, host.WithFile(Samples.File(Defaults, Shipped, mode: "0600"), Defaults),
            Set, null, new DriftRules(), new StagePolicy()));
        var owner = Assert.Single(ChangeClassifier.Classify("app-1", host, host.WithFile(Samples.File(Defaults, Shipped, group: "acme", mode: "0644"), Defaults),
            Set, null, new DriftRules(), new StagePolicy()));

        Assert.Equal(StepStatus.Warned, narrowed.Status);
        Assert.Equal(StepStatus.Warned, owner.Status);
    }

    [Fact]
    public void A_new_listening_port_fails_and_one_that_closed_only_warns()
    {
        var host = Samples.Host("app-1");
        var opened = host with { Ports = [.. host.Ports, new ListeningPort("tcp", "0.0.0.0", 4444)] };

        var added = Assert.Single(ChangeClassifier.Classify("app-1", host, opened, Set, null, new DriftRules(), new StagePolicy()));
        Assert.Equal(("port", "tcp/4444", StepStatus.Failed), (added.Category, added.Key, added.Status));
        Assert.Equal("a new listening port the set does not declare (listening on 0.0.0.0)", added.Why);

        var closed = Assert.Single(ChangeClassifier.Classify("app-1", opened, host, Set, null, new DriftRules(), new StagePolicy()));
        Assert.Equal(StepStatus.Warned, closed.Status);
    }

    [Fact]
    public void A_key_the_set_declares_is_expected_and_one_beside_it_is_not()
    {
        var set = Set with { Files = [new PatchFile { Path = Defaults, Set = new Dictionary<string, string> { ["log.level"] = "debug" } }] };
        var before = Samples.Host("app-1").WithFile(Samples.File(Defaults, Shipped), Defaults);
        ChangeItem Judge(string after) => Assert.Single(ChangeClassifier.Classify("app-1", before, before.WithFile(Samples.File(Defaults, after), Defaults),
            set, null, new DriftRules(), new StagePolicy()));

        Assert.True(Judge("log.level = debug\nsession.lifetime = 60\n").Expected);
        var stray = Judge("log.level = debug\nsession.lifetime = 60\nindexer.interval = 1\n");
        Assert.True(stray.Unexpected);
        Assert.Equal("changed beyond the keys the set declares: indexer.interval: unset → 1", stray.Why);
    }
}
