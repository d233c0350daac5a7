using Spectre.Console;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core.Rollouts;

namespace Stageproof.Cli.Remote;

/// <summary>Follows a rollout that runs on a server until it ends, printing each host's state as it changes.
/// Interrupting this stops the following, not the rollout.</summary>
internal static class RolloutFollower
{
    /// <summary>How often the rollout is looked at, and for how long at most.</summary>
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan AtMost = TimeSpan.FromHours(24);

    /// <summary>The rollout as last seen: finished, unless <see cref="AtMost"/> passed first.</summary>
    public static async Task<Rollout> FollowAsync(ServerClient server, Rollout rollout, Ui ui, TimeProvider time, CancellationToken ct)
    {
        var seen = new Dictionary<string, RolloutHostState>(StringComparer.Ordinal);
        var until = time.GetUtcNow() + AtMost;
        while (!rollout.Finished && time.GetUtcNow() < until)
        {
            await Task.Delay(Every, time, ct).ConfigureAwait(false);
            rollout = await server.GetAsync<Rollout>($"rollouts/{Uri.EscapeDataString(rollout.Id)}", ct).ConfigureAwait(false);
            foreach (var host in rollout.Hosts.Where(h => !seen.TryGetValue(h.Host, out var was) || was != h.State))
            {
                seen[host.Host] = host.State;
                ui.Errors.MarkupLine(Ui.Escape($"  {host.Host}: {host.State.ToString().ToLowerInvariant()}{(host.Message is null ? "" : " — " + host.Message)}"));
            }
        }
        return rollout;
    }
}
