using Stageproof.Core.Audit;
using Stageproof.Core.Patches;
using Stageproof.Core.State;

namespace Stageproof.Application.Patches;

/// <summary><c>patch freeze</c> for every entry point: stores a frozen set and records who froze it (its author for
/// four eyes, whatever its <c>author:</c> says).</summary>
public static class FreezeWorkflow
{
    /// <summary>Stores <paramref name="frozen"/> and audits patch.freeze as <paramref name="actor"/>; true when it was
    /// new, false when the same content was already frozen.</summary>
    public static async Task<bool> FreezeAsync(IStateStore store, string actor, FrozenPatchSet frozen, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(frozen);
        var added = await store.SavePatchSetAsync(frozen, ct).ConfigureAwait(false);
        await store.AppendAsync(new AuditEvent
        {
            Actor = actor, Action = "patch.freeze", Target = frozen.Set.Id, Outcome = added ? "stored" : "already stored", PayloadDigest = frozen.Digest,
        }, ct).ConfigureAwait(false);
        return added;
    }
}
