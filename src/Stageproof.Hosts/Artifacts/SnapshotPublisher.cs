using System.Collections.Concurrent;
using System.Formats.Tar;
using System.Security.Cryptography;
using Stageproof.Core;
using Stageproof.Core.Hosts;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Transports;

namespace Stageproof.Hosts.Artifacts;

/// <summary>A closure published as a flat apt repository: where it is on this machine and on a host, and what each file must hash to.</summary>
public sealed record PublishedSnapshot(PackageClosure Closure, string Directory, string HostDirectory)
{
    /// <summary>Relative path in the repository → the .deb it must be.</summary>
    public IReadOnlyList<(string Path, ClosureDeb Deb)> Files =>
        [.. Closure.Packages.Select(d => ("pool/" + d.FileName, d)), .. Closure.Previous.Select(d => ("previous/" + d.FileName, d))];

    /// <summary>apt options that make the snapshot the only source apt sees (host sources, lists and caches untouched).</summary>
    public IReadOnlyList<string> AptOptions =>
    [
        "-o", $"Dir::Etc::SourceList={HostDirectory}/snapshot.list",
        "-o", $"Dir::Etc::SourceParts={HostDirectory}/parts.d",
        "-o", $"Dir::State::Lists={HostDirectory}/lists",
        "-o", "Dir::Cache::pkgcache=",
        "-o", "Dir::Cache::srcpkgcache=",
    ];
}

/// <summary>
/// Publishes a package closure as a snapshot apt repository: the .debs from the <see cref="ArtifactStore"/> (each
/// checked against its hash), Packages and Release written by apt-ftparchive, Release signed (InRelease) with a key
/// Stageproof generates once under its state. A host receives the repository over its existing transport, under
/// <see cref="HostRoot"/>, with the public key beside it; its own apt sources and keyrings are never touched.
/// </summary>
public sealed class SnapshotPublisher(string stateDirectory, string hostRoot = SnapshotPublisher.HostRoot)
{
    public const string HostRoot = "/var/lib/stageproof/snapshots";

    private static readonly TimeSpan ToolTimeout = TimeSpan.FromMinutes(5);
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public ArtifactStore Artifacts { get; } = new(Path.Combine(stateDirectory, "artifacts"));

    public string Root { get; } = Path.Combine(stateDirectory, "snapshots");

    private string SigningHome => Path.Combine(stateDirectory, "signing");

    public string HostDirectory(PackageClosure closure) => hostRoot + "/" + closure.Digest;

    /// <summary>The snapshot of <paramref name="closure"/>, built on first use and kept (rebuilt when a file is missing).</summary>
    public async Task<PublishedSnapshot> PublishAsync(PackageClosure closure, CancellationToken ct)
    {
        if (!closure.Intact)
        {
            throw new InputException($"package closure {closure.Digest[..12]}: its entries do not hash to its digest (the stored record was altered)");
        }
        var snapshot = new PublishedSnapshot(closure, Path.Combine(Root, closure.Digest), HostDirectory(closure));
        await Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (File.Exists(Path.Combine(snapshot.Directory, "InRelease")))
            {
                return snapshot;
            }
            var building = snapshot.Directory + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)) + ".tmp";
            try
            {
                Directory.CreateDirectory(Path.Combine(building, "pool"));
                Directory.CreateDirectory(Path.Combine(building, "previous"));
                foreach (var (path, deb) in snapshot.Files)
                {
                    var bytes = await Artifacts.ReadVerifiedAsync(deb.Sha256, deb.Spec, ct).ConfigureAwait(false);
                    await File.WriteAllBytesAsync(Path.Combine(building, path), bytes, ct).ConfigureAwait(false);
                }
                // apt-ftparchive writes Filename: relative to where it runs, as a flat repository needs.
                await ToolAsync("/bin/sh", ["-c",
                    "cd \"$1\" && apt-ftparchive -q packages pool > Packages && " +
                    "apt-ftparchive -q -o APT::FTPArchive::Release::Origin=Stageproof -o APT::FTPArchive::Release::Label=snapshot " +
                    "-o APT::FTPArchive::Release::Suite=\"$2\" release . > ../\"$2\".Release && mv ../\"$2\".Release Release",
                    "sh", building, Path.GetFileName(building)], ct).ConfigureAwait(false);
                var key = await SigningKeyAsync(ct).ConfigureAwait(false);
                File.Copy(key, Path.Combine(building, "key.gpg"));
                await GpgAsync(["--clearsign", "--digest-algo", "SHA256", "-o", Path.Combine(building, "InRelease"), Path.Combine(building, "Release")], ct)
                    .ConfigureAwait(false);
                await File.WriteAllTextAsync(Path.Combine(building, "snapshot.list"),
                    $"deb [signed-by={snapshot.HostDirectory}/key.gpg] file:{snapshot.HostDirectory} ./\n", ct).ConfigureAwait(false);
                if (Directory.Exists(snapshot.Directory))
                {
                    Directory.Delete(snapshot.Directory, recursive: true);
                }
                Directory.Move(building, snapshot.Directory);
            }
            finally
            {
                if (Directory.Exists(building))
                {
                    Directory.Delete(building, recursive: true);
                }
            }
            return snapshot;
        }
        finally
        {
            Gate.Release();
        }
    }

    private readonly ConcurrentDictionary<string, Task<byte[]>> _tars = new(StringComparer.Ordinal);

    /// <summary>The snapshot repository as a tar stream, for a host to unpack: built once per closure, then sent to every host.</summary>
    public Task<byte[]> TarAsync(PublishedSnapshot snapshot, CancellationToken ct) =>
        _tars.GetOrAdd(snapshot.Closure.Digest, _ => BuildTarAsync(snapshot.Directory, ct));

    private static async Task<byte[]> BuildTarAsync(string directory, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await TarFile.CreateFromDirectoryAsync(directory, buffer, includeBaseDirectory: false, ct).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private readonly ConcurrentDictionary<string, Task<IReadOnlyList<(string Path, string Sha256)>>> _contents = new(StringComparer.Ordinal);

    /// <summary>Every file the tar of <paramref name="snapshot"/> holds (its relative path) with its SHA-256: what a host
    /// must hold, file for file, to be spared the transfer (<see cref="Apply.HostPatcher.ReceiveSnapshotAsync"/>).</summary>
    public Task<IReadOnlyList<(string Path, string Sha256)>> ContentsAsync(PublishedSnapshot snapshot, CancellationToken ct) =>
        _contents.GetOrAdd(snapshot.Closure.Digest, async _ =>
        {
            var tar = await TarAsync(snapshot, ct).ConfigureAwait(false);
            var contents = new List<(string, string)>();
            using var reader = new TarReader(new MemoryStream(tar, writable: false));
            while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
            {
                if (entry.EntryType is TarEntryType.Directory)
                {
                    continue;
                }
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
                {
                    throw new InvalidOperationException($"snapshot {snapshot.Closure.Digest[..12]}: {entry.Name} is not a regular file");
                }
                contents.Add((entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name, Convert.ToHexStringLower(await SHA256.HashDataAsync(entry.DataStream, ct).ConfigureAwait(false))));
            }
            return (IReadOnlyList<(string, string)>)contents;
        });

    /// <summary>The public half of the signing key (binary, for apt's signed-by), generated on first use.</summary>
    private async Task<string> SigningKeyAsync(CancellationToken ct)
    {
        var exported = Path.Combine(SigningHome, "snapshot-signing.gpg");
        if (File.Exists(exported))
        {
            return exported;
        }
        // The secret key signs what every host will install: readable by this user only.
        if (OperatingSystem.IsWindows())
        {
            throw new InfrastructureException("localhost", "snapshot repositories are built with apt-ftparchive and gpg: run Stageproof on Linux");
        }
        Directory.CreateDirectory(SigningHome, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await GpgAsync(["--quick-generate-key", "Stageproof snapshot signing", "ed25519", "sign", "never"], ct).ConfigureAwait(false);
        await GpgAsync(["--output", exported + ".tmp", "--export"], ct).ConfigureAwait(false);
        File.Move(exported + ".tmp", exported, overwrite: true);
        return exported;
    }

    /// <summary>Runs gpg on Stageproof's own keyring, never the user's.</summary>
    private async Task GpgAsync(IReadOnlyList<string> arguments, CancellationToken ct)
    {
        try
        {
            await ToolAsync("/usr/bin/gpg",
                ["--homedir", SigningHome, "--batch", "--yes", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", .. arguments], ct).ConfigureAwait(false);
        }
        finally
        {
            // gpg starts an agent for the secret key; it is ours, so it is ended here rather than left running.
            if (File.Exists("/usr/bin/gpgconf"))
            {
                await ProcessRunner.RunAsync("localhost", "/usr/bin/gpgconf", ["--homedir", SigningHome, "--kill", "gpg-agent"],
                    new CommandOptions { Timeout = TimeSpan.FromSeconds(30) }, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private static async Task ToolAsync(string program, IReadOnlyList<string> arguments, CancellationToken ct)
    {
        if (!File.Exists(program))
        {
            throw new InfrastructureException("localhost", $"{program} is missing: snapshot repositories need apt-utils and gnupg on the control machine (scripts/install-prerequisites.sh)");
        }
        var r = await ProcessRunner.RunAsync("localhost", program, arguments, new CommandOptions { Timeout = ToolTimeout }, ct).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            var detail = (r.StandardError + "\n" + r.StandardOutput).Trim();
            throw new InfrastructureException("localhost", $"{Path.GetFileName(program)} failed building a snapshot repository (exit {r.ExitCode}): " +
                (detail.Length > 400 ? detail[..400] + "…" : detail));
        }
    }
}
