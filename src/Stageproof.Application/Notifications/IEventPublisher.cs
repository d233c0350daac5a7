using Stageproof.Core.Webhooks;

namespace Stageproof.Application.Notifications;

/// <summary>Where workflows tell the world what happened. Publishing records what is to be sent and returns: it never
/// throws into the workflow, and never waits for a receiver.</summary>
public interface IEventPublisher
{
    /// <summary>Records a delivery of <paramref name="e"/> for every webhook that wants it, and starts sending them.</summary>
    Task PublishAsync(WebhookEvent e, CancellationToken cancellationToken = default);
}

/// <summary>The publisher when no webhook is configured: nothing is recorded, nothing is sent.</summary>
public sealed class NullEventPublisher : IEventPublisher
{
    public static readonly NullEventPublisher Instance = new();

    private NullEventPublisher()
    {
    }

    public Task PublishAsync(WebhookEvent e, CancellationToken cancellationToken = default) => Task.CompletedTask;
}
