using System.Globalization;
using System.Text;
using Stageproof.Core.Manifests;

namespace Stageproof.Core.Patches;

/// <summary>A package an environment lacks: its candidate version, and the hosts that lack it at which version.</summary>
public sealed record ScannedUpgrade(string Name, string CandidateVersion, bool Security, string Origin, IReadOnlyList<string> Hosts);

/// <summary>
/// Turns an environment's pending upgrades into a draft patch set, so routine patching starts from what the
/// environment actually lacks. Hosts that disagree on a package's candidate are named, and the draft takes the
/// candidate most hosts have.
/// </summary>
public static class ScanDraft
{
    public static IReadOnlyList<ScannedUpgrade> Collect(IEnumerable<Manifest> manifests, bool securityOnly)
    {
        var all = manifests.SelectMany(m => m.PendingUpgrades.Select(u => (Host: m.Target, Upgrade: u)))
            .Where(x => !securityOnly || x.Upgrade.Security);
        return all.GroupBy(x => x.Upgrade.Name, StringComparer.Ordinal)
            .Select(g =>
            {
                var candidate = g.GroupBy(x => x.Upgrade.CandidateVersion, StringComparer.Ordinal)
                    .OrderByDescending(c => c.Count()).ThenBy(c => c.Key, StringComparer.Ordinal).First();
                var first = candidate.First().Upgrade;
                return new ScannedUpgrade(g.Key, candidate.Key, g.Any(x => x.Upgrade.Security), first.Origin,
                    g.Select(x => x.Host).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList());
            })
            .OrderBy(u => u.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>The draft YAML, loadable by <see cref="PatchSetLoader"/> once its change record is filled in.</summary>
    public static string Render(string environment, IReadOnlyList<ScannedUpgrade> upgrades, int hostCount, bool securityOnly,
        string author, DateTimeOffset now, string? role = null)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# Draft written by `stageproof scan {environment}{(securityOnly ? " --security" : "")}{(role is null ? "" : $" --role {role}")}` at {now.UtcDateTime:yyyy-MM-dd HH:mm} UTC\n");
        sb.Append(CultureInfo.InvariantCulture, $"# from the pending upgrades of {hostCount} host(s). Fill in the change record, then: stageproof patch freeze FILE\n");
        sb.Append(CultureInfo.InvariantCulture, $"id: {IdFor(environment, securityOnly, now)}\n");
        sb.Append(CultureInfo.InvariantCulture, $"title: {Quote($"{(securityOnly ? "Security" : "Pending")} updates for {environment} ({upgrades.Count} package(s))")}\n");
        sb.Append("ticket: \"\"\n");
        sb.Append(CultureInfo.InvariantCulture, $"reason: {Quote($"routine patching: {upgrades.Count} package(s) pending on {environment}")}\n");
        sb.Append(CultureInfo.InvariantCulture, $"severity: {(upgrades.Any(u => u.Security) ? "high" : "medium")}\n");
        sb.Append(CultureInfo.InvariantCulture, $"author: {Quote(author)}\n");
        if (role is not null)
        {
            sb.Append(CultureInfo.InvariantCulture, $"roles: [{role}]   # scanned on the {role} hosts only: the others are left alone\n");
        }
        if (upgrades.Count == 0)
        {
            sb.Append("packages: []\n");
            return sb.ToString();
        }
        sb.Append("packages:\n");
        foreach (var u in upgrades)
        {
            var hosts = u.Hosts.Count == hostCount ? "all hosts" : string.Join(", ", u.Hosts);
            sb.Append(CultureInfo.InvariantCulture,
                $"  - {{ name: {u.Name}, version: {Quote(u.CandidateVersion)} }}   # {(u.Security ? "security, " : "")}{u.Origin}; {hosts}\n");
        }
        return sb.ToString();
    }

    public static string IdFor(string environment, bool securityOnly, DateTimeOffset now) =>
        $"{environment}-{(securityOnly ? "security" : "updates")}-{now.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture)}";

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
