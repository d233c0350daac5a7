namespace Stageproof.Core.Audit;

/// <summary>
/// A sealed checkpoint of the chain kept outside the state (a file elsewhere, a ticket, a log server): how many
/// events there were and the hash of the last. With the key alone, someone who can write the state and holds the key
/// could still cut the newest events off and re-seal the head; an anchor taken earlier proves those events existed.
/// </summary>
public sealed record AuditAnchor(long Count, string LastHash, string At, string KeyId, string Seal)
{
    public static AuditAnchor Take(IReadOnlyList<AuditEvent> events, AuditKey key, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(key);
        var count = events.Count;
        var last = count == 0 ? AuditChain.GenesisHash : events[^1].Hash;
        var at = AuditChain.FormatTime(now);
        return new AuditAnchor(count, last, at, key.Id, key.SealAnchor(count, last, at));
    }

    /// <summary>Ok, or why the chain does not contain what this anchor recorded.</summary>
    public AuditVerification Check(IReadOnlyList<AuditEvent> events, AuditKey key)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(key);
        var name = $"the anchor of {At} ({Count} events)";
        if (!AuditKey.Matches(Seal, key.SealAnchor(Count, LastHash, At)))
        {
            return new(AuditProblem.Forged, null, $"{name} is not sealed with audit key {key.Id} (its key: {KeyId})", events.Count);
        }
        if (events.Count < Count)
        {
            var missing = Count - events.Count == 1 ? $"event #{Count} is" : $"events #{events.Count + 1} to #{Count} are";
            return new(AuditProblem.Truncated, events.Count + 1,
                $"{missing} missing from the end: {name} records them, the log has {events.Count}", events.Count);
        }
        var atAnchor = Count == 0 ? AuditChain.GenesisHash : events[(int)Count - 1].Hash;
        return string.Equals(atAnchor, LastHash, StringComparison.Ordinal)
            ? new(AuditProblem.None, null, $"{name}: contained", events.Count)
            : new(AuditProblem.Altered, Count, $"event #{Count} differs from {name}: the log was rewritten after it was taken", events.Count);
    }
}
