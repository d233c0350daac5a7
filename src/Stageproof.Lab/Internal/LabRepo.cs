using System.IO.Compression;
using System.Text;
using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>
/// The lab's flat apt repository (LABDIR/repo), bind-mounted read-only into every host at /srv/stageproof-repo.
/// Indexed with <c>dpkg-scanpackages --multiversion</c> so that older versions stay installable (downgrades).
/// </summary>
internal static class LabRepo
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    public static string PathIn(string labDir) => Path.Combine(labDir, "repo");

    /// <summary>Regenerates Packages, Packages.gz and Release; returns "name=version" of every package offered.</summary>
    public static async Task<IReadOnlyList<string>> IndexAsync(string repo, CancellationToken ct)
    {
        System.IO.Directory.CreateDirectory(repo);
        var packages = await Run.CheckedAsync("lab-repo", "/usr/bin/dpkg-scanpackages", ["--multiversion", "."], Timeout, ct,
            workingDirectory: repo).ConfigureAwait(false);
        await Replace(Path.Combine(repo, "Packages"), Encoding.UTF8.GetBytes(packages), ct).ConfigureAwait(false);
        using (var ms = new MemoryStream())
        {
            await using (var gz = new GZipStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                await gz.WriteAsync(Encoding.UTF8.GetBytes(packages), ct).ConfigureAwait(false);
            }
            await Replace(Path.Combine(repo, "Packages.gz"), ms.ToArray(), ct).ConfigureAwait(false);
        }
        File.Delete(Path.Combine(repo, "Release"));
        var release = await Run.CheckedAsync("lab-repo", "/usr/bin/apt-ftparchive", ["release", "."], Timeout, ct,
            workingDirectory: repo).ConfigureAwait(false);
        await Replace(Path.Combine(repo, "Release"), Encoding.UTF8.GetBytes(release), ct).ConfigureAwait(false);
        return List(packages);
    }

    /// <summary>Copies .deb files in (validated with dpkg-deb) under their canonical name NAME_VERSION_ARCH.deb.</summary>
    public static async Task AddAsync(string repo, IEnumerable<string> debs, CancellationToken ct)
    {
        System.IO.Directory.CreateDirectory(repo);
        foreach (var deb in debs)
        {
            if (!File.Exists(deb))
            {
                throw new InputException($"{deb}: no such package file");
            }
            var r = await Run.ExecAsync("lab-repo", "/usr/bin/dpkg-deb", ["--show", "--showformat=${Package}\t${Version}\t${Architecture}", deb], Timeout, ct).ConfigureAwait(false);
            var f = r.StandardOutput.Trim().Split('\t');
            if (!r.Succeeded || f.Length != 3)
            {
                throw new InputException($"{deb}: not a Debian package ({Run.Tail(r.StandardError)})");
            }
            var name = $"{f[0]}_{f[1].Replace(':', '%')}_{f[2]}.deb";
            var tmp = Path.Combine(repo, "." + name + ".tmp");
            File.Copy(Path.GetFullPath(deb), tmp, overwrite: true);
            File.Move(tmp, Path.Combine(repo, name), overwrite: true);
        }
    }

    /// <summary>Removes one version of a package; false when the repository does not hold it.</summary>
    public static async Task<bool> RemoveAsync(string repo, string package, string version, CancellationToken ct)
    {
        var removed = false;
        if (!System.IO.Directory.Exists(repo))
        {
            return false;
        }
        foreach (var deb in System.IO.Directory.EnumerateFiles(repo, "*.deb"))
        {
            var r = await Run.ExecAsync("lab-repo", "/usr/bin/dpkg-deb", ["--show", "--showformat=${Package}\t${Version}", deb], Timeout, ct).ConfigureAwait(false);
            if (r.Succeeded && r.StandardOutput.Trim() == $"{package}\t{version}")
            {
                File.Delete(deb);
                removed = true;
            }
        }
        return removed;
    }

    private static List<string> List(string packages)
    {
        var result = new List<string>();
        string? name = null;
        foreach (var line in packages.Split('\n'))
        {
            if (line.StartsWith("Package: ", StringComparison.Ordinal))
            {
                name = line[9..].Trim();
            }
            else if (line.StartsWith("Version: ", StringComparison.Ordinal) && name is not null)
            {
                result.Add($"{name}={line[9..].Trim()}");
            }
        }
        return result;
    }

    private static async Task Replace(string path, byte[] content, CancellationToken ct)
    {
        var tmp = path + ".tmp";
        await File.WriteAllBytesAsync(tmp, content, ct).ConfigureAwait(false);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>apt-get update of the lab source only: no network, and other sources' lists are kept.</summary>
    public static readonly string[] UpdateCommand =
    [
        "apt-get", "update", "-qq", "-o", "Dir::Etc::sourcelist=" + BaseImage.LabSourceList,
        "-o", "Dir::Etc::sourceparts=-", "-o", "APT::Get::List-Cleanup=0",
    ];
}
