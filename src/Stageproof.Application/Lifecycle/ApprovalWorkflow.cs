using System.Globalization;
using System.Security.Cryptography;
using Stageproof.Application.Identity;
using Stageproof.Application.Notifications;
using Stageproof.Core.Audit;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.State;
using Stageproof.Core.Webhooks;

namespace Stageproof.Application.Lifecycle;

/// <summary>What an approval came to: the stored approval, or the refusal (already audited).</summary>
public sealed record ApprovalOutcome(Approval? Approval, GateRefusal? Refusal);

/// <summary>
/// <c>approve</c>, for every entry point: the actor must be authenticated, an approver or admin covering the environment,
/// and neither the set's author nor whoever froze it (four eyes). Refusals and approvals both land in the audit chain,
/// and are published (approval.refused, approval.given).
/// </summary>
public sealed class ApprovalWorkflow(IStateStore store, TimeProvider time, IEventPublisher? events = null)
{
    private readonly IEventPublisher _events = events ?? NullEventPublisher.Instance;

    public async Task<ApprovalOutcome> ApproveAsync(Principal actor, StoredPatchSet stored, string environment, string? comment, CancellationToken ct)
    {
        var user = actor.User;
        GateRefusal? refusal = null;
        if (user is null || !AccessPolicy.MayApprove(user, environment))
        {
            refusal = new GateRefusal(GateRules.Role, user is null
                ? $"{actor.Name} is not a Stageproof user; approving needs the approver or admin role"
                : $"{user.Name} ({AccessPolicy.Name(user.Role)}, environments {string.Join(", ", user.Environments)}) may not approve for {environment}: approver or admin covering it needed");
        }
        else if (stored.Set.Author == actor.Name)
        {
            refusal = new GateRefusal(GateRules.FourEyes, $"{actor.Name} wrote {stored.Set.Id}; its approval must come from someone else");
        }
        else if ((await PatchSetAuthors.FrozenByAsync(store, stored.Digest, ct).ConfigureAwait(false)).Contains(actor.Name))
        {
            // The YAML's author: is whatever its writer typed; who froze the set is recorded, and is its author too.
            refusal = new GateRefusal(GateRules.FourEyes, $"{actor.Name} froze {stored.Set.Id} (its author: says {stored.Set.Author}); " +
                                                          "its approval must come from someone else");
        }
        if (refusal is not null)
        {
            await AuditAsync(actor, "approve.refused", environment, refusal.ToString(), stored.Digest, null, ct).ConfigureAwait(false);
            await _events.PublishAsync(new WebhookEvent
            {
                Type = WebhookEventTypes.ApprovalRefused, At = time.GetUtcNow(), Actor = actor.Name, Environment = environment,
                PatchDigest = stored.Digest, Summary = $"approval of {stored.Set.Id} for {environment} by {actor.Name} refused: {refusal.Message}",
                Data = new Dictionary<string, string> { ["patch_id"] = stored.Set.Id, ["rule"] = refusal.Rule },
            }, ct).ConfigureAwait(false);
            return new(null, refusal);
        }
        var now = time.GetUtcNow();
        var approval = new Approval
        {
            Id = $"ap-{now.UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}",
            PatchDigest = stored.Digest,
            Environment = environment,
            Approver = actor.Name,
            Comment = comment,
            At = now,
            AuthenticatedBy = actor.AuthenticatedBy,
        };
        await store.SaveApprovalAsync(approval, ct).ConfigureAwait(false);
        await AuditAsync(actor, "approve", environment, $"{approval.Id} by {approval.Approver}", stored.Digest, approval.Comment, ct).ConfigureAwait(false);
        var data = new Dictionary<string, string> { ["approval"] = approval.Id, ["patch_id"] = stored.Set.Id };
        if (approval.Comment is { } said)
        {
            data["comment"] = said;
        }
        await _events.PublishAsync(new WebhookEvent
        {
            Type = WebhookEventTypes.ApprovalGiven, At = now, Actor = actor.Name, Environment = environment, PatchDigest = stored.Digest,
            Summary = $"{actor.Name} approved {stored.Set.Id} ({stored.Digest[..12]}) for {environment}", Data = data,
        }, ct).ConfigureAwait(false);
        return new(approval, null);
    }

    private Task AuditAsync(Principal actor, string action, string target, string outcome, string digest, string? reason, CancellationToken ct) =>
        AuditTrail.AppendAsync(store, actor, action, target, outcome, digest, reason, ct);
}

/// <summary>Who wrote a patch set as far as four eyes is concerned: its declared author, and whoever froze it.</summary>
public static class PatchSetAuthors
{
    /// <summary>Everyone the audit chain records as having frozen <paramref name="digest"/>.</summary>
    public static async Task<IReadOnlyList<string>> FrozenByAsync(IStateStore store, string digest, CancellationToken ct) =>
        FrozenBy(await store.ReadAllAsync(ct).ConfigureAwait(false)).GetValueOrDefault(digest) ?? [];

    /// <summary>Who froze each digest, by the <c>patch.freeze</c> events among <paramref name="events"/>.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> FrozenBy(IEnumerable<AuditEvent> events) =>
        events.Where(e => e.Action == "patch.freeze" && e.PayloadDigest is not null)
            .GroupBy(e => e.PayloadDigest!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Select(e => e.Actor).Distinct(StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
}

/// <summary>The audit event a workflow appends for its actor.</summary>
internal static class AuditTrail
{
    public static Task AppendAsync(IStateStore store, Principal actor, string action, string target, string outcome, string digest, string? reason, CancellationToken ct) =>
        store.AppendAsync(new AuditEvent { Actor = actor.Name, Action = action, Target = target, Outcome = outcome, PayloadDigest = digest, Reason = reason }, ct);
}
