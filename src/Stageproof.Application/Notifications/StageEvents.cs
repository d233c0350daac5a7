using System.Globalization;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Stage;
using Stageproof.Core.Webhooks;

namespace Stageproof.Application.Notifications;

/// <summary>What a finished stage run tells the world: its verdict, and on a PASS, that the next lifecycle stage's
/// approvers are wanted when that stage needs approvals.</summary>
public static class StageEvents
{
    /// <summary>The events of <paramref name="result"/>; <paramref name="mirrorOf"/> is the staged environment's
    /// <c>mirror_of</c>, which names its stage when the environment is not itself one.</summary>
    public static IReadOnlyList<WebhookEvent> Of(StageResult result, LifecycleConfig lifecycle, string? mirrorOf, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(lifecycle);
        var pass = result.Verdict == StageVerdict.Pass;
        var data = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["stage_run"] = result.Id,
            ["patch_id"] = result.PatchId,
            ["verdict"] = pass ? "pass" : "fail",
        };
        if (!pass && result.Reasons.Count > 0)
        {
            data["reasons"] = string.Join("; ", result.Reasons.Select(r => $"{r.Step}: {r.Subject}: {r.Evidence}"));
        }
        var events = new List<WebhookEvent>
        {
            new()
            {
                Type = WebhookEventTypes.StageVerdict, At = at, Actor = result.Actor, Environment = result.Environment, PatchDigest = result.PatchDigest,
                Summary = $"{result.PatchId} staged in {result.Environment}: " + (pass ? "PASS" :
                    $"FAIL ({result.Reasons.Count.ToString(CultureInfo.InvariantCulture)} reason(s), first: {First(result)})"),
                Data = data,
            },
        };
        if (pass && Next(lifecycle, result.Environment, mirrorOf) is { Approvals: > 0 } next)
        {
            events.Add(new WebhookEvent
            {
                Type = WebhookEventTypes.ApprovalRequested, At = at, Actor = result.Actor, Environment = next.Environment, PatchDigest = result.PatchDigest,
                Summary = $"{result.PatchId} passed in {result.Environment}; {next.Approvals.ToString(CultureInfo.InvariantCulture)} approval(s) needed to promote it to {next.Environment} " +
                          $"(stageproof approve {result.PatchDigest[..Math.Min(12, result.PatchDigest.Length)]} --env {next.Environment})",
                Data = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["stage_run"] = result.Id, ["patch_id"] = result.PatchId, ["evidence_from"] = result.Environment,
                    ["approvals_needed"] = next.Approvals.ToString(CultureInfo.InvariantCulture),
                },
            });
        }
        return events;
    }

    private static string First(StageResult result) => result.Reasons.FirstOrDefault() is { } r ? $"{r.Step}: {r.Subject}" : "-";

    /// <summary>The stage a PASS in <paramref name="environment"/> lets a set be promoted into: the one after the
    /// environment's own stage, or — for a staging copy outside the lifecycle — the stage it mirrors.</summary>
    private static LifecycleStage? Next(LifecycleConfig lifecycle, string environment, string? mirrorOf)
    {
        var stages = lifecycle.Stages.ToList();
        var index = stages.FindIndex(s => s.Environment == environment);
        if (index >= 0)
        {
            return index + 1 < stages.Count ? stages[index + 1] : null;
        }
        return mirrorOf is null ? null : lifecycle.StageOf(mirrorOf);
    }
}
