namespace Stageproof.Core.Checks;

/// <summary>One check's after-change result judged against its baseline result.</summary>
public sealed record CheckComparison(string Name, string Type, string Target, bool Regressed, string Message, LoadComparison? Load = null);

/// <summary>
/// Compares a suite's run after a change with its baseline run, check by check and target by target: load
/// distributions with <see cref="LoadStatistics.Compare"/> (the check's own thresholds), logs error-line rates with
/// the check's <see cref="LogsCheck.MaxAddedErrorRate"/>, and for every other check whether it stopped passing.
/// </summary>
public static class SuiteComparison
{
    public static IReadOnlyList<CheckComparison> Compare(CheckSuite suite, CheckSuiteResult baseline, CheckSuiteResult after)
    {
        ArgumentNullException.ThrowIfNull(suite);
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(after);
        var before = baseline.Results.GroupBy(r => (r.Name, r.Target)).ToDictionary(g => g.Key, g => g.First());
        var result = new List<CheckComparison>();
        foreach (var a in after.Results)
        {
            var check = suite.Find(a.Name);
            if (!before.TryGetValue((a.Name, a.Target), out var b))
            {
                result.Add(new CheckComparison(a.Name, a.Type, a.Target, !a.Passed, a.Passed ? "no baseline result; passes now" : $"no baseline result; now: {a.Message}"));
                continue;
            }
            switch (check)
            {
                case LoadCheck load when a.Load is { } afterRun && b.Load is { } baseRun:
                    var comparison = LoadStatistics.Compare(baseRun, afterRun, load.Compare);
                    // A run mixes requests (login, then the calls): one of them several times slower can hide under the
                    // others' distribution, so each request with enough samples on both sides is compared on its own too.
                    var slower = PerRequest(baseRun, afterRun, load.Compare).Where(r => r.Comparison.Regressed).ToList();
                    var loadRegressed = comparison.Regressed || slower.Count > 0 || (!a.Passed && b.Passed);
                    var loadMessage = slower.Count == 0 ? comparison.Message
                        : string.Join("; ", slower.Select(r => $"{r.Request}: {r.Comparison.Message}")) + $"; whole run: {comparison.Message}";
                    result.Add(new CheckComparison(a.Name, a.Type, a.Target, loadRegressed, loadMessage, comparison));
                    break;
                case LogsCheck logs when a.Measurements.TryGetValue("error_rate", out var afterRate) && b.Measurements.TryGetValue("error_rate", out var baseRate):
                    var (regressed, message) = LoadStatistics.CompareErrorRate(baseRate, afterRate, logs.MaxAddedErrorRate);
                    result.Add(new CheckComparison(a.Name, a.Type, a.Target, regressed || (!a.Passed && b.Passed),
                        a.Passed ? message : $"{message}; {a.Message}"));
                    break;
                default:
                    var stopped = b.Passed && !a.Passed;
                    var still = !b.Passed && !a.Passed;
                    result.Add(new CheckComparison(a.Name, a.Type, a.Target, stopped || still,
                        stopped ? $"passed before the change, fails after: {a.Message}"
                        : still ? $"failed before and after the change: {a.Message}"
                        : a.Passed && !b.Passed ? $"fixed by the change: {a.Message}" : a.Message));
                    break;
            }
        }
        return result;
    }

    /// <summary>Requests with at least <see cref="MinSamplesPerRequest"/> samples before and after, each compared on its own.</summary>
    public static IReadOnlyList<(string Request, LoadComparison Comparison)> PerRequest(LoadRun baseline, LoadRun after, LoadThresholds thresholds)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(after);
        var before = baseline.Samples.GroupBy(s => s.Request, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var groups = after.Samples.GroupBy(s => s.Request, StringComparer.Ordinal).ToList();
        if (groups.Count < 2)
        {
            return [];
        }
        return groups
            .Where(g => g.Count() >= MinSamplesPerRequest && before.TryGetValue(g.Key, out var b) && b.Count >= MinSamplesPerRequest)
            .Select(g => (g.Key, LoadStatistics.Compare(
                baseline with { Samples = before[g.Key] },
                after with { Samples = g.ToList() },
                thresholds)))
            .OrderBy(r => r.Key, StringComparer.Ordinal)
            .ToList();
    }

    public const int MinSamplesPerRequest = 30;
}
