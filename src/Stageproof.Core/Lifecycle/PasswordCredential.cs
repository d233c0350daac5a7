using System.Globalization;

namespace Stageproof.Core.Lifecycle;

/// <summary>
/// A user's password as stored: a hash made by ASP.NET Core Identity's password hasher (never the password), and a seal
/// under the audit key, so a hash row written straight into the store logs nobody in.
/// </summary>
public sealed record PasswordCredential
{
    public required string User { get; init; }
    /// <summary>The hasher's own self-describing format (algorithm, iterations and salt inside).</summary>
    public required string Hash { get; init; }
    public required DateTimeOffset SetAt { get; init; }
    public required string SetBy { get; init; }
    /// <summary>HMAC of <see cref="SealText"/> under the audit key, written by the state store.</summary>
    public string? Seal { get; init; }

    /// <summary>Set by the state store on read when the seal does not verify.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool SealBroken { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public string SealText => string.Join('\n', "password", User, Hash, SetAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture), SetBy);
}

/// <summary>Failed logins of one name, for lockout: the failures still counted, and until when the name is locked.</summary>
public sealed record LoginState
{
    public required string User { get; init; }
    public IReadOnlyList<DateTimeOffset> Failures { get; init; } = [];
    public DateTimeOffset? LockedUntil { get; init; }
}
