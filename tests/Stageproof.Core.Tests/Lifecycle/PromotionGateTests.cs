using Stageproof.Core.Lifecycle;
using Stageproof.Core.Stage;

namespace Stageproof.Core.Tests.Lifecycle;

public sealed class PromotionGateTests
{
    private static readonly string Digest = new('a', 64);
    private static readonly string OtherDigest = new('b', 64);
    // A Saturday, 03:00 UTC: inside prod's window (Saturdays 02:00 for 4h).
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 3, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Wednesday = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private static readonly LifecycleConfig Lifecycle = new()
    {
        Stages =
        [
            new LifecycleStage { Environment = "qa" },
            new LifecycleStage { Environment = "staging", MaxEvidenceAge = TimeSpan.FromDays(7) },
            new LifecycleStage
            {
                Environment = "prod",
                Approvals = 1,
                Window = new MaintenanceWindow { Cron = "0 2 * * 6", Duration = TimeSpan.FromHours(4) },
            },
        ],
        Emergency = new EmergencyLane { MaxCloneAge = TimeSpan.FromHours(24) },
    };

    private static readonly User[] People =
    [
        new() { Name = "alice", Role = Role.Operator },      // the set's author
        new() { Name = "bob", Role = Role.Operator },        // the promoter
        new() { Name = "carol", Role = Role.Approver },
        new() { Name = "dave", Role = Role.Admin },
        new() { Name = "vera", Role = Role.Viewer },
        new() { Name = "olga", Role = Role.Operator, Environments = ["qa", "staging"] },
    ];

    private static StageResult Result(string id, string environment, DateTimeOffset startedAt, StageVerdict verdict = StageVerdict.Pass,
        string? digest = null, string patchId = "P-1") => new()
    {
        Id = id,
        PatchDigest = digest ?? Digest,
        PatchId = patchId,
        PatchTitle = "a patch",
        Environment = environment,
        Actor = "alice",
        StartedAt = startedAt,
        FinishedAt = startedAt.AddMinutes(10),
        Verdict = verdict,
    };

    private static Approval ApprovalBy(string approver) => new()
    {
        Id = $"ap-{approver}",
        PatchDigest = Digest,
        Environment = "prod",
        Approver = approver,
        At = Now.AddHours(-1),
    };

    /// <summary>A routine promotion into prod that every rule admits; tests change one thing.</summary>
    private static PromotionRequest Routine() => new()
    {
        Lifecycle = Lifecycle,
        Target = "prod",
        PatchDigest = Digest,
        PatchId = "P-1",
        PatchAuthor = "alice",
        FrozenAt = Now.AddDays(-3),
        Actor = "bob",
        Users = People,
        Approvals = [ApprovalBy("carol")],
        StageResults = [Result("st-qa", "qa", Now.AddDays(-2)), Result("st-staging", "staging", Now.AddDays(-1))],
        Now = Now,
    };

    /// <summary>An emergency promotion into prod, backed by a PASS in a clone made after the freeze.</summary>
    private static PromotionRequest Emergency() => Routine() with
    {
        Emergency = true,
        Reason = "CVE-2026-0001 is exploited",
        Ticket = "INC-42",
        FrozenAt = Now.AddHours(-5),
        StageResults = [Result("st-clone", "prod-clone", Now.AddHours(-2))],
        Clones = new Dictionary<string, EnvironmentClone> { ["prod-clone"] = new("prod-clone", "prod", Now.AddHours(-3)) },
    };

    private static GateRefusal RefusedBy(string rule, PromotionRequest request)
    {
        var decision = PromotionGate.Evaluate(request);
        Assert.False(decision.Allowed);
        var refusal = Assert.Single(decision.Refusals);
        Assert.Equal(rule, refusal.Rule);
        Assert.Contains($"rule {rule}", refusal.ToString(), StringComparison.Ordinal);
        return refusal;
    }

    [Fact]
    public void A_routine_promotion_with_evidence_approval_and_an_open_window_is_allowed()
    {
        var decision = PromotionGate.Evaluate(Routine());

        Assert.True(decision.Allowed, string.Join("; ", decision.Refusals));
        Assert.Equal(["st-staging"], decision.Evidence);
        Assert.Equal(["carol"], decision.Approvals);
        Assert.Equal((Now.AddHours(-1), Now.AddHours(3)), decision.OpenWindow);
        Assert.Null(decision.NextWindow);
    }

    [Fact]
    public void The_first_stage_needs_no_earlier_pass()
    {
        var decision = PromotionGate.Evaluate(Routine() with { Target = "qa", StageResults = [] });

        Assert.True(decision.Allowed, string.Join("; ", decision.Refusals));
        Assert.Empty(decision.Evidence);
    }

    [Fact]
    public void An_environment_outside_the_lifecycle_is_refused()
    {
        var refusal = RefusedBy(GateRules.Lifecycle, Routine() with { Target = "lab" });
        Assert.Contains("qa → staging → prod", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_pass_in_the_previous_stage_it_is_refused()
    {
        var refusal = RefusedBy(GateRules.PreviousStagePass, Routine() with { StageResults = [Result("st-qa", "qa", Now.AddDays(-2))] });
        Assert.Contains("no PASS in staging", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pass_of_another_digest_of_the_same_patch_does_not_count()
    {
        var refusal = RefusedBy(GateRules.PreviousStagePass, Routine() with { StageResults = [Result("st-other", "staging", Now.AddDays(-1), digest: OtherDigest)] });
        Assert.Contains("different digest", refusal.Message, StringComparison.Ordinal);
        Assert.Contains(OtherDigest[..12], refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_fail_after_a_pass_withdraws_the_pass()
    {
        var refusal = RefusedBy(GateRules.PreviousStagePass, Routine() with
        {
            StageResults = [Result("st-staging", "staging", Now.AddDays(-1)), Result("st-staging-2", "staging", Now.AddHours(-2), StageVerdict.Fail)],
        });
        Assert.Contains("FAILED in staging (st-staging-2)", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_admin_may_promote_where_the_stage_lists_only_operators()
    {
        var lifecycle = Lifecycle with { Stages = Lifecycle.Stages.Select(s => s with { Roles = [Role.Operator] }).ToList() };
        var decision = PromotionGate.Evaluate(Routine() with { Lifecycle = lifecycle, Actor = "dave" });
        Assert.True(decision.Allowed, string.Join("; ", decision.Refusals));
    }

    [Fact]
    public void An_emergency_is_refused_when_its_newest_clone_run_failed_though_an_older_clone_passed()
    {
        var request = Emergency() with
        {
            StageResults = [Result("st-clone", "prod-clone", Now.AddHours(-2)), Result("st-clone-2", "prod-clone-2", Now.AddHours(-1), StageVerdict.Fail)],
            Clones = new Dictionary<string, EnvironmentClone>
            {
                ["prod-clone"] = new("prod-clone", "prod", Now.AddHours(-3)),
                ["prod-clone-2"] = new("prod-clone-2", "prod", Now.AddMinutes(-90)),
            },
        };
        var refusal = RefusedBy(GateRules.EmergencyClonePass, request);
        Assert.Contains("FAILED in clone prod-clone-2", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_fail_in_the_previous_stage_is_refused()
    {
        var refusal = RefusedBy(GateRules.PreviousStagePass, Routine() with { StageResults = [Result("st-fail", "staging", Now.AddDays(-1), StageVerdict.Fail)] });
        Assert.Contains("FAILED in staging (st-fail)", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pass_older_than_the_stage_accepts_is_refused()
    {
        var staging = Routine() with { Target = "staging", StageResults = [Result("st-qa", "qa", Now.AddDays(-8))] };

        var refusal = RefusedBy(GateRules.EvidenceAge, staging);
        Assert.Contains("8d old", refusal.Message, StringComparison.Ordinal);
        Assert.Contains("at most 7d", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_an_approval_it_is_refused()
    {
        var refusal = RefusedBy(GateRules.Approvals, Routine() with { Approvals = [] });
        Assert.Contains("0 of 1 approval(s) for prod", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_authors_own_approval_does_not_count()
    {
        var refusal = RefusedBy(GateRules.FourEyes, Routine() with { Approvals = [ApprovalBy("alice")] });
        Assert.Contains("alice is the set's author", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_approval_by_whoever_froze_the_set_does_not_count_whatever_its_author_line_says()
    {
        // carol froze a set that names alice as its author, then approved it herself.
        var refusal = RefusedBy(GateRules.FourEyes, Routine() with { FrozenBy = ["carol"], Approvals = [ApprovalBy("carol")] });
        Assert.Contains("carol is the set's author (froze it)", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_promoters_own_approval_does_not_count()
    {
        var request = Routine() with { Actor = "dave", Approvals = [ApprovalBy("dave")] };

        var refusal = RefusedBy(GateRules.FourEyes, request);
        Assert.Contains("dave is the set's promoter", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_approval_by_someone_who_may_not_approve_does_not_count_and_is_not_a_four_eyes_matter()
    {
        var refusal = RefusedBy(GateRules.Approvals, Routine() with { Approvals = [ApprovalBy("vera")] });
        Assert.Contains("vera may no longer approve for prod", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_viewer_may_not_promote()
    {
        var refusal = RefusedBy(GateRules.Role, Routine() with { Actor = "vera" });
        Assert.Contains("vera is viewer", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_user_limited_to_other_environments_may_not_promote_here()
    {
        var refusal = RefusedBy(GateRules.Role, Routine() with { Actor = "olga" });
        Assert.Contains("not on prod", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_user_may_not_promote()
    {
        RefusedBy(GateRules.Role, Routine() with { Actor = "mallory" });
    }

    [Fact]
    public void Outside_the_window_it_is_refused_and_the_next_opening_is_given()
    {
        var request = Routine() with { Now = Wednesday };

        var refusal = RefusedBy(GateRules.Window, request);
        var decision = PromotionGate.Evaluate(request);
        Assert.True(decision.OnlyWindowClosed);
        Assert.Null(decision.OpenWindow);
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 2, 0, 0, TimeSpan.Zero), decision.NextWindow);
        Assert.Contains("2026-11-28 02:00:00Z", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Only_an_admin_may_override_the_window()
    {
        var refusal = RefusedBy(GateRules.WindowOverride, Routine() with { Now = Wednesday, OverrideWindow = true, Reason = "customer outage" });
        Assert.Contains("only an admin", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_admin_overriding_the_window_must_give_a_reason()
    {
        var refusal = RefusedBy(GateRules.WindowOverride, Routine() with { Now = Wednesday, OverrideWindow = true, Actor = "dave" });
        Assert.Contains("--reason", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_admin_with_a_reason_may_override_the_window()
    {
        var decision = PromotionGate.Evaluate(Routine() with { Now = Wednesday, OverrideWindow = true, Actor = "dave", Reason = "customer outage" });

        Assert.True(decision.Allowed, string.Join("; ", decision.Refusals));
        Assert.Null(decision.OpenWindow);
    }

    [Fact]
    public void An_emergency_needs_a_reason_and_a_ticket()
    {
        RefusedBy(GateRules.EmergencyRecord, Emergency() with { Reason = null });
        RefusedBy(GateRules.EmergencyRecord, Emergency() with { Ticket = " " });
    }

    [Fact]
    public void An_emergency_needs_a_pass_in_a_clone_of_the_target()
    {
        // A PASS in staging does not stand in for the clone.
        var refusal = RefusedBy(GateRules.EmergencyClonePass, Emergency() with { StageResults = [Result("st-staging", "staging", Now.AddHours(-1))] });
        Assert.Contains("no PASS in a fresh clone of prod", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_emergency_pass_in_a_clone_made_before_the_freeze_is_stale()
    {
        var stale = Emergency() with { FrozenAt = Now.AddHours(-2.5) }; // the clone was made at −3h, within max_clone_age

        var refusal = RefusedBy(GateRules.EmergencyClonePass, stale);
        Assert.Contains("not fresh", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_emergency_pass_in_a_clone_older_than_the_lane_accepts_is_stale()
    {
        var old = Emergency() with
        {
            FrozenAt = Now.AddDays(-3),
            Clones = new Dictionary<string, EnvironmentClone> { ["prod-clone"] = new("prod-clone", "prod", Now.AddDays(-2)) },
        };

        RefusedBy(GateRules.EmergencyClonePass, old);
    }

    [Fact]
    public void An_emergency_with_a_fresh_clone_pass_is_allowed_and_records_it()
    {
        var decision = PromotionGate.Evaluate(Emergency());

        Assert.True(decision.Allowed, string.Join("; ", decision.Refusals));
        Assert.Equal(["st-clone"], decision.Evidence);
        Assert.Equal(["carol"], decision.Approvals);
    }

    [Fact]
    public void An_emergency_is_refused_to_a_role_the_lane_does_not_allow()
    {
        var lifecycle = Lifecycle with { Emergency = Lifecycle.Emergency with { Roles = [Role.Admin] } };

        var refusal = RefusedBy(GateRules.Role, Emergency() with { Lifecycle = lifecycle });
        Assert.Contains("emergency lane allows admin", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_short_digest_does_not_break_the_messages()
    {
        var refusal = RefusedBy(GateRules.PreviousStagePass, Routine() with { Target = "staging", PatchDigest = "abc", StageResults = [] });
        Assert.Contains("P-1 (abc)", refusal.Message, StringComparison.Ordinal);
    }
}
