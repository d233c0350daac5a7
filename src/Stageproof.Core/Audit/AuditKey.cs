using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Stageproof.Core.Audit;

/// <summary>
/// The key that seals the audit chain. A hash chain alone proves order, not authorship: whoever can write the
/// state can rewrite an event and recompute every later hash and the head. Each event's hash and the head are
/// therefore sealed with HMAC-SHA256 under a key kept outside the state directory; without it no rewrite,
/// re-chaining or truncation verifies.
/// </summary>
public sealed class AuditKey
{
    public const int Length = 32;

    private readonly byte[] _key;

    public AuditKey(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length < Length)
        {
            throw new ArgumentException($"an audit key has {Length} bytes, got {key.Length}", nameof(key));
        }
        _key = (byte[])key.Clone();
        Id = Convert.ToHexStringLower(SHA256.HashData(_key))[..16];
    }

    /// <summary>Names the key without revealing it: the first 16 hex digits of its SHA-256.</summary>
    public string Id { get; }

    /// <summary>The seal of an event: HMAC over its chain hash (which covers every field and the previous hash).</summary>
    public string Seal(AuditEvent e) => Mac("event:" + e.Hash);

    /// <summary>The seal of the audit head: HMAC over its count and last hash.</summary>
    public string SealHead(long count, string lastHash) => Mac($"head:{count.ToString(CultureInfo.InvariantCulture)}:{lastHash}");

    /// <summary>The seal of an exported checkpoint (an anchor kept elsewhere).</summary>
    public string SealAnchor(long count, string lastHash, string at) =>
        Mac($"anchor:{count.ToString(CultureInfo.InvariantCulture)}:{lastHash}:{at}");

    /// <summary>The seal of a record that grants something (an approval, an API token): HMAC over its canonical text,
    /// so a row written straight into the store, or edited there, does not verify.</summary>
    public string SealRecord(string canonicalText) => Mac("record:" + canonicalText);

    /// <summary>Compares a stored seal with the expected one in constant time.</summary>
    public static bool Matches(string? stored, string expected) =>
        stored is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(stored), Encoding.ASCII.GetBytes(expected));

    private string Mac(string text) => Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(text)));
}
