using Stageproof.Application.Notifications;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Stage;
using Stageproof.Core.Webhooks;

namespace Stageproof.Notifications.Tests;

/// <summary>Which events a rollout's saved states and a stage run's verdict become.</summary>
public class LifecycleEventsTests
{
    private sealed class Recorder : IEventPublisher
    {
        public List<WebhookEvent> Events { get; } = [];

        public Task PublishAsync(WebhookEvent e, CancellationToken cancellationToken = default)
        {
            Events.Add(e);
            return Task.CompletedTask;
        }
    }

    private static Rollout Planned() => new()
    {
        Id = "ro-1", Environment = "prod", PatchDigest = new string('d', 64), PatchId = "OPENSSL-7", Actor = "alice",
        Policy = new RolloutPolicy(), CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow,
        Batches =
        [
            new RolloutBatch { Index = 0, Name = "canary", Hosts = ["web-1"] },
            new RolloutBatch { Index = 1, Name = "batch 2", Hosts = ["web-2", "web-3"] },
        ],
        Hosts = [new RolloutHost { Host = "web-1", Batch = 0 }, new RolloutHost { Host = "web-2", Batch = 1 }, new RolloutHost { Host = "web-3", Batch = 1 }],
    };

    private static Rollout With(Rollout r, int batch, BatchState state) =>
        r with { Batches = r.Batches.Select(b => b.Index == batch ? b with { State = state } : b).ToList() };

    [Fact]
    public async Task A_rollout_that_succeeds_is_started_then_each_batch_done_then_finished()
    {
        var recorder = new Recorder();
        var events = new RolloutEvents(recorder, TimeProvider.System);
        var r = Planned();
        foreach (var state in new[]
                 {
                     r, With(r, 0, BatchState.Applying), r = With(r, 0, BatchState.Passed), r = With(r, 1, BatchState.Checking),
                     r = With(r, 1, BatchState.Passed), r with { Status = RolloutStatus.Succeeded }, r with { Status = RolloutStatus.Succeeded, FinishedAt = DateTimeOffset.UtcNow },
                 })
        {
            await events.SavedAsync(state, CancellationToken.None);
        }

        Assert.Equal(["rollout.started", "rollout.batch_done", "rollout.batch_done", "rollout.finished"], recorder.Events.Select(e => e.Type));
        Assert.All(recorder.Events, e => Assert.Equal(("prod", "alice", new string('d', 64)), (e.Environment, e.Actor, e.PatchDigest)));
        Assert.Equal("canary", recorder.Events[1].Data["batch"]);
    }

    [Fact]
    public async Task A_failing_batch_is_reported_failed_and_the_end_rolled_back()
    {
        var recorder = new Recorder();
        var events = new RolloutEvents(recorder, TimeProvider.System);
        var r = Planned();
        await events.SavedAsync(r, CancellationToken.None);
        await events.SavedAsync(r = With(r, 0, BatchState.Failed), CancellationToken.None);
        await events.SavedAsync(r with { Status = RolloutStatus.RolledBack, FinishedAt = DateTimeOffset.UtcNow }, CancellationToken.None);

        Assert.Equal(["rollout.started", "rollout.failed", "rollout.rolled_back"], recorder.Events.Select(e => e.Type));
    }

    [Fact]
    public async Task A_resumed_rollout_is_not_started_again()
    {
        var recorder = new Recorder();
        var events = new RolloutEvents(recorder, TimeProvider.System);
        await events.SavedAsync(With(Planned(), 0, BatchState.Passed), CancellationToken.None);
        Assert.Empty(recorder.Events);
    }

    [Fact]
    public void A_pass_asks_for_the_approvals_of_the_next_stage_that_needs_them_and_a_fail_only_reports_its_verdict()
    {
        var lifecycle = new LifecycleConfig
        {
            Stages = [new LifecycleStage { Environment = "qa" }, new LifecycleStage { Environment = "prod", Approvals = 2 }],
        };
        var result = new StageResult
        {
            Id = "stage-1", PatchDigest = new string('e', 64), PatchId = "OPENSSL-7", PatchTitle = "t", Environment = "qa",
            Actor = "alice", StartedAt = DateTimeOffset.UtcNow, Verdict = StageVerdict.Pass,
        };

        var pass = StageEvents.Of(result, lifecycle, null, DateTimeOffset.UtcNow);
        Assert.Equal(["stage.verdict", "approval.requested"], pass.Select(e => e.Type));
        Assert.Equal(("prod", "2"), (pass[1].Environment, pass[1].Data["approvals_needed"]));

        var fail = StageEvents.Of(result with { Verdict = StageVerdict.Fail, Reasons = [new StageReason("soak", "web-1", "5xx")] }, lifecycle, null, DateTimeOffset.UtcNow);
        var verdict = Assert.Single(fail);
        Assert.Equal("fail", verdict.Data["verdict"]);
        Assert.Contains("FAIL", verdict.Summary, StringComparison.Ordinal);
    }
}
