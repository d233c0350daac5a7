using System.Diagnostics;
using System.Security.Cryptography;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Artifacts;

namespace Stageproof.Bench;

/// <summary>
/// Publishing a 20-package closure as a signed snapshot repository (SnapshotPublisher.PublishAsync: read each .deb from
/// the artifact store and check its hash, apt-ftparchive packages + release, gpg clearsign), against its peer: the same
/// Debian tools run by a shell on the same .debs with no checks (the floor of any Debian-tools publication).
/// </summary>
public sealed class SnapshotSuite : IBenchmarkSuite
{
    private const int Packages = 20;
    private const int PayloadBytes = 256 * 1024;

    public string Name => "snapshot";
    public string Description => "publish a 20-package closure as a signed snapshot repository, against apt-ftparchive + gpg by hand";

    public IEnumerable<string> Describe()
    {
        yield return $"{Packages} .debs built once by dpkg-deb (gzip), each with a {PayloadBytes / 1024} KiB incompressible file (no previous versions).";
        yield return "Stageproof: a fresh snapshot directory per run (the signing key exists, as after the first publication).";
        yield return "Peer: sh -c 'apt-ftparchive packages pool > Packages; apt-ftparchive release . > Release; gpg --clearsign' in a fresh directory the .debs are copied into.";
    }

    public IEnumerable<Measurement> Run(BenchOptions options)
    {
        var root = Directory.CreateTempSubdirectory("stageproof-bench-snapshot-").FullName;
        try
        {
            var state = Path.Combine(root, "state");
            var publisher = new SnapshotPublisher(state);
            var debs = new List<(ClosureDeb Deb, string File)>();
            for (var i = 0; i < Packages; i++)
            {
                var (deb, file) = BuildDeb(root, $"bench-pkg{i:00}", "1.0-1");
                publisher.Artifacts.PutAsync(File.ReadAllBytes(file), deb.Sha256, deb.Spec, CancellationToken.None).GetAwaiter().GetResult();
                debs.Add((deb, file));
            }
            var run = 0;
            yield return Measurement.Of("SnapshotPublisher.PublishAsync (20 .debs)", options, () =>
            {
                // A new closure each run (the time differs), so each run builds a repository from scratch.
                var closure = PackageClosure.Create("bench/" + run++, DateTimeOffset.UtcNow.AddTicks(run), debs.Select(d => d.Deb), []);
                var snapshot = publisher.PublishAsync(closure, CancellationToken.None).GetAwaiter().GetResult();
                Directory.Delete(snapshot.Directory, recursive: true);
                return snapshot;
            }, "checks every hash, signs with ed25519");

            var home = Path.Combine(state, "signing");
            var peer = 0;
            yield return Measurement.Of("peer: apt-ftparchive + gpg --clearsign by hand", options, () =>
            {
                var dir = Path.Combine(root, "peer-" + peer++);
                Directory.CreateDirectory(Path.Combine(dir, "pool"));
                foreach (var (deb, file) in debs)
                {
                    File.Copy(file, Path.Combine(dir, "pool", deb.FileName));
                }
                Sh("cd \"$1\" && apt-ftparchive -q packages pool > Packages && apt-ftparchive -q release . > ../Release.peer && mv ../Release.peer Release && " +
                   "gpg --homedir \"$2\" --batch --yes --quiet --pinentry-mode loopback --passphrase '' --clearsign -o InRelease Release && " +
                   "gpgconf --homedir \"$2\" --kill gpg-agent", dir, home);
                Directory.Delete(dir, recursive: true);
                return dir;
            }, "same tools, no checks");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static (ClosureDeb, string) BuildDeb(string root, string name, string version)
    {
        var build = Path.Combine(root, "build", name);
        Directory.CreateDirectory(Path.Combine(build, "DEBIAN"));
        Directory.CreateDirectory(Path.Combine(build, "usr", "share", name));
        File.WriteAllText(Path.Combine(build, "DEBIAN", "control"),
            $"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: bench <bench@localhost>\nDescription: benchmark package\n");
        File.WriteAllBytes(Path.Combine(build, "usr", "share", name, "payload"), RandomNumberGenerator.GetBytes(PayloadBytes));
        var file = Path.Combine(root, $"{name}_{version}_all.deb");
        Exec("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", build, file);
        var bytes = File.ReadAllBytes(file);
        return (new ClosureDeb(name, version, "all", Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.LongLength), file);
    }

    private static void Sh(string script, params string[] args) => Exec("/bin/sh", ["-c", script, "sh", .. args]);

    private static void Exec(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} exited {p.ExitCode}: {err.Result}");
        }
    }
}
