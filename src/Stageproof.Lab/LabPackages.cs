using Stageproof.Lab.Internal;

namespace Stageproof.Lab;

/// <summary>The packages a lab installs, built once per source tree and shared through the cache, for others who need the
/// same bytes (acme-mail's own packaging tests) without building them again.</summary>
public static class LabPackages
{
    /// <summary>acme-mail's 1.0-1 and 1.1-1 packages as every lab gets them: built by demo/AcmeMail/packaging/build-debs.sh
    /// into <see cref="LabOptions.CacheDirectory"/> under a hash of demo/AcmeMail's sources, unless already there. The
    /// directory returned is the shared cache: read it, never write into it. Empty when the sources are not found.</summary>
    public static async Task<IReadOnlyList<string>> AcmeMailDebsAsync(string? repositoryRoot = null, string? cacheDirectory = null,
        IProgress<string>? progress = null, CancellationToken ct = default)
    {
        var options = new LabOptions { Directory = "/nonexistent", RepositoryRoot = repositoryRoot };
        return await AcmeMail.EnsureDebsAsync(cacheDirectory is null ? options : options with { CacheDirectory = cacheDirectory }, progress, ct)
            .ConfigureAwait(false);
    }
}
