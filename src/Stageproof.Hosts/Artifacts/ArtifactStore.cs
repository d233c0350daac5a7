using System.Security.Cryptography;
using Stageproof.Core;

namespace Stageproof.Hosts.Artifacts;

/// <summary>A .deb whose bytes are not the ones recorded for it.</summary>
public sealed class ArtifactMismatchException(string where, string package, string expected, string found)
    : StageproofException($"{where}: {package}: expected SHA-256 {expected}, found {found}; nothing was installed from it", ExitCodes.Finding)
{
    public string Package { get; } = package;
    public string Expected { get; } = expected;
    public string Found { get; } = found;
}

/// <summary>
/// Every .deb of a proven closure (and every .deb a rollback point may need), kept under the state directory by its
/// SHA-256 and written once: <c>artifacts/sha256/ab/abcdef….deb</c>. Two closures that share a package share its file.
/// </summary>
public sealed class ArtifactStore(string root)
{
    public string Root { get; } = root;

    public string PathOf(string sha256) => Path.Combine(Root, "sha256", sha256[..2], sha256 + ".deb");

    public bool Contains(string sha256) => File.Exists(PathOf(sha256));

    /// <summary>Keeps <paramref name="bytes"/> under its hash (which must be <paramref name="expectedSha256"/>); a file
    /// already there is left alone. Written to a temporary name first, so a killed process never leaves half a .deb.</summary>
    public async Task<string> PutAsync(byte[] bytes, string expectedSha256, string package, CancellationToken ct)
    {
        var found = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (found != expectedSha256)
        {
            throw new ArtifactMismatchException("artifact store", package, expectedSha256, found);
        }
        var path = PathOf(found);
        if (File.Exists(path))
        {
            return path;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)) + ".tmp";
        await File.WriteAllBytesAsync(temporary, bytes, ct).ConfigureAwait(false);
        File.Move(temporary, path, overwrite: true);
        return path;
    }

    /// <summary>The kept bytes of <paramref name="sha256"/>, checked again: a file changed on disk is refused, naming the package.</summary>
    public async Task<byte[]> ReadVerifiedAsync(string sha256, string package, CancellationToken ct)
    {
        var path = PathOf(sha256);
        if (!File.Exists(path))
        {
            throw new InputException($"artifact store {Root}: {package} ({sha256[..12]}) is not kept here (was it removed by 'stageproof gc' or by hand?)");
        }
        var bytes = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        var found = Convert.ToHexStringLower(SHA256.HashData(bytes));
        return found == sha256 ? bytes : throw new ArtifactMismatchException(path, package, sha256, found);
    }

    /// <summary>Every kept artifact: its hash, size and when it was written.</summary>
    public IEnumerable<(string Sha256, long Size, DateTime WrittenUtc)> List()
    {
        var dir = Path.Combine(Root, "sha256");
        if (!Directory.Exists(dir))
        {
            yield break;
        }
        foreach (var file in Directory.EnumerateFiles(dir, "*.deb", SearchOption.AllDirectories))
        {
            var info = new FileInfo(file);
            yield return (Path.GetFileNameWithoutExtension(file), info.Length, info.LastWriteTimeUtc);
        }
    }

    public void Remove(string sha256) => File.Delete(PathOf(sha256));
}
