using System.Security.Cryptography;
using System.Text;
using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>
/// The debootstrapped Debian root every host's overlay stacks on. Built once per (suite, package list, recipe)
/// into CACHE/base-SUITE-HASH: debootstrap runs into a temporary directory that is renamed only when complete,
/// so a half-built base is never used.
/// </summary>
internal static class BaseImage
{
    /// <summary>What a lab host needs beyond minbase: its sshd, ps/kill, curl for checks, sudo, and what the
    /// init scripts and maintainer scripts of services like acme-mail use.</summary>
    public static readonly string[] Include =
        ["openssh-server", "procps", "curl", "ca-certificates", "sudo", "adduser", "lsb-base", "iproute2",
         "python3-minimal", "python3-apt"];

    /// <summary>Bump when <see cref="ConfigureAsync"/> changes, so old caches are not reused.</summary>
    private const string Recipe = "lab-base-v1";

    public const string RepoMountPoint = "/srv/stageproof-repo";
    public const string LabSourceList = "sources.list.d/stageproof-lab.list";

    /// <summary>
    /// Denies every service start from a maintainer script (invoke-rc.d) except those listed in
    /// /etc/stageproof/policy-rc.d.allow. The lab lists acme-mail there once it has configured and started it,
    /// so later upgrades restart it like on a real server; sshd is started by the lab, never by dpkg (a
    /// postinst-started sshd would bind the machine's port 22).
    /// </summary>
    private const string PolicyAllowList = "etc/stageproof/policy-rc.d.allow";

    /// <summary>Lets maintainer scripts (re)start <paramref name="service"/> on the host from now on: the lab writes this
    /// once it has configured and started the service itself.</summary>
    public static Task AllowStartsAsync(string root, string service, CancellationToken ct) =>
        File.WriteAllTextAsync(Path.Combine(root, PolicyAllowList), service + "\n", ct);

    /// <summary>Installed (its init script is in the root) and enabled (<see cref="AllowStartsAsync"/> named it).</summary>
    public static bool ServiceEnabled(string root, string service)
    {
        var allow = Path.Combine(root, PolicyAllowList);
        return File.Exists(Path.Combine(root, "etc/init.d", service)) && File.Exists(allow) && File.ReadAllLines(allow).Any(l => l.Trim() == service);
    }

    private const string PolicyRcD = """
        #!/bin/sh
        # Stageproof lab: maintainer scripts may start only the services listed in /etc/stageproof/policy-rc.d.allow.
        while [ $# -gt 0 ]; do
          case "$1" in --*) shift ;; *) break ;; esac
        done
        if [ -f /etc/stageproof/policy-rc.d.allow ] && grep -qx -- "$1" /etc/stageproof/policy-rc.d.allow; then
          exit 0
        fi
        exit 101

        """;

    private const string SshdConfig = """
        # Stageproof lab host. The listen address and port are per host, in sshd_config.d/stageproof-listen.conf,
        # so that this file is identical on every host.
        Include /etc/ssh/sshd_config.d/*.conf
        HostKey /etc/ssh/ssh_host_ed25519_key
        PidFile /run/sshd.pid
        UsePAM no
        StrictModes no
        MaxStartups 200:30:300
        PermitRootLogin prohibit-password
        PubkeyAuthentication yes
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        AuthorizedKeysFile .ssh/authorized_keys
        UseDNS no
        PrintMotd no
        AcceptEnv LANG LC_*
        Subsystem sftp /usr/lib/openssh/sftp-server

        """;

    public static string CacheName(string suite)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{Recipe}|{suite}|{string.Join(',', Include)}")))[..12];
        return $"base-{suite}-{key}";
    }

    /// <summary>Returns the base image directory, building it first if the cache has none.</summary>
    public static async Task<(string Dir, bool Built)> EnsureAsync(LabOptions options, IProgress<string>? progress, CancellationToken ct)
    {
        var dir = Path.Combine(options.CacheDirectory, CacheName(options.Suite));
        if (System.IO.Directory.Exists(dir))
        {
            return (dir, false);
        }
        System.IO.Directory.CreateDirectory(options.CacheDirectory);
        // One builder at a time per cache; a second waits and then finds the finished base.
        await using var lockFile = await CachedDirectory.LockAsync(Path.Combine(options.CacheDirectory, ".base.lock"), ct).ConfigureAwait(false);
        if (System.IO.Directory.Exists(dir))
        {
            return (dir, false);
        }
        var mirror = options.Mirror ?? AptSources.FindDebianMirror(options.Suite);
        var tmp = dir + ".partial";
        await RemoveAsync(tmp, ct).ConfigureAwait(false);
        progress?.Report($"building the {options.Suite} base image with debootstrap from {mirror} (once; cached in {dir})");
        try
        {
            await Run.CheckedAsync("lab", "/usr/sbin/debootstrap",
                ["--variant=minbase", "--include=" + string.Join(',', Include), options.Suite, tmp, mirror],
                TimeSpan.FromMinutes(20), ct).ConfigureAwait(false);
            await ConfigureAsync(tmp, ct).ConfigureAwait(false);
            System.IO.Directory.Move(tmp, dir);
        }
        catch
        {
            await RemoveAsync(tmp, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        return (dir, true);
    }

    private static async Task ConfigureAsync(string root, CancellationToken ct)
    {
        string P(string rel) => Path.Combine(root, rel.TrimStart('/'));
        await WriteAsync(P("/usr/sbin/policy-rc.d"), PolicyRcD, ct, mode: "0755").ConfigureAwait(false);
        System.IO.Directory.CreateDirectory(P("/etc/stageproof"));
        await WriteAsync(P("/etc/apt/apt.conf.d/90stageproof-lab"),
            "// Stageproof lab: exactly the named packages, nothing recommended or suggested.\n" +
            "APT::Install-Recommends \"false\";\nAPT::Install-Suggests \"false\";\n", ct).ConfigureAwait(false);
        await WriteAsync(P("/etc/apt/sources.list"),
            "# Stageproof lab: no network sources. Packages come from the lab repository, see sources.list.d/stageproof-lab.list.\n", ct).ConfigureAwait(false);
        await WriteAsync(P("/etc/apt/" + LabSourceList), $"deb [trusted=yes] file:{RepoMountPoint} ./\n", ct).ConfigureAwait(false);
        System.IO.Directory.CreateDirectory(P(RepoMountPoint));
        foreach (var f in System.IO.Directory.EnumerateFiles(P("/var/lib/apt/lists")).Where(f => !f.EndsWith("/lock", StringComparison.Ordinal)))
        {
            File.Delete(f);
        }
        foreach (var f in System.IO.Directory.EnumerateFiles(P("/var/cache/apt"), "*.bin")
                     .Concat(System.IO.Directory.EnumerateFiles(P("/var/cache/apt/archives"), "*.deb")))
        {
            File.Delete(f);
        }
        // openssh-server's postinst generated host keys; every host makes its own instead.
        foreach (var f in System.IO.Directory.EnumerateFiles(P("/etc/ssh"), "ssh_host_*"))
        {
            File.Delete(f);
        }
        await WriteAsync(P("/etc/ssh/sshd_config"), SshdConfig, ct).ConfigureAwait(false);
        System.IO.Directory.CreateDirectory(P("/etc/ssh/sshd_config.d"));
        System.IO.Directory.CreateDirectory(P("/run/sshd"));
        System.IO.Directory.CreateDirectory(P("/root/.ssh"));
        Chmod(P("/root/.ssh"), "0700");
        await WriteAsync(P("/etc/hostname"), "lab-base\n", ct).ConfigureAwait(false);
        await WriteAsync(P("/etc/hosts"), "127.0.0.1 localhost\n", ct).ConfigureAwait(false);
        await File.WriteAllTextAsync(P("/etc/stageproof/base"), $"{Recipe}\n{string.Join(' ', Include)}\n", ct).ConfigureAwait(false);
    }

    internal static async Task WriteAsync(string path, string content, CancellationToken ct, string? mode = null)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (File.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            File.Delete(path);
        }
        await File.WriteAllTextAsync(path, content.Replace("\r\n", "\n", StringComparison.Ordinal), ct).ConfigureAwait(false);
        if (mode is not null)
        {
            Chmod(path, mode);
        }
    }

    internal static void Chmod(string path, string octal)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(octal, 8));
        }
    }

    /// <summary>Removes a directory tree, first unmounting anything left mounted in it (a failed debootstrap
    /// can leave /proc mounted), never crossing into another filesystem.</summary>
    internal static async Task RemoveAsync(string dir, CancellationToken ct)
    {
        if (!System.IO.Directory.Exists(dir))
        {
            return;
        }
        await Mounts.UnmountAllUnderAsync(dir, ct).ConfigureAwait(false);
        if (Mounts.Under(dir).Count > 0)
        {
            throw new InfrastructureException("lab", $"refusing to remove {dir}: still mounted: {string.Join(", ", Mounts.Under(dir))}");
        }
        await Run.CheckedAsync("lab", "/bin/rm", ["-rf", "--one-file-system", dir], TimeSpan.FromMinutes(5), ct).ConfigureAwait(false);
    }
}
