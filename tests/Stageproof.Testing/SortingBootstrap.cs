namespace Stageproof.Testing;

/// <summary>
/// The p95-ratio bootstrap as first written, by sorting every resample: the plain definition that
/// <see cref="Stageproof.Core.Checks.LoadStatistics.BootstrapP95Ratio"/> (which counts draws instead of sorting) must
/// equal exactly, draw for draw, and the peer its benchmark runs beside it. Not used by the product.
/// </summary>
public static class SortingBootstrap
{
    public static (double Ratio, double Low, double High) P95Ratio(IReadOnlyList<double> baseline, IReadOnlyList<double> after,
        int resamples, double confidence, int seed)
    {
        var b = baseline.Order().ToArray();
        var a = after.Order().ToArray();
        var ratio = Ratio(Percentile(a, 0.95), Percentile(b, 0.95));
        var random = new Random(seed);
        var ratios = new double[Math.Clamp(resamples, 100, 20000)];
        var bufferB = new double[b.Length];
        var bufferA = new double[a.Length];
        for (var i = 0; i < ratios.Length; i++)
        {
            for (var j = 0; j < b.Length; j++)
            {
                bufferB[j] = b[random.Next(b.Length)];
            }
            for (var j = 0; j < a.Length; j++)
            {
                bufferA[j] = a[random.Next(a.Length)];
            }
            Array.Sort(bufferB);
            Array.Sort(bufferA);
            ratios[i] = Ratio(Percentile(bufferA, 0.95), Percentile(bufferB, 0.95));
        }
        Array.Sort(ratios);
        var alpha = (1 - confidence) / 2;
        return (ratio, Percentile(ratios, alpha), Percentile(ratios, 1 - alpha));
    }

    private static double Percentile(double[] sorted, double q) => Stageproof.Core.Checks.LoadStatistics.Percentile(sorted, q);

    private static double Ratio(double after, double baseline) => baseline <= 0 ? (after <= 0 ? 1 : double.PositiveInfinity) : after / baseline;
}
