using Stageproof.Core.Configuration;

namespace Stageproof.Core.Checks;

/// <summary>What a suite runs against: an environment's hosts and the databases of every environment (for same_as).</summary>
public sealed record CheckEnvironment
{
    public required string Name { get; init; }
    public required IReadOnlyList<HostConfig> Hosts { get; init; }
    /// <summary>Environment → database name → Npgsql connection string.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Databases { get; init; } =
        new Dictionary<string, IReadOnlyDictionary<string, string>>();

    /// <summary>This environment's directories by name (ldap checks with directory: run against their URL).</summary>
    public IReadOnlyDictionary<string, DirectoryConfig> Directories { get; init; } = new Dictionary<string, DirectoryConfig>();

    public IReadOnlyDictionary<string, string> OwnDatabases =>
        Databases.TryGetValue(Name, out var own) ? own : new Dictionary<string, string>();

    public static CheckEnvironment From(StageproofConfig config, string environment)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new CheckEnvironment
        {
            Name = config.Environment(environment).Name,
            Hosts = config.HostsOf(environment),
            Databases = config.Environments.ToDictionary(e => e.Key, e => e.Value.Databases, StringComparer.Ordinal),
            Directories = config.Environment(environment).Directories,
        };
    }

    /// <summary>The address HTTP and TCP checks use for a host: its configured address, loopback for local and chroot hosts.</summary>
    public static string AddressOf(HostConfig host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return host.Address ?? "127.0.0.1";
    }
}

/// <summary>Where each log file ended when the marker was taken: (check, host) → inode and size.</summary>
public sealed record LogMarkers(IReadOnlyDictionary<(string Check, string Host), LogMarker> Marks, DateTimeOffset TakenAt);

/// <summary>A log file's inode and size at a moment; a missing file has inode "none".</summary>
public sealed record LogMarker(string Inode, long Offset);
