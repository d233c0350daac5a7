namespace Stageproof.Core.Rollouts;

/// <summary>Told of every state a rollout is saved in, right after it is saved: how notifications follow a rollout
/// without the engine knowing of them. An observer returns quickly (it records, it does not send) and never throws.</summary>
public interface IRolloutObserver
{
    Task SavedAsync(Rollout rollout, CancellationToken cancellationToken);
}
