using Stageproof.Core.Audit;
using Stageproof.Core.State;

namespace Stageproof.Data.Tests.Contract;

public abstract partial class StateStoreContract
{
    [SkippableFact]
    public async Task Twenty_appended_events_are_numbered_chained_and_verify_ok()
    {
        await using var store = await OpenAsync();
        var appended = await AppendEventsAsync(store, 20);

        var stored = await store.ReadAllAsync();
        var verification = await store.VerifyAuditAsync();

        Assert.True(verification.IsOk, verification.Message);
        Assert.Equal(20, verification.EventCount);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), stored.Select(e => e.Sequence));
        Assert.Equal(AuditChain.GenesisHash, stored[0].PreviousHash);
        Assert.Equal(appended, stored);
        Assert.All(stored.Skip(1).Zip(stored), pair => Assert.Equal(pair.Second.Hash, pair.First.PreviousHash));
    }

    [SkippableFact]
    public async Task An_appended_event_without_a_time_gets_the_injected_clock_time()
    {
        await using var store = await OpenAsync();

        var e = await store.AppendAsync(new AuditEvent { Actor = "alice", Action = "config.init", Target = "stageproof.yaml" });

        Assert.Equal(FakeClock.Start, e.Time);
        Assert.Equal(FakeClock.Start, (await store.ReadAllAsync()).Single().Time);
    }

    [SkippableFact]
    public async Task The_audit_head_records_the_count_and_the_last_hash()
    {
        await using var store = await OpenAsync();
        Assert.Null(await store.ReadAuditHeadAsync());

        var appended = await AppendEventsAsync(store, 3);

        Assert.Equal(new AuditHead(3, appended[^1].Hash), await store.ReadAuditHeadAsync());
    }

    [SkippableFact]
    public async Task Changing_one_byte_of_a_stored_field_is_reported_as_that_event_altered()
    {
        await using var store = await OpenAsync();
        await AppendEventsAsync(store, 20);
        await ExecuteRawAsync("UPDATE audit_events SET actor = 'alicE' WHERE seq = 17");

        var verification = await store.VerifyAuditAsync();

        Assert.Equal(AuditProblem.Altered, verification.Problem);
        Assert.Equal(17, verification.Sequence);
        Assert.StartsWith("event #17 (facts.collect prod-app-17 at 2026-11-23T10:00:17Z) was altered: stored hash ", verification.Message, StringComparison.Ordinal);
        Assert.Contains("does not match its content", verification.Message, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("time = '2026-11-23T10:00:05.0000001Z'")]
    [InlineData("reason = 'INC-4706'")]
    [InlineData("payload_digest = NULL")]
    [InlineData("outcome = ''")]
    [InlineData("target = 'prod-app-50'")]
    [InlineData("time = 'yesterday'")]
    public async Task Changing_any_hashed_field_is_reported_as_that_event_altered(string assignment)
    {
        await using var store = await OpenAsync();
        await AppendEventsAsync(store, 8);
        await ExecuteRawAsync($"UPDATE audit_events SET {assignment} WHERE seq = 4");

        var verification = await store.VerifyAuditAsync();

        Assert.Equal(AuditProblem.Altered, verification.Problem);
        Assert.Equal(4, verification.Sequence);
    }

    [SkippableFact]
    public async Task Deleting_a_middle_event_is_reported_as_removed()
    {
        await using var store = await OpenAsync();
        await AppendEventsAsync(store, 20);
        await ExecuteRawAsync("DELETE FROM audit_events WHERE seq = 10");

        var verification = await store.VerifyAuditAsync();

        Assert.Equal(AuditProblem.Removed, verification.Problem);
        Assert.Equal(10, verification.Sequence);
        Assert.Contains("event #10 is missing", verification.Message, StringComparison.Ordinal);
        Assert.Contains("event #11 (facts.collect prod-app-11", verification.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Deleting_a_middle_event_and_renumbering_the_rest_is_still_caught()
    {
        await using var store = await OpenAsync();
        await AppendEventsAsync(store, 20);
        await ExecuteRawAsync("DELETE FROM audit_events WHERE seq = 10; UPDATE audit_events SET seq = seq - 1 WHERE seq > 10");

        var verification = await store.VerifyAuditAsync();

        Assert.False(verification.IsOk);
        Assert.Equal(10, verification.Sequence);
    }

    [SkippableFact]
    public async Task Swapping_the_contents_of_two_rows_is_reported_at_the_first_of_them_as_reordered()
    {
        await using var store = await OpenAsync();
        await AppendEventsAsync(store, 20);
        const string columns = "time, actor, action, target, reason, payload_digest, outcome, prev_hash, hash";
        await ExecuteRawAsync($"""
            CREATE TEMP TABLE swap AS SELECT seq, {columns} FROM audit_events WHERE seq IN (8, 9);
            UPDATE audit_events SET ({columns}) = (SELECT {columns} FROM swap WHERE swap.seq = 17 - audit_events.seq)
            WHERE seq IN (8, 9);
            """);

        var verification = await store.VerifyAuditAsync();

        Assert.Equal(AuditProblem.Reordered, verification.Problem);
        Assert.Equal(8, verification.Sequence);
        Assert.StartsWith("event #8 (facts.collect prod-app-9 at 2026-11-23T10:00:09Z) was reordered", verification.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Deleting_the_newest_event_is_detected_through_the_audit_head()
    {
        await using var store = await OpenAsync();
        await AppendEventsAsync(store, 20);
        await ExecuteRawAsync("DELETE FROM audit_events WHERE seq = 20");

        var chainOnly = AuditChain.Verify(await store.ReadAllAsync());
        var verification = await store.VerifyAuditAsync();

        // Without the head the shortened chain is consistent in itself: only the head's absence can be reported.
        Assert.Equal(AuditProblem.HeadMissing, chainOnly.Problem);
        Assert.Equal(AuditProblem.Truncated, verification.Problem);
        Assert.Equal(20, verification.Sequence);
        Assert.Contains("event #20 is missing from the end", verification.Message, StringComparison.Ordinal);
        Assert.Contains("head records 20 events, the log has 19", verification.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Deleting_every_event_is_detected_through_the_audit_head()
    {
        await using var store = await OpenAsync();
        await AppendEventsAsync(store, 5);
        await ExecuteRawAsync("DELETE FROM audit_events");

        var verification = await store.VerifyAuditAsync();

        Assert.Equal(AuditProblem.Truncated, verification.Problem);
        Assert.Equal(1, verification.Sequence);
    }

    [SkippableFact]
    public async Task Appending_after_a_reopen_continues_the_same_chain()
    {
        await using (var store = await OpenAsync())
        {
            await AppendEventsAsync(store, 3);
        }
        await using var reopened = await OpenAsync();

        var e = await reopened.AppendAsync(new AuditEvent { Actor = "bob", Action = "drift", Target = "prod" });

        Assert.Equal(4, e.Sequence);
        Assert.True((await reopened.VerifyAuditAsync()).IsOk);
    }

    [SkippableFact]
    public async Task Two_store_instances_appending_in_parallel_do_not_fork_the_chain()
    {
        await using var first = await OpenAsync();
        await using var second = await OpenAsync();
        const int perStore = 25;

        async Task AppendMany(IStateStore store, string actor)
        {
            for (var i = 0; i < perStore; i++)
            {
                await store.AppendAsync(new AuditEvent { Actor = actor, Action = "host.contact", Target = $"prod-app-{i}", Outcome = "ok" });
            }
        }

        await Task.WhenAll(Task.Run(() => AppendMany(first, "alice")), Task.Run(() => AppendMany(second, "bob")));

        var events = await first.ReadAllAsync();
        var verification = await second.VerifyAuditAsync();
        Assert.True(verification.IsOk, verification.Message);
        Assert.Equal(2 * perStore, events.Count);
        Assert.Equal(perStore, events.Count(e => e.Actor == "alice"));
        Assert.Equal(perStore, events.Count(e => e.Actor == "bob"));
        Assert.Equal(new AuditHead(2 * perStore, events[^1].Hash), await first.ReadAuditHeadAsync());
    }

    [SkippableFact]
    public async Task The_exported_json_lines_parse_back_into_the_same_chain()
    {
        await using var store = await OpenAsync();
        await AppendEventsAsync(store, 20);
        var events = await store.ReadAllAsync();

        var writer = new StringWriter();
        await AuditExport.WriteJsonLinesAsync(events, writer);
        var text = writer.ToString();
        var parsed = await AuditExport.ReadJsonLinesAsync(new StringReader(text));

        Assert.Equal(20, text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(events, parsed);
        Assert.True(AuditChain.Verify(parsed, await store.ReadAuditHeadAsync()).IsOk);
    }
}
