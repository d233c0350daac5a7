namespace Stageproof.Core.Audit;

/// <summary>
/// One entry of the append-only audit chain. <see cref="Hash"/> is SHA-256 over the previous event's hash and
/// this event's fields, so changing, removing or reordering any stored event breaks the chain from there on.
/// </summary>
public sealed record AuditEvent
{
    public long Sequence { get; init; }
    public DateTimeOffset Time { get; init; }
    public required string Actor { get; init; }
    /// <summary>What was done, e.g. "facts.collect", "host.contact", "config.init".</summary>
    public required string Action { get; init; }
    /// <summary>What it was done to: a host, environment, digest.</summary>
    public required string Target { get; init; }
    /// <summary>Reason or ticket given by the operator, if any.</summary>
    public string? Reason { get; init; }
    /// <summary>SHA-256 of the payload the action concerned (a manifest, a patch set), if any.</summary>
    public string? PayloadDigest { get; init; }
    /// <summary>Free-form outcome, e.g. "ok", "exit 3: connection refused".</summary>
    public string? Outcome { get; init; }
    public string PreviousHash { get; init; } = "";
    public string Hash { get; init; } = "";
    /// <summary>HMAC of <see cref="Hash"/> under the audit key (<see cref="AuditKey.Seal"/>); null for events written
    /// before the state had a key. Not part of the hash: it seals it.</summary>
    public string? Seal { get; init; }
}

/// <summary>Where audit events are appended and read back. Appending computes the chain hash.</summary>
public interface IAuditLog
{
    Task<AuditEvent> AppendAsync(AuditEvent draft, CancellationToken cancellationToken = default);
    Task<IReadOnlyList<AuditEvent>> ReadAllAsync(CancellationToken cancellationToken = default);
}
