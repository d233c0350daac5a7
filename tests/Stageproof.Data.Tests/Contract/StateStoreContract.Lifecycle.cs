using Stageproof.Core.Lifecycle;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Core;

namespace Stageproof.Data.Tests.Contract;

public abstract partial class StateStoreContract
{
    private static readonly string DigestA = new('a', 64);
    private static readonly string DigestB = new('b', 64);

    private static Approval Approval(string id, string digest, string environment, DateTimeOffset at) => new()
    {
        Id = id,
        PatchDigest = digest,
        Environment = environment,
        Approver = "carol",
        Comment = $"ok for {environment}",
        At = at,
    };

    private static Rollout Rollout(string id, string environment, DateTimeOffset createdAt) => new()
    {
        Id = id,
        Environment = environment,
        PatchDigest = DigestA,
        PatchId = "ACME-1",
        Actor = "alice",
        Lane = Lane.Emergency,
        Reason = "CVE fix",
        Ticket = "INC-4711",
        Evidence = ["stage-1"],
        Approvals = ["approval-1", "approval-2"],
        Policy = new RolloutPolicy
        {
            Canary = 1,
            Batch = 2,
            BatchIsPercent = false,
            MaxFailures = 1,
            Pause = TimeSpan.FromMinutes(2.5),
            Settle = TimeSpan.FromSeconds(7),
            Checks = ["health", "smtp"],
            RollbackOnFailure = RollbackScope.Batch,
        },
        Batches =
        [
            new RolloutBatch { Index = 0, Name = "canary", Hosts = ["app-1"], State = BatchState.Passed, ApplyRuns = ["apply-1"], RollbackPoints = ["rp-1"], Checks = ["PASS health (app-1)"], StartedAt = createdAt, FinishedAt = createdAt.AddMinutes(1) },
            new RolloutBatch { Index = 1, Name = "batch 1", Hosts = ["app-2", "app-3"], State = BatchState.Checking, ApplyRuns = ["apply-2"], StartedAt = createdAt.AddMinutes(3) },
        ],
        Hosts =
        [
            new RolloutHost { Host = "app-1", Batch = 0, State = RolloutHostState.Verified, UpdatedAt = createdAt.AddMinutes(1) },
            new RolloutHost { Host = "app-2", Batch = 1, State = RolloutHostState.Applied },
            new RolloutHost { Host = "app-3", Batch = 1, State = RolloutHostState.NeedsAttention, Message = "ssh: connection refused" },
        ],
        Failures = 1,
        DriftAgainst = "staging",
        CreatedAt = createdAt,
        UpdatedAt = createdAt.AddMinutes(4),
    };

    [SkippableFact]
    public async Task Users_are_replaced_by_name_listed_by_name_and_deleted()
    {
        await using var store = await OpenAsync();
        await store.SaveUserAsync(new User { Name = "zoe", Role = Role.Viewer, CreatedAt = FakeClock.Start });
        await store.SaveUserAsync(new User { Name = "bob", Role = Role.Operator, Environments = ["staging", "prod"], CreatedAt = FakeClock.Start, CreatedBy = "admin" });
        await store.SaveUserAsync(new User { Name = "zoe", Role = Role.Approver, Environments = ["prod"], CreatedAt = FakeClock.Start });

        var users = await store.ListUsersAsync();
        Assert.Equal(["bob", "zoe"], users.Select(u => u.Name));
        Assert.Equal(Role.Operator, users[0].Role);
        Assert.Equal(["staging", "prod"], users[0].Environments);
        Assert.Equal("admin", users[0].CreatedBy);
        Assert.Equal(FakeClock.Start, users[0].CreatedAt);
        Assert.Equal(Role.Approver, users[1].Role);
        Assert.Equal(["prod"], users[1].Environments);
        Assert.False(users[1].Covers("staging"));

        Assert.True(await store.DeleteUserAsync("zoe"));
        Assert.False(await store.DeleteUserAsync("zoe"));
        Assert.False(await store.DeleteUserAsync("nobody"));
        Assert.Equal(["bob"], (await store.ListUsersAsync()).Select(u => u.Name));
    }

    [SkippableFact]
    public async Task A_user_saved_without_environments_covers_all()
    {
        await using var store = await OpenAsync();
        await store.SaveUserAsync(new User { Name = "root", Role = Role.Admin });

        var user = Assert.Single(await store.ListUsersAsync());
        Assert.Equal(["*"], user.Environments);
        Assert.True(user.Covers("prod"));
    }

    [SkippableFact]
    public async Task Approvals_are_listed_oldest_first_and_filtered_by_digest_and_environment()
    {
        await using var store = await OpenAsync();
        var t = FakeClock.Start;
        await store.SaveApprovalAsync(Approval("ap-3", DigestA, "prod", t.AddMinutes(3)));
        await store.SaveApprovalAsync(Approval("ap-1", DigestA, "staging", t.AddMinutes(1)));
        await store.SaveApprovalAsync(Approval("ap-2", DigestB, "prod", t.AddMinutes(2)));
        await store.SaveApprovalAsync(Approval("ap-4", DigestA, "prod", t.AddMinutes(4)));

        Assert.Equal(["ap-1", "ap-2", "ap-3", "ap-4"], (await store.ListApprovalsAsync()).Select(a => a.Id));
        Assert.Equal(["ap-1", "ap-3", "ap-4"], (await store.ListApprovalsAsync(patchDigest: DigestA)).Select(a => a.Id));
        Assert.Equal(["ap-2", "ap-3", "ap-4"], (await store.ListApprovalsAsync(environment: "prod")).Select(a => a.Id));
        Assert.Equal(["ap-3", "ap-4"], (await store.ListApprovalsAsync(DigestA, "prod")).Select(a => a.Id));
        Assert.Empty(await store.ListApprovalsAsync(DigestB, "staging"));

        var approval = (await store.ListApprovalsAsync(DigestB)).Single();
        Assert.Equal(Approval("ap-2", DigestB, "prod", t.AddMinutes(2)), approval);
    }

    [SkippableFact]
    public async Task A_rollout_round_trips_with_its_policy_batches_and_hosts_and_is_rewritten_in_place()
    {
        await using var store = await OpenAsync();
        var rollout = Rollout("rollout-20261123-100000-abcdef", "prod", FakeClock.Start);
        await store.SaveRolloutAsync(rollout);

        var found = await store.FindRolloutAsync(rollout.Id);
        Assert.NotNull(found);
        Assert.Equal(rollout.Policy, found.Policy with { Checks = rollout.Policy.Checks });
        Assert.Equal(TimeSpan.FromMinutes(2.5), found.Policy.Pause);
        Assert.Equal(TimeSpan.FromSeconds(7), found.Policy.Settle);
        Assert.Equal(["health", "smtp"], found.Policy.Checks);
        Assert.Equal(RollbackScope.Batch, found.Policy.RollbackOnFailure);
        Assert.Equal(2, found.Batches.Count);
        Assert.Equal(["app-2", "app-3"], found.Batches[1].Hosts);
        Assert.Equal(BatchState.Checking, found.Batches[1].State);
        Assert.Equal(["apply-1"], found.Batches[0].ApplyRuns);
        Assert.Equal(["rp-1"], found.Batches[0].RollbackPoints);
        Assert.Equal(["PASS health (app-1)"], found.Batches[0].Checks);
        Assert.Equal(FakeClock.Start.AddMinutes(1), found.Batches[0].FinishedAt);
        Assert.Equal(rollout.Hosts, found.Hosts);
        Assert.Equal(RolloutHostState.NeedsAttention, found.Hosts[2].State);
        Assert.Equal("ssh: connection refused", found.Hosts[2].Message);
        Assert.Equal(Lane.Emergency, found.Lane);
        Assert.Equal(["stage-1"], found.Evidence);
        Assert.Equal(["approval-1", "approval-2"], found.Approvals);
        Assert.Equal(RolloutStatus.Running, found.Status);
        Assert.Equal("staging", found.DriftAgainst);
        Assert.Null(found.DriftZero);
        Assert.Equal(rollout.CreatedAt, found.CreatedAt);
        Assert.Equal(rollout.UpdatedAt, found.UpdatedAt);

        var finished = rollout.WithHost("app-3", RolloutHostState.RolledBack, "restored", FakeClock.Start.AddMinutes(9))
            with { Status = RolloutStatus.RolledBack, DriftZero = false, Drift = ["package acme-mail"], FinishedAt = FakeClock.Start.AddMinutes(10) };
        await store.SaveRolloutAsync(finished);

        var again = Assert.Single(await store.ListRolloutsAsync());
        Assert.Equal(RolloutStatus.RolledBack, again.Status);
        Assert.True(again.Finished);
        Assert.Equal(RolloutHostState.RolledBack, again.Hosts[2].State);
        Assert.Equal("restored", again.Hosts[2].Message);
        Assert.False(again.DriftZero);
        Assert.Equal(["package acme-mail"], again.Drift);
        Assert.Equal(FakeClock.Start.AddMinutes(10), again.FinishedAt);
        Assert.Equal("RolledBack", await ScalarAsync($"SELECT status FROM rollouts WHERE id = '{rollout.Id}'"));
    }

    [SkippableFact]
    public async Task A_rollout_is_found_by_a_unique_prefix_and_an_ambiguous_prefix_names_the_matches()
    {
        await using var store = await OpenAsync();
        await store.SaveRolloutAsync(Rollout("rollout-20261123-100000-abc123", "prod", FakeClock.Start));
        await store.SaveRolloutAsync(Rollout("rollout-20261123-100000-abd456", "prod", FakeClock.Start.AddMinutes(1)));
        await store.SaveRolloutAsync(Rollout("rollout-20261123-100000-abd4567", "staging", FakeClock.Start.AddMinutes(2)));

        Assert.Equal("rollout-20261123-100000-abc123", (await store.FindRolloutAsync("rollout-20261123-100000-abc"))?.Id);
        Assert.Equal("rollout-20261123-100000-abc123", (await store.FindRolloutAsync("  rollout-20261123-100000-abc1 "))?.Id);
        // An exact id wins over the longer ids it is a prefix of.
        Assert.Equal("rollout-20261123-100000-abd456", (await store.FindRolloutAsync("rollout-20261123-100000-abd456"))?.Id);
        Assert.Null(await store.FindRolloutAsync("rollout-2027"));
        Assert.Null(await store.FindRolloutAsync(""));
        Assert.Null(await store.FindRolloutAsync("%"));

        var e = await Assert.ThrowsAsync<InputException>(() => store.FindRolloutAsync("rollout-20261123-100000-ab"));
        Assert.Contains("ambiguous", e.Message, StringComparison.Ordinal);
        Assert.Contains("rollout-20261123-100000-abc123", e.Message, StringComparison.Ordinal);
        Assert.Contains("rollout-20261123-100000-abd456", e.Message, StringComparison.Ordinal);
        Assert.Contains("rollout-20261123-100000-abd4567", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InputException>(() => store.FindRolloutAsync("rollout-20261123-100000-abd"));
    }

    [SkippableFact]
    public async Task Rollouts_are_listed_newest_first_of_one_environment_or_of_all()
    {
        await using var store = await OpenAsync();
        var t = FakeClock.Start;
        await store.SaveRolloutAsync(Rollout("r-2", "prod", t.AddHours(2)));
        await store.SaveRolloutAsync(Rollout("r-1", "prod", t.AddHours(1)));
        await store.SaveRolloutAsync(Rollout("r-3", "staging", t.AddHours(3)));
        await store.SaveRolloutAsync(Rollout("r-4", "prod", t.AddHours(2)));

        Assert.Equal(["r-3", "r-4", "r-2", "r-1"], (await store.ListRolloutsAsync()).Select(r => r.Id));
        Assert.Equal(["r-4", "r-2", "r-1"], (await store.ListRolloutsAsync("prod")).Select(r => r.Id));
        Assert.Equal(["r-3"], (await store.ListRolloutsAsync("staging")).Select(r => r.Id));
        Assert.Empty(await store.ListRolloutsAsync("dev"));
    }
}
