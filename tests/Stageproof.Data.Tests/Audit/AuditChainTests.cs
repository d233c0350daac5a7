using Stageproof.Core.Audit;

namespace Stageproof.Data.Tests.Audit;

public sealed class AuditChainTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 1, 2, TimeSpan.Zero);

    private static AuditEvent Draft(string actor = "alice", string action = "facts.collect", string target = "prod-app-1",
        string? reason = null, string? payload = null, string? outcome = "ok") =>
        new() { Time = T0, Actor = actor, Action = action, Target = target, Reason = reason, PayloadDigest = payload, Outcome = outcome };

    private static List<AuditEvent> Chain(int count)
    {
        var events = new List<AuditEvent>();
        for (var i = 0; i < count; i++)
        {
            var last = events.LastOrDefault();
            events.Add(AuditChain.Next(Draft(target: $"prod-app-{i + 1}") with { Time = T0.AddSeconds(i) }, last?.Sequence ?? 0, last?.Hash));
        }
        return events;
    }

    [Fact]
    public void The_first_event_points_to_sixty_four_zeros()
    {
        var first = AuditChain.Next(Draft(), 0, null);

        Assert.Equal(1, first.Sequence);
        Assert.Equal(new string('0', 64), first.PreviousHash);
        Assert.Equal(64, first.Hash.Length);
        Assert.Equal(AuditChain.ComputeHash(first), first.Hash);
    }

    [Fact]
    public void Moving_text_from_one_field_to_the_next_changes_the_hash()
    {
        var a = AuditChain.Next(Draft(actor: "ab", action: "c"), 0, null);
        var b = AuditChain.Next(Draft(actor: "a", action: "bc"), 0, null);

        Assert.NotEqual(a.Hash, b.Hash);
    }

    [Fact]
    public void A_missing_field_and_an_empty_field_hash_differently()
    {
        Assert.NotEqual(AuditChain.Next(Draft(reason: null), 0, null).Hash, AuditChain.Next(Draft(reason: ""), 0, null).Hash);
        Assert.NotEqual(AuditChain.Next(Draft(reason: null, payload: ""), 0, null).Hash, AuditChain.Next(Draft(reason: "", payload: null), 0, null).Hash);
    }

    [Fact]
    public void The_same_instant_in_another_offset_hashes_the_same_and_another_tick_does_not()
    {
        var utc = AuditChain.Next(Draft(), 0, null);
        var berlin = AuditChain.Next(Draft() with { Time = T0.ToOffset(TimeSpan.FromHours(1)) }, 0, null);
        var later = AuditChain.Next(Draft() with { Time = T0.AddTicks(1) }, 0, null);

        Assert.Equal(utc.Hash, berlin.Hash);
        Assert.NotEqual(utc.Hash, later.Hash);
        Assert.Equal("2026-11-23T10:01:02.0000000Z", AuditChain.FormatTime(berlin.Time));
    }

    [Fact]
    public void An_intact_chain_and_an_empty_chain_verify_ok()
    {
        var chain = Chain(20);

        Assert.True(AuditChain.Verify(chain, new AuditHead(20, chain[^1].Hash)).IsOk);
        Assert.True(AuditChain.Verify([], new AuditHead(0, AuditChain.GenesisHash)).IsOk);
        Assert.True(AuditChain.Verify([], null).IsOk);
    }

    [Fact]
    public void An_altered_event_is_named_with_its_action_target_and_time()
    {
        var chain = Chain(20);
        chain[16] = chain[16] with { Actor = "mallory" };

        var result = AuditChain.Verify(chain, null);

        Assert.Equal(AuditProblem.Altered, result.Problem);
        Assert.Equal(17, result.Sequence);
        Assert.StartsWith("event #17 (facts.collect prod-app-17 at 2026-11-23T10:01:18Z) was altered: stored hash ", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rewritten_tail_with_fresh_hashes_is_caught_by_the_broken_link_and_the_head()
    {
        var chain = Chain(5);
        var head = new AuditHead(5, chain[^1].Hash);
        var forged = AuditChain.Next(chain[4] with { Outcome = "failed" }, 4, chain[3].Hash);
        chain[4] = forged;

        var result = AuditChain.Verify(chain, head);

        Assert.Equal(AuditProblem.Altered, result.Problem);
        Assert.Equal(5, result.Sequence);
        Assert.Contains("audit head records hash", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Events_stored_out_of_sequence_are_reported_as_reordered()
    {
        var chain = Chain(6);
        (chain[2], chain[3]) = (chain[3], chain[2]);

        var result = AuditChain.Verify(chain, null);

        Assert.Equal(AuditProblem.Reordered, result.Problem);
        Assert.Equal(4, result.Sequence);
        Assert.Contains("stored where event #3 belongs", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Several_missing_events_are_reported_as_a_range()
    {
        var chain = Chain(10);
        chain.RemoveRange(3, 3);

        var result = AuditChain.Verify(chain, null);

        Assert.Equal(AuditProblem.Removed, result.Problem);
        Assert.Equal(4, result.Sequence);
        Assert.Contains("events #4 to #6 are missing", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_head_behind_the_log_but_matching_it_is_ok()
    {
        var chain = Chain(5);

        Assert.True(AuditChain.Verify(chain, new AuditHead(4, chain[3].Hash)).IsOk);
    }

    [Fact]
    public void Without_a_head_stored_events_are_a_finding_since_removal_of_the_newest_cannot_be_ruled_out()
    {
        var result = AuditChain.Verify(Chain(3), null);

        Assert.Equal(AuditProblem.HeadMissing, result.Problem);
        Assert.Contains("the audit head is missing: 3 events are stored", result.Message, StringComparison.Ordinal);
        Assert.True(AuditChain.Verify([], null).IsOk);
    }
}
