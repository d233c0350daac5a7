using Stageproof.Core.Hosts;

namespace Stageproof.Core.Checks;

/// <summary>
/// Runs check suites against an environment (implemented by Stageproof.Hosts' CheckSuiteRunner). The stage gate takes
/// log markers before applying a change, runs the suite before and after, and compares the two with
/// <see cref="SuiteComparison.Compare"/>.
/// </summary>
public interface ICheckSuiteRunner
{
    /// <summary>Records where every logs check's file ends on every host, so a later run reads only newer lines.</summary>
    Task<LogMarkers> MarkLogsAsync(CheckEnvironment environment, CheckSuite suite,
        IReadOnlyDictionary<string, ITransport> transports, CancellationToken ct);

    /// <summary>Runs every check of the suite; logs checks read from <paramref name="logsSince"/> (null: markers taken at
    /// the start); load checks also run against <paramref name="control"/>'s twins in the same seconds, when given. With
    /// <paramref name="only"/>, just those checks run, the suite still resolving what they refer to (a load's auth check).</summary>
    Task<CheckSuiteResult> RunAsync(CheckEnvironment environment, CheckSuite suite,
        IReadOnlyDictionary<string, ITransport> transports, CancellationToken ct, LogMarkers? logsSince = null, CheckEnvironment? control = null,
        IReadOnlyList<CheckDefinition>? only = null);

    /// <summary>Runs one check: one result per host, or one for a url, a database or a soak.</summary>
    Task<IReadOnlyList<CheckResult>> RunCheckAsync(CheckEnvironment environment, CheckSuite suite, CheckDefinition check,
        IReadOnlyDictionary<string, ITransport> transports, LogMarkers? markers, CancellationToken ct);
}
