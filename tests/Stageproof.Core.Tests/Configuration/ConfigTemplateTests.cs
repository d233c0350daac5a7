using Stageproof.Core.Configuration;

namespace Stageproof.Core.Tests.Configuration;

public sealed class ConfigTemplateTests : IDisposable
{
    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void The_example_configuration_loads_without_problems()
    {
        var config = _temp.Load(ConfigTemplate.Example);

        Assert.Equal(["prod-app-1", "prod-app-2", "prod-db-1"], config.Environment("prod").Hosts);
        Assert.Equal("prod", config.Environment("staging").MirrorOf);
        Assert.Equal(["prod-app-1", "prod-app-2"], config.Groups["prod-app"]);
        Assert.Equal(Path.Combine(_temp.Directory, "keys", "lab_ed25519"), config.Host("prod-app-1").Identity);
        Assert.Equal("sudo", config.Host("prod-db-1").Become);
        Assert.Contains("mail-suite", config.Checks.Keys);
        Assert.Equal(0.98, config.Drift.MinFidelity);
        Assert.Equal(TimeSpan.FromMinutes(2), config.Ssh.CommandTimeout);
        Assert.Equal(["staging", "prod"], config.Lifecycle.Stages.Select(s => s.Environment));
        var prod = config.Lifecycle.StageOf("prod")!;
        Assert.Equal(1, prod.Approvals);
        Assert.Equal(TimeSpan.FromDays(7), prod.MaxEvidenceAge);
        Assert.Equal(TimeSpan.FromHours(4), prod.Window!.Duration);
        Assert.Equal(["health", "service"], prod.Rollout.Checks);
        Assert.Equal(TimeSpan.FromHours(24), config.Lifecycle.Emergency.MaxCloneAge);
    }

    [Fact]
    public void The_example_lists_exactly_the_default_secret_keys()
    {
        var config = _temp.Load(ConfigTemplate.Example);

        Assert.Equal(new DriftRules().SecretKeys, config.Drift.SecretKeys);
    }

    [Fact]
    public void The_example_explains_every_key_it_uses_with_a_comment()
    {
        var lines = ConfigTemplate.Example.Split('\n');
        Assert.True(lines.Count(l => l.Contains('#', StringComparison.Ordinal)) > 30);
        Assert.DoesNotContain(lines, l => l.Contains('\t', StringComparison.Ordinal));
    }
}
