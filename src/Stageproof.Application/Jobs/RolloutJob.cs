using System.Globalization;
using Polly;
using Polly.Retry;
using Quartz;
using Stageproof.Application.Identity;
using Stageproof.Application.Lifecycle;
using Stageproof.Core;
using Stageproof.Core.Jobs;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Hosts.Rollouts;

namespace Stageproof.Application.Jobs;

/// <summary>
/// One rollout, run on whichever worker fired its job. A scheduled rollout starts; any other unfinished one is resumed
/// from where its hosts are — after a dead worker too (a recovered job), whose lock on the environment is then taken
/// over. Never two at once for one rollout. An environment held by another live rollout is waited for: the job fires
/// again <see cref="JobsConfig.LockRetry"/> later, at most <see cref="JobsConfig.LockAttempts"/> times in all.
/// </summary>
[DisallowConcurrentExecution]
internal sealed class RolloutJob(PromotionWorkflow workflow, IStateStore store, RolloutJobs.RunningHere running, JobsConfig config, TimeProvider time) : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var id = context.MergedJobDataMap.GetString(RolloutJobs.RolloutKey) ?? throw new JobExecutionException("a rollout job without its rollout id");
        Rollout rollout;
        StoredPatchSet stored;
        try
        {
            if (await store.FindRolloutAsync(id, cancellationToken).ConfigureAwait(false) is not { Finished: false } found)
            {
                return;
            }
            rollout = found;
            stored = await store.FindPatchSetAsync(rollout.PatchDigest, cancellationToken).ConfigureAwait(false)
                     ?? throw new JobExecutionException($"rollout {id} names patch set {rollout.PatchDigest[..12]}, which the state does not hold");
        }
        catch (Exception e) when (e is not (JobExecutionException or OperationCanceledException))
        {
            // The state unreachable before the rollout could even be read: the same doubling retries.
            await StoppedByErrorAsync(context, id, e, cancellationToken).ConfigureAwait(false);
            return;
        }
        // The job acts for whoever promoted (or resumed) the rollout; the worker that runs it is named in the audit log.
        var actor = new Principal(rollout.Actor, "job:" + context.Scheduler.SchedulerInstanceId, null);
        running.Add(context.JobDetail.Key);
        try
        {
            _ = rollout.Status == RolloutStatus.Scheduled
                ? await workflow.RunAsync(stored, rollout with { Status = RolloutStatus.Running, UpdatedAt = null, Message = null }, actor, progress: null, cancellationToken).ConfigureAwait(false)
                : await workflow.ResumeAsync(stored, rollout, actor, progress: null, cancellationToken, holderDeclaredDead: context.Recovering).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // This worker is stopping: the rollout stopped where it stood, its state written, and the job already has a
            // new trigger (RolloutJobs.DisposeAsync) that another worker fires once this instance has ended.
        }
        catch (RefusedException e) when (e.Rule == RolloutEngine.LockLostRule)
        {
            // Another process took the lock over while this one was silent, and runs the rollout now.
        }
        catch (RefusedException e) when (e.Rule == RolloutEngine.LockRule)
        {
            await WaitForLockAsync(context, rollout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await StoppedByErrorAsync(context, rollout.Id, e, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            running.Remove(context.JobDetail.Key);
        }
    }

    /// <summary>Another live rollout holds the environment: fire again later, or — the attempts spent — give up, the
    /// rollout saying why (a scheduled one ends aborted with no host touched; one under way stays resumable).</summary>
    private async Task WaitForLockAsync(IJobExecutionContext context, Rollout rollout, CancellationToken ct)
    {
        var holder = await store.FindRolloutLockAsync(rollout.Environment, ct).ConfigureAwait(false);
        var attempt = Attempt(context, RolloutJobs.AttemptKey);
        var errorAttempt = Attempt(context, RolloutJobs.ErrorAttemptKey);
        if (holder?.RolloutId == rollout.Id)
        {
            // This rollout itself is held by a process still beating (a node the cluster declared dead too soon, or one
            // whose lock was taken over): this job stays, looking again while that holder lives, and goes on from where
            // it stopped should it fall silent. No attempt is spent: the wait ends with that holder, not with a count.
            await RolloutJobs.RetryAsync(context.Scheduler, context.JobDetail.Key, time.GetUtcNow() + config.LockRetry, attempt, ct, errorAttempt).ConfigureAwait(false);
            return;
        }
        var held = holder is null ? $"{rollout.Environment} was locked" : RolloutEngine.Held(holder);
        var now = time.GetUtcNow();
        var latest = await store.FindRolloutAsync(rollout.Id, ct).ConfigureAwait(false) ?? rollout;
        if (latest.Finished)
        {
            return;
        }
        if (attempt >= config.LockAttempts)
        {
            var gaveUp = $"gave up waiting for {rollout.Environment}'s lock after {attempt.ToString(CultureInfo.InvariantCulture)} attempt(s): {held}";
            // Audited before the rollout is saved as ended: whoever sees it ended finds why in the log (a test read the
            // log the moment the rollout ended and, once under CI's load, found the event not yet there).
            await AuditTrail.AppendAsync(store, new Principal(rollout.Actor, "job:" + context.Scheduler.SchedulerInstanceId, null),
                "rollout.lock-wait", rollout.Environment, $"{rollout.Id}: {gaveUp}", rollout.PatchDigest, null, ct).ConfigureAwait(false);
            await store.SaveRolloutAsync(latest.Status == RolloutStatus.Scheduled
                ? latest with
                {
                    Status = RolloutStatus.Aborted,
                    Message = gaveUp + "; no host was touched",
                    Hosts = latest.Hosts.Select(h => h with { State = RolloutHostState.Untouched, UpdatedAt = now }).ToList(),
                    Batches = latest.Batches.Select(b => b with { State = BatchState.Skipped }).ToList(),
                    FinishedAt = now,
                    UpdatedAt = now,
                }
                : latest with { Message = gaveUp + "; resume it with 'stageproof rollout resume " + latest.Id + "'", UpdatedAt = now }, ct).ConfigureAwait(false);
            throw new JobExecutionException($"rollout {rollout.Id}: {gaveUp}");
        }
        var at = now + config.LockRetry;
        await store.SaveRolloutAsync(latest with
        {
            Message = $"waiting for {rollout.Environment}'s lock: {held}; attempt {attempt.ToString(CultureInfo.InvariantCulture)} of " +
                      $"{config.LockAttempts.ToString(CultureInfo.InvariantCulture)}, the next at {at:u}",
            UpdatedAt = now,
        }, ct).ConfigureAwait(false);
        await RolloutJobs.RetryAsync(context.Scheduler, context.JobDetail.Key, at, attempt + 1, ct, errorAttempt).ConfigureAwait(false);
    }

    private static int Attempt(IJobExecutionContext context, string key) =>
        context.Trigger.JobDataMap.TryGetValue(key, out var raw) && raw is string text
        && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 1;

    /// <summary>
    /// The rollout stopped on an error that is not a refusal (the state's database refusing connections or restarting, a
    /// transport gone): its hosts' state is as the engine last wrote it, so the job fires again after a doubling wait and
    /// resumes it, at most <see cref="JobsConfig.ErrorAttempts"/> times; then the rollout says so and waits for
    /// <c>rollout resume</c>. A refusal or bad input would only be refused again: it is recorded, not retried. Writing the
    /// retry needs the database that may be what failed, so that write is itself retried for a while (Polly).
    /// </summary>
    private async Task StoppedByErrorAsync(IJobExecutionContext context, string id, Exception error, CancellationToken ct)
    {
        var attempt = Attempt(context, RolloutJobs.ErrorAttemptKey);
        var retriable = error is not (RefusedException or InputException);
        var reason = error is StageproofException ? error.Message : $"{error.GetType().Name}: {error.Message}";
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException),
                MaxRetryAttempts = 6, Delay = TimeSpan.FromSeconds(2), BackoffType = DelayBackoffType.Exponential, UseJitter = true,
            })
            .Build();
        await pipeline.ExecuteAsync(async token =>
        {
            if (await store.FindRolloutAsync(id, token).ConfigureAwait(false) is not { Finished: false } latest)
            {
                return;
            }
            var worker = new Principal(latest.Actor, "job:" + context.Scheduler.SchedulerInstanceId, null);
            var now = time.GetUtcNow();
            if (retriable && attempt < config.ErrorAttempts)
            {
                var at = now + config.ErrorBackoff(attempt + 1);
                var message = $"interrupted by an error: {reason}; trying again at {at:u} (attempt {(attempt + 1).ToString(CultureInfo.InvariantCulture)} " +
                              $"of {config.ErrorAttempts.ToString(CultureInfo.InvariantCulture)})";
                await store.SaveRolloutAsync(latest with { Message = message, UpdatedAt = now }, token).ConfigureAwait(false);
                await AuditTrail.AppendAsync(store, worker, "rollout.error", latest.Environment, $"{latest.Id}: {message}", latest.PatchDigest, null, token).ConfigureAwait(false);
                await RolloutJobs.RetryAsync(context.Scheduler, context.JobDetail.Key, at, Attempt(context, RolloutJobs.AttemptKey), token, attempt + 1).ConfigureAwait(false);
                return;
            }
            var stopped = (retriable ? $"stopped by an error after {attempt.ToString(CultureInfo.InvariantCulture)} attempt(s): " : "stopped: ") + reason +
                          $"; resume it with 'stageproof rollout resume {latest.Id}'";
            await store.SaveRolloutAsync(latest with { Message = stopped, UpdatedAt = now }, token).ConfigureAwait(false);
            await AuditTrail.AppendAsync(store, worker, "rollout.error", latest.Environment, $"{latest.Id}: {stopped}", latest.PatchDigest, null, token).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }
}
