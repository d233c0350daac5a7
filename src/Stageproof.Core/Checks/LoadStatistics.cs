using System.Globalization;

namespace Stageproof.Core.Checks;

/// <summary>Percentiles of a latency distribution, in milliseconds.</summary>
public sealed record LatencySummary(int Count, double P50, double P90, double P95, double P99, double Max, double Mean)
{
    public static LatencySummary Of(IEnumerable<double> latencies)
    {
        var sorted = latencies.Order().ToArray();
        if (sorted.Length == 0)
        {
            return new LatencySummary(0, 0, 0, 0, 0, 0, 0);
        }
        return new LatencySummary(sorted.Length, LoadStatistics.Percentile(sorted, 0.50), LoadStatistics.Percentile(sorted, 0.90),
            LoadStatistics.Percentile(sorted, 0.95), LoadStatistics.Percentile(sorted, 0.99), sorted[^1], sorted.Average());
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"n={Count} p50={P50:0.#}ms p90={P90:0.#}ms p95={P95:0.#}ms p99={P99:0.#}ms max={Max:0.#}ms");
}

/// <summary>How much worse an after-change load run may be than its baseline.</summary>
public sealed record LoadThresholds
{
    /// <summary>after p95 / baseline p95 above this (and significantly above 1) fails.</summary>
    public double MaxP95Ratio { get; init; } = 1.5;
    /// <summary>after error rate − baseline error rate above this fails.</summary>
    public double MaxAddedErrorRate { get; init; } = 0.01;
    /// <summary>Two-sided confidence level of the bootstrap interval.</summary>
    public double Confidence { get; init; } = 0.95;
    /// <summary>Bootstrap resamples (bounded to 100..20000).</summary>
    public int Resamples { get; init; } = 2000;
    public int Seed { get; init; } = 20261123;
    /// <summary>
    /// Latency regresses only when Mann–Whitney also says the whole distribution moved (p below this): on a busy
    /// machine a few slow requests can stretch the p95 of one run while the bulk of the requests is unchanged.
    /// </summary>
    public double MaxShiftPValue { get; init; } = 0.01;
}

/// <summary>A baseline-versus-after comparison of two load runs, with its reasons.</summary>
public sealed record LoadComparison
{
    public required LatencySummary Baseline { get; init; }
    public required LatencySummary After { get; init; }
    public required double P95Ratio { get; init; }
    public required double P95RatioLow { get; init; }
    public required double P95RatioHigh { get; init; }
    public required double MannWhitneyU { get; init; }
    /// <summary>One-sided p-value of "after is slower than baseline" (normal approximation, tie-corrected).</summary>
    public required double MannWhitneyP { get; init; }
    public required double BaselineErrorRate { get; init; }
    public required double AfterErrorRate { get; init; }
    public required bool LatencyRegressed { get; init; }
    public required bool ErrorsRegressed { get; init; }
    public bool Regressed => LatencyRegressed || ErrorsRegressed;
    public required string Message { get; init; }
    /// <summary>What decided the latency verdict: <see cref="LatencyBasis.Control"/>, <see cref="LatencyBasis.NoiseFloor"/>
    /// or <see cref="LatencyBasis.BeforeAfter"/>.</summary>
    public string Basis { get; init; } = LatencyBasis.BeforeAfter;
    /// <summary>The before/after comparison found the latency worse, but what it was judged against (the control, or the
    /// noise floor) is as wide as the effect: reported, never a reason to fail.</summary>
    public bool Inconclusive { get; init; }
    /// <summary>p95 ratio between two baseline runs of the same version (≥ 1, whichever way it went): how far the p95
    /// moves with no change at all. Set when there is no control.</summary>
    public double? NoiseFloor { get; init; }
    /// <summary>The changed host against its control, measured in the same seconds after the change.</summary>
    public LoadComparison? Control { get; init; }
    /// <summary>p95 of the staged host over its control's before the change: how far apart the twins already were.</summary>
    public double? ControlCalibration { get; init; }
    /// <summary>The change's own latency effect when judged against a control: the after ratio over the calibration.</summary>
    public double? ControlEffect { get; init; }
}

/// <summary>What a latency verdict was judged against.</summary>
public static class LatencyBasis
{
    /// <summary>A twin left on the old version, loaded in the same seconds (Kayenta's canary-versus-baseline, in staging).</summary>
    public const string Control = "control";
    /// <summary>The before/after comparison, whose effect must exceed how far two baselines of the same version differ.</summary>
    public const string NoiseFloor = "noise-floor";
    /// <summary>The before/after comparison alone.</summary>
    public const string BeforeAfter = "before-after";
}

/// <summary>The pure statistics the stage gate uses to compare load distributions.</summary>
public static class LoadStatistics
{
    /// <summary>Linear-interpolated percentile (q in 0..1) of an ascending array.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double q)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Count == 0)
        {
            return double.NaN;
        }
        var position = q * (sorted.Count - 1);
        var lower = (int)Math.Floor(position);
        var upper = Math.Min(lower + 1, sorted.Count - 1);
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
    }

    /// <summary>
    /// Percentile bootstrap interval of p95(after) / p95(baseline): both samples are resampled with replacement
    /// <paramref name="resamples"/> times with a seeded generator, so the same inputs give the same interval.
    /// </summary>
    /// <remarks>
    /// A resample of a sorted sample is a count per position (how often each value was drawn), and its p95 is found by
    /// walking those counts down from the largest value: no resample is sorted. The draws are the ones a sort of the
    /// drawn values would see, in the same order, so the interval is exactly what sorting each resample gives, at a
    /// fraction of the cost (a stage compares each load two to four times, 2,000 resamples each).
    /// </remarks>
    public static (double Ratio, double Low, double High) BootstrapP95Ratio(IReadOnlyList<double> baseline, IReadOnlyList<double> after,
        int resamples, double confidence, int seed)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(after);
        if (baseline.Count == 0 || after.Count == 0)
        {
            throw new ArgumentException("both samples need at least one value");
        }
        resamples = Math.Clamp(resamples, 100, 20000);
        var b = baseline.Order().ToArray();
        var a = after.Order().ToArray();
        var ratio = Ratio(Percentile(a, 0.95), Percentile(b, 0.95));
        var random = new Random(seed);
        var ratios = new double[resamples];
        var drawnB = new int[b.Length];
        var drawnA = new int[a.Length];
        for (var i = 0; i < resamples; i++)
        {
            Array.Clear(drawnB);
            for (var j = 0; j < b.Length; j++)
            {
                drawnB[random.Next(b.Length)]++;
            }
            Array.Clear(drawnA);
            for (var j = 0; j < a.Length; j++)
            {
                drawnA[random.Next(a.Length)]++;
            }
            ratios[i] = Ratio(ResampledPercentile(a, drawnA, 0.95), ResampledPercentile(b, drawnB, 0.95));
        }
        Array.Sort(ratios);
        var alpha = (1 - confidence) / 2;
        return (ratio, Percentile(ratios, alpha), Percentile(ratios, 1 - alpha));
    }

    /// <summary>
    /// <see cref="Percentile"/> of a resample of <paramref name="sorted"/> (as many values as it has) given as the number of
    /// times each of its values was drawn: the values at the two ranks around the percentile, found from the top.
    /// </summary>
    private static double ResampledPercentile(double[] sorted, int[] drawn, double q)
    {
        var n = sorted.Length;
        var position = q * (n - 1);
        var lower = (int)Math.Floor(position);
        var upper = Math.Min(lower + 1, n - 1);
        // Rank r from the bottom is rank n-1-r from the top: walk down until more than that many values lie at or above.
        double upperValue = double.NaN, lowerValue = double.NaN;
        var above = 0;
        for (var k = n - 1; k >= 0; k--)
        {
            above += drawn[k];
            if (double.IsNaN(upperValue) && above > n - 1 - upper)
            {
                upperValue = sorted[k];
            }
            if (above > n - 1 - lower)
            {
                lowerValue = sorted[k];
                break;
            }
        }
        return lowerValue + (upperValue - lowerValue) * (position - lower);
    }

    private static double Ratio(double after, double baseline) => baseline <= 0 ? (after <= 0 ? 1 : double.PositiveInfinity) : after / baseline;

    /// <summary>
    /// Mann–Whitney U of <paramref name="after"/> against <paramref name="baseline"/> (U counts pairs where after is
    /// larger, ties half) and the one-sided p-value of "after tends to be larger", normal approximation with tie correction.
    /// </summary>
    public static (double U, double P) MannWhitney(IReadOnlyList<double> baseline, IReadOnlyList<double> after)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(after);
        int n1 = after.Count, n2 = baseline.Count;
        if (n1 == 0 || n2 == 0)
        {
            throw new ArgumentException("both samples need at least one value");
        }
        var all = after.Select(v => (v, after: true)).Concat(baseline.Select(v => (v, after: false))).OrderBy(x => x.v).ToArray();
        var ranks = new double[all.Length];
        double tieTerm = 0;
        for (var i = 0; i < all.Length;)
        {
            var j = i;
            while (j + 1 < all.Length && all[j + 1].v == all[i].v)
            {
                j++;
            }
            var rank = (i + j + 2) / 2.0;
            for (var k = i; k <= j; k++)
            {
                ranks[k] = rank;
            }
            double t = j - i + 1;
            tieTerm += t * t * t - t;
            i = j + 1;
        }
        var rankSumAfter = 0.0;
        for (var i = 0; i < all.Length; i++)
        {
            if (all[i].after)
            {
                rankSumAfter += ranks[i];
            }
        }
        var u = rankSumAfter - n1 * (n1 + 1) / 2.0;
        var n = (double)(n1 + n2);
        var mean = n1 * (double)n2 / 2;
        var variance = n1 * (double)n2 / 12 * (n + 1 - tieTerm / (n * (n - 1)));
        if (variance <= 0)
        {
            return (u, 0.5);
        }
        var z = (u - mean - 0.5) / Math.Sqrt(variance); // continuity correction
        return (u, 1 - NormalCdf(z));
    }

    /// <summary>Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| &lt; 1.5e-7).</summary>
    public static double NormalCdf(double z)
    {
        var x = Math.Abs(z) / Math.Sqrt(2);
        var t = 1 / (1 + 0.3275911 * x);
        var erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.Exp(-x * x);
        return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
    }

    /// <summary>
    /// Compares an after-change load run with its baseline. Latency regresses when the p95 ratio exceeds
    /// <see cref="LoadThresholds.MaxP95Ratio"/>, the bootstrap interval's lower end is above 1 and Mann–Whitney finds
    /// the distribution shifted (p below <see cref="LoadThresholds.MaxShiftPValue"/>): the slowdown is not noise; errors regress when the error rate grew by more than <see cref="LoadThresholds.MaxAddedErrorRate"/>.
    /// </summary>
    public static LoadComparison Compare(LoadRun baseline, LoadRun after, LoadThresholds thresholds)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(after);
        ArgumentNullException.ThrowIfNull(thresholds);
        var b = baseline.Samples.Where(s => s.Ok).Select(s => s.LatencyMs).ToArray();
        var a = after.Samples.Where(s => s.Ok).Select(s => s.LatencyMs).ToArray();
        if (b.Length == 0)
        {
            b = baseline.Samples.Select(s => s.LatencyMs).ToArray();
        }
        if (a.Length == 0)
        {
            a = after.Samples.Select(s => s.LatencyMs).ToArray();
        }
        var inv = CultureInfo.InvariantCulture;
        var addedErrors = after.ErrorRate - baseline.ErrorRate;
        var errorsRegressed = after.Samples.Count == 0 || addedErrors > thresholds.MaxAddedErrorRate;
        if (a.Length == 0 || b.Length == 0)
        {
            return new LoadComparison
            {
                Baseline = LatencySummary.Of(b), After = LatencySummary.Of(a), P95Ratio = double.NaN, P95RatioLow = double.NaN,
                P95RatioHigh = double.NaN, MannWhitneyU = double.NaN, MannWhitneyP = double.NaN,
                BaselineErrorRate = baseline.ErrorRate, AfterErrorRate = after.ErrorRate,
                LatencyRegressed = false, ErrorsRegressed = true,
                Message = $"no samples to compare (baseline {b.Length}, after {a.Length})",
            };
        }
        var (ratio, low, high) = BootstrapP95Ratio(b, a, thresholds.Resamples, thresholds.Confidence, thresholds.Seed);
        var (u, p) = MannWhitney(b, a);
        var latencyRegressed = ratio > thresholds.MaxP95Ratio && low > 1.0 && p < thresholds.MaxShiftPValue;
        var reasons = new List<string>();
        var baseSummary = LatencySummary.Of(b);
        var afterSummary = LatencySummary.Of(a);
        var latencyText = string.Create(inv,
            $"p95 {baseSummary.P95:0.#}ms → {afterSummary.P95:0.#}ms, ratio {ratio:0.00} ({(thresholds.Confidence) * 100:0}% bootstrap interval {low:0.00}–{high:0.00}, limit {thresholds.MaxP95Ratio:0.##}; Mann–Whitney p={p:0.####})");
        var errorText = string.Create(inv,
            $"error rate {(baseline.ErrorRate) * 100:0.00}% → {(after.ErrorRate) * 100:0.00}% (added {(addedErrors) * 100:0.00}%, limit {(thresholds.MaxAddedErrorRate) * 100:0.00}%)");
        reasons.Add((latencyRegressed ? "latency regressed: " : "latency held: ") + latencyText);
        reasons.Add((errorsRegressed ? "errors regressed: " : "errors held: ") + errorText);
        return new LoadComparison
        {
            Baseline = baseSummary, After = afterSummary, P95Ratio = ratio, P95RatioLow = low, P95RatioHigh = high,
            MannWhitneyU = u, MannWhitneyP = p, BaselineErrorRate = baseline.ErrorRate, AfterErrorRate = after.ErrorRate,
            LatencyRegressed = latencyRegressed, ErrorsRegressed = errorsRegressed, Message = string.Join("; ", reasons),
        };
    }

    /// <summary>Compares a logs check's error-line rate after a change with its baseline rate.</summary>
    public static (bool Regressed, string Message) CompareErrorRate(double baselineRate, double afterRate, double maxAdded)
    {
        var added = afterRate - baselineRate;
        var regressed = added > maxAdded;
        return (regressed, string.Create(CultureInfo.InvariantCulture,
            $"error-line rate {(baselineRate) * 100:0.00}% → {(afterRate) * 100:0.00}% (added {(added) * 100:0.00}%, limit {(maxAdded) * 100:0.00}%)"));
    }
}
