using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Core.Manifests;

namespace Stageproof.Hosts.Facts;

/// <summary>
/// Collects a host's manifest (OS, packages, pending upgrades, tracked files, services, listening ports) in
/// one round trip: <see cref="FactsScript"/> runs once, <see cref="FactsParser"/> reads its output.
/// Nothing on the host changes (apt is only simulated, without refreshing its lists).
/// </summary>
public sealed class HostFactsCollector(TimeProvider? timeProvider = null)
{
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>How long the one script may run (apt's simulation and init scripts' status take the most).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Whether to simulate apt's dist-upgrade for <see cref="Manifest.PendingUpgrades"/>. It is by far
    /// the costliest part (seconds of CPU on the host); turn it off when only the installed state matters.</summary>
    public bool PendingUpgrades { get; init; } = true;

    /// <exception cref="InputException">A tracked pattern is not absolute, contains "..", or a control character.</exception>
    /// <exception cref="InfrastructureException">The host is unreachable or the script did not produce facts.</exception>
    public async Task<Manifest> CollectAsync(HostConfig host, ITransport transport, DriftRules rules, string? environment,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(rules);

        var command = FactsScript.Build(host.Name, rules, PendingUpgrades);
        if (string.Equals(host.Become, "sudo", StringComparison.OrdinalIgnoreCase))
        {
            command = command.WithSudo();
        }
        var result = await transport.RunAsync(command, new CommandOptions { Timeout = Timeout }, cancellationToken)
            .ConfigureAwait(false);
        var collectedAt = _time.GetUtcNow();
        if (!result.StandardOutput.StartsWith(FactsScript.Header, StringComparison.Ordinal))
        {
            var err = result.StandardError.Trim();
            throw new InfrastructureException(host.Name,
                $"collecting facts failed (exit {result.ExitCode}){(err.Length > 0 ? ": " + Truncate(err, 500) : "")}");
        }
        if (!result.StandardOutput.Contains("\n@@end", StringComparison.Ordinal))
        {
            throw new InfrastructureException(host.Name, $"the facts output ended early (exit {result.ExitCode})");
        }
        return FactsParser.Parse(result.StandardOutput, host, rules, environment, collectedAt);
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max] + "…";
}
