using System.Globalization;

namespace Stageproof.Core.Checks;

/// <summary>The load runs one stage measured for one check on one staged host.</summary>
/// <param name="Baseline">The staged host before the change.</param>
/// <param name="After">The staged host after the change.</param>
/// <param name="BaselineRepeat">A second run before the change, right after the first (no control): the noise floor.</param>
/// <param name="ControlBefore">The control twin, loaded in the same seconds as <paramref name="Baseline"/>.</param>
/// <param name="ControlAfter">The control twin, loaded in the same seconds as <paramref name="After"/>.</param>
public sealed record LoadRuns(LoadRun Baseline, LoadRun After, LoadRun? BaselineRepeat = null, LoadRun? ControlBefore = null, LoadRun? ControlAfter = null)
{
    public bool HasControl => ControlBefore is not null && ControlAfter is not null;

    /// <summary>The same runs with only the samples of one request kept.</summary>
    public LoadRuns Of(string request)
    {
        return new LoadRuns(Baseline.Of(request), After.Of(request), BaselineRepeat?.Of(request), ControlBefore?.Of(request), ControlAfter?.Of(request));
    }
}

/// <summary>
/// Judges a load check's latency and errors after a change so that a busy machine cannot pass for a regression.
/// With a control (a twin left on the old version, loaded in the same seconds), the verdict is the changed host against
/// the control: whatever slowed the machine slowed both. The effect is the after-change ratio over the ratio the twins
/// already had before the change, and it must be significant in the same-seconds comparison and beyond the limit.
/// Without one, the before/after comparison decides, but its ratio must also exceed the noise floor — how far the p95
/// of two baseline runs of the same version lies apart. A slowdown the basis cannot tell from noise is
/// <see cref="LoadComparison.Inconclusive"/>: shown, never the reason for a FAIL — within the noise floor, or beyond the
/// control only because the control got faster while the host stayed as fast as its own baseline.
/// </summary>
public static class LatencyJudgement
{
    public static LoadComparison Judge(LoadRuns runs, LoadThresholds thresholds)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(thresholds);
        var beforeAfter = LoadStatistics.Compare(runs.Baseline, runs.After, thresholds);
        if (runs is { ControlBefore: { } controlBefore, ControlAfter: { } controlAfter })
        {
            return AgainstControl(beforeAfter, runs, controlBefore, controlAfter, thresholds);
        }
        if (runs.BaselineRepeat is { } repeat)
        {
            return AboveNoiseFloor(beforeAfter, runs, repeat, thresholds);
        }
        return beforeAfter;
    }

    private static LoadComparison AgainstControl(LoadComparison beforeAfter, LoadRuns runs, LoadRun controlBefore, LoadRun controlAfter, LoadThresholds thresholds)
    {
        var inv = CultureInfo.InvariantCulture;
        var concurrent = LoadStatistics.Compare(controlAfter, runs.After, thresholds);
        var twins = LoadStatistics.Compare(controlBefore, runs.Baseline, thresholds);
        // Twins a little apart before the change (different disks, caches) are allowed for; twins faster than each
        // other are not credited to the change.
        var calibration = double.IsFinite(twins.P95Ratio) && twins.P95Ratio > 0 ? Math.Max(1, twins.P95Ratio) : 1;
        var effect = concurrent.P95Ratio / calibration;
        var beyondControl = concurrent.LatencyRegressed && effect > thresholds.MaxP95Ratio;
        // Slower than the twin by more than the limit, yet not measurably slower than its own baseline: the twin sped up (a cache
        // warmed, a neighbour left) as much as the change could have slowed this host. Not a reason either way.
        var hostSlowed = beforeAfter.P95RatioLow > 1 && beforeAfter.MannWhitneyP < thresholds.MaxShiftPValue;
        var inconclusive = beyondControl && !hostSlowed;
        var latencyRegressed = beyondControl && !inconclusive;
        // The change's errors show against the control and against the host's own baseline; load that made both twins
        // fail requests is the machine, not the change.
        var errorsRegressed = concurrent.ErrorsRegressed && beforeAfter.ErrorsRegressed;
        var verdict = latencyRegressed ? "latency regressed against the control: "
            : inconclusive ? "latency inconclusive (slower than the control, but not measurably slower than before the change: the control sped up): "
            : "latency held against the control: ";
        var text = string.Create(inv,
            $"{verdict}in the same seconds p95 {concurrent.Baseline.P95:0.#}ms (control) vs {concurrent.After.P95:0.#}ms, ratio {concurrent.P95Ratio:0.00} " +
            $"({thresholds.Confidence * 100:0}% bootstrap interval {concurrent.P95RatioLow:0.00}–{concurrent.P95RatioHigh:0.00}; Mann–Whitney p={concurrent.MannWhitneyP:0.####}); " +
            $"before the change {calibration:0.00}, so the change's effect is {effect:0.00} (limit {thresholds.MaxP95Ratio:0.##}); " +
            $"errors {(errorsRegressed ? "regressed" : "held")}: {runs.After.ErrorRate * 100:0.00}% vs the control's {controlAfter.ErrorRate * 100:0.00}% " +
            $"and the baseline's {runs.Baseline.ErrorRate * 100:0.00}%; before/after alone: p95 ratio {beforeAfter.P95Ratio:0.00}");
        return beforeAfter with
        {
            LatencyRegressed = latencyRegressed, ErrorsRegressed = errorsRegressed, Inconclusive = inconclusive,
            Basis = LatencyBasis.Control, Control = concurrent, ControlCalibration = calibration, ControlEffect = effect, Message = text,
        };
    }

    /// <summary>
    /// The third measurement of an A/B/A comparison, for a verdict <see cref="Judge"/> left inconclusive because the
    /// control sped up while the host held its own baseline: the host and its control loaded again in the same seconds
    /// with the host rolled back to the old version. If the twins are back together, the gap after the change was the
    /// change's: a regression. If the host is still slower than its control on the old version, the gap is the host's
    /// own and the verdict stays inconclusive.
    /// </summary>
    /// <param name="runs">The runs the first verdict was judged on (with a control).</param>
    /// <param name="hostRolledBack">The host loaded again after it was rolled back.</param>
    /// <param name="controlRolledBack">The control loaded in the same seconds as <paramref name="hostRolledBack"/>.</param>
    public static LoadComparison Recheck(LoadRuns runs, LoadRun hostRolledBack, LoadRun controlRolledBack, LoadThresholds thresholds)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(hostRolledBack);
        ArgumentNullException.ThrowIfNull(controlRolledBack);
        ArgumentNullException.ThrowIfNull(thresholds);
        var first = Judge(runs, thresholds);
        if (first.Control is not { } concurrent || first.ControlEffect is not { } effect)
        {
            return first;
        }
        var inv = CultureInfo.InvariantCulture;
        var twinsBack = LoadStatistics.Compare(controlRolledBack, hostRolledBack, thresholds);
        var calibrationBack = double.IsFinite(twinsBack.P95Ratio) && twinsBack.P95Ratio > 0 ? Math.Max(1, twinsBack.P95Ratio) : 1;
        var effectBack = concurrent.P95Ratio / calibrationBack;
        // Beyond the limit against the twins' gap on both sides of the change (before it and after the rollback).
        var regressed = concurrent.LatencyRegressed && effect > thresholds.MaxP95Ratio && effectBack > thresholds.MaxP95Ratio;
        var verdict = regressed
            ? "latency regressed against the control (A/B/A: the gap closed when staging was rolled back): "
            : "latency inconclusive (A/B/A: staging stayed slower than the control after it was rolled back): ";
        var text = string.Create(inv,
            $"{verdict}after the change, in the same seconds, p95 {concurrent.Baseline.P95:0.#}ms (control) vs {concurrent.After.P95:0.#}ms, ratio {concurrent.P95Ratio:0.00}; " +
            $"rolled back, in the same seconds, p95 {twinsBack.Baseline.P95:0.#}ms (control) vs {twinsBack.After.P95:0.#}ms, ratio {twinsBack.P95Ratio:0.00}, " +
            $"so the change's effect is {effectBack:0.00} (before the change {effect:0.00}; limit {thresholds.MaxP95Ratio:0.##}); first verdict: {first.Message}");
        return first with
        {
            LatencyRegressed = regressed, Inconclusive = first.Inconclusive && !regressed,
            ControlEffect = Math.Min(effect, effectBack), Message = text,
        };
    }

    private static LoadComparison AboveNoiseFloor(LoadComparison beforeAfter, LoadRuns runs, LoadRun repeat, LoadThresholds thresholds)
    {
        var inv = CultureInfo.InvariantCulture;
        var noise = LoadStatistics.Compare(runs.Baseline, repeat, thresholds);
        var floor = double.IsFinite(noise.P95Ratio) && noise.P95Ratio > 0 ? Math.Max(noise.P95Ratio, 1 / noise.P95Ratio) : 1;
        var latencyRegressed = beforeAfter.LatencyRegressed && beforeAfter.P95Ratio > floor;
        var inconclusive = beforeAfter.LatencyRegressed && !latencyRegressed;
        // The errors two runs of the same version differ by are not the change's either.
        var errorNoise = Math.Abs(repeat.ErrorRate - runs.Baseline.ErrorRate);
        var errorsRegressed = beforeAfter.ErrorsRegressed
            && (runs.After.Samples.Count == 0 || runs.After.ErrorRate - runs.Baseline.ErrorRate > thresholds.MaxAddedErrorRate + errorNoise);
        var verdict = latencyRegressed ? "latency regressed beyond the noise floor: "
            : inconclusive ? "latency inconclusive (the noise floor is as wide as the effect): "
            : "latency held: ";
        var text = string.Create(inv,
            $"{verdict}p95 {beforeAfter.Baseline.P95:0.#}ms → {beforeAfter.After.P95:0.#}ms, ratio {beforeAfter.P95Ratio:0.00} " +
            $"({thresholds.Confidence * 100:0}% bootstrap interval {beforeAfter.P95RatioLow:0.00}–{beforeAfter.P95RatioHigh:0.00}, limit {thresholds.MaxP95Ratio:0.##}; " +
            $"Mann–Whitney p={beforeAfter.MannWhitneyP:0.####}); noise floor {floor:0.00} (two baseline runs: p95 {noise.Baseline.P95:0.#}ms and {noise.After.P95:0.#}ms); " +
            $"errors {(errorsRegressed ? "regressed" : "held")}: {runs.Baseline.ErrorRate * 100:0.00}% → {runs.After.ErrorRate * 100:0.00}% " +
            $"(limit {thresholds.MaxAddedErrorRate * 100:0.00}% over a noise of {errorNoise * 100:0.00}%)");
        return beforeAfter with
        {
            LatencyRegressed = latencyRegressed, ErrorsRegressed = errorsRegressed, Inconclusive = inconclusive,
            Basis = LatencyBasis.NoiseFloor, NoiseFloor = floor, Message = text,
        };
    }
}
