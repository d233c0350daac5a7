using Stageproof.Core.Drift;

namespace Stageproof.Core.Tests.Drift;

public class IgnoreRulesTests
{
    [Theory]
    [InlineData("linux-image-*", "linux-image-6.1.0-26-amd64", true)]
    [InlineData("linux-image-*", "linux-headers-6.1", false)]
    [InlineData("/etc/*.conf", "/etc/a.conf", true)]
    [InlineData("/etc/*.conf", "/etc/acme/a.conf", false)]
    [InlineData("/etc/**.conf", "/etc/acme/a.conf", true)]
    [InlineData("/etc/host?ame", "/etc/hostname", true)]
    [InlineData("lib[cm]6", "libc6", true)]
    [InlineData("lib[!cm]6", "libc6", false)]
    [InlineData("lib[!cm]6", "libx6", true)]
    [InlineData("a.b", "axb", false)]
    [InlineData("a[b", "a[b", true)]
    [InlineData("*/8080", "tcp/8080", true)]
    public void Globs_match_whole_keys(string pattern, string key, bool expected) =>
        Assert.Equal(expected, Glob.IsMatch(pattern, key));

    [Fact]
    public void Rules_apply_to_their_family()
    {
        var rules = IgnoreRules.Parse(["package:linux-image-*", "file:/etc/hostname", "port:tcp/22"]);

        Assert.True(rules.IsIgnored(DriftFamily.Package, "linux-image-amd64"));
        Assert.False(rules.IsIgnored(DriftFamily.File, "linux-image-amd64"));
        Assert.True(rules.IsIgnored(DriftFamily.File, "/etc/hostname"));
        Assert.True(rules.IsIgnored(DriftFamily.Port, "tcp/22"));
        Assert.False(rules.IsIgnored(DriftFamily.Port, "tcp/2222"));
    }

    [Fact]
    public void Every_malformed_rule_is_reported_at_once()
    {
        var ex = Assert.Throws<InputException>(() => IgnoreRules.Parse(["package:ok-*", "nonsense", "pkg:foo", "file:"]));

        Assert.Contains("drift.ignore[1] 'nonsense'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unknown category 'pkg'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("drift.ignore[3] 'file:'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ok-*", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Upgrade_rules_are_accepted()
    {
        var rules = IgnoreRules.Parse(["upgrade:*"]);

        Assert.False(rules.IsIgnored(DriftFamily.Package, "anything"));
    }
}
