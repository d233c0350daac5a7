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
                    result.Add(new CheckComparison(a.Name, a.Type, a.Target, comparison.Regressed || (!a.Passed && b.Passed), comparison.Message, comparison));
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
}
