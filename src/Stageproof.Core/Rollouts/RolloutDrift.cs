using Stageproof.Core.ConfigFiles;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;

namespace Stageproof.Core.Rollouts;

/// <summary>
/// "Zero configuration surprises": after a rollout, each patched host must equal its staging counterpart on the
/// patched scope — the set's packages and files, and every package and tracked file the rollout changed on the host.
/// A difference there is something production got that staging never proved. Files are compared by their values
/// (<see cref="ConfigValues"/>): one whose bytes differ only in comments, whitespace or order is listed as cosmetic,
/// and does not count as a difference.
/// </summary>
public static class RolloutDrift
{
    /// <param name="patched">Each target host's manifests from before and after its change.</param>
    /// <param name="mirror">The staging environment's host manifests, paired with target hosts by role.</param>
    /// <param name="formats">How tracked files are read (drift.formats).</param>
    public static RolloutDriftResult Compare(PatchSet set, IReadOnlyList<(Manifest Before, Manifest After)> patched, IReadOnlyList<Manifest> mirror,
        ConfigFormats formats)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(patched);
        ArgumentNullException.ThrowIfNull(mirror);
        ArgumentNullException.ThrowIfNull(formats);
        var differences = new List<string>();
        var cosmetic = new List<string>();
        foreach (var (before, after) in patched)
        {
            var twin = mirror.FirstOrDefault(m => m.Role == after.Role) ?? mirror.FirstOrDefault();
            if (twin is null)
            {
                differences.Add($"{after.Target}: no staging host to compare with");
                continue;
            }
            var beforePackages = before.Packages.ToDictionary(p => p.Name, p => p.Version, StringComparer.Ordinal);
            var afterPackages = after.Packages.ToDictionary(p => p.Name, p => p.Version, StringComparer.Ordinal);
            var twinPackages = twin.Packages.ToDictionary(p => p.Name, p => p.Version, StringComparer.Ordinal);
            var packages = set.Packages.Select(p => p.Name)
                .Concat(afterPackages.Keys.Where(n => beforePackages.GetValueOrDefault(n) != afterPackages[n]))
                .Concat(beforePackages.Keys.Where(n => !afterPackages.ContainsKey(n)))
                .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
            foreach (var name in packages)
            {
                var mine = afterPackages.GetValueOrDefault(name);
                var theirs = twinPackages.GetValueOrDefault(name);
                if (mine != theirs)
                {
                    differences.Add($"{after.Target} vs {twin.Target}: package {name} {mine ?? "absent"} vs {theirs ?? "absent"}");
                }
            }

            var beforeFiles = before.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
            var afterFiles = after.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
            var twinFiles = twin.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
            foreach (var file in PatchScope.Files(set))
            {
                afterFiles.TryGetValue(file.Path, out var mine);
                twinFiles.TryGetValue(file.Path, out var theirs);
                if (file.Set is { } edits)
                {
                    var m = PatchScope.ConfValues(mine?.Content);
                    var t = PatchScope.ConfValues(theirs?.Content);
                    foreach (var key in edits.Keys.Where(k => m.GetValueOrDefault(k) != t.GetValueOrDefault(k)))
                    {
                        differences.Add($"{after.Target} vs {twin.Target}: {file.Path} {key} = {m.GetValueOrDefault(key) ?? "unset"} vs {t.GetValueOrDefault(key) ?? "unset"}");
                    }
                }
                else if (mine?.Sha256 != theirs?.Sha256)
                {
                    FileDiffers(file.Path, mine, theirs, $"file {file.Path} differs");
                }
            }
            var declared = PatchScope.Files(set).Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
            var changed = afterFiles.Keys.Where(p => !beforeFiles.TryGetValue(p, out var b) || b.Sha256 != afterFiles[p].Sha256)
                .Concat(beforeFiles.Keys.Where(p => !afterFiles.ContainsKey(p)))
                .Where(p => !declared.Contains(p))
                .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
            foreach (var path in changed)
            {
                afterFiles.TryGetValue(path, out var mine);
                twinFiles.TryGetValue(path, out var theirs);
                if (mine?.Sha256 != theirs?.Sha256)
                {
                    FileDiffers(path, mine, theirs, $"{path} changed in the rollout and differs from staging");
                }
            }

            void FileDiffers(string path, ConfigFileInfo? mine, ConfigFileInfo? theirs, string what)
            {
                var pair = $"{after.Target} vs {twin.Target}: ";
                var values = mine is null || theirs is null ? null : ConfigValues.Compare(path, mine, theirs, formats);
                var shas = $"({Short(mine?.Sha256)} vs {Short(theirs?.Sha256)})";
                if (values is { Cosmetic: true })
                {
                    cosmetic.Add($"{pair}{path} differs only in comments, whitespace or order {shas}");
                }
                else
                {
                    var detail = values is { Format: not ConfigFormat.Bytes } ? ": " + string.Join(", ", values.Changes) : "";
                    differences.Add($"{pair}{what} {shas}{detail}");
                }
            }
        }
        return new RolloutDriftResult(differences, cosmetic);
    }

    private static string Short(string? sha) => sha is null ? "absent" : sha[..Math.Min(12, sha.Length)];
}

/// <summary>What the rollout's patched scope differs in from staging (failing), and what differs only cosmetically.</summary>
public sealed record RolloutDriftResult(IReadOnlyList<string> Differences, IReadOnlyList<string> Cosmetic);
