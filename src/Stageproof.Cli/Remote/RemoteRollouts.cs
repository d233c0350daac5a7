using Spectre.Console;
using Stageproof.Cli.Features;
using Stageproof.Core.Rollouts;

namespace Stageproof.Cli.Remote;

/// <summary>Following a rollout that runs on a server (promote, rollout resume and abort through --server).</summary>
internal static class RemoteRollouts
{
    /// <summary>How often a rollout on a server is looked at, and for how long at most.</summary>
    private static readonly TimeSpan FollowEvery = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan FollowAtMost = TimeSpan.FromHours(24);

    /// <summary>Follows <paramref name="rollout"/> on the server to its end (or the limit), printing each host's state as it
    /// changes, then renders it as a local verb does. Interrupting this stops the following, not the rollout.</summary>
    public static async Task<Rollout> FollowAsync(Infrastructure.CliSession session, Rollout rollout, CancellationToken ct)
    {
        var seen = new Dictionary<string, RolloutHostState>(StringComparer.Ordinal);
        var until = session.Time.GetUtcNow() + FollowAtMost;
        while (!rollout.Finished && session.Time.GetUtcNow() < until)
        {
            await Task.Delay(FollowEvery, session.Time, ct).ConfigureAwait(false);
            rollout = await session.Remote.GetAsync<Rollout>($"rollouts/{Uri.EscapeDataString(rollout.Id)}", ct).ConfigureAwait(false);
            foreach (var host in rollout.Hosts.Where(h => !seen.TryGetValue(h.Host, out var was) || was != h.State))
            {
                seen[host.Host] = host.State;
                session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"  {host.Host}: {host.State.ToString().ToLowerInvariant()}{(host.Message is null ? "" : " — " + host.Message)}"));
            }
        }
        new Promotions(session).Render(rollout);
        return rollout;
    }
}
