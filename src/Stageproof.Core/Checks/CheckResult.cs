namespace Stageproof.Core.Checks;

public enum CheckStatus
{
    Passed,
    Warned,
    Failed,
    /// <summary>The check could not run: host unreachable, authentication to the host refused, tool missing.</summary>
    Error,
}

/// <summary>The outcome of one check against one target.</summary>
public sealed record CheckResult
{
    public required string Name { get; init; }
    public required string Type { get; init; }
    /// <summary>Host name, URL or "ENV/DB".</summary>
    public required string Target { get; init; }
    public required CheckStatus Status { get; init; }
    /// <summary>What was seen, with the numbers: "status 503, expected 200 (GET http://127.0.5.2:8080/health)".</summary>
    public required string Message { get; init; }
    public IReadOnlyDictionary<string, double> Measurements { get; init; } = new Dictionary<string, double>();
    public TimeSpan Duration { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    /// <summary>Load checks: every sample, for the stage gate's distribution comparison.</summary>
    public LoadRun? Load { get; init; }
    /// <summary>Logs checks: matching lines (bounded), for the report.</summary>
    public IReadOnlyList<string> Evidence { get; init; } = [];
    /// <summary>Sql checks: the first row, column name → value as text (null for SQL NULL); what a continuity query
    /// is compared on.</summary>
    public IReadOnlyDictionary<string, string?>? Values { get; init; }

    public bool Passed => Status is CheckStatus.Passed or CheckStatus.Warned;
}

/// <summary>One request of a load run.</summary>
public readonly record struct LoadSample(double OffsetMs, double LatencyMs, bool Ok, string Request);

/// <summary>A load run's raw samples and its summary.</summary>
public sealed record LoadRun
{
    public required IReadOnlyList<LoadSample> Samples { get; init; }
    public required TimeSpan Elapsed { get; init; }
    public int Clients { get; init; }
    public int Requests => Samples.Count;
    public int Errors => Samples.Count(s => !s.Ok);
    public double ErrorRate => Samples.Count == 0 ? 0 : (double)Errors / Samples.Count;
    public double Throughput => Elapsed.TotalSeconds <= 0 ? 0 : Samples.Count / Elapsed.TotalSeconds;
    public LatencySummary Latency => LatencySummary.Of(Samples.Select(s => s.LatencyMs));

    /// <summary>The same run with only the samples of one request kept.</summary>
    public LoadRun Of(string request) => this with { Samples = Samples.Where(s => s.Request == request).ToList() };
}

public sealed record CheckSuiteResult(string Environment, string Suite, IReadOnlyList<CheckResult> Results, TimeSpan Elapsed)
{
    public bool AllPassed => Results.All(r => r.Passed);

    /// <summary>Load checks run against the control twins in the same seconds as against the environment's own hosts
    /// (a stage with a <c>control:</c>); not part of <see cref="AllPassed"/>: the control is a yardstick, not a subject.</summary>
    public IReadOnlyList<ControlResult> Control { get; init; } = [];

    /// <summary>0 all pass (warnings included), 1 a failure, 3 a check that could not run.</summary>
    public int ExitCode =>
        Results.Any(r => r.Status == CheckStatus.Failed) ? ExitCodes.Finding
        : Results.Any(r => r.Status == CheckStatus.Error) ? ExitCodes.Infrastructure
        : ExitCodes.Ok;
}

/// <summary>A load check's run against a control host, paired with the staged host it was measured beside.</summary>
public sealed record ControlResult(string StagedTarget, CheckResult Result);
