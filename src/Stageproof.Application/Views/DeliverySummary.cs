using Stageproof.Core.Webhooks;

namespace Stageproof.Application.Views;

/// <summary>One line of `webhook deliveries` (without the body): the same shape in the CLI's --json and the API.</summary>
public sealed record DeliverySummary(
    string Id, string Webhook, string Event, string Url, DateTimeOffset CreatedAt, string? Environment, string? PatchDigest, string Summary,
    string Status, IReadOnlyList<DeliveryAttempt> Attempts, DateTimeOffset? FinishedAt)
{
    public static DeliverySummary Of(WebhookDelivery d) =>
        new(d.Id, d.Webhook, d.EventType, d.Url, d.CreatedAt, d.Environment, d.PatchDigest, d.Summary, d.Status.ToString().ToLowerInvariant(), d.Attempts, d.FinishedAt);
}
