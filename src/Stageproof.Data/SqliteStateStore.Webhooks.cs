using System.Text.Json;
using Stageproof.Core.Audit;
using Stageproof.Core.Patches;
using Stageproof.Core.Webhooks;

namespace Stageproof.Data;

public sealed partial class SqliteStateStore
{
    // ---- webhook deliveries ----

    public async Task SaveDeliveryAsync(WebhookDelivery delivery, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        await ExecuteAsync(
            """
            INSERT INTO webhook_deliveries (id, webhook, event, status, created_at, json)
            VALUES (@id, @webhook, @event, @status, @createdAt, @json)
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, json = excluded.json
            """,
            new
            {
                id = delivery.Id,
                webhook = delivery.Webhook,
                @event = delivery.EventType,
                status = delivery.Status.ToString(),
                createdAt = AuditChain.FormatTime(delivery.CreatedAt),
                json = JsonSerializer.Serialize(delivery, PatchSetFreezer.JsonOptions),
            },
            cancellationToken).ConfigureAwait(false);
    }

    public Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(int limit = 100, CancellationToken cancellationToken = default) =>
        QueryDocumentsAsync<WebhookDelivery>(
            "SELECT json FROM webhook_deliveries ORDER BY created_at DESC, rowid DESC LIMIT @limit",
            new { limit = Math.Clamp(limit, 1, 10_000) }, cancellationToken);
}
