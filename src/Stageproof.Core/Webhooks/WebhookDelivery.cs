namespace Stageproof.Core.Webhooks;

public enum DeliveryStatus { Pending, Delivered, Failed }

/// <summary>One try at sending a delivery: the HTTP status the receiver answered, or why there was none.</summary>
public sealed record DeliveryAttempt(int Number, DateTimeOffset At, int? StatusCode, string? Error);

/// <summary>One event sent to one webhook: written as pending before its first try, so a killed process leaves a record,
/// then rewritten after every attempt.</summary>
public sealed record WebhookDelivery
{
    public required string Id { get; init; }
    public required string Webhook { get; init; }
    public required string EventType { get; init; }
    public required string Url { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public string? Environment { get; init; }
    public string? PatchDigest { get; init; }
    public required string Summary { get; init; }
    /// <summary>The exact bytes sent (UTF-8), the ones the signature covers.</summary>
    public required string Body { get; init; }
    public DeliveryStatus Status { get; init; } = DeliveryStatus.Pending;
    public IReadOnlyList<DeliveryAttempt> Attempts { get; init; } = [];
    public DateTimeOffset? FinishedAt { get; init; }
}

/// <summary>Where deliveries are kept.</summary>
public interface IWebhookDeliveryStore
{
    /// <summary>Writes (or rewrites) a delivery.</summary>
    Task SaveDeliveryAsync(WebhookDelivery delivery, CancellationToken cancellationToken = default);

    /// <summary>Deliveries, newest first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(int limit = 100, CancellationToken cancellationToken = default);
}
