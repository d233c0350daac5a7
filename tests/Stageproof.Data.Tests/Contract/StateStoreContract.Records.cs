using Stageproof.Core.Audit;
using Stageproof.Core.State;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Stage;
using Stageproof.Core.Webhooks;

namespace Stageproof.Data.Tests.Contract;

public abstract partial class StateStoreContract
{
    private static readonly string Digest1 = new('1', 64);
    private static readonly string Digest2 = new('2', 64);

    private static PatchRun Run(string id, string environment, DateTimeOffset at) => new()
    {
        Id = id, Kind = RunKind.Apply, PatchDigest = Digest1, PatchId = "ACME-1", Environment = environment, Actor = "alice", StartedAt = at,
    };

    private static RollbackPoint Point(string id, string environment, DateTimeOffset at) => new()
    {
        Id = id, Environment = environment, PatchDigest = Digest1, PatchId = "ACME-1", CreatedAt = at,
    };

    private static StageResult StageRun(string id, string digest, string environment, DateTimeOffset at) => new()
    {
        Id = id, PatchDigest = digest, PatchId = "ACME-1", PatchTitle = "acme-mail 1.1", Environment = environment, Actor = "alice",
        StartedAt = at, Verdict = StageVerdict.Pass,
    };

    private static WebhookDelivery Delivery(string id, DateTimeOffset at) => new()
    {
        Id = id, Webhook = "chat", EventType = "rollout.finished", Url = "http://127.0.0.1:9/hook", CreatedAt = at, Summary = id, Body = "{}",
    };

    [SkippableFact]
    public async Task Runs_and_rollback_points_are_rewritten_in_place_and_listed_newest_first_with_ties_in_writing_order()
    {
        await using var store = await OpenAsync();
        var t = FakeClock.Start;
        await store.SavePatchRunAsync(Run("apply-1", "prod", t));
        await store.SavePatchRunAsync(Run("apply-2", "prod", t)); // same start: the later written is listed first
        await store.SavePatchRunAsync(Run("apply-3", "staging", t.AddMinutes(1)));
        await store.SavePatchRunAsync(Run("apply-1", "prod", t) with { FinishedAt = t.AddMinutes(5) });

        Assert.Equal(["apply-3", "apply-2", "apply-1"], (await store.ListPatchRunsAsync()).Select(r => r.Id));
        Assert.Equal(["apply-2", "apply-1"], (await store.ListPatchRunsAsync("prod")).Select(r => r.Id));
        Assert.Equal(t.AddMinutes(5), (await store.FindPatchRunAsync("apply-1"))?.FinishedAt);
        Assert.Null(await store.FindPatchRunAsync("apply-9"));

        await store.SaveRollbackPointAsync(Point("rp-1", "prod", t));
        await store.SaveRollbackPointAsync(Point("rp-2", "prod", t.AddMinutes(2)));
        await store.SaveRollbackPointAsync(Point("rp-1", "prod", t) with { Status = RollbackPointStatus.RolledBack });

        Assert.Equal(["rp-2", "rp-1"], (await store.ListRollbackPointsAsync("prod")).Select(p => p.Id));
        Assert.Empty(await store.ListRollbackPointsAsync("staging"));
        Assert.Equal(RollbackPointStatus.RolledBack, (await store.FindRollbackPointAsync("rp-1"))?.Status);
    }

    [SkippableFact]
    public async Task Stage_results_are_filtered_by_digest_and_environment_newest_first()
    {
        await using var store = await OpenAsync();
        var t = FakeClock.Start;
        await store.SaveStageResultAsync(StageRun("s-1", Digest1, "staging", t));
        await store.SaveStageResultAsync(StageRun("s-2", Digest1, "qa", t.AddHours(1)));
        await store.SaveStageResultAsync(StageRun("s-3", Digest2, "staging", t.AddHours(2)));
        await store.SaveStageResultAsync(StageRun("s-1", Digest1, "staging", t) with { Verdict = StageVerdict.Fail });

        Assert.Equal(["s-3", "s-2", "s-1"], (await store.ListStageResultsAsync()).Select(r => r.Id));
        Assert.Equal(["s-2", "s-1"], (await store.ListStageResultsAsync(Digest1)).Select(r => r.Id));
        Assert.Equal(["s-3", "s-1"], (await store.ListStageResultsAsync(environment: "staging")).Select(r => r.Id));
        Assert.Equal(StageVerdict.Fail, (await store.ListStageResultsAsync(Digest1, "staging")).Single().Verdict);
    }

    [SkippableFact]
    public async Task Webhook_deliveries_are_rewritten_after_each_attempt_and_listed_newest_first_up_to_the_limit()
    {
        await using var store = await OpenAsync();
        var t = FakeClock.Start;
        for (var i = 1; i <= 5; i++)
        {
            await store.SaveDeliveryAsync(Delivery($"d-{i}", t.AddSeconds(i)));
        }
        await store.SaveDeliveryAsync(Delivery("d-2", t.AddSeconds(2)) with
        {
            Status = DeliveryStatus.Delivered, Attempts = [new DeliveryAttempt(1, t.AddSeconds(3), 204, null)],
        });

        var latest = await store.ListDeliveriesAsync(3);
        Assert.Equal(["d-5", "d-4", "d-3"], latest.Select(d => d.Id));
        var rewritten = (await store.ListDeliveriesAsync()).Single(d => d.Id == "d-2");
        Assert.Equal(DeliveryStatus.Delivered, rewritten.Status);
        Assert.Equal(204, Assert.Single(rewritten.Attempts).StatusCode);
    }

    [SkippableFact]
    public async Task Tokens_passwords_and_login_states_round_trip_and_a_removed_user_loses_the_password()
    {
        await using var store = await OpenAsync();
        var t = FakeClock.Start;
        await store.SaveUserAsync(new User { Name = "bob", Role = Role.Operator, CreatedAt = t });
        await store.SaveTokenAsync(new ApiToken { Id = "tok-1", User = "bob", SecretHash = new string('f', 64), CreatedAt = t, CreatedBy = "admin" });
        await store.SaveTokenAsync(new ApiToken { Id = "tok-2", User = "bob", SecretHash = new string('e', 64), CreatedAt = t, CreatedBy = "admin" });
        await store.SavePasswordAsync(new PasswordCredential { User = "bob", Hash = "hash-1", SetAt = t, SetBy = "admin" });
        await store.SaveLoginStateAsync(new LoginState { User = "mallory", Failures = [t, t.AddSeconds(1)] });

        Assert.Equal(["tok-2", "tok-1"], (await store.ListTokensAsync()).Select(x => x.Id));
        Assert.Equal("bob", (await store.FindTokenAsync("tok-1"))?.User);
        Assert.Null(await store.FindTokenAsync("tok-"));
        Assert.Equal("hash-1", (await store.FindPasswordAsync("bob"))?.Hash);
        Assert.Equal(2, (await store.FindLoginStateAsync("mallory"))?.Failures.Count);

        await store.SaveLoginStateAsync(new LoginState { User = "mallory" });
        Assert.Null(await store.FindLoginStateAsync("mallory"));
        Assert.True(await store.DeleteUserAsync("bob"));
        Assert.Null(await store.FindPasswordAsync("bob"));
    }

    [SkippableFact]
    public async Task Under_the_audit_key_events_head_and_granting_records_are_sealed_and_a_row_edited_in_the_database_is_caught()
    {
        var key = new AuditKey(Enumerable.Range(7, 32).Select(i => (byte)i).ToArray());
        await using var store = await OpenKeyedAsync(key);
        await AppendEventsAsync(store, 4);
        await store.SaveApprovalAsync(new Approval { Id = "ap-1", PatchDigest = Digest1, Environment = "prod", Approver = "carol", At = FakeClock.Start });
        await store.SaveTokenAsync(new ApiToken { Id = "tok-1", User = "bob", SecretHash = new string('f', 64), CreatedAt = FakeClock.Start, CreatedBy = "admin" });

        var ok = await store.VerifyAuditAsync();
        Assert.True(ok.IsOk, ok.Message);
        Assert.Contains($"sealed with audit key {key.Id}", ok.Message, StringComparison.Ordinal);
        Assert.Equal(key.Seal((await store.ReadAllAsync())[3]), (await store.ReadAllAsync())[3].Seal);
        Assert.False((await store.ListApprovalsAsync()).Single().SealBroken);

        await ExecuteRawAsync("UPDATE approvals SET json = replace(json, 'carol', 'mallory')");
        await ExecuteRawAsync("UPDATE api_tokens SET json = replace(json, '\"bob\"', '\"root\"')");
        await ExecuteRawAsync("UPDATE audit_events SET seal = NULL WHERE seq = 3");

        Assert.True((await store.ListApprovalsAsync()).Single().SealBroken);
        Assert.True((await store.FindTokenAsync("tok-1"))?.SealBroken);
        var forged = await store.VerifyAuditAsync();
        Assert.Equal(AuditProblem.Forged, forged.Problem);
        Assert.Equal(3, forged.Sequence);
    }

    [SkippableFact]
    public async Task Sixteen_stores_racing_to_add_the_first_user_let_exactly_one_in()
    {
        var stores = new List<IStateStore>();
        for (var i = 0; i < 16; i++)
        {
            stores.Add(await OpenAsync());
        }
        try
        {
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var races = stores.Select((s, i) => Task.Run(async () =>
            {
                await start.Task;
                return await s.SaveFirstUserAsync(new User { Name = $"admin-{i}", Role = Role.Admin });
            })).ToList();
            start.SetResult();
            var won = await Task.WhenAll(races);

            Assert.Single(won, w => w);
            Assert.Single(await stores[0].ListUsersAsync());
        }
        finally
        {
            foreach (var s in stores)
            {
                await s.DisposeAsync();
            }
        }
    }
}
