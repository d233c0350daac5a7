namespace Stageproof.Core.Manifests;

/// <summary>What kind of thing a manifest describes.</summary>
public enum ManifestKind { Host, Database }

/// <summary>
/// The recorded state of one host (or one database) at one time. Collections are kept sorted so that the
/// canonical JSON, and so the digest, depends only on the state, never on collection order or time.
/// </summary>
public sealed record Manifest
{
    public ManifestKind Kind { get; init; } = ManifestKind.Host;
    /// <summary>Host name, or "ENV/DB" for a database.</summary>
    public required string Target { get; init; }
    public string? Environment { get; init; }
    public string? Role { get; init; }
    /// <summary>When it was collected. Not part of the digest.</summary>
    public DateTimeOffset CollectedAt { get; init; }
    public OsInfo? Os { get; init; }
    public IReadOnlyList<PackageInfo> Packages { get; init; } = [];
    public IReadOnlyList<PendingUpgrade> PendingUpgrades { get; init; } = [];
    public IReadOnlyList<ConfigFileInfo> Files { get; init; } = [];
    public IReadOnlyList<ServiceInfo> Services { get; init; } = [];
    public IReadOnlyList<ListeningPort> Ports { get; init; } = [];
    public DatabaseInfo? Database { get; init; }
}

public sealed record OsInfo(string Id, string VersionId, string PrettyName, string Kernel, string Architecture);

public sealed record PackageInfo(string Name, string Version, string Architecture);

/// <summary>An upgrade apt would make. <see cref="Security"/> when the candidate comes from a security archive.</summary>
public sealed record PendingUpgrade(string Name, string? CurrentVersion, string CandidateVersion, string Origin, bool Security);

/// <summary>A tracked file. <see cref="Content"/> is null when the file is binary, too large or absent;
/// secrets in it are already masked.</summary>
public sealed record ConfigFileInfo(string Path, string Owner, string Group, string Mode, string Sha256, long Size, string? Content);

public sealed record ServiceInfo(string Name, bool Running, string Manager);

public sealed record ListeningPort(string Protocol, string Address, int Port);

public sealed record DatabaseInfo
{
    public required string Name { get; init; }
    public required string ServerVersion { get; init; }
    /// <summary>Settings that differ from the server's built-in default, name → value.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new SortedDictionary<string, string>(StringComparer.Ordinal);
    public required SchemaFingerprint Schema { get; init; }
}

/// <summary>Every schema object as a (kind, name, definition) triple; the digest covers them all.</summary>
public sealed record SchemaFingerprint
{
    public required string Digest { get; init; }
    public IReadOnlyList<SchemaObject> Objects { get; init; } = [];
    /// <summary>Rows of the migration history table, if the database has one.</summary>
    public IReadOnlyList<MigrationRecord> Migrations { get; init; } = [];
}

/// <summary>Kind is one of: table, column, index, constraint, extension, view, sequence, function.</summary>
public sealed record SchemaObject(string Kind, string Name, string Definition);

public sealed record MigrationRecord(string Version, string Description, string? Checksum, bool Success);
