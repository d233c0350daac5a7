using System.Globalization;
using Stageproof.Core.Manifests;
using Stageproof.Core.Validation;

namespace Stageproof.Core.Patches;

/// <summary>A migration the change added to a database's history, and how the set declares it is undone: <see cref="How"/>
/// null when undeclared, else the declaration's index in the set's <c>way_back</c>.</summary>
public sealed record AddedMigration(string Database, string Name, WayBackHow? How = null, int? Declaration = null)
{
    /// <summary>"V5__add_message_folders (mail): down" — for notes and audit lines.</summary>
    public override string ToString() => $"{Name} ({Database}): " + (How is { } how ? how.ToString().ToLowerInvariant() : "undeclared");
}

/// <summary>Matches the migrations a change added against the set's <c>way_back</c> declarations.</summary>
public static class WayBacks
{
    /// <summary>
    /// A history row's name as its script is named: <c>V{version}__{description}</c> when both are recorded (acme-mail's
    /// and Flyway's histories, which record "add message folders" for <c>V2__add_message_folders.sql</c>: spaces become
    /// underscores again), else the description (Stageproof's own history: the script) or the version.
    /// </summary>
    public static string Name(MigrationRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Description.Length == 0)
        {
            return record.Version;
        }
        if (record.Version.Length == 0 || record.Version.StartsWith("R:", StringComparison.Ordinal))
        {
            return record.Description;
        }
        return decimal.TryParse(record.Version, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out _)
            ? $"V{record.Version}__{record.Description.Replace(' ', '_')}"
            : record.Description;
    }

    /// <summary>The first declaration whose glob matches the migration's name, its description as recorded or its version.</summary>
    public static PatchWayBack? Declared(IReadOnlyList<PatchWayBack>? declarations, MigrationRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var name = Name(record);
        return (declarations ?? []).FirstOrDefault(d => Wildcard.IsMatch(d.Migration, name)
            || (record.Description.Length > 0 && Wildcard.IsMatch(d.Migration, record.Description))
            || (record.Version.Length > 0 && Wildcard.IsMatch(d.Migration, record.Version)));
    }

    /// <summary>The rows of <paramref name="now"/> that <paramref name="before"/> does not hold (by version and description),
    /// in the order the history lists them, each with its declaration.</summary>
    public static IReadOnlyList<AddedMigration> Added(string database, IReadOnlyList<MigrationRecord> before, IReadOnlyList<MigrationRecord> now,
        IReadOnlyList<PatchWayBack>? declarations)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(now);
        var known = before.Select(m => (m.Version, m.Description)).ToHashSet();
        return Of(database, now.Where(m => !known.Contains((m.Version, m.Description))).ToList(), declarations);
    }

    /// <summary>The given history rows (added by the change), each with its declaration.</summary>
    public static IReadOnlyList<AddedMigration> Of(string database, IReadOnlyList<MigrationRecord> added, IReadOnlyList<PatchWayBack>? declarations)
    {
        ArgumentNullException.ThrowIfNull(added);
        var list = declarations ?? [];
        return added.Select(m => Declared(list, m) is { } d
            ? new AddedMigration(database, Name(m), d.How, IndexOf(list, d))
            : new AddedMigration(database, Name(m))).ToList();
    }

    /// <summary>
    /// The down scripts to run, newest migration first, each declaration once (a glob may cover several migrations).
    /// </summary>
    public static IReadOnlyList<(PatchWayBack Declaration, IReadOnlyList<string> Migrations)> DownScripts(IReadOnlyList<AddedMigration> added,
        IReadOnlyList<PatchWayBack>? declarations)
    {
        ArgumentNullException.ThrowIfNull(added);
        var list = declarations ?? [];
        var result = new List<(PatchWayBack, IReadOnlyList<string>)>();
        var seen = new HashSet<int>();
        foreach (var m in added.Reverse())
        {
            if (m is not { How: WayBackHow.Down, Declaration: { } index } || index >= list.Count || !seen.Add(index))
            {
                continue;
            }
            result.Add((list[index], added.Where(a => a.Declaration == index).Select(a => a.Name).ToList()));
        }
        return result;
    }

    private static int IndexOf(IReadOnlyList<PatchWayBack> list, PatchWayBack d)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (ReferenceEquals(list[i], d))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>What a set author writes to declare an undeclared migration's way back.</summary>
    public static string HowToDeclare(string name) =>
        $"declare its way back in the set: way_back: [{{ migration: \"{name}\", how: down, down: FILE.sql }}] (a down script), " +
        "how: compatible (the old release runs on the new schema) or how: irreversible with acknowledged: \"what the restore costs\"";
}
