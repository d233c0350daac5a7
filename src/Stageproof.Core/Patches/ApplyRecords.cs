namespace Stageproof.Core.Patches;

/// <summary>What became of one host in an apply or rollback run. Never unknown: a host the run did not reach is
/// <see cref="NotStarted"/>, one it was working on when it was killed stays <see cref="InProgress"/> with its step.</summary>
public enum HostRunStatus
{
    NotStarted,
    InProgress,
    Applied,
    AlreadyApplied,
    RolledBack,
    FailedNeedsAttention,
}

/// <summary>How dpkg treats a conffile the operator changed when the new package ships another version of it.</summary>
public enum ConffilePolicy
{
    /// <summary>Keep the operator's file (<c>--force-confold</c>).</summary>
    Keep,
    /// <summary>Take the package's file (<c>--force-confnew</c>).</summary>
    Package,
}

/// <summary>One host's part in a run: its status and the step it is at, written before the step is taken.</summary>
public sealed record HostRunRecord
{
    public required string Host { get; init; }
    public HostRunStatus Status { get; init; } = HostRunStatus.NotStarted;
    /// <summary>The step being taken or last taken (rollback-point, pre-commands, packages, files, post-commands, verify...).</summary>
    public string? Step { get; init; }
    public string? Message { get; init; }
    /// <summary>Names of anything that did not return to its recorded state after a rollback.</summary>
    public IReadOnlyList<string> Residue { get; init; } = [];
    public string? ManifestBefore { get; init; }
    public string? ManifestAfter { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>Seconds spent in each step (inspect, rollback-point, packages, ...): where an apply's time goes.</summary>
    public IReadOnlyDictionary<string, double> StepSeconds { get; init; } = new Dictionary<string, double>();
}

/// <summary>One database's part in a run.</summary>
public sealed record DatabaseRunRecord
{
    public required string Database { get; init; }
    public IReadOnlyList<string> Applied { get; init; } = [];
    public IReadOnlyList<string> AlreadyApplied { get; init; } = [];
    public string? Message { get; init; }
}

public enum RunKind
{
    Apply,
    Rollback,
}

/// <summary>The record of one apply or rollback, kept in the state store and rewritten before every step.</summary>
public sealed record PatchRun
{
    public required string Id { get; init; }
    public required RunKind Kind { get; init; }
    public required string PatchDigest { get; init; }
    public required string PatchId { get; init; }
    public required string Environment { get; init; }
    public required string Actor { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public string? RollbackPoint { get; init; }
    public IReadOnlyList<HostRunRecord> Hosts { get; init; } = [];
    public IReadOnlyList<DatabaseRunRecord> Databases { get; init; } = [];
    /// <summary>For a rollback: whether a database had to be restored, and what that discarded.</summary>
    public IReadOnlyList<DatabaseRestoreRecord> Restores { get; init; } = [];
    /// <summary>For a rollback: whether a directory had to be restored, and what that discarded.</summary>
    public IReadOnlyList<DirectoryRestoreRecord> DirectoryRestores { get; init; } = [];
    /// <summary>For an apply with packages: the exact .debs every host installed, from a snapshot repository — the
    /// proven closure it was given, or the one it resolved on its first host.</summary>
    public PackageClosure? Closure { get; init; }

    public bool Succeeded => HostsSucceeded && DirectoryRestores.All(d => d.Error is null);

    /// <summary>Every host ended as asked: applied (or already), or for a rollback, rolled back.</summary>
    public bool HostsSucceeded => Hosts.All(h => h.Status is HostRunStatus.Applied or HostRunStatus.AlreadyApplied
        || (Kind == RunKind.Rollback && h.Status == HostRunStatus.RolledBack));

    public PatchRun WithHost(HostRunRecord host) =>
        this with { Hosts = Hosts.Select(h => h.Host == host.Host ? host : h).ToList() };
}

/// <summary>A package as it was before the change: <see cref="OldVersion"/> null when the change installs it new.
/// <see cref="KeptDeb"/> is the exact old .deb kept on the host, so a downgrade never needs a mirror.</summary>
public sealed record PackagePoint(string Name, string? OldVersion, string NewVersion, string? KeptDeb);

/// <summary>A host's rollback point: where its backups live on the host, and what they cover.</summary>
public sealed record HostPoint
{
    public required string Host { get; init; }
    /// <summary>The directory on the host that holds the kept .debs and the file archive.</summary>
    public required string Directory { get; init; }
    public IReadOnlyList<PackagePoint> Packages { get; init; } = [];
    /// <summary>Every file saved (the set's files, the tracked config, the changing packages' conffiles).</summary>
    public IReadOnlyList<string> Files { get; init; } = [];
    /// <summary>Files of <see cref="Files"/> that did not exist: a rollback removes them.</summary>
    public IReadOnlyList<string> AbsentFiles { get; init; } = [];
    /// <summary>The host's manifest digest before the change; a rollback must return to it on the touched scope.</summary>
    public required string ManifestBefore { get; init; }
    /// <summary>The id of a whole-host snapshot (the lab's overlay roots) taken for this point, if any.</summary>
    public string? Snapshot { get; init; }
}

/// <summary>A database's rollback point: a dump taken before the change, kept in <see cref="Directory"/> on the control machine.</summary>
public sealed record DatabasePoint
{
    public required string Database { get; init; }
    public required string Directory { get; init; }
    public required string SchemaDigest { get; init; }
}

/// <summary>
/// A directory's rollback point: every entry under its bases with every user attribute, exported through LDAP as LDIF
/// into <see cref="Directory"/> on the control machine before the change.
/// </summary>
public sealed record DirectoryPoint
{
    /// <summary>The directory's name in the environment's <c>directories</c>.</summary>
    public required string Name { get; init; }
    public required string Directory { get; init; }
    public IReadOnlyList<string> Bases { get; init; } = [];
    public required int Entries { get; init; }
    /// <summary>sha256 of the export in its canonical order: a restore is verified against it.</summary>
    public required string Digest { get; init; }
}

/// <summary>What a directory restore did, or would have done.</summary>
public sealed record DirectoryRestoreRecord
{
    public required string Directory { get; init; }
    public bool Needed { get; init; }
    public bool Restored { get; init; }
    public string? Why { get; init; }
    /// <summary>"added since the point: uid=dave,ou=people,…", "removed …", "changed (mail, userPassword) …": what the
    /// restore discards (or would). Attribute names only, never values.</summary>
    public IReadOnlyList<string> Discarded { get; init; } = [];
    /// <summary>Set when the directory could not be compared or restored: the rollback did not succeed, and its point stays active.</summary>
    public string? Error { get; init; }
}

/// <summary>What a database restore did, or would have done.</summary>
public sealed record DatabaseRestoreRecord
{
    public required string Database { get; init; }
    public bool Needed { get; init; }
    public bool Restored { get; init; }
    public string? Why { get; init; }
    /// <summary>"table: N row(s) written since the point, M removed or replaced" for data written since the change that the
    /// restore discards (or would).</summary>
    public IReadOnlyList<string> Discarded { get; init; } = [];
    /// <summary>The migrations the change added to this database's history, with their declared way back (way_back).</summary>
    public IReadOnlyList<AddedMigration> Migrations { get; init; } = [];
    /// <summary>The declared down scripts that ran and committed, newest migration first ("sql/V6_down.sql for V6__x").</summary>
    public IReadOnlyList<string> DownScripts { get; init; } = [];
    /// <summary>Set when the way back did not hold: a down script failed (its error; nothing of it committed), or after
    /// them the schema or history still differs from the point's.</summary>
    public string? DownFailed { get; init; }
}

public enum RollbackPointStatus
{
    /// <summary>Taken; the change it guards may be on the hosts.</summary>
    Active,
    RolledBack,
}

/// <summary>The known point an environment returns to: one per apply run, covering every host and database it touched.</summary>
public sealed record RollbackPoint
{
    public required string Id { get; init; }
    public required string Environment { get; init; }
    public required string PatchDigest { get; init; }
    public required string PatchId { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public RollbackPointStatus Status { get; init; } = RollbackPointStatus.Active;
    public IReadOnlyList<HostPoint> Hosts { get; init; } = [];
    public IReadOnlyList<DatabasePoint> Databases { get; init; } = [];
    public IReadOnlyList<DirectoryPoint> Directories { get; init; } = [];
}
