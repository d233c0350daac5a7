using System.Globalization;
using Stageproof.Core.Drift;

namespace Stageproof.Core.Stage;

/// <summary>A table's exact row count at the rollback point and now (null: not counted, or the table is not there).</summary>
public sealed record TableRows(string Table, long? AtPoint, long? Now);

/// <summary>Rows of a table that were there at the rollback point and are not now (a net loss), and whether the set declares it.</summary>
public sealed record RowLoss(string Database, string Table, long AtPoint, long Now, bool Dropped, bool Declared)
{
    public long Lost => AtPoint - Now;

    public double Fraction => AtPoint == 0 ? 0 : (double)Lost / AtPoint;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Database} {Table}: {AtPoint} row(s) at the rollback point, {(Dropped ? "the table is gone" : $"{Now} now")}: {Lost} lost ({Fraction:0.#%})")
        + (Declared ? " (declared by the set's data_loss)" : "");
}

/// <summary>
/// Data continuity: every table's exact row count at the rollback point (taken just before the change) against the
/// count after it. Load checks only add rows to the lab's tables, so a net loss is data the change removed: a
/// migration that deletes or truncates, a table dropped. A set that means to remove rows (an archiving migration)
/// declares the tables in <c>data_loss</c> (globs on "schema.table" or the bare table name).
/// </summary>
public static class DataContinuity
{
    public static IReadOnlyList<RowLoss> Losses(string database, IEnumerable<TableRows> tables, IReadOnlyList<string> declared)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(declared);
        var globs = declared.Select(Glob.ToRegex).ToList();
        var losses = new List<RowLoss>();
        foreach (var t in tables.OrderBy(t => t.Table, StringComparer.Ordinal))
        {
            if (t.AtPoint is not { } atPoint || atPoint == 0)
            {
                continue; // created since the point, too large to count exactly, or empty: nothing to lose
            }
            var now = t.Now ?? 0;
            if (now >= atPoint)
            {
                continue;
            }
            var bare = t.Table.StartsWith("public.", StringComparison.Ordinal) ? t.Table["public.".Length..] : t.Table;
            var isDeclared = globs.Any(g => g.IsMatch(t.Table) || g.IsMatch(bare));
            losses.Add(new RowLoss(database, t.Table, atPoint, now, t.Now is null, isDeclared));
        }
        return losses;
    }
}
