using System.Diagnostics;
using System.Security.Cryptography;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Artifacts;
using Stageproof.Hosts.Transports;

namespace Stageproof.Hosts.Tests.Artifacts;

/// <summary>
/// A closure published as a snapshot repository with the real Debian tools (dpkg-deb, apt-ftparchive, gpg), received by
/// a "host" (this machine, through the local transport, into a temporary directory) and read by the real apt-get
/// with the snapshot as its only source, simulating only: nothing on this machine is installed.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SnapshotPublisherTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "stageproof-snapshot-" + Guid.NewGuid().ToString("N")[..8]);

    public SnapshotPublisherTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    /// <summary>A real, tiny .deb built by dpkg-deb: one file whose text names the build.</summary>
    private async Task<(ClosureDeb Deb, byte[] Bytes)> DebAsync(string name, string version, string text)
    {
        var root = P($"build-{name}-{version}");
        Directory.CreateDirectory(Path.Combine(root, "DEBIAN"));
        Directory.CreateDirectory(Path.Combine(root, "usr", "share", name));
        await File.WriteAllTextAsync(Path.Combine(root, "DEBIAN", "control"),
            $"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: Stageproof tests <tests@localhost>\nDescription: snapshot test package\n");
        await File.WriteAllTextAsync(Path.Combine(root, "usr", "share", name, "build.txt"), text + "\n");
        var deb = P($"{name}_{version}_all.deb");
        var build = Process.Start(new ProcessStartInfo("dpkg-deb", ["--root-owner-group", "--build", root, deb]) { RedirectStandardOutput = true })!;
        await build.WaitForExitAsync();
        Assert.Equal(0, build.ExitCode);
        var bytes = await File.ReadAllBytesAsync(deb);
        return (new ClosureDeb(name, version, "all", Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.LongLength), bytes);
    }

    private async Task<(SnapshotPublisher Publisher, PackageClosure Closure)> ClosureAsync()
    {
        var publisher = new SnapshotPublisher(P("state"), P("host"));
        var (newDeb, newBytes) = await DebAsync("sp-demo", "1.1-1", "proven build");
        var (oldDeb, oldBytes) = await DebAsync("sp-demo", "1.0-1", "previous build");
        await publisher.Artifacts.PutAsync(newBytes, newDeb.Sha256, newDeb.Spec, CancellationToken.None);
        await publisher.Artifacts.PutAsync(oldBytes, oldDeb.Sha256, oldDeb.Spec, CancellationToken.None);
        return (publisher, PackageClosure.Create("test/local", DateTimeOffset.UtcNow, [newDeb], [oldDeb]));
    }

    [Fact]
    public async Task A_published_closure_is_a_signed_repository_that_apt_reads_as_its_only_source()
    {
        var (publisher, closure) = await ClosureAsync();
        var snapshot = await publisher.PublishAsync(closure, CancellationToken.None);

        // The signature holds against the key Stageproof generated (gpgv, as apt checks it).
        var gpgv = Process.Start(new ProcessStartInfo("gpgv", ["--keyring", Path.Combine(snapshot.Directory, "key.gpg"), Path.Combine(snapshot.Directory, "InRelease")])
            { RedirectStandardError = true })!;
        await gpgv.WaitForExitAsync();
        Assert.Equal(0, gpgv.ExitCode);
        Assert.Contains(closure.Packages[0].Sha256, await File.ReadAllTextAsync(Path.Combine(snapshot.Directory, "Packages")), StringComparison.Ordinal);

        var local = new LocalTransport("local");
        var patcher = new HostPatcher(local, TimeSpan.FromSeconds(60));
        await patcher.ReceiveSnapshotAsync(snapshot.HostDirectory, await publisher.TarAsync(snapshot, CancellationToken.None), snapshot.Files, CancellationToken.None);
        var fromSnapshot = new HostPatcher(local, TimeSpan.FromSeconds(60)) { AptOptions = snapshot.AptOptions };
        await fromSnapshot.UpdatePackageListsAsync(CancellationToken.None);
        var changes = await fromSnapshot.SimulateAsync([new PatchPackage("sp-demo", "1.1-1")], CancellationToken.None);
        Assert.Equal([new PackageChange("sp-demo", null, "1.1-1")], changes);

        // Only the snapshot: the version it keeps for rollbacks is not offered, and nothing else is either.
        await Assert.ThrowsAsync<StepFailedException>(() => fromSnapshot.SimulateAsync([new PatchPackage("sp-demo", "1.0-1")], CancellationToken.None));
        await Assert.ThrowsAsync<StepFailedException>(() => fromSnapshot.SimulateAsync([new PatchPackage("bash", "0.0-0")], CancellationToken.None));
    }

    [Fact]
    public async Task A_deb_changed_in_the_artifact_store_is_refused_naming_the_package_and_both_hashes()
    {
        var (publisher, closure) = await ClosureAsync();
        var deb = closure.Packages[0];
        var path = publisher.Artifacts.PathOf(deb.Sha256);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[^1] ^= 0xff;
        await File.WriteAllBytesAsync(path, bytes);

        var refused = await Assert.ThrowsAsync<ArtifactMismatchException>(() => publisher.PublishAsync(closure, CancellationToken.None));
        Assert.Equal("sp-demo=1.1-1", refused.Package);
        Assert.Equal(deb.Sha256, refused.Expected);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), refused.Found);
        Assert.False(Directory.Exists(Path.Combine(publisher.Root, closure.Digest)));
    }

    [Fact]
    public async Task A_host_that_receives_other_bytes_than_the_closure_names_them_and_keeps_nothing()
    {
        var (publisher, closure) = await ClosureAsync();
        var snapshot = await publisher.PublishAsync(closure, CancellationToken.None);
        var tar = await publisher.TarAsync(snapshot, CancellationToken.None);
        var expected = snapshot.Files.Select(f => f.Path == "pool/" + closure.Packages[0].FileName ? (f.Path, f.Deb with { Sha256 = new string('0', 64) }) : f).ToList();

        var patcher = new HostPatcher(new LocalTransport("local"), TimeSpan.FromSeconds(60));
        var refused = await Assert.ThrowsAsync<StepFailedException>(() => patcher.ReceiveSnapshotAsync(snapshot.HostDirectory, tar, expected, CancellationToken.None));
        Assert.Contains($"sp-demo=1.1-1: expected SHA-256 {new string('0', 64)}, found {closure.Packages[0].Sha256}", refused.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(snapshot.HostDirectory));
        Assert.False(Directory.Exists(snapshot.HostDirectory + ".new"));
    }

    [Fact]
    public async Task A_host_that_holds_the_snapshot_file_for_file_is_not_sent_it_again_and_a_copy_that_differs_is_replaced()
    {
        var (publisher, closure) = await ClosureAsync();
        var snapshot = await publisher.PublishAsync(closure, CancellationToken.None);
        var tar = await publisher.TarAsync(snapshot, CancellationToken.None);
        var contents = await publisher.ContentsAsync(snapshot, CancellationToken.None);
        Assert.Equal(["InRelease", "Packages", "Release", "key.gpg", "pool/" + closure.Packages[0].FileName, "previous/" + closure.Previous[0].FileName, "snapshot.list"],
            contents.Select(c => c.Path).Order(StringComparer.Ordinal));
        var local = new LocalTransport("local");
        var patcher = new HostPatcher(local, TimeSpan.FromSeconds(60));
        var fromSnapshot = new HostPatcher(local, TimeSpan.FromSeconds(60)) { AptOptions = snapshot.AptOptions };
        var pool = Path.Combine(snapshot.HostDirectory, "pool", closure.Packages[0].FileName);
        var previous = Path.Combine(snapshot.HostDirectory, "previous");

        // First time: not there, so sent. Then apt has read it (lists/ holds its index).
        Assert.False(await patcher.ReceiveSnapshotAsync(snapshot.HostDirectory, tar, snapshot.Files, CancellationToken.None, contents));
        await fromSnapshot.UpdatePackageListsAsync(CancellationToken.None);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(snapshot.HostDirectory, "lists")));
        var sent = await InodeAsync(snapshot.HostDirectory);

        // Again: every file as published, so nothing is sent; lists/ is empty again, as a fresh receive leaves it.
        Assert.True(await patcher.ReceiveSnapshotAsync(snapshot.HostDirectory, tar, snapshot.Files, CancellationToken.None, contents));
        Assert.Empty(Directory.GetFiles(Path.Combine(snapshot.HostDirectory, "lists")));
        Assert.True(Directory.Exists(Path.Combine(snapshot.HostDirectory, "lists", "partial")));
        Assert.Equal(sent, await InodeAsync(snapshot.HostDirectory));
        await fromSnapshot.UpdatePackageListsAsync(CancellationToken.None);
        Assert.Equal([new PackageChange("sp-demo", null, "1.1-1")], await fromSnapshot.SimulateAsync([new PatchPackage("sp-demo", "1.1-1")], CancellationToken.None));

        // A copy with other bytes in a .deb, with one file more, or with a file less is sent again, and is then exactly the tar.
        var published = await File.ReadAllBytesAsync(pool);
        var changed = published.ToArray();
        changed[^1] ^= 0xff;
        await File.WriteAllBytesAsync(pool, changed);
        Assert.False(await patcher.ReceiveSnapshotAsync(snapshot.HostDirectory, tar, snapshot.Files, CancellationToken.None, contents));
        Assert.Equal(published, await File.ReadAllBytesAsync(pool));
        Assert.NotEqual(sent, await InodeAsync(snapshot.HostDirectory));

        await File.WriteAllTextAsync(Path.Combine(previous, "sp-other_9.9-1_all.deb"), "planted");
        Assert.False(await patcher.ReceiveSnapshotAsync(snapshot.HostDirectory, tar, snapshot.Files, CancellationToken.None, contents));
        Assert.Equal(["previous/" + closure.Previous[0].FileName], Directory.GetFiles(previous).Select(f => "previous/" + Path.GetFileName(f)));

        File.Delete(Path.Combine(snapshot.HostDirectory, "key.gpg"));
        Assert.False(await patcher.ReceiveSnapshotAsync(snapshot.HostDirectory, tar, snapshot.Files, CancellationToken.None, contents));
        Assert.True(File.Exists(Path.Combine(snapshot.HostDirectory, "key.gpg")));
        Assert.True(await patcher.ReceiveSnapshotAsync(snapshot.HostDirectory, tar, snapshot.Files, CancellationToken.None, contents));
    }

    /// <summary>The directory's inode: a receive unpacks into a new directory and moves it in place; a held copy keeps its own.</summary>
    private static async Task<string> InodeAsync(string path)
    {
        var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true })!;
        var inode = await stat.StandardOutput.ReadToEndAsync();
        await stat.WaitForExitAsync();
        Assert.Equal(0, stat.ExitCode);
        return inode.Trim();
    }

    [Fact]
    public void A_closure_record_whose_entries_were_edited_no_longer_matches_its_digest()
    {
        var deb = new ClosureDeb("acme-mail", "1.1-1", "amd64", new string('a', 64), 10);
        var closure = PackageClosure.Create("staging/stage-app-1", DateTimeOffset.UtcNow, [deb], []);
        Assert.True(closure.Intact);
        Assert.False((closure with { Packages = [deb with { Sha256 = new string('b', 64) }] }).Intact);
        Assert.Equal(closure.Digest, PackageClosure.Create("elsewhere", DateTimeOffset.UnixEpoch, [deb, deb], []).Digest);
    }
}
