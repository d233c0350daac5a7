using System.Diagnostics;
using System.Globalization;
using Stageproof.Core;
using Stageproof.Core.Validation;
using Stageproof.Lab.Internal;

namespace Stageproof.Lab;

/// <summary>Host snapshots: a lab host's rollback point is a copy of its overlay upper layer.</summary>
public sealed partial class LabManager
{
    private static readonly TimeSpan CopyTimeout = TimeSpan.FromMinutes(10);

    public string SnapshotsDirectory => Path.Combine(Directory, "snapshots");

    /// <summary>
    /// The lab in <paramref name="directory"/> as recorded in its lab.json (addresses, ports), or null when no lab
    /// is up there. For commands that find the lab from its directory rather than from <c>lab up</c>'s options.
    /// </summary>
    public static LabManager? TryOpen(string directory)
    {
        var dir = Path.GetFullPath(directory);
        var state = LabState.Load(dir);
        if (state is null || state.Hosts.Count == 0)
        {
            return null;
        }
        return new LabManager(new LabOptions
        {
            Directory = dir, SshPort = state.SshPort, PostgresPort = state.PostgresPort, AcmeMailPort = state.AcmeMailPort,
            AddressOctet = state.AddressOctet,
        });
    }

    /// <summary>The lab whose stageproof.yaml <paramref name="configFile"/> is (LABDIR/stageproof.yaml beside a
    /// lab.json), or null when the configuration in use is not a lab's.</summary>
    public static LabManager? ForConfigFile(string configFile)
    {
        var full = Path.GetFullPath(configFile);
        return Path.GetFileName(full) == "stageproof.yaml" && Path.GetDirectoryName(full) is { } dir ? TryOpen(dir) : null;
    }

    /// <summary>True when <paramref name="host"/> is a host of this lab whose root is mounted now.</summary>
    public bool HasRunningHost(string host) =>
        LabState.Load(Directory)?.Hosts.SingleOrDefault(h => h.Name == host) is { } h && Mounts.IsMountPoint(h.Root);

    /// <summary>Every complete snapshot, or those of one host.</summary>
    public IReadOnlyList<LabSnapshot> ListSnapshots(string? host = null) =>
        (LabState.Load(Directory)?.Snapshots ?? []).Where(s => s.Complete && (host is null || s.Host == host))
        .Select(ToSnapshot).ToList();

    /// <summary>
    /// <c>lab snapshot HOST ID</c>: copies the host's overlay upper layer (everything that differs from its lower
    /// layers) with <c>cp -a --reflink=auto</c> into LABDIR/snapshots/ID/HOST. The snapshot is recorded in
    /// lab.json before the copy starts and marked complete once the copy is synced.
    /// </summary>
    public async Task<LabSnapshot> SnapshotAsync(string host, string snapshotId, CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        CheckSnapshotId(snapshotId);
        await using var gate = await SnapshotLock.AcquireAsync(Directory, cancellationToken).ConfigureAwait(false);
        var (store, h) = LoadHost(host, "lab snapshot");
        if (!Mounts.IsMountPoint(h.Root))
        {
            throw new InputException($"lab snapshot: host '{host}' is not running (its root {h.Root} is not mounted)");
        }
        if (h.Restoring is not null)
        {
            throw new InputException($"lab snapshot: host '{host}' was left mid-restore of '{h.Restoring}'; restore it again or run `stageproof lab down`");
        }
        if (store.State.Snapshots.Any(s => s.Host == host && s.Id == snapshotId))
        {
            throw new InputException($"lab snapshot: host '{host}' already has a snapshot '{snapshotId}'");
        }
        var target = Path.Combine(SnapshotsDirectory, snapshotId, host);
        var snapshot = new SnapshotState { Id = snapshotId, Host = host, Path = target, CreatedUtc = DateTimeOffset.UtcNow };
        await store.UpdateAsync(s => s.Snapshots.Add(snapshot), cancellationToken).ConfigureAwait(false);
        try
        {
            // A live copy, by choice: acme-mail keeps its data in the environment's PostgreSQL, outside the host, so
            // while it runs only its log and pid files change in the upper layer — a copy taken now is what a
            // power cut would leave, and a restore boots the host from it as from that (with /run emptied). Stopping
            // the service would instead make every rollback point an outage of the host it protects. What a live copy
            // cannot make consistent is a package operation in flight: the caller takes the point before changing
            // the host, never during. sync first, so that everything written through the overlay is on disk before
            // it is read, and again after, so that the snapshot itself survives a crash.
            await Run.CheckedAsync(host, "/bin/sync", [], CopyTimeout, cancellationToken).ConfigureAwait(false);
            await BaseImage.RemoveAsync(target, cancellationToken).ConfigureAwait(false);
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await Run.CheckedAsync(host, "/bin/cp", ["-a", "--reflink=auto", h.Upper, target], CopyTimeout, cancellationToken).ConfigureAwait(false);
            await Run.CheckedAsync(host, "/bin/sync", ["-f", target], CopyTimeout, cancellationToken).ConfigureAwait(false);
            var bytes = await SizeAsync(host, target, cancellationToken).ConfigureAwait(false);
            await store.UpdateAsync(_ =>
            {
                snapshot.Complete = true;
                snapshot.Bytes = bytes;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await BaseImage.RemoveAsync(target, CancellationToken.None).ConfigureAwait(false);
            await store.UpdateAsync(s => s.Snapshots.Remove(snapshot), CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        return ToSnapshot(snapshot) with { Elapsed = sw.Elapsed };
    }

    /// <summary>
    /// <c>lab restore HOST ID</c>: returns the host exactly to the snapshot. The snapshot is first copied beside the
    /// host's layers (the host still running); then its processes are stopped (acme-mail through its init script,
    /// sshd, then every process whose root is the host's root), its mounts removed (sub-mounts first), the upper
    /// layer swapped for the copy with an empty work directory and an empty /run (as after a reboot), the root
    /// mounted again, sshd started and waited for, and acme-mail started when the restored root has it installed
    /// and enabled. lab.json says so before each step, so <c>lab down</c> cleans up after a crash midway.
    /// </summary>
    public async Task<LabSnapshotRestore> RestoreSnapshotAsync(string host, string snapshotId, CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        CheckSnapshotId(snapshotId);
        await using var gate = await SnapshotLock.AcquireAsync(Directory, cancellationToken).ConfigureAwait(false);
        var (store, h) = LoadHost(host, "lab restore");
        var snapshot = store.State.Snapshots.SingleOrDefault(s => s.Host == host && s.Id == snapshotId && s.Complete)
                       ?? throw new InputException($"lab restore: host '{host}' has no snapshot '{snapshotId}' (has: {Known(store.State, host)})");
        if (!System.IO.Directory.Exists(snapshot.Path))
        {
            throw new InfrastructureException(host, $"snapshot '{snapshotId}' is recorded but {snapshot.Path} is missing");
        }
        var roots = new HostRoots(store, Directory);
        var incoming = h.Upper + ".restoring";
        var oldUpper = h.Upper + ".old";
        var work = Path.Combine(h.HostDir, "work");
        var oldWork = work + ".old";

        // 1. The copy, while the host still runs: the outage is only the swap and the restart.
        await store.UpdateAsync(_ => h.Restoring = snapshotId, cancellationToken).ConfigureAwait(false);
        if (!System.IO.Directory.Exists(h.Upper) && System.IO.Directory.Exists(oldUpper))
        {
            // An earlier restore stopped between its two renames: put the host's own layer back first.
            System.IO.Directory.Move(oldUpper, h.Upper);
        }
        foreach (var leftover in new[] { incoming, oldUpper, oldWork })
        {
            await BaseImage.RemoveAsync(leftover, cancellationToken).ConfigureAwait(false);
        }
        await Run.CheckedAsync(host, "/bin/cp", ["-a", "--reflink=auto", snapshot.Path, incoming], CopyTimeout, cancellationToken).ConfigureAwait(false);
        var run = Path.Combine(incoming, "run");
        if (System.IO.Directory.Exists(run))
        {
            // Pid files of processes that no longer exist would make the init scripts believe they still run.
            await Run.CheckedAsync(host, "/usr/bin/find", [run, "-mindepth", "1", "-delete"], TimeSpan.FromMinutes(1), cancellationToken).ConfigureAwait(false);
        }
        var copied = sw.Elapsed;

        // 2. Stop everything running in the root, then unmount it.
        var down = Stopwatch.StartNew();
        var running = Processes.RootedUnder(h.Root).Count(Processes.Alive);
        if (Mounts.IsMountPoint(h.Root))
        {
            await StopHostServicesAsync(h, cancellationToken).ConfigureAwait(false);
        }
        // Whatever is left, even of a host an interrupted restore left half-mounted: SIGTERM, then SIGKILL.
        await Processes.StopAllAsync(h.Root, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        await store.UpdateAsync(_ => h.SshdPid = null, cancellationToken).ConfigureAwait(false);
        await Mounts.UnmountAllUnderAsync(h.Root, cancellationToken).ConfigureAwait(false);
        var prefix = h.Root.TrimEnd('/') + "/";
        await store.UpdateAsync(s => s.Mounts.RemoveAll(m => m == h.Root || m.StartsWith(prefix, StringComparison.Ordinal)), cancellationToken).ConfigureAwait(false);

        // 3. Swap the layers: renames only, so a crash leaves either the old or the new upper in place.
        System.IO.Directory.Move(h.Upper, oldUpper);
        System.IO.Directory.Move(incoming, h.Upper);
        if (System.IO.Directory.Exists(work))
        {
            System.IO.Directory.Move(work, oldWork);
        }

        // 4. Mount (recorded before each mount), sshd, acme-mail.
        await roots.MountAsync(h, cancellationToken).ConfigureAwait(false);
        System.IO.Directory.CreateDirectory(Path.Combine(h.Root, "run/sshd"));
        await roots.StartSshdAsync(h, cancellationToken).ConfigureAwait(false);
        var acme = BaseImage.ServiceEnabled(h.Root, AcmeMail.Package);
        if (acme)
        {
            await AcmeMail.StartAsync(roots, h, store.State.AcmeMailPort, cancellationToken).ConfigureAwait(false);
        }
        else if (Nginx.Enabled(h.Root))
        {
            await Nginx.StartAsync(roots, h, cancellationToken).ConfigureAwait(false);
        }
        else if (Slapd.Enabled(h.Root))
        {
            await Slapd.StartAsync(roots, h, store.State.LdapPort, cancellationToken).ConfigureAwait(false);
        }
        var outage = down.Elapsed;
        await store.UpdateAsync(_ => h.Restoring = null, cancellationToken).ConfigureAwait(false);
        foreach (var old in new[] { oldUpper, oldWork })
        {
            await BaseImage.RemoveAsync(old, cancellationToken).ConfigureAwait(false);
        }
        return new LabSnapshotRestore(snapshotId, host, running, acme, copied, outage, sw.Elapsed);
    }

    /// <summary>Removes a snapshot's copy and its record; false when there was none.</summary>
    public async Task<bool> DeleteSnapshotAsync(string host, string snapshotId, CancellationToken cancellationToken = default)
    {
        CheckSnapshotId(snapshotId);
        await using var gate = await SnapshotLock.AcquireAsync(Directory, cancellationToken).ConfigureAwait(false);
        var state = LabState.Load(Directory);
        var snapshot = state?.Snapshots.SingleOrDefault(s => s.Host == host && s.Id == snapshotId);
        if (state is null || snapshot is null)
        {
            return false;
        }
        var store = new StateStore(Directory, state);
        await BaseImage.RemoveAsync(snapshot.Path, cancellationToken).ConfigureAwait(false);
        var parent = Path.GetDirectoryName(snapshot.Path)!;
        if (System.IO.Directory.Exists(parent) && !System.IO.Directory.EnumerateFileSystemEntries(parent).Any())
        {
            System.IO.Directory.Delete(parent);
        }
        await store.UpdateAsync(s => s.Snapshots.Remove(snapshot), cancellationToken).ConfigureAwait(false);
        return true;
    }

    private static void CheckSnapshotId(string snapshotId)
    {
        if (Names.IdentifierError(snapshotId, "snapshot id") is { } error)
        {
            throw new InputException(error);
        }
    }

    private (StateStore Store, HostState Host) LoadHost(string host, string verb)
    {
        var state = LabState.Load(Directory) ?? throw new InputException($"no lab in {Directory} (lab.json missing); run `stageproof lab up` first");
        var h = state.Hosts.SingleOrDefault(x => x.Name == host)
                ?? throw new InputException($"{verb}: host {Names.Show(host)} is not a lab host (known: {string.Join(", ", state.Hosts.Select(x => x.Name))})");
        return (new StateStore(Directory, state), h);
    }

    private static string Known(LabState state, string host)
    {
        var ids = state.Snapshots.Where(s => s.Host == host && s.Complete).Select(s => s.Id).ToList();
        return ids.Count == 0 ? "none" : string.Join(", ", ids);
    }

    /// <summary>acme-mail through its init script (as an operator would), then sshd by its pid file.</summary>
    private static async Task StopHostServicesAsync(HostState h, CancellationToken ct)
    {
        if (File.Exists(Path.Combine(h.Root, "etc/init.d/acme-mail")) && File.Exists(Path.Combine(h.Root, "run/acme-mail.pid")))
        {
            await Run.ExecAsync(h.Name, "/usr/sbin/chroot", [h.Root, "/usr/sbin/service", "acme-mail", "stop"], TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        }
        var pidFile = Path.Combine(h.Root, "run/sshd.pid");
        if (File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile, ct).ConfigureAwait(false)).Trim(), out var pid)
            && Processes.RootedUnder(h.Root).Contains(pid))
        {
            Processes.Signal(pid, 15);
        }
    }


    private static async Task<long> SizeAsync(string subject, string dir, CancellationToken ct)
    {
        var output = await Run.CheckedAsync(subject, "/usr/bin/du", ["-sb", dir], TimeSpan.FromMinutes(2), ct).ConfigureAwait(false);
        return long.TryParse(output.Split('\t', ' ')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var b) ? b : 0;
    }

    private static LabSnapshot ToSnapshot(SnapshotState s) => new(s.Id, s.Host, s.Path, s.CreatedUtc, s.Bytes, TimeSpan.Zero);

    /// <summary>
    /// Serialises snapshot operations on one lab, within and across processes (an exclusive lock on
    /// LABDIR/snapshots.lock, which .NET takes with flock): each reads lab.json, changes it and writes it back.
    /// </summary>
    private sealed class SnapshotLock : IAsyncDisposable
    {
        private readonly FileStream _file;

        private SnapshotLock(FileStream file) => _file = file;

        public static async Task<SnapshotLock> AcquireAsync(string labDir, CancellationToken ct)
        {
            if (!System.IO.Directory.Exists(labDir))
            {
                throw new InputException($"no lab in {labDir}; run `stageproof lab up` first");
            }
            var path = Path.Combine(labDir, "snapshots.lock");
            while (true)
            {
                try
                {
                    return new SnapshotLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
                }
                catch (IOException) when (File.Exists(path))
                {
                    await Task.Delay(100, ct).ConfigureAwait(false);
                }
            }
        }

        public ValueTask DisposeAsync() => _file.DisposeAsync();
    }
}
