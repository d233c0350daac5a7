namespace Stageproof.Core.Drift;

/// <summary>The result of any comparison, flattened for display: pairs of targets and their items.</summary>
public sealed record DriftReport(
    string Left,
    string Right,
    IReadOnlyList<(string Left, string Right, IReadOnlyList<DriftItem> Items)> Pairs,
    IReadOnlyList<DriftItem> Unpaired,
    IReadOnlyList<FamilyFigures> Families,
    double Fidelity,
    object Detail)
{
    public int Items => Pairs.Sum(p => p.Items.Count) + Unpaired.Count;

    /// <summary>A role or database present on one side only: never a faithful mirror, whatever the figure.</summary>
    public bool MissingCounterpart => Unpaired.Any(i => i.Category is DriftCategory.HostMissing or DriftCategory.DatabaseMissing);

    public DriftSeverity? MaxSeverity => Unpaired.Concat(Pairs.SelectMany(p => p.Items)).Select(i => (DriftSeverity?)i.Severity).Max();

    /// <summary>The one rule for "is B a faithful mirror of A": the figure, a missing counterpart, or a difference too severe.</summary>
    public bool Fails(double minFidelity, DriftSeverity? failOn) =>
        Fidelity < minFidelity || MissingCounterpart || (failOn is { } level && MaxSeverity >= level);

    public static DriftReport From(EnvironmentDrift d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return new(d.Left, d.Right,
        d.Hosts.Select(p => (p.Left, p.Right, p.Drift.Items))
            .Concat(d.Databases.Select(p => (p.Left, p.Right, p.Drift.Items))).ToList(),
            d.Items, d.Families, d.Fidelity, d);
    }

    public static DriftReport From(HostDrift d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return new(d.Left, d.Right, [(d.Left, d.Right, d.Items)], [], d.Families, d.Fidelity, d);
    }
}
