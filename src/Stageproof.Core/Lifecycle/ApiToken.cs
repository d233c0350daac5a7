using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Stageproof.Core.Lifecycle;

/// <summary>
/// A personal API token: proves who is acting without trusting a typed name. The secret is shown once when the token is
/// created; the store keeps only its SHA-256 (the secret is 32 random bytes, so a fast hash is enough) and a seal under
/// the audit key, so a token row written straight into the store does not authenticate anyone.
/// </summary>
public sealed record ApiToken
{
    public const string Prefix = "spt_";

    public required string Id { get; init; }
    public required string User { get; init; }
    public required string SecretHash { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required string CreatedBy { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    public string? RevokedBy { get; init; }
    /// <summary>The most this token may do, when narrower than its user's role (null: the user's role).</summary>
    public Role? Role { get; init; }
    /// <summary>The environments this token may act on, when narrower than its user's (null: the user's).</summary>
    public IReadOnlyList<string>? Environments { get; init; }
    public string? Seal { get; init; }

    /// <summary>Set by the state store on read when the seal does not verify.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool SealBroken { get; init; }

    /// <summary>What the seal covers. The scope is appended only when set, so tokens sealed before scopes existed still
    /// verify.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string SealText => string.Join('\n', "token", Id, User, SecretHash, CreatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
        ExpiresAt?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) ?? "", RevokedAt?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) ?? "")
        + (Role is { } role ? "\nrole " + AccessPolicy.Name(role) : "")
        + (Environments is { } environments ? "\nenvironments " + string.Join(' ', environments) : "");

    /// <summary>True when the token is narrower than (or equal to) its user by a role or environments of its own.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Scoped => Role is not null || Environments is not null;

    /// <summary>A new token for <paramref name="user"/>: the record to store and the text to hand over once ("spt_ID_SECRET").</summary>
    /// <remarks>A <paramref name="role"/> or <paramref name="environments"/> narrows what the token may do below its user
    /// (checked by the caller with <see cref="AccessPolicy.ScopeWithin"/>).</remarks>
    public static (ApiToken Token, string Text) Create(string user, string createdBy, DateTimeOffset now, DateTimeOffset? expiresAt,
        Role? role = null, IReadOnlyList<string>? environments = null)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var token = new ApiToken
        {
            Id = id, User = user, SecretHash = Hash(secret), CreatedAt = now, CreatedBy = createdBy, ExpiresAt = expiresAt,
            Role = role, Environments = environments,
        };
        return (token, $"{Prefix}{id}_{secret}");
    }

    /// <summary>Splits "spt_ID_SECRET"; null when the text is not shaped like a token.</summary>
    public static (string Id, string Secret)? Parse(string text)
    {
        var t = text.Trim();
        if (!t.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }
        var rest = t[Prefix.Length..];
        var cut = rest.IndexOf('_', StringComparison.Ordinal);
        if (cut != 12 || rest.Length < cut + 20 || !rest[..cut].All(char.IsAsciiHexDigitLower))
        {
            return null;
        }
        return (rest[..cut], rest[(cut + 1)..]);
    }

    /// <summary>Whether <paramref name="secret"/> is this token's, compared in constant time.</summary>
    public bool Accepts(string secret) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(SecretHash));

    /// <summary>Why the token cannot be used at <paramref name="now"/>, or null when it can.</summary>
    public string? Unusable(DateTimeOffset now) =>
        SealBroken ? "its record does not verify against the audit key (written or edited outside Stageproof)"
        : RevokedAt is { } r ? $"revoked at {r.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC by {RevokedBy}"
        : ExpiresAt is { } e && e <= now ? $"expired at {e.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC"
        : null;

    private static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
