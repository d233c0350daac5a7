using Stageproof.Cli.Features;
using Stageproof.Core.Rollouts;

namespace Stageproof.Cli.Remote;

/// <summary>Following a rollout that runs on a server (promote, rollout resume and abort through --server).</summary>
internal static class RemoteRollouts
{
    /// <summary>Follows <paramref name="rollout"/> on the server to its end (or the limit), printing each host's state as it
    /// changes, then renders it as a local verb does. Interrupting this stops the following, not the rollout.</summary>
    public static async Task<Rollout> FollowAsync(Infrastructure.CliSession session, Rollout rollout, CancellationToken ct)
    {
        rollout = await RolloutFollower.FollowAsync(session.Remote, rollout, session.Ui, session.Time, ct).ConfigureAwait(false);
        new Promotions(session).Render(rollout);
        return rollout;
    }
}
