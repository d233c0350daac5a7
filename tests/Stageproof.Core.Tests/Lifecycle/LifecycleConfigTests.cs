using Stageproof.Core.Lifecycle;
using Stageproof.Core.Tests.Configuration;

namespace Stageproof.Core.Tests.Lifecycle;

public sealed class LifecycleConfigTests : IDisposable
{
    private const string Base = """
        hosts:
          qa-1: { transport: local }
          st-1: { transport: local }
          p-1: { transport: local }
        environments:
          qa: { hosts: [qa-1] }
          staging: { hosts: [st-1], checks: suite }
          prod: { hosts: [p-1], checks: suite }
        checks:
          suite:
            - { name: health, type: tcp, port: 80 }
            - { name: service, type: service, service: acme }

        """;

    private const string Full = """
        lifecycle:
          stages:
            - environment: qa
            - environment: staging
              max_evidence_age: 7d
            - environment: prod
              approvals: 1
              roles: [operator, admin]
              window: { cron: "0 2 * * 6", duration: 4h, time_zone: UTC }
              rollout: { canary: 1, batch: 50%, parallel: 4, max_failures: 0, pause: 0s, settle: 5s, checks: [health, service], rollback: all }
          emergency:
            max_clone_age: 24h
            roles: [operator, admin]
        """;

    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void The_full_example_is_read_into_the_records()
    {
        var lifecycle = _temp.Load(Base + Full).Lifecycle;

        Assert.Equal(["qa", "staging", "prod"], lifecycle.Stages.Select(s => s.Environment));
        var qa = lifecycle.Stages[0];
        Assert.Equal(0, qa.Approvals);
        Assert.Equal([Role.Operator, Role.Admin], qa.Roles);
        Assert.Null(qa.MaxEvidenceAge);
        Assert.Null(qa.Window);
        Assert.Equal(new RolloutPolicy(), qa.Rollout);
        Assert.Equal(TimeSpan.FromDays(7), lifecycle.Stages[1].MaxEvidenceAge);

        var prod = lifecycle.Stages[2];
        Assert.Equal(1, prod.Approvals);
        Assert.Equal([Role.Operator, Role.Admin], prod.Roles);
        Assert.Equal(new MaintenanceWindow { Cron = "0 2 * * 6", Duration = TimeSpan.FromHours(4), TimeZone = "UTC" }, prod.Window);
        Assert.Equal(1, prod.Rollout.Canary);
        Assert.Equal(50, prod.Rollout.Batch);
        Assert.True(prod.Rollout.BatchIsPercent);
        Assert.Equal(4, prod.Rollout.Parallel);
        Assert.Null(qa.Rollout.Parallel); // ssh.parallelism
        Assert.Equal(0, prod.Rollout.MaxFailures);
        Assert.Equal(TimeSpan.Zero, prod.Rollout.Pause);
        Assert.Equal(TimeSpan.FromSeconds(5), prod.Rollout.Settle);
        Assert.Equal(["health", "service"], prod.Rollout.Checks);
        Assert.Equal(RollbackScope.All, prod.Rollout.RollbackOnFailure);

        Assert.Equal(TimeSpan.FromHours(24), lifecycle.Emergency.MaxCloneAge);
        Assert.Equal([Role.Operator, Role.Admin], lifecycle.Emergency.Roles);
        Assert.Equal("staging", lifecycle.Previous("prod")!.Environment);
    }

    [Fact]
    public void Without_a_lifecycle_section_none_is_defined()
    {
        Assert.False(_temp.Load(Base).Lifecycle.Defined);
    }

    [Fact]
    public void A_batch_count_a_batch_rollback_and_other_roles_are_read()
    {
        var stage = _temp.Load(Base + """
            lifecycle:
              stages:
                - environment: prod
                  roles: [approver, viewer]
                  rollout: { canary: 0, batch: 2, rollback: batch, pause: 1m }
            """).Lifecycle.Stages.Single();

        Assert.Equal([Role.Approver, Role.Viewer], stage.Roles);
        Assert.Equal(0, stage.Rollout.Canary);
        Assert.Equal(2, stage.Rollout.Batch);
        Assert.False(stage.Rollout.BatchIsPercent);
        Assert.Equal(RollbackScope.Batch, stage.Rollout.RollbackOnFailure);
        Assert.Equal(TimeSpan.FromMinutes(1), stage.Rollout.Pause);
    }

    [Fact]
    public void A_lifecycle_placed_before_the_environments_is_still_checked_against_them()
    {
        var config = _temp.Load(Full + "\n" + Base);

        Assert.Equal(3, config.Lifecycle.Stages.Count);
    }

    [Theory]
    [InlineData("environment: qa", "environment: nowhere", "lifecycle.stages[0].environment", "unknown environment")]
    [InlineData("environment: qa", "environment: prod", "lifecycle.stages[2].environment", "already a stage")]
    [InlineData("max_evidence_age: 7d", "max_evidence_age: 7 days", "lifecycle.stages[1].max_evidence_age", "expected a duration")]
    [InlineData("approvals: 1", "approvals: -1", "lifecycle.stages[2].approvals", "whole number")]
    [InlineData("approvals: 1\n      roles: [operator, admin]", "approvals: 1\n      roles: [operator, boss]", "lifecycle.stages[2].roles[1]", "unknown role")]
    [InlineData("batch: 50%", "batch: 0", "lifecycle.stages[2].rollout.batch", "percentage")]
    [InlineData("batch: 50%", "batch: 150%", "lifecycle.stages[2].rollout.batch", "percentage")]
    [InlineData("batch: 50%", "batch: half", "lifecycle.stages[2].rollout.batch", "percentage")]
    [InlineData("canary: 1", "canary: -1", "lifecycle.stages[2].rollout.canary", "whole number")]
    [InlineData("parallel: 4", "parallel: 0", "lifecycle.stages[2].rollout.parallel", "whole number")]
    [InlineData("parallel: 4", "parallel: 300", "lifecycle.stages[2].rollout.parallel", "whole number")]
    [InlineData("max_failures: 0", "max_failures: -2", "lifecycle.stages[2].rollout.max_failures", "whole number")]
    [InlineData("rollback: all", "rollback: some", "lifecycle.stages[2].rollout.rollback", "not batch or all")]
    [InlineData("checks: [health, service]", "checks: [health, servise]", "lifecycle.stages[2].rollout.checks[1]", "has no check 'servise'")]
    [InlineData("pause: 0s", "pause: -5s", "lifecycle.stages[2].rollout.pause", "expected a duration")]
    [InlineData("cron: \"0 2 * * 6\"", "cron: \"0 25 * * 6\"", "lifecycle.stages[2].window.cron", "0 25 * * 6")]
    [InlineData("cron: \"0 2 * * 6\"", "cron: \"every saturday\"", "lifecycle.stages[2].window.cron", "every saturday")]
    [InlineData("time_zone: UTC", "time_zone: Mars/Olympus", "lifecycle.stages[2].window.time_zone", "unknown time zone")]
    [InlineData("duration: 4h", "duration: 0s", "lifecycle.stages[2].window.duration", "greater than 0")]
    [InlineData("duration: 4h", "duration: 8d", "lifecycle.stages[2].window.duration", "at most 604800")]
    [InlineData("max_clone_age: 24h", "max_clone_age: soon", "lifecycle.emergency.max_clone_age", "expected a duration")]
    [InlineData("max_clone_age: 24h", "max_clone_age: 24h\n    approvals: 2", "lifecycle.emergency.approvals", "unknown key")]
    [InlineData("approvals: 1", "aprovals: 1", "lifecycle.stages[2].aprovals", "did you mean 'approvals'")]
    [InlineData("time_zone: UTC", "time_zone: UTC, tz: UTC", "lifecycle.stages[2].window.tz", "unknown key")]
    [InlineData("lifecycle:\n", "lifecycle:\n  fast_lane: {}\n", "lifecycle.fast_lane", "unknown key")]
    public void A_bad_value_is_reported_with_file_line_and_key(string from, string to, string key, string fragment)
    {
        var index = Full.IndexOf(from, StringComparison.Ordinal);
        Assert.True(index >= 0, $"'{from}' is not in the example");
        var lifecycle = string.Concat(Full.AsSpan(0, index), to, Full.AsSpan(index + from.Length));
        var yaml = Base + lifecycle;
        // The problem's line: the last line holding the replacement's last line (a duplicate is reported at its second use).
        var lastLine = to.TrimEnd('\n').Split('\n')[^1].Trim();
        var line = yaml[..yaml.LastIndexOf(lastLine, StringComparison.Ordinal)].Count(c => c == '\n') + 1;

        var ex = Assert.Throws<InputException>(() => _temp.Load(yaml));

        Assert.Equal(ExitCodes.BadInput, ex.ExitCode);
        var problem = Assert.Single(ex.Problems);
        Assert.Equal(key, problem.Key);
        Assert.Contains(fragment, problem.Message, StringComparison.Ordinal);
        Assert.Contains($"stageproof.yaml:{line}:", ex.Message, StringComparison.Ordinal);
        Assert.Contains(key, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stage_without_an_environment_and_a_window_without_cron_are_reported()
    {
        var problems = _temp.Problems(Base + """
            lifecycle:
              stages:
                - approvals: 1
                - environment: prod
                  window: { duration: 1h }
            """);

        Assert.True(problems.Count == 2, string.Join("\n", problems));
        Assert.Contains(problems, p => p.Key == "lifecycle.stages[0].environment" && p.Line == 15);
        Assert.Contains(problems, p => p.Key == "lifecycle.stages[1].window.cron" && p.Line == 17);
    }
}
