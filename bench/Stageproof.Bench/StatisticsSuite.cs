using Stageproof.Core.Checks;
using Stageproof.Testing;

namespace Stageproof.Bench;

/// <summary>
/// What comparing one load check's runs costs the stage: the p95-ratio bootstrap (2,000 resamples, the default) by
/// counting draws (<see cref="LoadStatistics.BootstrapP95Ratio"/>), beside its peer, the same draws sorted
/// (<see cref="SortingBootstrap"/>, the definition it replaced), and the whole comparison (<see cref="LoadStatistics.Compare"/>).
/// </summary>
public sealed class StatisticsSuite : IBenchmarkSuite
{
    private const int Samples = 1000;
    private const int Resamples = 2000;

    public string Name => "statistics";
    public string Description => $"the p95-ratio bootstrap of two {Samples:N0}-sample load runs ({Resamples:N0} resamples), counting vs sorting";

    public IEnumerable<string> Describe()
    {
        yield return $"Workload: two runs of {Samples:N0} log-normal latencies (median 20 ms and 24 ms, spread 0.4; seeds 1 and 2),";
        yield return $"{Resamples:N0} resamples, 95% confidence, seed 17 (a stage's mail-load runs hold 600-1,300 samples, login-load 960).";
        yield return "Peer: the same resamples drawn in the same order, each sorted (SortingBootstrap, the implementation before).";
    }

    public IEnumerable<Measurement> Run(BenchOptions options)
    {
        var baseline = Latencies(1, 20);
        var after = Latencies(2, 24);
        var counted = LoadStatistics.BootstrapP95Ratio(baseline, after, Resamples, 0.95, 17);
        if (counted != SortingBootstrap.P95Ratio(baseline, after, Resamples, 0.95, 17))
        {
            throw new InvalidOperationException("the two bootstraps disagree: nothing to compare");
        }
        yield return Measurement.Of("LoadStatistics.BootstrapP95Ratio", options,
            () => LoadStatistics.BootstrapP95Ratio(baseline, after, Resamples, 0.95, 17), "counts draws per value");
        yield return Measurement.Of("peer: SortingBootstrap.P95Ratio", options,
            () => SortingBootstrap.P95Ratio(baseline, after, Resamples, 0.95, 17), "sorts every resample");
        var runs = (Run(baseline), Run(after));
        yield return Measurement.Of("LoadStatistics.Compare", options,
            () => LoadStatistics.Compare(runs.Item1, runs.Item2, new LoadThresholds()), "bootstrap + Mann-Whitney + summaries");
    }

    private static double[] Latencies(int seed, double median)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, Samples)
            .Select(_ => median * Math.Exp(0.4 * Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()))).ToArray();
    }

    private static LoadRun Run(double[] latencies) => new()
    {
        Samples = latencies.Select((l, i) => new LoadSample(i, l, true, "GET /")).ToList(),
        Elapsed = TimeSpan.FromSeconds(5),
    };
}
