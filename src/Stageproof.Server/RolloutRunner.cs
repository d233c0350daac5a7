using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Stageproof.Application.Identity;
using Stageproof.Application.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;

namespace Stageproof.Server;

/// <summary>
/// Runs the rollouts promoted or resumed through the server in the background: the request returns at once, and the
/// console and API follow the rollout from the state, which the engine writes before every step. When the server
/// stops, running rollouts are cancelled where they stand and stay resumable (<c>stageproof rollout resume ID</c>),
/// exactly as after a killed CLI; <see cref="StopAsync"/> does the same to one rollout, for an abort.
/// </summary>
internal sealed class RolloutRunner(PromotionWorkflow workflow, IStateStore store, IHostApplicationLifetime lifetime, ILogger<RolloutRunner> logger)
{
    /// <summary>One rollout running here: its task, and what stops it (the server stopping, or an abort).</summary>
    private sealed record Run(Task Task, CancellationTokenSource Stop);

    private readonly ConcurrentDictionary<string, Run> _running = new(StringComparer.Ordinal);

    /// <summary>Whether this server runs <paramref name="id"/> now.</summary>
    public bool IsRunning(string id) => _running.ContainsKey(id);

    /// <summary>Starts the rollout and returns once the engine has stored it (so its address answers), or it ended.</summary>
    public async Task StartAsync(StoredPatchSet stored, Rollout plan, Principal actor, CancellationToken ct)
    {
        var run = Launch(plan.Id, stop => workflow.RunAsync(stored, plan, actor, progress: null, stop))
                  ?? throw new InvalidOperationException($"rollout {plan.Id} is already running here");
        for (var wait = 0; wait < 200 && !run.IsCompleted && await store.FindRolloutAsync(plan.Id, ct).ConfigureAwait(false) is null; wait++)
        {
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Continues an interrupted rollout (or rolls back an aborted one) in the background; false when this server
    /// already runs it.</summary>
    public bool Resume(StoredPatchSet stored, Rollout rollout, Principal actor) =>
        Launch(rollout.Id, stop => workflow.ResumeAsync(stored, rollout, actor, progress: null, stop)) is not null;

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
