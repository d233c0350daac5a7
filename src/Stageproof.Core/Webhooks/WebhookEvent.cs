namespace Stageproof.Core.Webhooks;

/// <summary>The events a webhook may subscribe to, by the names stageproof.yaml uses.</summary>
public static class WebhookEventTypes
{
    public const string StageVerdict = "stage.verdict";
    public const string ApprovalRequested = "approval.requested";
    public const string ApprovalGiven = "approval.given";
    public const string ApprovalRefused = "approval.refused";
    public const string RolloutStarted = "rollout.started";
    public const string RolloutBatchDone = "rollout.batch_done";
    public const string RolloutFinished = "rollout.finished";
    public const string RolloutFailed = "rollout.failed";
    public const string RolloutRolledBack = "rollout.rolled_back";
    public const string DriftThreshold = "drift.threshold";
    /// <summary>Sent by <c>stageproof webhook test NAME</c> only, whatever the webhook subscribes to.</summary>
    public const string Test = "webhook.test";
    /// <summary>In a webhook's <c>events:</c>, every event.</summary>
    public const string Any = "*";

    /// <summary>Every event a webhook may name, in the order the documentation lists them.</summary>
    public static readonly IReadOnlyList<string> All =
    [
        StageVerdict, ApprovalRequested, ApprovalGiven, ApprovalRefused, RolloutStarted, RolloutBatchDone,
        RolloutFinished, RolloutFailed, RolloutRolledBack, DriftThreshold,
    ];
}

/// <summary>Something a person would want to hear about: what happened, when, by whom, where, to which set, in one line,
/// with the details a receiver may act on.</summary>
public sealed record WebhookEvent
{
    /// <summary>One of <see cref="WebhookEventTypes"/>.</summary>
    public required string Type { get; init; }
    public required DateTimeOffset At { get; init; }
    public required string Actor { get; init; }
    public string? Environment { get; init; }
    public string? PatchDigest { get; init; }
    /// <summary>One readable line: what a chat message says.</summary>
    public required string Summary { get; init; }
    public IReadOnlyDictionary<string, string> Data { get; init; } = new Dictionary<string, string>();
}
