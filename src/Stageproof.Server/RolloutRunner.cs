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
/// Runs the rollouts promoted through the server in the background: the request that promotes returns at once, and the
/// console and API follow the rollout from the state, which the engine writes before every step. When the server
/// stops, running rollouts are cancelled where they stand and stay resumable (<c>stageproof rollout resume ID</c>),
/// exactly as after a killed CLI.
/// </summary>
internal sealed class RolloutRunner(PromotionWorkflow workflow, IStateStore store, IHostApplicationLifetime lifetime, ILogger<RolloutRunner> logger)
{
    private readonly ConcurrentDictionary<string, Task> _running = new(StringComparer.Ordinal);

    /// <summary>Starts the rollout and returns once the engine has stored it (so its address answers), or it ended.</summary>
    public async Task StartAsync(StoredPatchSet stored, Rollout plan, Principal actor, CancellationToken ct)
    {
        var run = Task.Run(async () =>
        {
            try
            {
                var done = await workflow.RunAsync(stored, plan, actor, progress: null, lifetime.ApplicationStopping).ConfigureAwait(false);
                logger.LogInformation("rollout {Id} of {Set} to {Environment}: {Status}", done.Id, done.PatchId, done.Environment, done.Status);
            }
            catch (OperationCanceledException)
            {
                logger.LogWarning("rollout {Id} stopped with the server; resume it with 'stageproof rollout resume {Id}'", plan.Id, plan.Id);
            }
            catch (Exception e)
            {
                // The engine recorded what it could; the rollout's own record says where it stands.
                logger.LogError(e, "rollout {Id} failed outside its steps", plan.Id);
            }
            finally
            {
                _running.TryRemove(plan.Id, out _);
            }
        }, CancellationToken.None);
        _running[plan.Id] = run;
        for (var wait = 0; wait < 200 && !run.IsCompleted && await store.FindRolloutAsync(plan.Id, ct).ConfigureAwait(false) is null; wait++)
        {
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Waits (bounded) for the rollouts running now: called when the server stops, after they were cancelled.</summary>
    public Task WaitAsync(TimeSpan limit) => Task.WhenAll(_running.Values).WaitAsync(limit);
}
