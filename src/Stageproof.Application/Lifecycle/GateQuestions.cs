using Stageproof.Application.Identity;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Stage;
using Stageproof.Core.State;

namespace Stageproof.Application.Lifecycle;

/// <summary>What a promotion asks beyond the set and the target (the CLI's promote options, the console's form).</summary>
public sealed record GateAsk
{
    public required string Target { get; init; }
    public bool Emergency { get; init; }
    public string? Reason { get; init; }
    public string? Ticket { get; init; }
    public bool OverrideWindow { get; init; }
}

/// <summary>What the gate reads from the state, read once: a page that asks many questions (the approvals queue)
/// reads the state once, not once a question.</summary>
public sealed record GateInputs(
    IReadOnlyList<User> Users, IReadOnlyList<Approval> Approvals, IReadOnlyList<StageResult> StageResults,
    IReadOnlyDictionary<string, IReadOnlyList<string>> FrozenBy)
{
    public static async Task<GateInputs> ReadAsync(IStateStore store, CancellationToken ct)
    {
        var frozenBy = PatchSetAuthors.FrozenBy(await store.ReadAllAsync(ct).ConfigureAwait(false));
        return new(await store.ListUsersAsync(ct).ConfigureAwait(false), await store.ListApprovalsAsync(null, null, ct).ConfigureAwait(false),
            await store.ListStageResultsAsync(null, null, ct).ConfigureAwait(false), frozenBy);
    }
}

/// <summary>
/// Puts a promotion's question to the gate with its inputs read from the store: users (the actor as authenticated, a
/// token's scope narrowing it), approvals, stage results, who froze the set. Every entry point asks through here, so the
/// console shows the very answer the CLI acts on.
/// </summary>
public static class GateQuestions
{
    /// <param name="clones">Clones among the stage results' environments (the emergency lane's evidence); empty where none
    /// can exist.</param>
    public static async Task<GateDecision> AskAsync(IStateStore store, LifecycleConfig lifecycle, StoredPatchSet stored, GateAsk ask, Principal actor,
        IReadOnlyDictionary<string, EnvironmentClone> clones, DateTimeOffset now, CancellationToken ct) =>
        Ask(await GateInputs.ReadAsync(store, ct).ConfigureAwait(false), lifecycle, stored, ask, actor, clones, now);

    /// <summary>The gate's answer from inputs already read.</summary>
    public static GateDecision Ask(GateInputs inputs, LifecycleConfig lifecycle, StoredPatchSet stored, GateAsk ask, Principal actor,
        IReadOnlyDictionary<string, EnvironmentClone> clones, DateTimeOffset now)
    {
        var users = inputs.Users.Where(u => u.Name != actor.Name).ToList();
        if (actor.User is { } user)
        {
            users.Add(user);
        }
        return PromotionGate.Evaluate(new PromotionRequest
        {
            Lifecycle = lifecycle,
            Target = ask.Target,
            PatchDigest = stored.Digest,
            PatchId = stored.Set.Id,
            PatchAuthor = stored.Set.Author,
            FrozenBy = inputs.FrozenBy.GetValueOrDefault(stored.Digest) ?? [],
            FrozenAt = stored.FrozenAt,
            Actor = actor.Name,
            Emergency = ask.Emergency,
            Reason = ask.Reason,
            Ticket = ask.Ticket,
            OverrideWindow = ask.OverrideWindow,
            Users = users,
            Approvals = inputs.Approvals.Where(a => a.PatchDigest == stored.Digest && a.Environment == ask.Target).ToList(),
            StageResults = inputs.StageResults,
            Clones = clones,
            Now = now,
        });
    }
}
