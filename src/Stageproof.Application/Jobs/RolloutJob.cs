using Quartz;
using Stageproof.Application.Identity;
using Stageproof.Application.Lifecycle;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;

namespace Stageproof.Application.Jobs;

/// <summary>
/// One rollout, run on whichever worker fired its job. A scheduled rollout starts; any other unfinished one is resumed
/// from where its hosts are — after a dead worker too (a recovered job), whose lock on the environment is then taken
/// over. Never two at once for one rollout.
/// </summary>
[DisallowConcurrentExecution]
internal sealed class RolloutJob(PromotionWorkflow workflow, IStateStore store, RolloutJobs.RunningHere running) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var id = context.MergedJobDataMap.GetString(RolloutJobs.RolloutKey) ?? throw new JobExecutionException("a rollout job without its rollout id");
        if (await store.FindRolloutAsync(id, cancellationToken).ConfigureAwait(false) is not { Finished: false } rollout)
        {
            return;
        }
        var stored = await store.FindPatchSetAsync(rollout.PatchDigest, cancellationToken).ConfigureAwait(false)
                     ?? throw new JobExecutionException($"rollout {id} names patch set {rollout.PatchDigest[..12]}, which the state does not hold");
        // The job acts for whoever promoted (or resumed) the rollout; the worker that runs it is named in the audit log.
        var actor = new Principal(rollout.Actor, "job:" + context.Scheduler.SchedulerInstanceId, null);
        running.Add(context.JobDetail.Key);
        try
        {
            _ = rollout.Status == RolloutStatus.Scheduled
                ? await workflow.RunAsync(stored, rollout with { Status = RolloutStatus.Running, UpdatedAt = null }, actor, progress: null, cancellationToken).ConfigureAwait(false)
                : await workflow.ResumeAsync(stored, rollout, actor, progress: null, cancellationToken, holderDeclaredDead: context.Recovering).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // This worker is stopping: the rollout stopped where it stood, its state written, and the job already has a
            // new trigger (RolloutJobs.DisposeAsync) that another worker fires once this instance has ended.
        }
        finally
        {
            running.Remove(context.JobDetail.Key);
        }
    }
}
