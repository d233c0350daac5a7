using System.Globalization;
using System.Text.RegularExpressions;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Manifests;
using Stageproof.Core.State;

namespace Stageproof.Application.Estate;

/// <summary>One side of a drift comparison: the manifests it stands for, and whether it is a whole environment.</summary>
public sealed record DriftOperand(string Label, IReadOnlyList<Manifest> Manifests, bool IsEnvironment);

/// <summary>
/// Turns a drift operand into manifests: an environment or host (collected now, or the latest stored with
/// <c>storedOnly</c>), <c>NAME@TIME</c> (the latest stored at or before TIME), or a stored manifest's digest prefix.
/// Without a <paramref name="collector"/> (the server, which never reaches hosts from a read) only stored manifests
/// can be used.
/// </summary>
public sealed partial class DriftOperands(StageproofConfig config, IStateStore store, TimeProvider time, FactsCollector? collector = null,
    IProgress<FactsProgress>? progress = null)
{
    public async Task<(DriftOperand Side, IReadOnlyList<FactsFailure> Failures)> ResolveAsync(string spec, bool storedOnly, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var at = spec.IndexOf('@', StringComparison.Ordinal);
        if (at > 0)
        {
            var name = spec[..at];
            var when = ParseTime(spec[(at + 1)..], spec);
            return (await StoredAsync(name, when, ct).ConfigureAwait(false), []);
        }
        if (config.Environments.ContainsKey(spec) || config.Hosts.ContainsKey(spec) || config.Groups.ContainsKey(spec))
        {
            if (storedOnly || collector is null)
            {
                return (await StoredAsync(spec, null, ct).ConfigureAwait(false), []);
            }
            var scope = FactsScope.Resolve(config, [spec]);
            var run = await collector.CollectAsync(scope, progress, ct, pendingUpgrades: false).ConfigureAwait(false);
            return (new DriftOperand(spec, run.Manifests.Select(m => m.Manifest).ToList(), !config.Hosts.ContainsKey(spec)), run.Failures);
        }
        if (HexPrefix().IsMatch(spec))
        {
            var stored = await store.FindManifestAsync(spec, ct).ConfigureAwait(false)
                         ?? throw new InputException($"no stored manifest has a digest starting with '{spec}'");
            return (new DriftOperand($"{stored.Manifest.Target}@{stored.Digest[..12]}", [stored.Manifest], false), []);
        }
        throw new InputException(
            $"'{spec}' is not an environment, group, host, NAME@TIME or stored manifest digest (environments: {string.Join(", ", config.Environments.Keys)})");
    }

    private async Task<DriftOperand> StoredAsync(string name, DateTimeOffset? when, CancellationToken ct)
    {
        var scope = FactsScope.Resolve(config, [name]);
        var targets = scope.Hosts.Select(h => h.Host.Name).Concat(scope.Databases.Select(d => $"{d.Environment}/{d.Name}"))
            .Concat(scope.Directories.Select(d => $"{d.Environment}/{d.Name}"));
        var manifests = new List<Manifest>();
        foreach (var target in targets)
        {
            var stored = await store.LatestManifestAsync(target, when, ct).ConfigureAwait(false)
                         ?? throw new InputException(
                             $"no manifest of '{target}' is stored{(when is null ? "" : " at or before " + when.Value.ToString("u", CultureInfo.InvariantCulture))}; run 'stageproof facts {name}' first");
            manifests.Add(stored.Manifest);
        }
        var label = when is null ? $"{name} (stored)" : $"{name}@{when.Value.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}";
        return new DriftOperand(label, manifests, !config.Hosts.ContainsKey(name));
    }

    /// <summary>An ISO 8601 time, or a span ago such as 30m, 2h, 7d.</summary>
    internal DateTimeOffset ParseTime(string text, string spec)
    {
        var ago = Ago().Match(text);
        if (ago.Success)
        {
            var n = int.Parse(ago.Groups[1].Value, CultureInfo.InvariantCulture);
            var span = ago.Groups[2].Value switch
            {
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => TimeSpan.FromDays(n),
            };
            return time.GetUtcNow() - span;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            return parsed;
        }
        throw new InputException($"'{spec}': '{text}' is not a time (use ISO 8601 such as 2026-11-23T10:00Z, or a span ago such as 2h or 7d)");
    }

    [GeneratedRegex("^[0-9a-f]{6,64}$")]
    private static partial Regex HexPrefix();

    [GeneratedRegex("^([0-9]+)([smhd])$")]
    private static partial Regex Ago();
}
