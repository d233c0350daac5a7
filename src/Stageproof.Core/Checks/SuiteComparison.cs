namespace Stageproof.Core.Checks;

/// <summary>One check's after-change result judged against its baseline result.</summary>
public sealed record CheckComparison(string Name, string Type, string Target, bool Regressed, string Message, LoadComparison? Load = null)
{
    /// <summary>Worse after the change, but not beyond what the latency was judged against (the control or the noise
    /// floor): a warning with its numbers, never a reason.</summary>
    public bool Inconclusive { get; init; }
}

/// <summary>
/// Compares a suite's run after a change with its baseline run, check by check and target by target: load
/// distributions with <see cref="LatencyJudgement.Judge"/> (the check's own thresholds, against the control or above the
/// noise floor when the runs include them), logs error-line rates with
/// the check's <see cref="LogsCheck.MaxAddedErrorRate"/>, and for every other check whether it stopped passing.
/// </summary>
public static class SuiteComparison
{
    /// <param name="baselineRepeat">Load checks run a second time before the change (no control): the noise floor.</param>
    public static IReadOnlyList<CheckComparison> Compare(CheckSuite suite, CheckSuiteResult baseline, CheckSuiteResult after,
        IReadOnlyList<CheckResult>? baselineRepeat = null)
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
                case var _ when ThresholdsOf(check) is { } thresholds && a.Load is { } afterRun && b.Load is { } baseRun:
                    var runs = new LoadRuns(baseRun, afterRun,
                        baselineRepeat?.FirstOrDefault(r => r.Name == a.Name && r.Target == a.Target)?.Load,
                        ControlOf(baseline, a.Name, a.Target), ControlOf(after, a.Name, a.Target));
                    var comparison = LatencyJudgement.Judge(runs, thresholds);
                    // A run mixes requests (login, then the calls): one of them several times slower can hide under the
                    // others' distribution, so each request with enough samples on both sides is compared on its own too.
                    var perRequest = PerRequest(runs, thresholds);
                    var slower = perRequest.Where(r => r.Comparison.Regressed).ToList();
                    var unsure = perRequest.Where(r => r.Comparison.Inconclusive).ToList();
                    // A run that fails its own limits after passing them before is a regression whatever the basis says.
                    var loadRegressed = comparison.Regressed || slower.Count > 0 || (!a.Passed && b.Passed);
                    var loadMessage = slower.Count == 0 ? comparison.Message
                        : string.Join("; ", slower.Select(r => $"{r.Request}: {r.Comparison.Message}")) + $"; whole run: {comparison.Message}";
                    if (!a.Passed && b.Passed)
                    {
                        // Its own limits say why (starved clients, errors over max_error_rate, p95 over max_p95), which the
                        // distribution comparison may not.
                        loadMessage = $"passed before the change, fails after: {a.Message}; {loadMessage}";
                    }
                    result.Add(new CheckComparison(a.Name, a.Type, a.Target, loadRegressed, loadMessage, comparison)
                    {
                        Inconclusive = !loadRegressed && (comparison.Inconclusive || unsure.Count > 0),
                    });
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

    /// <summary>
    /// A load check that regressed on the run after the change is run once more (beside the control when there is one):
    /// it fails the stage only if the second run regresses too. A slowdown the change causes shows on every run; one a
    /// cold start, a busy neighbour or a collector caused in those seconds does not, and is kept as a warning with both
    /// runs' numbers.
    /// </summary>
    /// <param name="first">The comparisons of the run after the change.</param>
    /// <param name="second">The comparisons of the load checks run again (only those that regressed).</param>
    public static IReadOnlyList<CheckComparison> Confirm(IReadOnlyList<CheckComparison> first, IReadOnlyList<CheckComparison> second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        return first.Select(c =>
        {
            var again = c.Regressed && c.Load is not null ? second.FirstOrDefault(s => s.Name == c.Name && s.Target == c.Target) : null;
            return again switch
            {
                null => c,
                { Regressed: true } => c with { Message = $"{c.Message}; a second run confirmed it: {again.Message}" },
                _ => c with
                {
                    Regressed = false,
                    Inconclusive = true,
                    Message = $"regressed on the first run after the change but not on a second, so not a reason: first run: {c.Message}; second run: {again.Message}",
                },
            };
        }).ToList();
    }

    /// <summary>The load checks (HTTP or LDAP) whose comparison regressed: the ones <see cref="Confirm"/> wants run again.</summary>
    public static IReadOnlyList<CheckDefinition> ToConfirm(CheckSuite suite, IReadOnlyList<CheckComparison> comparisons)
    {
        ArgumentNullException.ThrowIfNull(suite);
        ArgumentNullException.ThrowIfNull(comparisons);
        var names = comparisons.Where(c => c.Regressed && c.Load is not null).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        return suite.Checks.Where(c => IsLoad(c) && names.Contains(c.Name)).ToList();
    }

    /// <summary>Whether <paramref name="check"/> measures a load (an HTTP load, or an ldap check's load form): what a
    /// noise floor, a confirming second run and the comparison's latency judgement apply to.</summary>
    public static bool IsLoad(CheckDefinition? check) => ThresholdsOf(check) is not null;

    /// <summary>
    /// The load checks judged inconclusive only because their control sped up while the host held its own baseline
    /// (the whole run or one of its requests): the ones <see cref="Recheck"/> can settle with the host rolled back.
    /// </summary>
    public static IReadOnlyList<LoadCheck> ToRecheck(CheckSuite suite, CheckSuiteResult baseline, CheckSuiteResult after, IReadOnlyList<CheckComparison> comparisons)
    {
        ArgumentNullException.ThrowIfNull(suite);
        ArgumentNullException.ThrowIfNull(comparisons);
        var names = comparisons.Where(c => SpedUpControl(suite, c, baseline, after).Count > 0).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        return suite.Checks.OfType<LoadCheck>().Where(l => names.Contains(l.Name)).ToList();
    }

    /// <summary>
    /// The run after the change with the checks of <paramref name="again"/> (and their control runs) in place of their
    /// first run, in the same order: a load <see cref="ToRecheck"/> names is measured once more on the new version, warm,
    /// before the A/B/A rolls staging back (whose own measurement is warmed too), so neither side of it is a service
    /// the stage had just restarted.
    /// </summary>
    public static CheckSuiteResult Remeasured(CheckSuiteResult after, CheckSuiteResult again)
    {
        ArgumentNullException.ThrowIfNull(after);
        ArgumentNullException.ThrowIfNull(again);
        return after with
        {
            Results = after.Results.Select(r => again.Results.FirstOrDefault(a => a.Name == r.Name && a.Target == r.Target) ?? r).ToList(),
            Control = after.Control.Select(c => again.Control.FirstOrDefault(a => a.StagedTarget == c.StagedTarget && a.Result.Name == c.Result.Name) ?? c).ToList(),
        };
    }

    /// <summary>
    /// A/B/A: each comparison <see cref="ToRecheck"/> names, judged again with <see cref="LatencyJudgement.Recheck"/>
    /// against a run of the host and its control in the same seconds after the host was rolled back. A gap that closed
    /// makes it a regression; one that persisted leaves it inconclusive, with the third measurement in its message.
    /// </summary>
    /// <param name="rolledBack">The load checks run beside the control with the host on the old version again.</param>
    public static IReadOnlyList<CheckComparison> Recheck(CheckSuite suite, IReadOnlyList<CheckComparison> comparisons,
        CheckSuiteResult baseline, CheckSuiteResult after, CheckSuiteResult rolledBack)
    {
        ArgumentNullException.ThrowIfNull(suite);
        ArgumentNullException.ThrowIfNull(comparisons);
        ArgumentNullException.ThrowIfNull(rolledBack);
        return comparisons.Select(c =>
        {
            var parts = SpedUpControl(suite, c, baseline, after);
            if (parts.Count == 0)
            {
                return c;
            }
            var hostBack = rolledBack.Results.FirstOrDefault(r => r.Name == c.Name && r.Target == c.Target)?.Load;
            var controlBack = ControlOf(rolledBack, c.Name, c.Target);
            if (hostBack is null || controlBack is null)
            {
                return c with { Message = $"{c.Message}; could not be measured again with staging rolled back, so it stays inconclusive" };
            }
            var thresholds = ThresholdsOf(suite.Find(c.Name))!;
            var judged = parts.Select(p => (p.Request, Comparison: p.Request is { } request
                    ? LatencyJudgement.Recheck(p.Runs, hostBack.Of(request), controlBack.Of(request), thresholds)
                    : LatencyJudgement.Recheck(p.Runs, hostBack, controlBack, thresholds)))
                .ToList();
            var message = string.Join("; ", judged.Select(j => j.Request is null ? $"whole run: {j.Comparison.Message}" : $"{j.Request}: {j.Comparison.Message}"));
            var whole = judged.FirstOrDefault(j => j.Request is null).Comparison;
            return judged.Any(j => j.Comparison.Regressed)
                ? c with { Regressed = true, Inconclusive = false, Message = message, Load = whole ?? c.Load }
                : c with { Message = message, Load = whole ?? c.Load };
        }).ToList();
    }

    /// <summary>The parts of one comparison (the whole run, a request) left inconclusive because the control sped up;
    /// none for a comparison that regressed on any part (a second run's confirmation decided it) or has no control.</summary>
    private static IReadOnlyList<(string? Request, LoadRuns Runs)> SpedUpControl(CheckSuite suite, CheckComparison c, CheckSuiteResult baseline, CheckSuiteResult after)
    {
        if (!c.Inconclusive || c.Regressed || c.Load is not { Basis: LatencyBasis.Control } || ThresholdsOf(suite.Find(c.Name)) is not { } thresholds
            || baseline.Results.FirstOrDefault(r => r.Name == c.Name && r.Target == c.Target)?.Load is not { } baseRun
            || after.Results.FirstOrDefault(r => r.Name == c.Name && r.Target == c.Target)?.Load is not { } afterRun
            || ControlOf(baseline, c.Name, c.Target) is not { } controlBefore || ControlOf(after, c.Name, c.Target) is not { } controlAfter)
        {
            return [];
        }
        var runs = new LoadRuns(baseRun, afterRun, null, controlBefore, controlAfter);
        var whole = LatencyJudgement.Judge(runs, thresholds);
        var perRequest = PerRequest(runs, thresholds);
        if (whole.Regressed || perRequest.Any(r => r.Comparison.Regressed))
        {
            return [];
        }
        return [.. whole.Inconclusive ? [((string?)null, runs)] : Array.Empty<(string?, LoadRuns)>(),
            .. perRequest.Where(r => r.Comparison.Inconclusive).Select(r => ((string?)r.Request, runs.Of(r.Request)))];
    }

    /// <summary>The comparison thresholds of a check that measures a load: a load check, or an ldap check in its load form.</summary>
    private static LoadThresholds? ThresholdsOf(CheckDefinition? check) => check switch
    {
        LoadCheck load => load.Compare,
        LdapCheck { IsLoad: true } ldap => ldap.Compare,
        _ => null,
    };

    private static LoadRun? ControlOf(CheckSuiteResult run, string check, string stagedTarget) =>
        run.Control.FirstOrDefault(c => c.Result.Name == check && c.StagedTarget == stagedTarget)?.Result.Load;

    /// <summary>Requests with at least <see cref="MinSamplesPerRequest"/> samples in every run, each judged on its own.</summary>
    public static IReadOnlyList<(string Request, LoadComparison Comparison)> PerRequest(LoadRuns runs, LoadThresholds thresholds)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var groups = runs.After.Samples.GroupBy(s => s.Request, StringComparer.Ordinal).Select(g => g.Key).ToList();
        if (groups.Count < 2)
        {
            return [];
        }
        static bool Enough(LoadRun? run) => run is null || run.Samples.Count >= MinSamplesPerRequest;
        return groups
            .Select(request => (Request: request, Runs: runs.Of(request)))
            .Where(r => Enough(r.Runs.Baseline) && Enough(r.Runs.After) && Enough(r.Runs.BaselineRepeat) && Enough(r.Runs.ControlBefore) && Enough(r.Runs.ControlAfter))
            .Select(r => (r.Request, LatencyJudgement.Judge(r.Runs, thresholds)))
            .OrderBy(r => r.Request, StringComparer.Ordinal)
            .ToList();
    }

    public const int MinSamplesPerRequest = 30;
}
