using Stageproof.Core.Drift;

namespace Stageproof.Application.Views;

/// <summary>What <c>drift A B --json</c> prints and <c>GET /api/v1/drift</c> answers: the two sides, the figures, the
/// verdict against the threshold, and the comparison in full (<see cref="EnvironmentDrift"/> or <see cref="HostDrift"/>).</summary>
public sealed record DriftDocument(string Left, string Right, double Fidelity, double MinFidelity, string? FailOn, string? MaxSeverity, bool Failed, object Drift)
{
    public static DriftDocument Of(string left, string right, double fidelity, double minFidelity, DriftSeverity? failOn, DriftSeverity? maxSeverity, bool failed, object drift) =>
        new(left, right, fidelity, minFidelity, failOn?.Code(), maxSeverity?.Code(), failed, drift);
}
