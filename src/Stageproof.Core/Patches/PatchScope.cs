using System.Globalization;
using Stageproof.Core.Configuration;
using Stageproof.Core.Manifests;

namespace Stageproof.Core.Patches;

/// <summary>What a patch set touches on a host, and how a host's manifest stands against it.</summary>
public static class PatchScope
{
    /// <summary>Whether the set is for <paramref name="host"/>: it names no roles, or the host's role is one of them.</summary>
    public static bool Targets(PatchSet set, HostConfig host)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(host);
        return set.Roles is null || (host.Role is { } role && set.Roles.Contains(role, StringComparer.Ordinal));
    }

    /// <summary>
    /// Those of <paramref name="hosts"/> (an environment's, or a chosen few of them) the set is for. Bad input when none
    /// is: a set for the proxies has nothing to do in an environment without one, and saying so beats a run that
    /// "succeeds" on no host.
    /// </summary>
    public static IReadOnlyList<HostConfig> TargetedHosts(PatchSet set, string environment, IReadOnlyList<HostConfig> hosts)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(hosts);
        if (set.Roles is null)
        {
            return hosts;
        }
        var targeted = hosts.Where(h => Targets(set, h)).ToList();
        if (targeted.Count == 0 && hosts.Count > 0)
        {
            var theirs = hosts.Select(h => h.Role ?? "(none)").Distinct(StringComparer.Ordinal);
            throw new InputException($"patch set {set.Id} is for role(s) {string.Join(", ", set.Roles)}, and no host of " +
                                     $"{environment} given here has one (their roles: {string.Join(", ", theirs)})");
        }
        return targeted;
    }

    /// <summary>The sources file a set's repositories are written to.</summary>
    public static string RepositoryFile(PatchSet set) => $"/etc/apt/sources.list.d/stageproof-{set.Id}.list";

    /// <summary>The content written to <see cref="RepositoryFile"/>.</summary>
    public static string RepositoryContent(PatchSet set) =>
        $"# Written by Stageproof for patch set {set.Id}\n" + string.Concat(set.Repositories.Select(r => r + "\n"));

    /// <summary>The set's files as a whole-content or key edit, including its repositories file.</summary>
    public static IReadOnlyList<PatchFile> Files(PatchSet set) =>
        set.Repositories.Count == 0
            ? set.Files
            : [.. set.Files, new PatchFile { Path = RepositoryFile(set), Content = RepositoryContent(set), Owner = "root", Group = "root", Mode = "0644" }];

    /// <summary>
    /// What is not yet in place on the host according to its manifest: packages at another version, files whose
    /// content, owner or mode differ, keys with another value. Empty means the set is applied.
    /// </summary>
    public static IReadOnlyList<string> Missing(PatchSet set, Manifest manifest)
    {
        var missing = new List<string>();
        var packages = manifest.Packages.ToDictionary(p => p.Name, p => p.Version, StringComparer.Ordinal);
        foreach (var p in set.Packages)
        {
            if (!packages.TryGetValue(p.Name, out var version))
            {
                missing.Add($"package {p.Name} is not installed (set: {p.Version})");
            }
            else if (version != p.Version)
            {
                missing.Add($"package {p.Name} is {version} (set: {p.Version})");
            }
        }
        var files = manifest.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (var f in Files(set))
        {
            if (!files.TryGetValue(f.Path, out var info))
            {
                missing.Add($"file {f.Path} is absent");
                continue;
            }
            if (f.Set is { } edits)
            {
                var values = ConfValues(info.Content);
                foreach (var (key, value) in edits)
                {
                    if (values.GetValueOrDefault(key) != value)
                    {
                        missing.Add($"file {f.Path}: {key} is {values.GetValueOrDefault(key) ?? "unset"} (set: {value})");
                    }
                }
            }
            else if (info.Sha256 != PatchSetFreezer.Sha256(f.Content ?? ""))
            {
                missing.Add($"file {f.Path}: content differs");
            }
            if (f.Owner is not null && info.Owner != f.Owner)
            {
                missing.Add($"file {f.Path}: owner is {info.Owner} (set: {f.Owner})");
            }
            if (f.Group is not null && info.Group != f.Group)
            {
                missing.Add($"file {f.Path}: group is {info.Group} (set: {f.Group})");
            }
            if (f.Mode is not null && NormalMode(info.Mode) != NormalMode(f.Mode))
            {
                missing.Add($"file {f.Path}: mode is {info.Mode} (set: {f.Mode})");
            }
        }
        return missing;
    }

    /// <summary>
    /// Compares a host after a rollback with its manifest from before the change, on the touched scope: the packages
    /// the change installed or changed, every saved file (and those that did not exist), and every service.
    /// Returns each thing that is not back, by name; empty means the host is exactly as recorded.
    /// </summary>
    public static IReadOnlyList<string> Residue(Manifest before, Manifest after, HostPoint point)
    {
        var residue = new List<string>();
        var was = before.Packages.ToDictionary(p => p.Name, p => p.Version, StringComparer.Ordinal);
        var now = after.Packages.ToDictionary(p => p.Name, p => p.Version, StringComparer.Ordinal);
        foreach (var name in point.Packages.Select(p => p.Name).Distinct(StringComparer.Ordinal))
        {
            var old = was.GetValueOrDefault(name);
            var current = now.GetValueOrDefault(name);
            if (old != current)
            {
                residue.Add($"package {name}: {current ?? "not installed"} (before: {old ?? "not installed"})");
            }
        }
        var filesBefore = before.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var filesAfter = after.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (var path in point.Files.Concat(point.AbsentFiles).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var b = filesBefore.GetValueOrDefault(path);
            var a = filesAfter.GetValueOrDefault(path);
            if (b is null && a is null)
            {
                continue;
            }
            if (b is null || a is null)
            {
                residue.Add($"file {path}: {(a is null ? "missing" : "present")} (before: {(b is null ? "absent" : "present")})");
            }
            else if (b.Sha256 != a.Sha256)
            {
                residue.Add($"file {path}: content differs");
            }
            else if (b.Owner != a.Owner || b.Group != a.Group || NormalMode(b.Mode) != NormalMode(a.Mode))
            {
                residue.Add($"file {path}: {a.Owner}:{a.Group} {a.Mode} (before: {b.Owner}:{b.Group} {b.Mode})");
            }
        }
        var servicesAfter = after.Services.ToDictionary(s => s.Name, StringComparer.Ordinal);
        foreach (var s in before.Services)
        {
            var a = servicesAfter.GetValueOrDefault(s.Name);
            if (a is null || a.Running != s.Running)
            {
                residue.Add($"service {s.Name}: {(a is null ? "gone" : a.Running ? "running" : "stopped")} (before: {(s.Running ? "running" : "stopped")})");
            }
        }
        return residue;
    }

    /// <summary>key = value lines of an ini/conf style file, comments skipped; the last occurrence wins.</summary>
    public static IReadOnlyDictionary<string, string> ConfValues(string? content)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in (content ?? "").Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';' or '[')
            {
                continue;
            }
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                values[line[..eq].Trim()] = line[(eq + 1)..].Trim();
            }
        }
        return values;
    }

    private static string NormalMode(string mode) =>
        int.TryParse(mode, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? mode.TrimStart('0').PadLeft(3, '0') : mode;
}
