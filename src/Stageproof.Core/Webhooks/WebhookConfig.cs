using System.Text.Json.Serialization;
using Stageproof.Core.Configuration;

namespace Stageproof.Core.Webhooks;

/// <summary>What a webhook's body looks like: Stageproof's JSON event, or <c>{"text": "..."}</c> for Slack-compatible receivers.</summary>
public enum WebhookFormat { Json, Slack }

/// <summary>One entry of <c>webhooks:</c> in stageproof.yaml, its secret already read from its file.</summary>
public sealed record WebhookConfig
{
    public required string Name { get; init; }
    public required Uri Url { get; init; }
    /// <summary>Event types (<see cref="WebhookEventTypes"/>), or "*" for all.</summary>
    public required IReadOnlyList<string> Events { get; init; }
    public required string SecretFile { get; init; }
    /// <summary>The HMAC-SHA256 key: the secret file's text without its trailing line break. Never shown.</summary>
    [JsonIgnore]
    public required byte[] Secret { get; init; }
    public WebhookFormat Format { get; init; } = WebhookFormat.Json;
    /// <summary>How long one attempt may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Attempts in all, the first included.</summary>
    public int Attempts { get; init; } = 3;
    /// <summary>Where the webhook was defined.</summary>
    public ValueSource? Source { get; init; }

    public bool Wants(string eventType) => Events.Contains(WebhookEventTypes.Any) || Events.Contains(eventType);

    /// <summary>Names the webhook without its secret (a record's default would print the key's bytes' type, and may one day print more).</summary>
    public override string ToString() => $"{Name} ({Url})";
}
