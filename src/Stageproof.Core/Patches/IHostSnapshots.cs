namespace Stageproof.Core.Patches;

/// <summary>
/// Whole-host rollback points, for hosts whose storage can be snapshotted (the lab's overlayfs roots). The apply
/// engine asks <see cref="Covers"/> per host and, when it does, takes a snapshot before changing the host and
/// restores it to roll back — in addition to (never instead of) the package, file and database providers, whose
/// records say what the rollback touched.
/// </summary>
public interface IHostSnapshots
{
    /// <summary>True when <paramref name="host"/> (a name from the configuration) can be snapshotted now.</summary>
    bool Covers(string host);

    /// <summary>Takes a snapshot of the host named <paramref name="pointId"/> (an identifier: a letter or '_',
    /// then letters, digits, '_' or '-'); returns where it is kept. Fails when that point already exists.</summary>
    Task<string> SnapshotAsync(string host, string pointId, CancellationToken cancellationToken);

    /// <summary>Returns the host exactly to the snapshot <paramref name="pointId"/> and waits until it answers ssh
    /// again (its services restarted as a reboot would).</summary>
    Task RestoreAsync(string host, string pointId, CancellationToken cancellationToken);

    /// <summary>Drops a snapshot that is no longer needed; no error when it does not exist.</summary>
    Task DeleteAsync(string host, string pointId, CancellationToken cancellationToken);
}
