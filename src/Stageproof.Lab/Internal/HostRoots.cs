using System.Globalization;
using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>
/// A lab host: an overlayfs root (lower = base, or a clone's snapshot stacked on the base; upper and work in
/// LABDIR/hosts/NAME), with /proc, /dev, /dev/pts and the lab repository (read-only) mounted in, and its own
/// sshd inside the root on its own loopback address.
/// </summary>
internal sealed class HostRoots(StateStore store, string labDir)
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    private LabState State => store.State;

    public string LogDir => Path.Combine(labDir, "logs");

    public async Task MountAsync(HostState host, CancellationToken ct)
    {
        System.IO.Directory.CreateDirectory(host.Upper);
        System.IO.Directory.CreateDirectory(Path.Combine(host.HostDir, "work"));
        System.IO.Directory.CreateDirectory(host.Root);
        await MountOnceAsync(host, host.Root, ["-t", "overlay", "overlay", "-o",
            $"lowerdir={string.Join(':', host.Lower)},upperdir={host.Upper},workdir={Path.Combine(host.HostDir, "work")}", host.Root], ct).ConfigureAwait(false);
        await MountOnceAsync(host, Path.Combine(host.Root, "proc"), ["-t", "proc", "proc", Path.Combine(host.Root, "proc")], ct).ConfigureAwait(false);
        await MountOnceAsync(host, Path.Combine(host.Root, "dev"), ["--bind", "/dev", Path.Combine(host.Root, "dev")], ct).ConfigureAwait(false);
        await MountOnceAsync(host, Path.Combine(host.Root, "dev/pts"), ["--bind", "/dev/pts", Path.Combine(host.Root, "dev/pts")], ct).ConfigureAwait(false);
        var repo = Path.Combine(host.Root, BaseImage.RepoMountPoint.TrimStart('/'));
        System.IO.Directory.CreateDirectory(repo);
        await MountOnceAsync(host, repo, ["--bind", LabRepo.PathIn(labDir), repo], ct).ConfigureAwait(false);
        await Mounts.MountAsync(host.Name, ["-o", "remount,bind,ro", repo], ct).ConfigureAwait(false);
    }

    /// <summary>Records the mount point in lab.json before mounting; keeps it out of every other mount namespace's
    /// propagation (a bind of /dev must never carry our sub-mounts back to the machine's /dev).</summary>
    private async Task MountOnceAsync(HostState host, string target, IReadOnlyList<string> args, CancellationToken ct)
    {
        await store.UpdateAsync(s => s.Mounts.Add(target), ct).ConfigureAwait(false);
        await Mounts.MountAsync(host.Name, args, ct).ConfigureAwait(false);
        await Mounts.MountAsync(host.Name, ["--make-private", target], ct).ConfigureAwait(false);
    }

    /// <summary>Hostname, hosts file, listen address, the lab key, and (unless the root already has one, as a
    /// clone does) a host key of its own.</summary>
    public async Task ConfigureAsync(HostState host, string labPublicKey, CancellationToken ct)
    {
        string P(string rel) => Path.Combine(host.Root, rel.TrimStart('/'));
        await BaseImage.WriteAsync(P("/etc/hostname"), host.Name + "\n", ct).ConfigureAwait(false);
        await BaseImage.WriteAsync(P("/etc/hosts"), $"127.0.0.1 localhost\n{host.Address} {host.Name}\n", ct).ConfigureAwait(false);
        await BaseImage.WriteAsync(P("/etc/ssh/sshd_config.d/stageproof-listen.conf"),
            $"# Stageproof lab: this host's own loopback address\nListenAddress {host.Address}:{State.SshPort}\n", ct).ConfigureAwait(false);
        System.IO.Directory.CreateDirectory(P("/root/.ssh"));
        await BaseImage.WriteAsync(P("/root/.ssh/authorized_keys"), labPublicKey.Trim() + "\n", ct, mode: "0600").ConfigureAwait(false);
        System.IO.Directory.CreateDirectory(P("/run/sshd"));
        if (!File.Exists(P("/etc/ssh/ssh_host_ed25519_key")))
        {
            await InRootAsync(host, ["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@" + host.Name,
                "-f", "/etc/ssh/ssh_host_ed25519_key"], ct).ConfigureAwait(false);
        }
    }

    public async Task StartSshdAsync(HostState host, CancellationToken ct)
    {
        System.IO.Directory.CreateDirectory(LogDir);
        var pidFile = Path.Combine(host.Root, "run/sshd.pid");
        File.Delete(pidFile);
        await Run.DaemonAsync(host.Name, Path.Combine(LogDir, host.Name + ".sshd.log"), "/usr/sbin/chroot",
            [host.Root, "/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config", "-E", "/var/log/sshd.log"], Short, ct).ConfigureAwait(false);
        if (!await Net.WaitUntilAsync(c => Net.TcpOpenAsync(host.Address, State.SshPort, c), TimeSpan.FromSeconds(20), ct).ConfigureAwait(false))
        {
            throw new InfrastructureException(host.Name, $"sshd did not accept connections on {host.Address}:{State.SshPort} within 20s " +
                $"(see {host.Root}/var/log/sshd.log)");
        }
        if (File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile, ct).ConfigureAwait(false)).Trim(), out var pid))
        {
            await store.UpdateAsync(_ => host.SshdPid = pid, ct).ConfigureAwait(false);
        }
    }

    public Task<string> InRootAsync(HostState host, IEnumerable<string> command, CancellationToken ct, TimeSpan? timeout = null) =>
        Run.CheckedAsync(host.Name, "/usr/sbin/chroot", [host.Root, .. command], timeout ?? TimeSpan.FromMinutes(5), ct,
            new Dictionary<string, string> { ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ["DEBIAN_FRONTEND"] = "noninteractive" });

    public Task AptUpdateAsync(HostState host, CancellationToken ct) => InRootAsync(host, LabRepo.UpdateCommand, ct);

    /// <summary>apt-get install of <paramref name="package"/> (NAME or NAME=VERSION) without questions, keeping any
    /// config file the lab wrote; <paramref name="environment"/> (VAR=VALUE) is passed to the maintainer scripts.</summary>
    public Task AptInstallAsync(HostState host, string package, CancellationToken ct, params string[] environment) =>
        InRootAsync(host, ["/usr/bin/env", .. environment, "apt-get", "install", "-y", "-q",
            "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", package], ct);

    /// <summary>Adds Debian's own archives to the host's apt sources (<see cref="LabOptions.Upstream"/>) and reads their lists.</summary>
    public async Task UpstreamAsync(HostState host, string sources, CancellationToken ct)
    {
        await BaseImage.WriteAsync(Path.Combine(host.Root, "etc/apt/sources.list.d/stageproof-upstream.sources"), sources, ct).ConfigureAwait(false);
        await InRootAsync(host, ["apt-get", "update", "-qq"], ct, TimeSpan.FromMinutes(5)).ConfigureAwait(false);
    }

    /// <summary>The known_hosts line for a host: <c>[ADDR]:PORT ssh-ed25519 KEY</c>.</summary>
    public string KnownHostsLine(HostState host)
    {
        var pub = File.ReadAllText(Path.Combine(host.Root, "etc/ssh/ssh_host_ed25519_key.pub")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var name = State.SshPort == 22 ? host.Address : $"[{host.Address}]:{State.SshPort.ToString(CultureInfo.InvariantCulture)}";
        return $"{name} {pub[0]} {pub[1]}";
    }
}
