namespace Stageproof.Core.Patches;

public enum PatchSeverity
{
    Low,
    Medium,
    High,
    Critical,
}

/// <summary>An exact package version to install.</summary>
public sealed record PatchPackage(string Name, string Version);

/// <summary>
/// A file change: whole content (<see cref="Content"/>, inline or read from <see cref="Source"/> at freeze),
/// or key = value edits of a conf file (<see cref="Set"/>). Owner, group and mode are null when left as they are.
/// </summary>
public sealed record PatchFile
{
    public required string Path { get; init; }
    public string? Owner { get; init; }
    public string? Group { get; init; }
    public string? Mode { get; init; }
    public string? Content { get; init; }
    /// <summary>The file the content came from, relative to the patch set file (kept as provenance once frozen).</summary>
    public string? Source { get; init; }
    public IReadOnlyDictionary<string, string>? Set { get; init; }
}

/// <summary>One SQL file of a migration list; <see cref="Sql"/> and <see cref="Sha256"/> are filled in at freeze.</summary>
public sealed record PatchMigrationScript
{
    public required string File { get; init; }
    public string? Sql { get; init; }
    public string? Sha256 { get; init; }
}

/// <summary>The ordered SQL files for one named database.</summary>
public sealed record PatchMigration(string Database, IReadOnlyList<PatchMigrationScript> Scripts);

/// <summary>How a migration is undone when the change is rolled back (<see cref="PatchWayBack"/>).</summary>
public enum WayBackHow
{
    /// <summary>A down script the rollback runs against the database (in one transaction) instead of restoring it.</summary>
    Down,
    /// <summary>The release before the change runs on the new schema: the rollback keeps the database as it is.</summary>
    Compatible,
    /// <summary>Only a restore of the rollback point's dump undoes it; <see cref="PatchWayBack.Acknowledged"/> says what that costs.</summary>
    Irreversible,
}

/// <summary>
/// A migration's declared way back. <see cref="Migration"/> is a glob on the migration's name as the database's migration
/// history records it (<c>V5__add_message_folders</c>, its version or its description alone), so migrations a package runs
/// itself are covered as well as the set's own. <see cref="Sql"/> and <see cref="Sha256"/> of a down script are filled in at freeze.
/// </summary>
public sealed record PatchWayBack
{
    public required string Migration { get; init; }
    public required WayBackHow How { get; init; }
    /// <summary>The down script, relative to the patch set file (how: down).</summary>
    public string? Down { get; init; }
    public string? Sql { get; init; }
    public string? Sha256 { get; init; }
    /// <summary>What the restore costs, in the author's words (how: irreversible).</summary>
    public string? Acknowledged { get; init; }
}

/// <summary>An operator-authored shell command, kept as written (single line), with an optional timeout.</summary>
public sealed record PatchCommand(string Run, int? TimeoutSeconds = null);

public sealed record PatchCommands
{
    public IReadOnlyList<PatchCommand> Pre { get; init; } = [];
    public IReadOnlyList<PatchCommand> Post { get; init; } = [];
}

/// <summary>A change: its change record, and the exact package versions, files, migrations and commands it brings.</summary>
public sealed record PatchSet
{
    public required string Id { get; init; }
    public required string Title { get; init; }
    public string? Ticket { get; init; }
    public required string Reason { get; init; }
    public string? RootCause { get; init; }
    public required PatchSeverity Severity { get; init; }
    public IReadOnlyList<string> Cves { get; init; } = [];
    public required string Author { get; init; }
    public IReadOnlyList<string> Repositories { get; init; } = [];
    public IReadOnlyList<PatchPackage> Packages { get; init; } = [];
    public IReadOnlyList<PatchFile> Files { get; init; } = [];
    public IReadOnlyList<PatchMigration> Migrations { get; init; } = [];
    /// <summary>Tables whose rows the set means to remove (globs on "schema.table" or the bare name): the stage's data
    /// continuity check lets their loss pass. Null when none (left out of the canonical JSON, so older digests hold).</summary>
    public IReadOnlyList<string>? DataLoss { get; init; }
    /// <summary>Processes the set means to start (globs on the executable's name or the command line): the stage lets
    /// them run. Null when none (left out of the canonical JSON, so older digests hold).</summary>
    public IReadOnlyList<string>? Processes { get; init; }
    /// <summary>How each migration the change adds is undone, first matching declaration wins. Null when none (left out
    /// of the canonical JSON, so older digests hold).</summary>
    public IReadOnlyList<PatchWayBack>? WayBack { get; init; }
    public PatchCommands Commands { get; init; } = new();
    /// <summary>The host roles the set is for (a proxy's nginx update, not the app hosts'): only hosts with one of them
    /// are patched, planned, snapshotted and compared. Null means every host (left out of the canonical JSON, so older
    /// digests hold).</summary>
    public IReadOnlyList<string>? Roles { get; init; }
}

/// <summary>A patch set with every referenced file resolved into it, its canonical JSON and that JSON's SHA-256.</summary>
public sealed record FrozenPatchSet(string Digest, PatchSet Set, string Json);

/// <summary>A frozen patch set as stored.</summary>
public sealed record StoredPatchSet(FrozenPatchSet Frozen, DateTimeOffset FrozenAt)
{
    public string Digest => Frozen.Digest;
    public PatchSet Set => Frozen.Set;
}
