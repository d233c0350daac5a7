namespace Stageproof.Core.Audit;

/// <summary>
/// An audit log that keeps its own head and seals: what <c>audit verify</c>, <c>audit anchor</c> and the API's verify
/// need, whichever store holds the chain.
/// </summary>
public interface IAuditStore : IAuditLog
{
    /// <summary>The key that seals events, the head and records that grant something; null when the store was opened
    /// without one (tests of the chain itself).</summary>
    AuditKey? AuditKey { get; }

    /// <summary>The audit head (count and last hash) written with the latest append; null before the first append.</summary>
    /// <exception cref="InputException">The head is stored but cannot be read as a head.</exception>
    Task<AuditHead?> ReadAuditHeadAsync(CancellationToken cancellationToken = default);

    /// <summary>Reads the chain and the head and verifies them together under <see cref="AuditKey"/>.</summary>
    Task<AuditVerification> VerifyAuditAsync(CancellationToken cancellationToken = default);
}
