using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Stageproof.Application.Identity;
using Stageproof.Application.Jobs;
using Stageproof.Application.Lifecycle;
using Stageproof.Core.Audit;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;

namespace Stageproof.Server;

/// <summary>
/// Runs the rollouts promoted or resumed through the server in the background: the request returns at once, and the
/// console and API follow the rollout from the state, which the engine writes before every step. When the server
/// stops, running rollouts are cancelled where they stand and stay resumable (<c>stageproof rollout resume ID</c>),
/// exactly as after a killed CLI; <see cref="StopAsync"/> does the same to one rollout, for an abort.
/// With <c>jobs:</c> configured (<see cref="Jobs"/>), nothing runs here: each rollout becomes a durable job that a worker
/// of the cluster runs, and survives this server.
/// </summary>
internal sealed class RolloutRunner(PromotionWorkflow workflow, IStateStore store, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<RolloutRunner> logger)
{
    /// <summary>One rollout running here: its task, and what stops it (the server stopping, or an abort).</summary>
    private sealed record Run(Task Task, CancellationTokenSource Stop);

    private readonly ConcurrentDictionary<string, Run> _running = new(StringComparer.Ordinal);

    /// <summary>The durable job queue rollouts go to (<c>jobs:</c>); null: they run in this process.</summary>
    public RolloutJobs? Jobs { get; set; }

    /// <summary>Whether this server runs <paramref name="id"/> now.</summary>
    public bool IsRunning(string id) => _running.ContainsKey(id);

    /// <summary>Starts the rollout and returns it once the engine has stored it (so its address answers), or it ended;
    /// with jobs, stores it as scheduled for now and enqueues its job.</summary>
    public async Task<Rollout> StartAsync(StoredPatchSet stored, Rollout plan, Principal actor, CancellationToken ct)
    {
        if (Jobs is not null)
        {
            return await ScheduleAsync(plan with { Status = RolloutStatus.Scheduled, ScheduledFor = time.GetUtcNow() }, ct).ConfigureAwait(false);
        }
        var run = Launch(plan.Id, stop => workflow.RunAsync(stored, plan, actor, progress: null, stop))
                  ?? throw new InvalidOperationException($"rollout {plan.Id} is already running here");
        for (var wait = 0; wait < 200 && !run.IsCompleted && await store.FindRolloutAsync(plan.Id, ct).ConfigureAwait(false) is null; wait++)
        {
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
        return await store.FindRolloutAsync(plan.Id, ct).ConfigureAwait(false) ?? plan;
    }

    /// <summary>Stores a <see cref="RolloutStatus.Scheduled"/> rollout and enqueues its job for
    /// <see cref="Rollout.ScheduledFor"/>; only with jobs.</summary>
    public async Task<Rollout> ScheduleAsync(Rollout scheduled, CancellationToken ct)
    {
        var jobs = Jobs ?? throw new InvalidOperationException("scheduling a rollout needs jobs: in stageproof.yaml");
        await store.SaveRolloutAsync(scheduled, ct).ConfigureAwait(false);
        await jobs.EnqueueAsync(scheduled.Id, scheduled.ScheduledFor, ct).ConfigureAwait(false);
        return scheduled;
    }

    /// <summary>Continues an interrupted rollout (or rolls back an aborted one) in the background, or with jobs enqueues it
    /// for a worker (audited as <c>rollout.resume.queued</c> by <paramref name="actor"/>); false when this server already runs it.</summary>
    public async Task<bool> ResumeAsync(StoredPatchSet stored, Rollout rollout, Principal actor, CancellationToken ct)
    {
        if (Jobs is { } jobs)
        {
            await store.AppendAsync(new AuditEvent
            {
                Actor = actor.Name, Action = "rollout.resume.queued", Target = rollout.Environment, Outcome = $"{rollout.Id}: queued for a worker",
                PayloadDigest = rollout.PatchDigest,
            }, ct).ConfigureAwait(false);
            await jobs.EnqueueAsync(rollout.Id, null, ct).ConfigureAwait(false);
            return true;
        }
        return Launch(rollout.Id, stop => workflow.ResumeAsync(stored, rollout, actor, progress: null, stop)) is not null;
    }

    /// <summary>Cancels a scheduled rollout before any worker started it: its job removed, the rollout ended
    /// <see cref="RolloutStatus.Aborted"/> with no host touched. False when a worker took it first (it then sees the abort
    /// before its first batch and ends aborted itself).</summary>
    public async Task<bool> CancelScheduledAsync(Rollout rollout, CancellationToken ct)
    {
        if (Jobs is not { } jobs || rollout.Status != RolloutStatus.Scheduled)
        {
            return false;
        }
        await jobs.CancelAsync(rollout.Id, ct).ConfigureAwait(false);
        // Read again after the job is gone: a worker that fired it just before has already marked it running.
        if (await store.FindRolloutAsync(rollout.Id, ct).ConfigureAwait(false) is not { Status: RolloutStatus.Scheduled } still)
        {
            return false;
        }
        var now = time.GetUtcNow();
        await store.SaveRolloutAsync(still with
        {
            Status = RolloutStatus.Aborted,
            Message = $"cancelled by {still.AbortRequestedBy ?? "an abort"} before it started: no host was touched",
            Hosts = still.Hosts.Select(h => h with { State = RolloutHostState.Untouched, UpdatedAt = now }).ToList(),
            Batches = still.Batches.Select(b => b with { State = BatchState.Skipped }).ToList(),
            FinishedAt = now,
            UpdatedAt = now,
        }, ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Stops <paramref name="id"/> where it stands, as a stopping server does (its current step cancelled, its state
    /// written, its environment's lock released), and waits for that at most <paramref name="limit"/>. False when this
    /// server does not run it.
    /// </summary>
    public async Task<bool> StopAsync(string id, TimeSpan limit)
    {
        if (!_running.TryGetValue(id, out var run))
        {
            return false;
        }
        try
        {
            await run.Stop.CancelAsync().ConfigureAwait(false);
            await run.Task.WaitAsync(limit).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // It ended on its own between the lookup and the cancel.
        }
        catch (TimeoutException)
        {
            // Still unwinding: the abort written to the state stops it before its next batch all the same.
            logger.LogWarning("rollout {Id} did not stop within {Limit}", id, limit);
        }
        return true;
    }

    /// <summary>Waits (bounded) for the rollouts running now: called when the server stops, after they were cancelled.</summary>
    public Task WaitAsync(TimeSpan limit) => Task.WhenAll(_running.Values.Select(r => r.Task)).WaitAsync(limit);

    /// <summary>Runs <paramref name="work"/> for rollout <paramref name="id"/> in the background; null when one already runs.</summary>
    private Task? Launch(string id, Func<CancellationToken, Task<Rollout>> work)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
        // The task waits until it is known to be the only one for this rollout, so two requests never run it twice.
        var started = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Run? run = null;
        var task = Task.Run(async () =>
        {
            if (!await started.Task.ConfigureAwait(false))
            {
                stop.Dispose();
                return;
            }
            try
            {
                var done = await work(stop.Token).ConfigureAwait(false);
                logger.LogInformation("rollout {Id} of {Set} to {Environment}: {Status}", done.Id, done.PatchId, done.Environment, done.Status);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                if (lifetime.ApplicationStopping.IsCancellationRequested)
                {
                    logger.LogWarning("rollout {Id} stopped with the server; resume it with 'stageproof rollout resume {Id}'", id, id);
                }
            }
            catch (Exception e)
            {
                // The engine recorded what it could; the rollout's own record says where it stands.
                logger.LogError(e, "rollout {Id} failed outside its steps", id);
            }
            finally
            {
                _running.TryRemove(KeyValuePair.Create(id, run!));
                stop.Dispose();
            }
        }, CancellationToken.None);
        run = new Run(task, stop);
        var added = _running.TryAdd(id, run);
        started.SetResult(added);
        return added ? task : null;
    }
}
