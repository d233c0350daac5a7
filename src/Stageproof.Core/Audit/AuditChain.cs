using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Stageproof.Core.Audit;

/// <summary>What the audit store records beside the chain so that removing the newest events is noticed too.</summary>
public sealed record AuditHead(long Count, string LastHash, string? Seal = null);

/// <summary>The kind of the first problem found in an audit chain.</summary>
public enum AuditProblem
{
    None,
    /// <summary>An event's stored hash does not match its content.</summary>
    Altered,
    /// <summary>Events are missing: a gap in the sequence, or a previous hash that points to nothing stored.</summary>
    Removed,
    /// <summary>Events are intact but out of place.</summary>
    Reordered,
    /// <summary>The newest events are missing: the chain is shorter than its head records.</summary>
    Truncated,
    /// <summary>An event or the head does not carry the audit key's seal: rewritten by someone without the key.</summary>
    Forged,
    /// <summary>Events are stored but the audit head is gone, so removal of the newest events cannot be ruled out.</summary>
    HeadMissing,
}

/// <summary>The result of verifying an audit chain: ok, or the first problem, naming the event.</summary>
public sealed record AuditVerification(AuditProblem Problem, long? Sequence, string Message, int EventCount)
{
    public bool IsOk => Problem == AuditProblem.None;
}

/// <summary>
/// The hash chain of the audit log: the canonical encoding of an event, its hash, how the next event is chained on,
/// and verification of a stored chain. Pure: no I/O.
/// </summary>
public static class AuditChain
{
    /// <summary>The previous hash of the first event.</summary>
    public static readonly string GenesisHash = new('0', 64);

    private const string EncodingVersion = "stageproof-audit-v1";

    /// <summary>UTC, ISO-8601, always seven fractional digits: the form hashed and stored.</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseTime(string text) =>
        DateTimeOffset.ParseExact(text, "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    /// <summary>
    /// The canonical encoding: every field is length-prefixed (byte count of its UTF-8 form) and a null is
    /// distinct from an empty string, so no two different events encode the same.
    /// </summary>
    public static byte[] Encode(AuditEvent e)
    {
        var sb = new StringBuilder();
        Field(sb, EncodingVersion);
        Field(sb, e.Sequence.ToString(CultureInfo.InvariantCulture));
        Field(sb, FormatTime(e.Time));
        Field(sb, e.Actor);
        Field(sb, e.Action);
        Field(sb, e.Target);
        Field(sb, e.Reason);
        Field(sb, e.PayloadDigest);
        Field(sb, e.Outcome);
        Field(sb, e.PreviousHash);
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>SHA-256 (lower-case hex) over <see cref="Encode"/>; <see cref="AuditEvent.Hash"/> itself is not covered.</summary>
    public static string ComputeHash(AuditEvent e) => Convert.ToHexStringLower(SHA256.HashData(Encode(e)));

    /// <summary>Chains <paramref name="draft"/> onto the last stored event (sequence 0 and no hash for the first): sequence, previous hash, hash.</summary>
    public static AuditEvent Next(AuditEvent draft, long lastSequence, string? lastHash)
    {
        var chained = draft with
        {
            Sequence = lastSequence + 1,
            Time = draft.Time.ToUniversalTime(),
            PreviousHash = lastHash ?? GenesisHash,
            Hash = "",
        };
        return chained with { Hash = ComputeHash(chained) };
    }

    /// <summary>How messages name an event: "event #17 (facts.collect prod-app-1 at 2026-11-23T10:01:02Z)".</summary>
    public static string Describe(AuditEvent e) => Describe(e.Sequence, e);

    private static string Describe(long sequence, AuditEvent e) =>
        $"event #{sequence} ({e.Action} {e.Target} at {e.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)})";

    /// <summary>
    /// Verifies a chain read in stored order (sequence 1 first). Returns ok, or the first problem: the event
    /// that was altered, the events that were removed, the event out of place, or — when <paramref name="head"/>
    /// is given — the newest events missing.
    /// </summary>
    /// <remarks>
    /// With <paramref name="key"/>, every event from the first sealed one on must carry its seal, and so must the
    /// head: a rewrite that recomputes hashes and head without the key is <see cref="AuditProblem.Forged"/>. Events
    /// before the first seal were written before the state had a key; they are counted, not condemned.
    /// </remarks>
    public static AuditVerification Verify(IReadOnlyList<AuditEvent> eventsInStoredOrder, AuditHead? head = null, AuditKey? key = null)
    {
        var events = eventsInStoredOrder;
        var previousHash = GenesisHash;
        var sealedFrom = (long?)null;
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            long expected = i + 1;
            var problem = CheckSequence(events, i, expected)
                ?? CheckContent(events, i)
                ?? CheckLink(events, i, previousHash)
                ?? (key is null ? null : CheckSeal(events, i, key, ref sealedFrom));
            if (problem is not null)
            {
                return problem;
            }
            previousHash = e.Hash;
        }
        var result = CheckHead(events, head, key, sealedFrom);
        if (result.IsOk && key is not null && events.Count > 0)
        {
            var unsealed = sealedFrom is { } first ? first - 1 : events.Count;
            result = result with
            {
                Message = $"{result.Message}; sealed with audit key {key.Id}" +
                          (unsealed > 0 ? $" ({unsealed} event(s) before the first seal were written without a key)" : ""),
            };
        }
        return result;
    }

    private static AuditVerification? CheckSeal(IReadOnlyList<AuditEvent> events, int i, AuditKey key, ref long? sealedFrom)
    {
        var e = events[i];
        if (e.Seal is null)
        {
            return sealedFrom is null ? null : Found(AuditProblem.Forged, e.Sequence, events,
                $"{Describe(e)} has no seal although event #{sealedFrom} and every event after it were sealed: written without the audit key");
        }
        sealedFrom ??= e.Sequence;
        return AuditKey.Matches(e.Seal, key.Seal(e)) ? null : Found(AuditProblem.Forged, e.Sequence, events,
            $"{Describe(e)} was forged: its seal does not match audit key {key.Id} (rewritten, or its chain recomputed, by someone without the key)");
    }

    private static AuditVerification? CheckSequence(IReadOnlyList<AuditEvent> events, int i, long expected)
    {
        var e = events[i];
        if (e.Sequence == expected)
        {
            return null;
        }
        if (e.Sequence > expected && !events.Skip(i + 1).Any(later => later.Sequence >= expected && later.Sequence < e.Sequence))
        {
            var missing = e.Sequence - expected == 1 ? $"event #{expected} is" : $"events #{expected} to #{e.Sequence - 1} are";
            return Found(AuditProblem.Removed, expected, events,
                $"{missing} missing: the log goes from {(i == 0 ? "its start" : $"event #{expected - 1}")} to {Describe(e)}");
        }
        return Found(AuditProblem.Reordered, e.Sequence, events,
            $"{Describe(e)} was reordered: it is stored where event #{expected} belongs");
    }

    private static AuditVerification? CheckContent(IReadOnlyList<AuditEvent> events, int i)
    {
        var e = events[i];
        var actual = ComputeHash(e);
        if (string.Equals(actual, e.Hash, StringComparison.Ordinal))
        {
            return null;
        }
        // Intact content stored under another sequence number means the event was moved, not edited.
        for (long other = 1; other <= events.Count; other++)
        {
            if (other != e.Sequence && string.Equals(ComputeHash(e with { Sequence = other }), e.Hash, StringComparison.Ordinal))
            {
                return Found(AuditProblem.Reordered, e.Sequence, events,
                    $"{Describe(e)} was reordered: it holds the content recorded as event #{other}");
            }
        }
        return Found(AuditProblem.Altered, e.Sequence, events,
            $"{Describe(e)} was altered: stored hash {Short(e.Hash)} does not match its content ({Short(actual)})");
    }

    private static AuditVerification? CheckLink(IReadOnlyList<AuditEvent> events, int i, string previousHash)
    {
        var e = events[i];
        if (string.Equals(e.PreviousHash, previousHash, StringComparison.Ordinal))
        {
            return null;
        }
        var pointedTo = events.FirstOrDefault(other => string.Equals(other.Hash, e.PreviousHash, StringComparison.Ordinal));
        if (pointedTo is not null)
        {
            return Found(AuditProblem.Reordered, e.Sequence, events,
                $"{Describe(e)} was reordered: it follows event #{pointedTo.Sequence}, not event #{e.Sequence - 1}");
        }
        var before = i == 0 ? "the start of the log" : $"event #{events[i - 1].Sequence}";
        return Found(AuditProblem.Removed, e.Sequence, events,
            $"an event before {Describe(e)} was removed: its previous hash {Short(e.PreviousHash)} is not that of {before} ({Short(previousHash)})");
    }

    private static AuditVerification CheckHead(IReadOnlyList<AuditEvent> events, AuditHead? head, AuditKey? key, long? sealedFrom)
    {
        var ok = new AuditVerification(AuditProblem.None, null, $"ok: {events.Count} events, chain intact", events.Count);
        if (head is null)
        {
            return events.Count == 0 ? ok : Found(AuditProblem.HeadMissing, events.Count, events,
                $"the audit head is missing: {events.Count} events are stored, but whether newer ones were removed cannot be checked");
        }
        if (key is not null && (sealedFrom is not null || head.Seal is not null) && !AuditKey.Matches(head.Seal, key.SealHead(head.Count, head.LastHash)))
        {
            return Found(AuditProblem.Forged, head.Count, events,
                $"the audit head was forged: its seal does not match audit key {key.Id} (rewritten by someone without the key)");
        }
        var count = events.Count;
        if (head.Count > count)
        {
            var missing = head.Count - count == 1 ? $"event #{head.Count} is" : $"events #{count + 1} to #{head.Count} are";
            return Found(AuditProblem.Truncated, count + 1, events,
                $"{missing} missing from the end: the audit head records {head.Count} events, the log has {count}");
        }
        // A head behind the log is what a crash between commit and head write leaves; its event must still match.
        var atHead = head.Count == 0 ? GenesisHash : events[(int)head.Count - 1].Hash;
        if (!string.Equals(atHead, head.LastHash, StringComparison.Ordinal))
        {
            var e = head.Count == 0 ? null : events[(int)head.Count - 1];
            var name = e is null ? "the start of the log" : Describe(e);
            return Found(AuditProblem.Altered, e?.Sequence ?? 0, events,
                $"{name} was altered: the audit head records hash {Short(head.LastHash)}, the log has {Short(atHead)}");
        }
        return ok;
    }

    private static AuditVerification Found(AuditProblem problem, long sequence, IReadOnlyList<AuditEvent> events, string message) =>
        new(problem, sequence, message, events.Count);

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] + "…" : hash;

    private static void Field(StringBuilder sb, string? value)
    {
        if (value is null)
        {
            sb.Append("~;");
            return;
        }
        sb.Append(Encoding.UTF8.GetByteCount(value).ToString(CultureInfo.InvariantCulture)).Append(':').Append(value).Append(';');
    }
}
