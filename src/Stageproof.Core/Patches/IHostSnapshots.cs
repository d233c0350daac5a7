namespace Stageproof.Core.Patches;

/// <summary>Whole-host snapshots, where the platform has them (the lab's overlay roots): a rollback point's last resort.</summary>
public interface IHostSnapshots
{
    /// <summary>Whether this provider can snapshot <paramref name="host"/>.</summary>
    bool Covers(string host);

    /// <summary>Takes a snapshot of the host for a rollback point; returns the snapshot's id.</summary>
    Task<string> SnapshotAsync(string host, string pointId, CancellationToken cancellationToken);

    /// <summary>Returns the host to the snapshot <paramref name="snapshotId"/>.</summary>
    Task RestoreAsync(string host, string snapshotId, CancellationToken cancellationToken);
}
