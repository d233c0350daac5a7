using System.Globalization;
using Stageproof.Core.Checks;
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

    /// <summary>
    /// A continuity query's first row at the rollback point against now (<see cref="SqlCheck.Continuity"/>): each numeric
    /// column that fell by more than the rule's <c>max_loss</c>, each other column that changed, or the query no longer
    /// answering. A check named in the set's <c>data_loss</c> (globs) is declared: listed, never a reason.
    /// </summary>
    public static IReadOnlyList<ValueLoss> ValueLosses(SqlCheck check, CheckResult atPoint, CheckResult now, IReadOnlyList<string> declared)
    {
        ArgumentNullException.ThrowIfNull(check);
        ArgumentNullException.ThrowIfNull(atPoint);
        ArgumentNullException.ThrowIfNull(now);
        ArgumentNullException.ThrowIfNull(declared);
        var rule = check.Continuity ?? new ContinuityRule();
        var isDeclared = declared.Select(Glob.ToRegex).Any(g => g.IsMatch(check.Name));
        ValueLoss Loss(string column, string? before, string? after, string? problem = null) =>
            new(check.Name, check.Database, column, before, after, rule.MaxLoss, isDeclared) { Problem = problem };
        if (atPoint.Values is not { } before)
        {
            return []; // nothing recorded at the point (the query failed then): the baseline already said so
        }
        if (now.Values is not { } after)
        {
            return [Loss("*", null, null, now.Passed ? "the query returned no row" : now.Message)];
        }
        var losses = new List<ValueLoss>();
        foreach (var (column, was) in before.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!after.TryGetValue(column, out var value))
            {
                losses.Add(Loss(column, was, null, "the column is gone from the query's row"));
            }
            else if (Number(was) is { } b && Number(value) is { } a)
            {
                if (b > 0 && a < b && (b - a) / b > rule.MaxLoss + 1e-12)
                {
                    losses.Add(Loss(column, was, value));
                }
            }
            else if (!string.Equals(was, value, StringComparison.Ordinal))
            {
                losses.Add(Loss(column, was, value));
            }
        }
        return losses;
    }

    internal static double? Number(string? text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && double.IsFinite(n) ? n : null;
}

/// <summary>A column of a continuity query (<c>continuity:</c> on a sql check) that moved beyond its rule since the
/// rollback point: a number that fell by more than <see cref="MaxLoss"/>, or any other value that changed.</summary>
public sealed record ValueLoss(string Check, string Database, string Column, string? AtPoint, string? Now, double MaxLoss, bool Declared)
{
    /// <summary>Set when there is nothing to compare now: the query failed, returned no row, or lost the column.</summary>
    public string? Problem { get; init; }

    public override string ToString()
    {
        var what = Problem is { } p ? $"{Check} ({Database}): {(Column == "*" ? "" : Column + ": ")}{p}"
            : DataContinuity.Number(AtPoint) is { } b && DataContinuity.Number(Now) is { } a
                ? string.Create(CultureInfo.InvariantCulture, $"{Check} ({Database}) {Column}: {AtPoint} at the rollback point, {Now} now: fell {(b - a) / b:0.##%} (at most {MaxLoss:0.##%})")
                : $"{Check} ({Database}) {Column}: {Shown(AtPoint)} at the rollback point, {Shown(Now)} now";
        return what + (Declared ? " (declared by the set's data_loss)" : "");
    }

    private static string Shown(string? value) => value is null ? "NULL" : $"\"{value}\"";
}
