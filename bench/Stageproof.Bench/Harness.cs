using System.Diagnostics;
using System.Globalization;

namespace Stageproof.Bench;

/// <summary>A named group of measurements, run as a subcommand.</summary>
public interface IBenchmarkSuite
{
    string Name { get; }
    string Description { get; }

    /// <summary>Lines describing the workload, printed above the table.</summary>
    IEnumerable<string> Describe();

    IEnumerable<Measurement> Run(BenchOptions options);
}

public sealed record BenchOptions(int Warmup, int Runs)
{
    public static BenchOptions Parse(ReadOnlySpan<string> args)
    {
        var warmup = 10;
        var runs = 50;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0
                ? v
                : throw new ArgumentException($"option '{args[i]}' needs a positive number");
            switch (args[i])
            {
                case "--runs": runs = value; break;
                case "--warmup": warmup = value; break;
                default: throw new ArgumentException($"unknown option '{args[i]}' (known: --runs, --warmup)");
            }
            i++;
        }
        return new BenchOptions(warmup, runs);
    }
}

/// <summary>The timings of one operation: median, fastest and slowest run, and bytes allocated per run.</summary>
public sealed record Measurement(string Operation, TimeSpan Median, TimeSpan Min, TimeSpan Max, long AllocatedBytes, string Note)
{
    public const string TableHeader =
        "| operation | median | min | max | allocated/op | note |\n" +
        "| --- | ---: | ---: | ---: | ---: | --- |";

    public string ToTableRow() =>
        $"| {Operation} | {Format(Median)} | {Format(Min)} | {Format(Max)} | {FormatBytes(AllocatedBytes)} | {Note} |";

    /// <summary>Runs <paramref name="action"/> <paramref name="options"/>.Warmup times unmeasured, then Runs times.</summary>
    public static Measurement Of(string operation, BenchOptions options, Func<object?> action, string note = "")
    {
        object? sink = null;
        for (var i = 0; i < options.Warmup; i++) sink = action();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        var times = new long[options.Runs];
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < options.Runs; i++)
        {
            var start = Stopwatch.GetTimestamp();
            sink = action();
            times[i] = Stopwatch.GetTimestamp() - start;
        }
        var allocated = (GC.GetAllocatedBytesForCurrentThread() - before) / options.Runs;
        GC.KeepAlive(sink);

        Array.Sort(times);
        var median = times.Length % 2 == 1 ? times[times.Length / 2] : (times[times.Length / 2 - 1] + times[times.Length / 2]) / 2;
        return new Measurement(operation, Ticks(median), Ticks(times[0]), Ticks(times[^1]), allocated, note);
    }

    private static TimeSpan Ticks(long stopwatchTicks) => Stopwatch.GetElapsedTime(0, stopwatchTicks);

    private static string Format(TimeSpan t) =>
        t.TotalMilliseconds >= 1
            ? t.TotalMilliseconds.ToString("0.00", CultureInfo.InvariantCulture) + " ms"
            : (t.TotalMicroseconds).ToString("0.0", CultureInfo.InvariantCulture) + " µs";

    private static string FormatBytes(long bytes) =>
        bytes >= 1 << 20
            ? (bytes / (double)(1 << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB"
            : (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB";
}

internal static class BuildConfiguration
{
#if DEBUG
    public const string Name = "Debug (numbers are not representative; use -c Release)";
#else
    public const string Name = "Release";
#endif
}
