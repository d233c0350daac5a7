using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Retention;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Stage;

namespace Stageproof.Core.Tests.Retention;

public sealed class RetentionPlannerTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Old = Now.AddDays(-90);

    private static ClosureDeb Deb(string name, string version, char hash) => new(name, version, "amd64", new string(hash, 64), 1000);

    private static PackageClosure Closure(ClosureDeb deb, ClosureDeb? previous = null) =>
        PackageClosure.Create("staging/staging-app-1", Old, [deb], previous is null ? [] : [previous]);

    private static RollbackPoint Point(string id, RollbackPointStatus status) => new()
    {
        Id = id, Environment = "prod", PatchDigest = "d", PatchId = "P", CreatedAt = Old, Status = status,
    };

    private static PatchRun Run(string id, string point, PackageClosure closure) => new()
    {
        Id = id, Kind = RunKind.Apply, PatchDigest = "d", PatchId = "P", Environment = "prod", Actor = "bob", StartedAt = Old,
        RollbackPoint = point, Closure = closure,
    };

    private static StoredArtifact Artifact(ClosureDeb deb, DateTimeOffset at) => new(deb.Sha256, deb.Size, at);

    [Fact]
    public void With_keep_days_zero_only_what_an_active_point_or_a_running_promotion_needs_stays()
    {
        var inUse = Deb("acme-mail", "1.1-1", 'a');
        var replaced = Deb("acme-mail", "1.0-1", 'b');
        var forgotten = Deb("acme-mail", "0.9-1", 'c');
        var promoting = Deb("libacme", "2.0-1", 'd');
        var stage = new StageResult
        {
            Id = "stage-1", PatchDigest = "d2", PatchId = "Q", PatchTitle = "q", Environment = "staging", Actor = "alice", StartedAt = Old,
            Verdict = StageVerdict.Pass, Closure = Closure(promoting),
        };
        var plan = RetentionPlanner.Plan(new RetentionInput
        {
            Now = Now,
            Keep = TimeSpan.Zero,
            Points = [Point("rp-active", RollbackPointStatus.Active), Point("rp-done", RollbackPointStatus.RolledBack)],
            Runs = [Run("apply-1", "rp-active", Closure(inUse, replaced)), Run("apply-0", "rp-done", Closure(forgotten))],
            Stages = [stage],
            Rollouts = [new Rollout
            {
                Id = "ro-1", Environment = "prod", PatchDigest = "d2", PatchId = "Q", Actor = "bob", CreatedAt = Old, Evidence = ["stage-1"],
                Policy = new RolloutPolicy(), Batches = [], Hosts = [],
            }],
            Artifacts = [Artifact(inUse, Old), Artifact(replaced, Old), Artifact(forgotten, Old), Artifact(promoting, Old)],
            Dumps = [new StoredDump("rp-active", "/s/rollback/rp-active", 10, Old), new StoredDump("rp-done", "/s/rollback/rp-done", 10, Old)],
        });

        Assert.Equal([forgotten.Sha256, "rp-done"], plan.Remove.Select(r => r.Id));
        Assert.Contains(plan.Keep, k => k.Id == inUse.Sha256 && k.Why.Contains("active rollback point rp-active", StringComparison.Ordinal));
        Assert.Contains(plan.Keep, k => k.Id == replaced.Sha256 && k.Why.Contains("acme-mail=1.0-1", StringComparison.Ordinal));
        Assert.Contains(plan.Keep, k => k.Id == promoting.Sha256 && k.Why.Contains("promotion ro-1 is running", StringComparison.Ordinal));
        Assert.Contains(plan.Keep, k => k.Kind == "dump" && k.Id == "rp-active");
    }

    [Fact]
    public void Anything_written_or_proven_within_the_kept_days_stays()
    {
        var recent = Deb("acme-mail", "1.2-1", 'e');
        var loose = Deb("acme-mail", "1.3-1", 'f');
        var stale = Deb("acme-mail", "0.1-1", '0');
        var stage = new StageResult
        {
            Id = "stage-2", PatchDigest = "d3", PatchId = "R", PatchTitle = "r", Environment = "staging", Actor = "alice", StartedAt = Now.AddDays(-3),
            Verdict = StageVerdict.Fail, Closure = Closure(recent),
        };
        var plan = RetentionPlanner.Plan(new RetentionInput
        {
            Now = Now,
            Keep = TimeSpan.FromDays(7),
            Stages = [stage],
            Artifacts = [Artifact(recent, Old), Artifact(loose, Now.AddDays(-1)), Artifact(stale, Old)],
            Dumps = [new StoredDump("rp-orphan", "/s/rollback/rp-orphan", 10, Old)],
        });
        Assert.Equal([stale.Sha256, "rp-orphan"], plan.Remove.Select(r => r.Id));
        Assert.Equal("no rollback point has this id", plan.Remove[1].Why);
        Assert.Contains(plan.Keep, k => k.Id == recent.Sha256 && k.Why.Contains("stage stage-2 within 7 day(s)", StringComparison.Ordinal));
        Assert.Contains(plan.Keep, k => k.Id == loose.Sha256 && k.Why == "written within 7 day(s)");
    }
}
