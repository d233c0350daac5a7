using System.Globalization;
using Stageproof.Core.Stage;

namespace Stageproof.Core.Lifecycle;

/// <summary>An environment made as a copy of another (a lab clone; a snapshot in general), and when.</summary>
public sealed record EnvironmentClone(string Environment, string Source, DateTimeOffset CreatedAt);

/// <summary>Knows which environments are clones of which (the lab, or a snapshot provider).</summary>
public interface IEnvironmentClones
{
    Task<EnvironmentClone?> FindAsync(string environment, CancellationToken ct);
}

/// <summary>The rules a promotion can be refused by; each refusal names one.</summary>
public static class GateRules
{
    public const string Lifecycle = "lifecycle", Role = "role", PreviousStagePass = "previous-stage-pass", EvidenceAge = "evidence-age",
        EmergencyRecord = "emergency-record", EmergencyClonePass = "emergency-clone-pass", Approvals = "approvals", FourEyes = "four-eyes",
        Window = "maintenance-window", WindowOverride = "window-override", AuthenticatedActor = "authenticated-actor";
}

public sealed record GateRefusal(string Rule, string Message)
{
    public override string ToString() => $"refused by rule {Rule}: {Message}";
}

/// <summary>Everything a promotion decision looks at. Pure data: the caller reads it from the store and the lab.</summary>
public sealed record PromotionRequest
{
    public required LifecycleConfig Lifecycle { get; init; }
    public required string Target { get; init; }
    public required string PatchDigest { get; init; }
    public required string PatchId { get; init; }
    /// <summary>The set's self-declared <c>author:</c> (informative: anyone can write any name there).</summary>
    public required string PatchAuthor { get; init; }
    /// <summary>Who froze the set, as recorded when it was frozen: an author whatever its YAML says.</summary>
    public IReadOnlyList<string> FrozenBy { get; init; } = [];
    public required DateTimeOffset FrozenAt { get; init; }
    public required string Actor { get; init; }
    public bool Emergency { get; init; }
    public string? Reason { get; init; }
    public string? Ticket { get; init; }
    /// <summary>Run now, outside the window (admins only, with <see cref="Reason"/>).</summary>
    public bool OverrideWindow { get; init; }
    public IReadOnlyList<User> Users { get; init; } = [];
    /// <summary>Approvals of this digest for the target.</summary>
    public IReadOnlyList<Approval> Approvals { get; init; } = [];
    /// <summary>Stage results of every digest, any environment.</summary>
    public IReadOnlyList<StageResult> StageResults { get; init; } = [];
    /// <summary>Clones among the environments of <see cref="StageResults"/>.</summary>
    public IReadOnlyDictionary<string, EnvironmentClone> Clones { get; init; } = new Dictionary<string, EnvironmentClone>();
    public required DateTimeOffset Now { get; init; }
}

/// <summary>The gate's decision: refusals (empty when allowed), and what admitted it.</summary>
public sealed record GateDecision
{
    public IReadOnlyList<GateRefusal> Refusals { get; init; } = [];
    public IReadOnlyList<string> Evidence { get; init; } = [];
    public IReadOnlyList<string> Approvals { get; init; } = [];
    /// <summary>The maintenance window open now, when one is configured and open.</summary>
    public (DateTimeOffset Opens, DateTimeOffset Closes)? OpenWindow { get; init; }
    /// <summary>When the window is closed: when it next opens.</summary>
    public DateTimeOffset? NextWindow { get; init; }
    public bool Allowed => Refusals.Count == 0;
    /// <summary>True when the only refusal is the closed window (a rollout may wait for it).</summary>
    public bool OnlyWindowClosed => Refusals.Count > 0 && Refusals.All(r => r.Rule == GateRules.Window);
}

/// <summary>
/// The lifecycle's gate: a patch reaches an environment only along the lifecycle, only as the exact digest that
/// passed before, only with someone else's approval, only in a window, only by a role the environment allows.
/// </summary>
public static class PromotionGate
{
    public static GateDecision Evaluate(PromotionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var refusals = new List<GateRefusal>();
        var evidence = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        var stage = request.Lifecycle.StageOf(request.Target);
        if (stage is null)
        {
            refusals.Add(new(GateRules.Lifecycle, request.Lifecycle.Defined
                ? $"environment {request.Target} is not a stage of the lifecycle ({string.Join(" → ", request.Lifecycle.Stages.Select(s => s.Environment))})"
                : "stageproof.yaml defines no lifecycle: add lifecycle.stages"));
            return new GateDecision { Refusals = refusals };
        }

        var actor = request.Users.FirstOrDefault(u => u.Name == request.Actor);
        var allowed = request.Emergency ? request.Lifecycle.Emergency.Roles : stage.Roles;
        if (actor is null)
        {
            refusals.Add(new(GateRules.Role, $"{request.Actor} is not a Stageproof user (see 'stageproof user list'); {request.Target} allows {Roles(allowed)}"));
        }
        else if (!AccessPolicy.MayPromote(actor, request.Target, allowed))
        {
            refusals.Add(new(GateRules.Role, !actor.Covers(request.Target)
                ? $"{actor.Name} ({actor.Role.ToString().ToLowerInvariant()}) may act on {string.Join(", ", actor.Environments)}, not on {request.Target}"
                : $"{actor.Name} is {actor.Role.ToString().ToLowerInvariant()}; {request.Target}{(request.Emergency ? "'s emergency lane" : "")} allows {Roles(allowed)}"));
        }

        var digest = request.PatchDigest;
        if (request.Emergency)
        {
            if (string.IsNullOrWhiteSpace(request.Reason) || string.IsNullOrWhiteSpace(request.Ticket))
            {
                refusals.Add(new(GateRules.EmergencyRecord, "an emergency promotion needs --reason and --ticket"));
            }
            var maxAge = request.Lifecycle.Emergency.MaxCloneAge;
            // The newest verdict in a clone of the target counts: a FAIL in a later clone withdraws an earlier PASS.
            var latest = request.StageResults
                .Where(r => r.PatchDigest == digest && r.FinishedAt is not null && request.Clones.TryGetValue(r.Environment, out var c) && c.Source == request.Target)
                .OrderByDescending(r => r.StartedAt)
                .FirstOrDefault();
            var clone = latest is null ? null : request.Clones[latest.Environment];
            if (latest is null)
            {
                refusals.Add(new(GateRules.EmergencyClonePass,
                    $"{PatchName(request)} has no PASS in a fresh clone of {request.Target}: make one (stageproof lab clone {request.Target} NAME) and stage it there (stageproof stage {Short(digest)} --env NAME)"));
            }
            else if (latest.Verdict != StageVerdict.Pass)
            {
                refusals.Add(new(GateRules.EmergencyClonePass, $"{PatchName(request)} FAILED in clone {latest.Environment} of {request.Target} ({latest.Id}), its newest clone run"));
            }
            else if (clone!.CreatedAt < request.FrozenAt || latest.StartedAt < clone.CreatedAt || request.Now - clone.CreatedAt > maxAge)
            {
                refusals.Add(new(GateRules.EmergencyClonePass,
                    $"{PatchName(request)} passed in clone {latest.Environment} of {request.Target}, but that clone is not fresh " +
                    $"(made {clone.CreatedAt:u}; it must be made after the set was frozen, {request.FrozenAt:u}, and be at most {maxAge} old)"));
            }
            else
            {
                evidence.Add(latest.Id);
            }
        }
        else if (request.Lifecycle.Previous(request.Target) is { } previous)
        {
            var results = request.StageResults.Where(r => r.Environment == previous.Environment).ToList();
            // The newest verdict for this digest counts: a FAIL after a PASS withdraws the PASS.
            var latest = results.Where(r => r.PatchDigest == digest && r.FinishedAt is not null).OrderByDescending(r => r.StartedAt).FirstOrDefault();
            var pass = latest?.Verdict == StageVerdict.Pass ? latest : null;
            if (pass is null)
            {
                var failed = latest;
                var otherDigest = results.FirstOrDefault(r => r.PatchDigest != digest && r.PatchId == request.PatchId && r.Verdict == StageVerdict.Pass);
                refusals.Add(new(GateRules.PreviousStagePass,
                    failed is not null ? $"{PatchName(request)} FAILED in {previous.Environment} ({failed.Id}) and has no PASS there"
                    : otherDigest is not null ? $"{previous.Environment} passed {request.PatchId} with a different digest ({Short(otherDigest.PatchDigest)}), not {Short(digest)}: only the exact set that passed may be promoted"
                    : $"{PatchName(request)} has no PASS in {previous.Environment}, the stage before {request.Target} (stageproof stage {Short(digest)} --env {previous.Environment})"));
            }
            else if (stage.MaxEvidenceAge is { } maxAge && request.Now - pass.StartedAt > maxAge)
            {
                refusals.Add(new(GateRules.EvidenceAge,
                    $"the PASS in {previous.Environment} ({pass.Id}) is {Age(request.Now - pass.StartedAt)} old; {request.Target} accepts at most {Age(maxAge)}"));
            }
            else
            {
                evidence.Add(pass.Id);
            }
        }

        // Four eyes: neither the set's author nor whoever promotes it counts as its approver.
        var approvals = new List<string>();
        if (stage.Approvals > 0)
        {
            var excluded = new List<string>();
            var ownApproval = false;
            foreach (var approval in request.Approvals.Where(a => a.PatchDigest == digest && a.Environment == request.Target))
            {
                var approver = request.Users.FirstOrDefault(u => u.Name == approval.Approver);
                if (approval.SealBroken)
                {
                    excluded.Add($"approval {approval.Id} in {approval.Approver}'s name does not verify against the audit key (written outside Stageproof) and is not counted");
                }
                else if (approval.Approver == request.PatchAuthor || request.FrozenBy.Contains(approval.Approver) || approval.Approver == request.Actor)
                {
                    var role = approval.Approver == request.PatchAuthor ? "author"
                        : request.FrozenBy.Contains(approval.Approver) ? "author (froze it)" : "promoter";
                    excluded.Add($"{approval.Approver} is the set's {role}");
                    ownApproval = true;
                }
                else if (approver is null || !AccessPolicy.MayApprove(approver, request.Target))
                {
                    excluded.Add($"{approval.Approver} may no longer approve for {request.Target}");
                }
                else if (!approvals.Contains(approval.Approver))
                {
                    approvals.Add(approval.Approver);
                }
            }
            if (approvals.Count < stage.Approvals)
            {
                var have = $"{approvals.Count.ToString(inv)} of {stage.Approvals.ToString(inv)} approval(s) for {request.Target}";
                refusals.Add(ownApproval
                    ? new(GateRules.FourEyes, $"{have}: an approval does not count when {string.Join("; ", excluded)}")
                    : new(GateRules.Approvals, $"{have}{(excluded.Count > 0 ? $" ({string.Join("; ", excluded)})" : "")} (stageproof approve {Short(digest)} --env {request.Target}, by someone other than {request.PatchAuthor} and {request.Actor})"));
            }
        }

        (DateTimeOffset, DateTimeOffset)? open = null;
        DateTimeOffset? next = null;
        if (stage.Window is { } window)
        {
            open = window.OpenAt(request.Now);
            if (open is null)
            {
                next = window.NextOpening(request.Now);
                if (!request.OverrideWindow)
                {
                    refusals.Add(new(GateRules.Window, $"{request.Target}'s maintenance window {window} is closed; it next opens {next:u} (--wait to wait for it)"));
                }
                else if (!AccessPolicy.MayOverrideWindow(actor) || string.IsNullOrWhiteSpace(request.Reason))
                {
                    refusals.Add(new(GateRules.WindowOverride, !AccessPolicy.MayOverrideWindow(actor)
                        ? $"only an admin may roll out outside {request.Target}'s maintenance window ({request.Actor} is not)"
                        : "--now outside the maintenance window needs --reason"));
                }
            }
        }
        return new GateDecision { Refusals = refusals, Evidence = evidence, Approvals = approvals, OpenWindow = open, NextWindow = next };
    }

    private static string PatchName(PromotionRequest r) => $"{r.PatchId} ({Short(r.PatchDigest)})";

    /// <summary>The first 12 characters of a digest, or all of it when shorter (a slice past the end would throw).</summary>
    private static string Short(string digest) => digest.Length > 12 ? digest[..12] : digest;

    private static string Roles(IReadOnlyList<Role> roles) => string.Join(", ", roles.Select(r => r.ToString().ToLowerInvariant()));

    private static string Age(TimeSpan t) => t.TotalDays >= 1 ? $"{t.TotalDays:0.#}d" : t.TotalHours >= 1 ? $"{t.TotalHours:0.#}h" : $"{t.TotalMinutes:0}m";
}
