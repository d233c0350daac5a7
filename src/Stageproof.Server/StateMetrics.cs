using Prometheus;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Stage;
using Stageproof.Core.State;

namespace Stageproof.Server;

/// <summary>
/// Prometheus gauges read from the state at scrape time (rollouts by state, stage verdicts, check durations of the latest
/// runs), in the server's own registry beside the HTTP metrics: what is true in the store, not what this process saw.
/// </summary>
internal sealed class StateMetrics
{
    private readonly Gauge _rollouts;
    private readonly Gauge _verdicts;
    private readonly Gauge _stepSeconds;

    public StateMetrics(CollectorRegistry registry, IStateStore store)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        _rollouts = factory.CreateGauge("stageproof_rollouts", "Rollouts in the state, by environment and status", "environment", "status");
        _verdicts = factory.CreateGauge("stageproof_stage_results", "Stage results in the state, by environment and verdict", "environment", "verdict");
        _stepSeconds = factory.CreateGauge("stageproof_stage_step_seconds", "Duration of each step of the latest stage run per environment", "environment", "step");
        registry.AddBeforeCollectCallback(async ct => await RefreshAsync(store, ct).ConfigureAwait(false));
    }

    private async Task RefreshAsync(IStateStore store, CancellationToken ct)
    {
        var rollouts = await store.ListRolloutsAsync(null, ct).ConfigureAwait(false);
        foreach (var status in Enum.GetValues<RolloutStatus>())
        {
            foreach (var environment in rollouts.Select(r => r.Environment).Distinct(StringComparer.Ordinal))
            {
                _rollouts.WithLabels(environment, Lower(status)).Set(rollouts.Count(r => r.Environment == environment && r.Status == status));
            }
        }
        var results = await store.ListStageResultsAsync(null, null, ct).ConfigureAwait(false);
        foreach (var environment in results.Select(r => r.Environment).Distinct(StringComparer.Ordinal))
        {
            foreach (var verdict in Enum.GetValues<StageVerdict>())
            {
                _verdicts.WithLabels(environment, Lower(verdict)).Set(results.Count(r => r.Environment == environment && r.Verdict == verdict));
            }
            // Newest first: the first result of the environment is its latest run.
            foreach (var step in results.First(r => r.Environment == environment).Steps)
            {
                _stepSeconds.WithLabels(environment, step.Name).Set(step.Duration.TotalSeconds);
            }
        }
    }

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();
}
