using Stageproof.Core.ConfigFiles;

namespace Stageproof.Core.Drift;

/// <summary>
/// One difference between two manifests. <see cref="Left"/> and <see cref="Right"/> are display values; null means
/// the item is absent on that side. <see cref="Diff"/> is a unified diff for config content when both contents are known.
/// For config content, <see cref="Values"/> names each value added, removed or changed (empty for a cosmetic change,
/// null when the file was compared by bytes) and <see cref="Format"/> says how the file was read.
/// </summary>
public sealed record DriftItem(
    DriftCategory Category,
    string Key,
    string? Left,
    string? Right,
    DriftSeverity Severity,
    string? Diff = null,
    IReadOnlyList<ValueChange>? Values = null,
    string? Format = null)
{
    public DriftFamily Family => Category.Family();

    /// <summary>The side that lacks the item, or null when both sides have it.</summary>
    public DriftSide? MissingOn =>
        Left is null && Right is not null ? DriftSide.Left
        : Right is null && Left is not null ? DriftSide.Right
        : null;
}

/// <summary>
/// How one family compared. <see cref="Compared"/> is the number of keys present on either side (after ignore
/// rules), <see cref="Matching"/> those equal on both, <see cref="Ignored"/> those removed by ignore rules.
/// </summary>
public sealed record FamilyFigures(DriftFamily Family, int Compared, int Matching, int Ignored)
{
    public int Differing => Compared - Matching;

    /// <summary>Matching / compared; 1.0 when nothing was compared.</summary>
    public double Fidelity => DriftMath.Fidelity(Matching, Compared);
}

/// <summary>How many items of one category were found.</summary>
public sealed record CategoryCount(DriftCategory Category, int Items);

/// <summary>The drift between two manifests (two hosts, or two databases).</summary>
public sealed record HostDrift(
    string Left,
    string Right,
    IReadOnlyList<DriftItem> Items,
    IReadOnlyList<FamilyFigures> Families)
{
    public int Compared => Families.Sum(f => f.Compared);
    public int Matching => Families.Sum(f => f.Matching);

    /// <summary>Total matching / total compared over all families; 1.0 when nothing was compared.</summary>
    public double Fidelity => DriftMath.Fidelity(Matching, Compared);

    public IReadOnlyList<CategoryCount> Categories => DriftMath.CountCategories(Items);

    public DriftSeverity? MaxSeverity => DriftMath.MaxSeverity(Items);

    public FamilyFigures Figures(DriftFamily family) => DriftMath.Figures(Families, family);

    public bool BelowThreshold(double minFidelity) => Fidelity < minFidelity;
}

/// <summary>Two host manifests of the same role, one per environment.</summary>
public sealed record HostPair(string Role, string Left, string Right, HostDrift Drift);

/// <summary>Two database manifests of the same database name, one per environment.</summary>
public sealed record DatabasePair(string Database, string Left, string Right, HostDrift Drift);

/// <summary>
/// The drift between two environments: every host pair and database pair, the items that belong to no pair
/// (<see cref="DriftCategory.HostMissing"/>, <see cref="DriftCategory.DatabaseMissing"/>), and figures summed
/// over all of them.
/// </summary>
public sealed record EnvironmentDrift(
    string Left,
    string Right,
    IReadOnlyList<HostPair> Hosts,
    IReadOnlyList<DatabasePair> Databases,
    IReadOnlyList<DriftItem> Items,
    IReadOnlyList<FamilyFigures> Families)
{
    public int Compared => Families.Sum(f => f.Compared);
    public int Matching => Families.Sum(f => f.Matching);

    /// <summary>Total matching / total compared over every pair and the environment items; 1.0 when nothing was compared.</summary>
    public double Fidelity => DriftMath.Fidelity(Matching, Compared);

    /// <summary>Item counts over every pair and the environment items.</summary>
    public IReadOnlyList<CategoryCount> Categories =>
        DriftMath.CountCategories(Items.Concat(Hosts.SelectMany(p => p.Drift.Items)).Concat(Databases.SelectMany(p => p.Drift.Items)));

    public DriftSeverity? MaxSeverity =>
        DriftMath.MaxSeverity(Items.Concat(Hosts.SelectMany(p => p.Drift.Items)).Concat(Databases.SelectMany(p => p.Drift.Items)));

    public FamilyFigures Figures(DriftFamily family) => DriftMath.Figures(Families, family);

    public bool BelowThreshold(double minFidelity) => Fidelity < minFidelity;
}

internal static class DriftMath
{
    public static double Fidelity(int matching, int compared) => compared == 0 ? 1.0 : (double)matching / compared;

    public static IReadOnlyList<CategoryCount> CountCategories(IEnumerable<DriftItem> items) =>
        items.GroupBy(i => i.Category).OrderBy(g => g.Key).Select(g => new CategoryCount(g.Key, g.Count())).ToList();

    public static DriftSeverity? MaxSeverity(IEnumerable<DriftItem> items)
    {
        DriftSeverity? max = null;
        foreach (var item in items.Where(i => i.Category != DriftCategory.ConfigCosmetic))
        {
            if (max is null || item.Severity > max) max = item.Severity;
        }
        return max;
    }

    public static FamilyFigures Figures(IReadOnlyList<FamilyFigures> families, DriftFamily family) =>
        families.FirstOrDefault(f => f.Family == family) ?? new FamilyFigures(family, 0, 0, 0);

    /// <summary>Sums figures family by family; every family appears once, in enum order.</summary>
    public static IReadOnlyList<FamilyFigures> Sum(IEnumerable<IReadOnlyList<FamilyFigures>> parts)
    {
        var compared = new int[FamilyCount];
        var matching = new int[FamilyCount];
        var ignored = new int[FamilyCount];
        foreach (var figures in parts)
        {
            foreach (var f in figures)
            {
                compared[(int)f.Family] += f.Compared;
                matching[(int)f.Family] += f.Matching;
                ignored[(int)f.Family] += f.Ignored;
            }
        }
        return Enumerable.Range(0, FamilyCount).Select(i => new FamilyFigures((DriftFamily)i, compared[i], matching[i], ignored[i])).ToList();
    }

    public static readonly int FamilyCount = Enum.GetValues<DriftFamily>().Length;
}
