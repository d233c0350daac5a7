namespace Stageproof.Core.Manifests;

/// <summary>What kind of thing a manifest describes.</summary>
public enum ManifestKind { Host, Database, Directory }

/// <summary>
/// The recorded state of one host (or one database) at one time. Collections are kept sorted so that the
/// canonical JSON, and so the digest, depends only on the state, never on collection order or time.
/// </summary>
public sealed record Manifest
{
    public ManifestKind Kind { get; init; } = ManifestKind.Host;
    /// <summary>Host name, or "ENV/DB" for a database, "ENV/NAME" for a directory.</summary>
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
    public DirectoryServerInfo? Directory { get; init; }
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

/// <summary>
/// An LDAP directory (OpenLDAP) as read through LDAP: its version (cn=Monitor), loaded modules, overlays, cn=config
/// settings (never a secret: no olcRootPW, no entry's userPassword), the schema's names with a digest, and the number of
/// entries under each configured base.
/// </summary>
public sealed record DirectoryServerInfo
{
    public required string Name { get; init; }
    /// <summary>slapd's version as cn=Monitor gives it ("OpenLDAP: slapd 2.5.13+dfsg-5"), or "unknown".</summary>
    public required string ServerVersion { get; init; }
    /// <summary>olcModuleLoad values without their order prefix or extension: "back_mdb", "ppolicy".</summary>
    public IReadOnlyList<string> Modules { get; init; } = [];
    /// <summary>Overlays as "OVERLAY on DATABASE": "ppolicy on mdb dc=acme,dc=test".</summary>
    public IReadOnlyList<string> Overlays { get; init; } = [];
    /// <summary>cn=config settings, "ENTRY: attribute" → value(s): "mdb dc=acme,dc=test: olcDbIndex" → "objectClass eq | uid eq".</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new SortedDictionary<string, string>(StringComparer.Ordinal);
    public required DirectorySchema Schema { get; init; }
    /// <summary>Base DN → entries in its subtree (the base included).</summary>
    public IReadOnlyDictionary<string, long> EntryCounts { get; init; } = new SortedDictionary<string, long>(StringComparer.Ordinal);
}

/// <summary>The subschema's attribute type and object class names, and a SHA-256 over every definition.</summary>
public sealed record DirectorySchema
{
    public required string Digest { get; init; }
    public IReadOnlyList<string> AttributeTypes { get; init; } = [];
    public IReadOnlyList<string> ObjectClasses { get; init; } = [];
}
