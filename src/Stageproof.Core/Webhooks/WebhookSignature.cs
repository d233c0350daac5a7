using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Stageproof.Core.Webhooks;

/// <summary>
/// The bytes a webhook receives and how they are signed: <c>X-Stageproof-Signature: sha256=HEX</c>, the lower-case hex
/// HMAC-SHA256 of the exact body under the webhook's secret, beside the event type, the delivery id and the time.
/// </summary>
public static class WebhookSignature
{
    public const string SignatureHeader = "X-Stageproof-Signature";
    public const string EventHeader = "X-Stageproof-Event";
    public const string DeliveryHeader = "X-Stageproof-Delivery";
    public const string TimestampHeader = "X-Stageproof-Timestamp";
    private const string Prefix = "sha256=";

    /// <summary>"sha256=" and the hex HMAC-SHA256 of <paramref name="body"/>.</summary>
    public static string Sign(byte[] secret, byte[] body) => Prefix + Convert.ToHexStringLower(HMACSHA256.HashData(secret, body));

    /// <summary>True when <paramref name="header"/> is the signature of <paramref name="body"/> (compared in fixed time).</summary>
    public static bool Verify(byte[] secret, byte[] body, string? header) =>
        header is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(secret, body)), Encoding.ASCII.GetBytes(header));

    /// <summary>The body of one delivery of <paramref name="e"/> in <paramref name="format"/>.</summary>
    public static string Body(WebhookEvent e, WebhookFormat format, string deliveryId)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (format == WebhookFormat.Slack)
        {
            return new JsonObject { ["text"] = Text(e) }.ToJsonString();
        }
        var data = new JsonObject();
        foreach (var (key, value) in e.Data)
        {
            data[key] = value;
        }
        return new JsonObject
        {
            ["id"] = deliveryId,
            ["type"] = e.Type,
            ["at"] = e.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            ["actor"] = e.Actor,
            ["environment"] = e.Environment,
            ["patch_digest"] = e.PatchDigest,
            ["summary"] = e.Summary,
            ["data"] = data,
        }.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }

    /// <summary>One readable line: "[stageproof] approval.given prod: carol approved ... (by carol)".</summary>
    public static string Text(WebhookEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var where = e.Environment is null ? "" : " " + e.Environment;
        var line = $"[stageproof] {e.Type}{where}: {e.Summary} (by {e.Actor})";
        return string.Join(' ', line.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries));
    }
}
