using System.Globalization;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Webhooks;

namespace Stageproof.Application.Notifications;

/// <summary>
/// Turns a rollout's saved states into events: <c>rollout.started</c> when a new rollout is first saved,
/// <c>rollout.batch_done</c> when a batch passes, <c>rollout.failed</c> when a batch fails (or the rollout ends needing
/// attention), and at the end <c>rollout.finished</c> (succeeded) or <c>rollout.rolled_back</c> (rolled back or aborted).
/// One instance follows the rollouts of one process.
/// </summary>
public sealed class RolloutEvents(IEventPublisher events, TimeProvider time) : IRolloutObserver
{
    private readonly Dictionary<string, Rollout> _seen = new(StringComparer.Ordinal);

    public async Task SavedAsync(Rollout rollout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        Rollout? before;
        lock (_seen)
        {
            _seen.TryGetValue(rollout.Id, out before);
            _seen[rollout.Id] = rollout;
        }
        foreach (var e in Changes(before, rollout))
        {
            await events.PublishAsync(e, cancellationToken).ConfigureAwait(false);
        }
    }

    private IEnumerable<WebhookEvent> Changes(Rollout? before, Rollout now)
    {
        var batches = now.Batches.Count.ToString(CultureInfo.InvariantCulture);
        if (before is null)
        {
            // A resumed rollout is first seen part done: it started long ago.
            if (now.Batches.All(b => b.State == BatchState.Pending) && now.FinishedAt is null)
            {
                yield return Event(now, WebhookEventTypes.RolloutStarted,
                    $"rollout {now.Id} of {now.PatchId} to {now.Environment} started: {batches} batch(es), {now.Hosts.Count.ToString(CultureInfo.InvariantCulture)} host(s), {now.Lane.ToString().ToLowerInvariant()} lane");
            }
            yield break;
        }
        foreach (var batch in now.Batches)
        {
            var was = before.Batches.FirstOrDefault(b => b.Index == batch.Index)?.State;
            if (was == batch.State)
            {
                continue;
            }
            var label = $"batch {batch.Name} ({(batch.Index + 1).ToString(CultureInfo.InvariantCulture)}/{batches}: {string.Join(", ", batch.Hosts)})";
            if (batch.State == BatchState.Passed)
            {
                yield return Event(now, WebhookEventTypes.RolloutBatchDone, $"rollout {now.Id} to {now.Environment}: {label} patched and checked",
                    ("batch", batch.Name), ("batch_index", batch.Index.ToString(CultureInfo.InvariantCulture)));
            }
            else if (batch.State == BatchState.Failed)
            {
                yield return Event(now, WebhookEventTypes.RolloutFailed, $"rollout {now.Id} to {now.Environment}: {label} failed; rolling back",
                    ("batch", batch.Name), ("batch_index", batch.Index.ToString(CultureInfo.InvariantCulture)));
            }
        }
        if (before.FinishedAt is null && now.FinishedAt is not null)
        {
            var (type, what) = now.Status switch
            {
                RolloutStatus.Succeeded => (WebhookEventTypes.RolloutFinished, "finished: every host patched and verified"),
                RolloutStatus.RolledBack => (WebhookEventTypes.RolloutRolledBack, "failed and was rolled back"),
                RolloutStatus.Aborted => (WebhookEventTypes.RolloutRolledBack, $"was aborted by {now.AbortRequestedBy} and rolled back"),
                _ => (WebhookEventTypes.RolloutFailed, "NEEDS ATTENTION: not every host could be returned to a known state"),
            };
            yield return Event(now, type, $"rollout {now.Id} of {now.PatchId} to {now.Environment} {what}" + (now.Message is null ? "" : $" ({now.Message})"));
        }
    }

    private WebhookEvent Event(Rollout rollout, string type, string summary, params (string Key, string Value)[] more)
    {
        var data = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["rollout"] = rollout.Id,
            ["status"] = rollout.Status.ToString().ToLowerInvariant(),
            ["patch_id"] = rollout.PatchId,
        };
        foreach (var (key, value) in more)
        {
            data[key] = value;
        }
        return new WebhookEvent
        {
            Type = type, At = time.GetUtcNow(), Actor = rollout.Actor, Environment = rollout.Environment,
            PatchDigest = rollout.PatchDigest, Summary = summary, Data = data,
        };
    }
}
