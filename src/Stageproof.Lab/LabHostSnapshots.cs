using Stageproof.Core.Patches;

namespace Stageproof.Lab;

/// <summary>
/// <see cref="IHostSnapshots"/> for the lab's hosts: overlay snapshots through <see cref="LabManager"/>. Open it
/// with <see cref="ForConfigFile"/> when the configuration in use is the lab's own stageproof.yaml (its host names
/// are the lab's), or <see cref="Open"/> from a lab directory.
/// </summary>
public sealed class LabHostSnapshots(LabManager lab) : IHostSnapshots
{
    public LabManager Lab { get; } = lab;

    /// <summary>The snapshots of the lab in <paramref name="labDirectory"/>, or null when no lab is up there.</summary>
    public static LabHostSnapshots? Open(string labDirectory) =>
        LabManager.TryOpen(labDirectory) is { } lab ? new LabHostSnapshots(lab) : null;

    /// <summary>The snapshots of the lab whose stageproof.yaml <paramref name="configFile"/> is, or null.</summary>
    public static LabHostSnapshots? ForConfigFile(string configFile) =>
        LabManager.ForConfigFile(configFile) is { } lab ? new LabHostSnapshots(lab) : null;

    public bool Covers(string host) => Lab.HasRunningHost(host);

    public async Task<string> SnapshotAsync(string host, string pointId, CancellationToken cancellationToken) =>
        (await Lab.SnapshotAsync(host, pointId, cancellationToken).ConfigureAwait(false)).Path;

    public Task RestoreAsync(string host, string pointId, CancellationToken cancellationToken) =>
        Lab.RestoreSnapshotAsync(host, pointId, cancellationToken);

    public Task DeleteAsync(string host, string pointId, CancellationToken cancellationToken) =>
        Lab.DeleteSnapshotAsync(host, pointId, cancellationToken);
}
