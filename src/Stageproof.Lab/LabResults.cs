namespace Stageproof.Lab;

/// <summary>One host of the lab as built.</summary>
public sealed record LabHost(string Name, string Environment, string Role, string Address, int Port, string Root);

/// <summary>One environment of the lab as built: its mail database (<see cref="DatabaseEngine"/> postgres or mariadb) and,
/// on the mail estate, the directory acme-mail binds to.</summary>
public sealed record LabEnvironment(string Name, IReadOnlyList<string> Hosts, string DatabaseAddress, int DatabasePort,
    string MailConnectionString, string? MirrorOf, string DatabaseEngine = "postgres", string? DirectoryUrl = null);

/// <summary>What <c>lab up</c> built and how long it took.</summary>
public sealed record LabUpResult(string Directory, string ConfigFile, string BaseImage, bool BaseImageBuilt,
    bool AcmeMailInstalled, IReadOnlyList<LabHost> Hosts, IReadOnlyList<LabEnvironment> Environments, TimeSpan Elapsed);

/// <summary>What <c>lab down</c> removed; <see cref="LabDownResult.DatabasesStopped"/> counts every server of the
/// environments it stopped: PostgreSQL or MariaDB (the mail estate's slapd runs on a host: among the processes).</summary>
public sealed record LabDownResult(bool WasUp, int ProcessesStopped, int DatabasesStopped, int Unmounted, int LazyUnmounts, TimeSpan Elapsed);

public sealed record LabHostStatus(string Name, string Environment, string Address, bool Mounted, bool SshUp, bool? AcmeMailHealthy);

/// <summary>An environment's servers as observed: its database (and, on the mail estate, its directory) accepting connections.</summary>
public sealed record LabEnvironmentStatus(string Name, string DatabaseEngine, string DatabaseAddress, bool DatabaseUp, string? DirectoryAddress = null, bool? DirectoryUp = null);

/// <summary>The lab as observed now: mounts, listening sshd, acme-mail health, the databases and directories.</summary>
public sealed record LabStatus(bool Up, string Directory, IReadOnlyList<LabHostStatus> Hosts, IReadOnlyList<LabEnvironmentStatus> Environments)
{
    public bool Healthy => Up && Hosts.All(h => h.Mounted && h.SshUp && h.AcmeMailHealthy != false) && Environments.All(e => e.DatabaseUp && e.DirectoryUp != false);
}

/// <summary>What <c>lab clone</c> made.</summary>
public sealed record LabCloneResult(LabEnvironment Environment, IReadOnlyList<LabHost> Hosts, TimeSpan Elapsed);

/// <summary>The repository after <c>lab repo add/remove</c>: every package version it now offers.</summary>
public sealed record LabRepoResult(IReadOnlyList<string> Packages, int HostsUpdated);

/// <summary>A host snapshot: a copy of the host's overlay upper layer in <see cref="Path"/> (LABDIR/snapshots/ID/HOST).
/// <see cref="Elapsed"/> is the time taking it took (zero when listed).</summary>
public sealed record LabSnapshot(string Id, string Host, string Path, DateTimeOffset CreatedUtc, long Bytes, TimeSpan Elapsed);

/// <summary>What a snapshot restore did: processes stopped in the host's root, whether acme-mail was started
/// again; the copy (made while the host still ran), the outage (stop, swap, remount, sshd and acme-mail answering)
/// and the whole.</summary>
public sealed record LabSnapshotRestore(string Id, string Host, int ProcessesStopped, bool AcmeMailStarted,
    TimeSpan Copy, TimeSpan Outage, TimeSpan Elapsed);
