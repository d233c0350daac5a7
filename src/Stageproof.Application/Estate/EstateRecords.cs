using Stageproof.Application.Views;
using Stageproof.Core.Configuration;
using Stageproof.Core.State;

namespace Stageproof.Application.Estate;

/// <summary>What the state has recorded about the configured estate: hosts with their last facts, and the latest
/// manifest of each host and database. Reads only; nothing here reaches a host.</summary>
public sealed class EstateRecords(StageproofConfig config, IStateStore store)
{
    /// <summary>Every environment that lists <paramref name="host"/>, by name.</summary>
    public IReadOnlyList<string> EnvironmentsOf(string host) => EnvironmentsOf(config, host);

    /// <summary>Every environment of <paramref name="config"/> that lists <paramref name="host"/>, by name.</summary>
    public static IReadOnlyList<string> EnvironmentsOf(StageproofConfig config, string host) =>
        config.Environments.Values.Where(e => e.Hosts.Contains(host)).Select(e => e.Name).Order(StringComparer.Ordinal).ToList();

    public async Task<HostSummary> HostAsync(string name, CancellationToken ct)
    {
        var host = config.Host(name);
        var latest = await store.LatestManifestAsync(name, null, ct).ConfigureAwait(false);
        return new HostSummary(name, EnvironmentsOf(name), host.Transport.ToString().ToLowerInvariant(), host.Role,
            latest is null ? null : FactsSummary.Of(latest.Digest, latest.Manifest));
    }

    /// <summary>The configured hosts <paramref name="visible"/> lets through, by name.</summary>
    public async Task<IReadOnlyList<HostSummary>> HostsAsync(Func<string, bool> visible, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(visible);
        var hosts = new List<HostSummary>();
        foreach (var name in config.Hosts.Keys.Where(visible).Order(StringComparer.Ordinal))
        {
            hosts.Add(await HostAsync(name, ct).ConfigureAwait(false));
        }
        return hosts;
    }

    /// <summary>The latest stored manifest of each host and database of <paramref name="environment"/> (those never
    /// collected are left out).</summary>
    public async Task<IReadOnlyList<ManifestEntry>> LatestManifestsAsync(string environment, CancellationToken ct)
    {
        var env = config.Environment(environment);
        var entries = new List<ManifestEntry>();
        foreach (var target in env.Hosts.Concat(env.Databases.Keys.Select(d => $"{environment}/{d}")))
        {
            if (await store.LatestManifestAsync(target, null, ct).ConfigureAwait(false) is { } stored)
            {
                entries.Add(ManifestEntry.Of(stored.Digest, stored.Manifest));
            }
        }
        return entries;
    }
}
