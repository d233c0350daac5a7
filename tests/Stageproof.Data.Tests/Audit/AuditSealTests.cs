using System.Security.Cryptography;
using Stageproof.Core.Audit;

namespace Stageproof.Data.Tests.Audit;

/// <summary>
/// The keyed audit trail: a hash chain proves order, the seals prove that whoever wrote it held the key. Every attack
/// here is one a user with write access to the state (but not the key) can make.
/// </summary>
public sealed class AuditSealTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 10, 0, 0, TimeSpan.Zero);
    private static readonly AuditKey Key = new(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    private static (List<AuditEvent> Events, AuditHead Head) Sealed(int count, AuditKey? key = null, int unsealedFirst = 0)
    {
        key ??= Key;
        var events = new List<AuditEvent>();
        for (var i = 0; i < count; i++)
        {
            var last = events.LastOrDefault();
            var e = AuditChain.Next(new AuditEvent { Time = T0.AddSeconds(i), Actor = "alice", Action = "facts.collect", Target = $"prod-app-{i + 1}" },
                last?.Sequence ?? 0, last?.Hash);
            events.Add(i < unsealedFirst ? e : e with { Seal = key.Seal(e) });
        }
        var tail = events[^1];
        return (events, new AuditHead(tail.Sequence, tail.Hash, key.SealHead(tail.Sequence, tail.Hash)));
    }

    /// <summary>What a forger without the key can do: change an event, then recompute every hash after it and the head.</summary>
    private static (List<AuditEvent> Events, AuditHead Head) Rechained(List<AuditEvent> events, int index, Func<AuditEvent, AuditEvent> change)
    {
        var result = events.Take(index).ToList();
        for (var i = index; i < events.Count; i++)
        {
            var draft = i == index ? change(events[i]) : events[i];
            var previous = result.Count == 0 ? AuditChain.GenesisHash : result[^1].Hash;
            var relinked = draft with { PreviousHash = previous, Hash = "" };
            result.Add(relinked with { Hash = AuditChain.ComputeHash(relinked) });
        }
        var tail = result[^1];
        return (result, new AuditHead(tail.Sequence, tail.Hash));
    }

    [Fact]
    public void A_sealed_chain_verifies_and_names_its_key()
    {
        var (events, head) = Sealed(5);
        var result = AuditChain.Verify(events, head, Key);
        Assert.True(result.IsOk, result.Message);
        Assert.Contains($"sealed with audit key {Key.Id}", result.Message, StringComparison.Ordinal);
        Assert.Equal(16, Key.Id.Length);
    }

    [Fact]
    public void Rewriting_an_event_and_recomputing_the_chain_and_head_without_the_key_is_a_forgery()
    {
        var (events, head) = Sealed(6);
        // Without the key the old seals stay (or are copied): the chain itself is perfect again.
        var (forged, forgedHead) = Rechained(events, 2, e => e with { Actor = "mallory" });
        forgedHead = forgedHead with { Seal = head.Seal };
        Assert.True(AuditChain.Verify(forged, new AuditHead(forgedHead.Count, forgedHead.LastHash)).Problem is AuditProblem.None,
            "the unkeyed chain cannot tell");

        var result = AuditChain.Verify(forged, forgedHead, Key);
        Assert.Equal(AuditProblem.Forged, result.Problem);
        Assert.Equal(3, result.Sequence);
        Assert.Contains("event #3 (facts.collect prod-app-3", result.Message, StringComparison.Ordinal);
        Assert.Contains("seal does not match audit key", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Seals_made_with_another_key_are_a_forgery()
    {
        var other = new AuditKey(RandomNumberGenerator.GetBytes(32));
        var (events, head) = Sealed(3, other);
        var result = AuditChain.Verify(events, head, Key);
        Assert.Equal(AuditProblem.Forged, result.Problem);
        Assert.Equal(1, result.Sequence);
    }

    [Fact]
    public void Stripping_the_seals_of_the_newest_events_is_a_forgery()
    {
        var (events, head) = Sealed(4);
        events[3] = events[3] with { Seal = null };
        var result = AuditChain.Verify(events, head, Key);
        Assert.Equal(AuditProblem.Forged, result.Problem);
        Assert.Contains("has no seal although event #1 and every event after it were sealed", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_head_rewritten_without_the_key_is_a_forgery()
    {
        var (events, head) = Sealed(4);
        // Cutting the newest event off and writing a matching head, unsealed or with the old seal.
        var shorter = events.Take(3).ToList();
        foreach (var seal in new[] { null, head.Seal })
        {
            var result = AuditChain.Verify(shorter, new AuditHead(3, shorter[^1].Hash, seal), Key);
            Assert.Equal(AuditProblem.Forged, result.Problem);
            Assert.Contains("the audit head was forged", result.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Events_written_before_the_state_had_a_key_are_counted_not_condemned()
    {
        var (events, head) = Sealed(5, unsealedFirst: 2);
        var result = AuditChain.Verify(events, head, Key);
        Assert.True(result.IsOk, result.Message);
        Assert.Contains("2 event(s) before the first seal were written without a key", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_anchor_proves_events_that_were_cut_off_and_re_sealed_by_someone_holding_the_key()
    {
        var (events, _) = Sealed(6);
        var anchor = AuditAnchor.Take(events, Key, T0.AddHours(1));
        Assert.True(anchor.Check(events, Key).IsOk);

        // With the key, the newest two events removed and the head re-sealed: the chain and the head verify...
        var cut = events.Take(4).ToList();
        var resealed = new AuditHead(4, cut[^1].Hash, Key.SealHead(4, cut[^1].Hash));
        Assert.True(AuditChain.Verify(cut, resealed, Key).IsOk);
        // ...but not against the anchor taken before.
        var check = anchor.Check(cut, Key);
        Assert.Equal(AuditProblem.Truncated, check.Problem);
        Assert.Contains("events #5 to #6 are missing from the end", check.Message, StringComparison.Ordinal);

        // Nor may the removed events be replaced by others of the same number.
        var (replaced, _) = Rechained(events, 4, e => e with { Target = "elsewhere" });
        Assert.Equal(AuditProblem.Altered, anchor.Check(replaced, Key).Problem);
        // And an anchor cannot be made up without the key.
        Assert.Equal(AuditProblem.Forged, (anchor with { Count = 2 }).Check(events, Key).Problem);
    }
}
