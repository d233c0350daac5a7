using Stageproof.Core.Configuration;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Facts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Facts;

/// <summary>
/// Facts of a tiny root (a few of this machine's binaries with their libraries, a hand-written dpkg status,
/// one init script) through the chroot transport: what is collected is the root's, not the machine's.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ChrootFactsTests : IDisposable
{
    private static readonly string[] Binaries =
    [
        "/bin/sh", "/usr/bin/cat", "/usr/bin/uname", "/usr/bin/stat", "/usr/bin/sha256sum", "/usr/bin/base64",
        "/usr/bin/grep", "/usr/bin/dpkg-query", "/usr/bin/timeout", "/usr/bin/cksum", "/usr/bin/mkdir", "/usr/bin/mv", "/usr/bin/rm",
    ];

    private readonly TinyRoot _tiny = new();

    private string Root => _tiny.Path;

    public void Dispose() => _tiny.Dispose();

    [SkippableFact]
    public async Task A_chroot_hosts_packages_files_and_sysv_services_are_its_own()
    {
        TinyRoot.Require();
        await BuildRootAsync();
        var host = new HostConfig { Name = "tiny", Transport = TransportKind.Chroot, Root = Root, Address = "127.0.3.250" };
        await using var transport = new ChrootTransport("tiny", Root);

        var m = await new HostFactsCollector().CollectAsync(host, transport,
            new DriftRules { Track = ["/etc/acme-mail/*.conf"] }, "lab", CancellationToken.None);

        Assert.Equal("Tiny Debian", m.Os!.PrettyName);
        Assert.Equal([new("acme-mail", "1.0-1", "amd64")], m.Packages);
        Assert.Empty(m.PendingUpgrades);
        var f = Assert.Single(m.Files);
        Assert.Equal("/etc/acme-mail/mail.conf", f.Path);
        Assert.Equal("token: ********\n", f.Content);
        Assert.Equal([new ServiceInfo("acme-mail", true, "sysv"), new ServiceInfo("broken", false, "sysv")], m.Services.OrderBy(s => s.Name));
        Assert.Empty(m.Ports);
    }

    [SkippableFact]
    public async Task Pending_upgrades_are_computed_once_and_again_only_when_dpkg_or_apt_state_changes()
    {
        TinyRoot.Require();
        await BuildRootAsync();
        // FAKE apt-get: answers one upgrade and counts how often apt's resolver would have run.
        var apt = Path.Combine(Root, "usr/bin/apt-get");
        await File.WriteAllTextAsync(apt, "#!/bin/sh\necho run >> /apt-runs\necho 'Inst acme-mail [1.0-1] (1.1-1 Debian-Security:12/stable-security [amd64])'\n");
        File.SetUnixFileMode(apt, (UnixFileMode)0b111_101_101);
        var host = new HostConfig { Name = "tiny", Transport = TransportKind.Chroot, Root = Root, Address = "127.0.3.250" };
        await using var transport = new ChrootTransport("tiny", Root);
        int Runs() => File.Exists(Path.Combine(Root, "apt-runs")) ? File.ReadAllLines(Path.Combine(Root, "apt-runs")).Length : 0;
        async Task<Manifest> CollectAsync() => await new HostFactsCollector().CollectAsync(host, transport, new DriftRules(), "lab", CancellationToken.None);
        var expected = new PendingUpgrade("acme-mail", "1.0-1", "1.1-1", "Debian-Security:12/stable-security", true);

        Assert.Equal([expected], (await CollectAsync()).PendingUpgrades);
        Assert.Equal(1, Runs());
        Assert.Equal([expected], (await CollectAsync()).PendingUpgrades);
        Assert.Equal(1, Runs()); // kept: dpkg's and apt's state did not change

        // A package installed or removed rewrites dpkg's status (a new file): apt is asked again.
        var status = Path.Combine(Root, "var/lib/dpkg/status");
        await File.WriteAllTextAsync(status + "-new", await File.ReadAllTextAsync(status) + "Package: extra\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nDescription: x\n\n");
        File.Move(status + "-new", status, overwrite: true);
        Assert.Equal([expected], (await CollectAsync()).PendingUpgrades);
        Assert.Equal(2, Runs());

        // New package lists (apt-get update) as well.
        Directory.CreateDirectory(Path.Combine(Root, "var/lib/apt/lists"));
        await File.WriteAllTextAsync(Path.Combine(Root, "var/lib/apt/lists/deb.debian.org_Packages"), "Package: acme-mail\n");
        await CollectAsync();
        Assert.Equal(3, Runs());
        await CollectAsync();
        Assert.Equal(3, Runs());
    }

    private async Task BuildRootAsync()
    {
        await _tiny.AddProgramsAsync(Binaries);
        Directory.CreateDirectory(Path.Combine(Root, "var/lib/dpkg/info"));
        Directory.CreateDirectory(Path.Combine(Root, "var/lib/dpkg/updates"));
        await File.WriteAllTextAsync(Path.Combine(Root, "var/lib/dpkg/available"), "");
        await File.WriteAllTextAsync(Path.Combine(Root, "var/lib/dpkg/status"), """
            Package: acme-mail
            Status: install ok installed
            Architecture: amd64
            Version: 1.0-1
            Description: demo mail service

            Package: removed-one
            Status: deinstall ok config-files
            Architecture: amd64
            Version: 0.9
            Description: only its conffiles remain

            """);
        Directory.CreateDirectory(Path.Combine(Root, "etc/acme-mail"));
        await File.WriteAllTextAsync(Path.Combine(Root, "etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Tiny Debian\"\n");
        await File.WriteAllTextAsync(Path.Combine(Root, "etc/acme-mail/mail.conf"), "token: abc\n");
        Directory.CreateDirectory(Path.Combine(Root, "etc/init.d"));
        foreach (var (name, code) in new[] { ("acme-mail", 0), ("broken", 3), ("README", 0), ("helper.sh", 0) })
        {
            var path = Path.Combine(Root, "etc/init.d", name);
            await File.WriteAllTextAsync(path, $"#!/bin/sh\n[ \"$1\" = status ] && exit {code}\nexit 1\n");
            File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        }
    }
}
