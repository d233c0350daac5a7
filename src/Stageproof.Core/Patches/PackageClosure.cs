using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Stageproof.Core.Patches;

/// <summary>One .deb, named by its control fields and bound to its bytes by SHA-256.</summary>
public sealed record ClosureDeb(string Name, string Version, string Architecture, string Sha256, long Size)
{
    public string Spec => $"{Name}={Version}";

    /// <summary>The file name apt and dpkg give it: name_version_arch.deb, an epoch's ':' written as %3a.</summary>
    public string FileName => $"{Name}_{Version.Replace(":", "%3a", StringComparison.Ordinal)}_{Architecture}.deb";
}

/// <summary>
/// The install closure apt chose for a patch set: every package that changed, at its version, with the SHA-256 of its
/// .deb (<see cref="Packages"/>), and the .debs of the versions they replaced (<see cref="Previous"/>), which a rollback
/// point on another host may need when the mirror no longer serves them. Resolved once, on the first host that needs
/// the change; every host of every later environment installs exactly these bytes from a snapshot repository.
/// </summary>
public sealed record PackageClosure
{
    /// <summary>SHA-256 over the sorted entries of both lists: names the snapshot repository built from it.</summary>
    public required string Digest { get; init; }
    /// <summary>"environment/host" where apt resolved it against the host's own sources.</summary>
    public required string ResolvedOn { get; init; }
    public required DateTimeOffset ResolvedAt { get; init; }
    public IReadOnlyList<ClosureDeb> Packages { get; init; } = [];
    public IReadOnlyList<ClosureDeb> Previous { get; init; } = [];

    public static PackageClosure Create(string resolvedOn, DateTimeOffset resolvedAt, IEnumerable<ClosureDeb> packages, IEnumerable<ClosureDeb> previous)
    {
        var p = Sorted(packages);
        var o = Sorted(previous);
        return new PackageClosure { Digest = DigestOf(p, o), ResolvedOn = resolvedOn, ResolvedAt = resolvedAt, Packages = p, Previous = o };
    }

    /// <summary>The digest recomputed from the entries: a stored closure whose digest disagrees was altered.</summary>
    public bool Intact => Digest == DigestOf(Sorted(Packages), Sorted(Previous));

    private static List<ClosureDeb> Sorted(IEnumerable<ClosureDeb> debs) =>
        debs.DistinctBy(d => d.Sha256).OrderBy(d => d.Name, StringComparer.Ordinal).ThenBy(d => d.Version, StringComparer.Ordinal)
            .ThenBy(d => d.Architecture, StringComparer.Ordinal).ToList();

    private static string DigestOf(IReadOnlyList<ClosureDeb> packages, IReadOnlyList<ClosureDeb> previous)
    {
        var text = new StringBuilder();
        foreach (var (kind, list) in new[] { ("install", packages), ("previous", previous) })
        {
            foreach (var d in list)
            {
                text.Append(CultureInfo.InvariantCulture, $"{kind} {d.Name} {d.Version} {d.Architecture} {d.Size} {d.Sha256}\n");
            }
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}
