namespace Stageproof.Core.Lifecycle;

/// <summary>
/// Who may do what, in one place: every entry point (the CLI's verbs, the gate, the server's endpoints) asks here, so a
/// role rule cannot differ between a terminal and a browser.
/// </summary>
public static class AccessPolicy
{
    /// <summary>The roles a stage allows to promote when it names none.</summary>
    public static readonly IReadOnlyList<Role> DefaultPromoters = [Role.Operator, Role.Admin];

    /// <summary>Reading an environment's state, runs and reports: any role covering it.</summary>
    public static bool MayRead(User user, string environment) => user.Covers(environment);

    /// <summary>Approving a promotion into <paramref name="environment"/>: an approver or admin covering it.</summary>
    public static bool MayApprove(User user, string environment) => user.Role is Role.Approver or Role.Admin && user.Covers(environment);

    /// <summary>Promoting (and resuming or aborting a rollout) in <paramref name="environment"/>: a role its stage allows, or
    /// an admin, covering it.</summary>
    public static bool MayPromote(User user, string environment, IReadOnlyList<Role>? allowed) =>
        ((allowed ?? DefaultPromoters).Contains(user.Role) || user.Role == Role.Admin) && user.Covers(environment);

    /// <summary>Rolling out outside a maintenance window.</summary>
    public static bool MayOverrideWindow(User? user) => user?.Role == Role.Admin;

    /// <summary>Adding and removing users.</summary>
    public static bool MayManageUsers(User? user) => user?.Role == Role.Admin;

    /// <summary>Creating, listing and revoking <paramref name="owner"/>'s tokens: the owner, or an admin.</summary>
    public static bool MayManageTokensOf(User user, string owner) => user.Role == Role.Admin || user.Name == owner;

    /// <summary>"approver" for <see cref="Role.Approver"/>: roles as people type them.</summary>
    public static string Name(Role role) => role.ToString().ToLowerInvariant();
}
