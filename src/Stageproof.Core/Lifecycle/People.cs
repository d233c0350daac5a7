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
}
