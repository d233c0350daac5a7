using Stageproof.Application.Estate;

namespace Stageproof.Application.Views;

/// <summary>What <c>stageproof facts --json</c> prints and <c>POST /api/v1/facts</c> answers: every manifest stored,
/// with its digest, and every target that failed.</summary>
public sealed record FactsDocument(IReadOnlyList<ManifestEntry> Manifests, IReadOnlyList<FactsFailure> Failures)
{
    public static FactsDocument Of(FactsRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new(run.Manifests.Select(m => ManifestEntry.Of(m.Digest, m.Manifest)).ToList(), run.Failures);
    }

    /// <summary>The run this document tells of, as a local collection returns it.</summary>
    public FactsRun ToRun() => new(Manifests.Select(m => (m.Digest, m.Manifest)).ToList(), Failures);
}

/// <summary>One line of <c>POST /api/v1/facts</c> answered as <c>application/x-ndjson</c>: a target done, as the local
/// verb narrates it, or, last, the whole document.</summary>
public sealed record FactsLine(FactsProgress? Progress, FactsDocument? Result);
