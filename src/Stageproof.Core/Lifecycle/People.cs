namespace Stageproof.Core.Lifecycle;

/// <summary>What a user may do. A stage lists the roles that may promote into it (admins always may); approving is
/// the approver's and the admin's alone; managing users and overriding a window the admin's alone.</summary>
public enum Role
{
    /// <summary>Reads: status, lists, reports.</summary>
    Viewer,
    /// <summary>Promotes and rolls out, resumes and aborts rollouts.</summary>
    Operator,
    /// <summary>Approves promotions (four eyes).</summary>
    Approver,
    /// <summary>Everything, including users and overriding a maintenance window.</summary>
    Admin,
}

/// <summary>A person Stageproof knows, with a role and the environments it applies to ("*": all).</summary>
public sealed record User
{
    public required string Name { get; init; }
    public required Role Role { get; init; }
    public IReadOnlyList<string> Environments { get; init; } = ["*"];
    public DateTimeOffset CreatedAt { get; init; }
    public string? CreatedBy { get; init; }
    /// <summary>The OpenID Connect issuer this user signs in through, its role re-derived from the provider's claims at
    /// every sign-in; null for a local user (a password, the OS user, tokens).</summary>
    public string? Issuer { get; init; }
    /// <summary>The provider's subject (<c>sub</c>) for this user: the name stays with the account it was first given to.</summary>
    public string? Subject { get; init; }

    public bool Covers(string environment) => Environments.Contains("*") || Environments.Contains(environment);
}

/// <summary>Someone's approval of a patch digest for an environment.</summary>
public sealed record Approval
{
    public required string Id { get; init; }
    public required string PatchDigest { get; init; }
    public required string Environment { get; init; }
    public required string Approver { get; init; }
    public string? Comment { get; init; }
    public required DateTimeOffset At { get; init; }
    /// <summary>How the approver was known when approving: "os:NAME" (the OS user running Stageproof), "token:ID", or a console
    /// session's "password:NAME" or "oidc:NAME" (single sign-on).</summary>
    public string? AuthenticatedBy { get; init; }
    /// <summary>HMAC of <see cref="SealText"/> under the audit key, written by the state store.</summary>
    public string? Seal { get; init; }
    /// <summary>Set by the state store on read when the seal does not verify (the row was written or edited outside
    /// Stageproof): the gate does not count such an approval, and says so.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool SealBroken { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public string SealText => string.Join('\n', "approval", Id, PatchDigest, Environment, Approver, At.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        AuthenticatedBy ?? "", Comment ?? "");
}
