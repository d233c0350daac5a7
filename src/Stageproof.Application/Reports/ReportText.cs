using System.Globalization;
using System.Text;
using Stageproof.Core.Checks;
using Stageproof.Core.Stage;

namespace Stageproof.Application.Reports;

/// <summary>Text helpers shared by the stage report renderers.</summary>
public static class ReportText
{
    public static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// Removes what XML 1.0 cannot carry (C0 controls other than tab, newline and carriage return, lone surrogates,
    /// U+FFFE/U+FFFF) so hostile command output or log lines cannot break the report. Null becomes "".
    /// </summary>
    public static string Clean(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }
        StringBuilder? sb = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var keep = c is '\t' or '\n' or '\r' || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD);
            var pair = !keep && char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            if (keep || pair)
            {
                if (sb is not null)
                {
                    sb.Append(c);
                    if (pair)
                    {
                        sb.Append(text[i + 1]);
                    }
                }
                if (pair)
                {
                    i++;
                }
                continue;
            }
            if (sb is null)
            {
                sb = new StringBuilder(text.Length);
                sb.Append(text, 0, i);
            }
        }
        return sb?.ToString() ?? text;
    }

    /// <summary>Seconds with invariant culture, as JUnit's time attributes want them.</summary>
    /// <summary>A drift category as its JSON names it ("package", "config_file").</summary>
    public static string Category(Core.Drift.DriftCategory c) => System.Text.Json.JsonSerializer.Serialize(c).Trim('"');

    public static string Seconds(TimeSpan t) => Math.Max(0, t.TotalSeconds).ToString("0.###", Inv);

    public static string Duration(TimeSpan t) =>
        t.TotalSeconds < 1 ? $"{t.TotalMilliseconds.ToString("0", Inv)} ms"
        : t.TotalMinutes < 1 ? $"{t.TotalSeconds.ToString("0.0", Inv)} s"
        : $"{((int)t.TotalMinutes).ToString(Inv)} min {t.Seconds.ToString(Inv)} s";

    public static string Time(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", Inv);

    public static string Ms(double v) => double.IsFinite(v) ? v.ToString("0.#", Inv) + " ms" : "n/a";

    public static string Num(double v, string format = "0.##") => double.IsFinite(v) ? v.ToString(format, Inv) : "n/a";

    /// <summary>A p-value: four decimals, or "&lt; 0.0001" below that.</summary>
    public static string PValue(double p) => !double.IsFinite(p) ? "n/a" : p < 0.0001 ? "< 0.0001" : p.ToString("0.####", Inv);

    public static string Percent(double rate) => double.IsFinite(rate) ? (rate * 100).ToString("0.00", Inv) + "%" : "n/a";

    public static string Status(StepStatus s) => s switch
    {
        StepStatus.Passed => "passed",
        StepStatus.Warned => "warned",
        StepStatus.Failed => "failed",
        _ => "skipped",
    };

    public static string Status(CheckStatus s) => s switch
    {
        CheckStatus.Passed => "passed",
        CheckStatus.Warned => "warned",
        CheckStatus.Failed => "failed",
        _ => "error",
    };

    /// <summary>"name" or "name @ target" when the target adds something.</summary>
    public static string CheckName(string name, string target) =>
        string.IsNullOrEmpty(target) || target == name ? name : $"{name} @ {target}";

    /// <summary>The measurements of a check as "key=value" pairs, sorted by key.</summary>
    public static string Measurements(CheckResult r) =>
        string.Join(", ", r.Measurements.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => $"{m.Key}={Num(m.Value, "0.####")}"));

    /// <summary>Finds the result with the same name and target in a suite run (for a comparison's raw samples).</summary>
    public static CheckResult? Find(CheckSuiteResult? suite, string name, string target) =>
        suite?.Results.FirstOrDefault(r => r.Name == name && r.Target == target);

    /// <summary>Multi-line numbers of a load comparison.</summary>
    public static string LoadNumbers(LoadComparison c) => string.Join('\n',
        $"p50 {Ms(c.Baseline.P50)} → {Ms(c.After.P50)}; p95 {Ms(c.Baseline.P95)} → {Ms(c.After.P95)}; p99 {Ms(c.Baseline.P99)} → {Ms(c.After.P99)}",
        $"p95 ratio {Num(c.P95Ratio)} (bootstrap interval {Num(c.P95RatioLow)}–{Num(c.P95RatioHigh)})",
        $"Mann–Whitney U={Num(c.MannWhitneyU, "0.#")} one-sided p={PValue(c.MannWhitneyP)}",
        $"error rate {Percent(c.BaselineErrorRate)} → {Percent(c.AfterErrorRate)}",
        $"samples baseline n={c.Baseline.Count}, after n={c.After.Count}");
}
