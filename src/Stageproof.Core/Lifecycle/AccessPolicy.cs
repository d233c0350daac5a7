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

    /// <summary>Setting <paramref name="owner"/>'s password: the owner, or an admin.</summary>
    public static bool MaySetPasswordOf(User user, string owner) => user.Role == Role.Admin || user.Name == owner;

    /// <summary>
    /// Whether <paramref name="narrower"/> grants nothing <paramref name="wider"/> does not: viewer is below every role,
    /// operator and approver stand side by side below admin, and a role is within itself.
    /// </summary>
    public static bool RoleWithin(Role narrower, Role wider) => narrower == wider || narrower == Role.Viewer || wider == Role.Admin;

    /// <summary>The most two roles both grant: the lower one, or viewer for operator and approver (neither is within the other).</summary>
    public static Role Lower(Role a, Role b) => RoleWithin(a, b) ? a : RoleWithin(b, a) ? b : Role.Viewer;

    /// <summary>Why a token's scope would reach beyond <paramref name="user"/> ("role" or "environment ENV"), or null when
    /// the scope is within it: a role no higher than the user's, environments the user covers ("*" only for a user of all).</summary>
    public static string? ScopeBeyond(User user, Role? role, IReadOnlyList<string>? environments)
    {
        if (role is { } r && !RoleWithin(r, user.Role))
        {
            return "role";
        }
        return environments?.FirstOrDefault(e => e == "*" ? !user.Environments.Contains("*") : !user.Covers(e)) is { } beyond ? "environment " + beyond : null;
    }

    /// <summary>
    /// What <paramref name="user"/> may do through <paramref name="token"/>: the intersection of the user as it is now and the
    /// token's scope. A user demoted or narrowed since the token was made keeps only what both still grant.
    /// </summary>
    public static User Within(User user, ApiToken token)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(token);
        var role = token.Role is { } r ? Lower(user.Role, r) : user.Role;
        var environments = token.Environments switch
        {
            null => user.Environments,
            var scope when user.Environments.Contains("*") => scope,
            var scope when scope.Contains("*") => user.Environments,
            var scope => scope.Where(user.Environments.Contains).ToList(),
        };
        return user with { Role = role, Environments = environments };
    }

    /// <summary>A scope as people read it: "operator on staging", "viewer", "on qa, staging"; "-" for none.</summary>
    public static string DescribeScope(Role? role, IReadOnlyList<string>? environments) =>
        (role, environments) switch
        {
            (null, null) => "-",
            ({ } r, null) => Name(r),
            (null, { } e) => "on " + string.Join(", ", e),
            ({ } r, { } e) => $"{Name(r)} on {string.Join(", ", e)}",
        };

    /// <summary>"approver" for <see cref="Role.Approver"/>: roles as people type them.</summary>
    public static string Name(Role role) => role.ToString().ToLowerInvariant();
}
