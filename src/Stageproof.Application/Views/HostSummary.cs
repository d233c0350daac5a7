using Stageproof.Core.Manifests;

namespace Stageproof.Application.Views;

/// <summary>A host's recorded facts in one line — what the <c>facts</c> table shows per host, and what
/// <c>GET /api/v1/hosts</c> answers as a host's <c>facts</c>.</summary>
public sealed record FactsSummary(
    string Digest, DateTimeOffset CollectedAt, string? Environment, string? Role, string? Os, string? Kernel,
    int Packages, int Upgrades, int SecurityUpgrades, int Files, int ServicesUp, int Services, IReadOnlyList<int> Ports)
{
    public static FactsSummary Of(string digest, Manifest m)
    {
        ArgumentNullException.ThrowIfNull(m);
        return new(digest, m.CollectedAt, m.Environment, m.Role, m.Os?.PrettyName, m.Os?.Kernel,
            m.Packages.Count, m.PendingUpgrades.Count, m.PendingUpgrades.Count(u => u.Security), m.Files.Count,
            m.Services.Count(s => s.Running), m.Services.Count, m.Ports.Select(p => p.Port).Distinct().ToList());
    }
}

/// <summary>A configured host: its environments, how it is reached, and its last recorded facts (null before the first
/// <c>facts</c>).</summary>
public sealed record HostSummary(string Name, IReadOnlyList<string> Environments, string Transport, string? Role, FactsSummary? Facts);

/// <summary>One stored manifest as <c>facts --json</c> prints it and <c>GET /api/v1/manifests</c> answers it: its
/// digest and its content, normalised.</summary>
public sealed record ManifestEntry(string Digest, Manifest Manifest)
{
    public static ManifestEntry Of(string digest, Manifest manifest) => new(digest, ManifestJson.Normalize(manifest));
}
