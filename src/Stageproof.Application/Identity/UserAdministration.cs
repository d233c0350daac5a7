using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;
using Stageproof.Core.Validation;

namespace Stageproof.Application.Identity;

/// <summary>
/// Adding, changing and removing users, for the CLI's <c>user</c> verbs and the API alike: only an admin, except the very
/// first user (added by anyone, atomically, so two people bootstrapping at once cannot both be first); never the last
/// admin away. Every change and every refusal is audited with the actor.
/// </summary>
public static class UserAdministration
{
    /// <summary>The rule that keeps an estate from losing its last admin (and with it every way to manage users).</summary>
    public const string LastAdminRule = "last-admin";

    /// <summary>What is wrong with the environments a user is given, or null: each must be configured, or "*".</summary>
    public static string? EnvironmentsError(StageproofConfig config, IEnumerable<string> environments)
    {
        ArgumentNullException.ThrowIfNull(config);
        return environments.FirstOrDefault(e => e != "*" && !config.Environments.ContainsKey(e)) is { } unknown
            ? $"{config.SourceFile} defines no environment {Names.Show(unknown)} (environments: {string.Join(", ", config.Environments.Keys)})"
            : null;
    }

    /// <summary>Adds <paramref name="name"/>, or changes an existing user's role and environments (none given: all).</summary>
    /// <exception cref="RefusedException">The actor is no admin, or the change would demote the last admin.</exception>
    /// <exception cref="InputException">Another user was added while this one was to be the first.</exception>
    public static async Task<User> AddAsync(IStateStore store, Principal actor, string name, Role role, IReadOnlyList<string> environments,
        TimeProvider time, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(actor);
        ArgumentNullException.ThrowIfNull(time);
        var users = await store.ListUsersAsync(ct).ConfigureAwait(false);
        var user = new User
        {
            Name = name,
            Role = role,
            Environments = environments.Count == 0 ? ["*"] : environments,
            CreatedAt = time.GetUtcNow(),
            CreatedBy = actor.Name,
        };
        if (users.Count == 0)
        {
            if (!await store.SaveFirstUserAsync(user, ct).ConfigureAwait(false))
            {
                throw new InputException($"{name}: another user was added meanwhile; only an admin adds users now (try again as one)");
            }
        }
        else
        {
            await RequireAdminAsync(store, actor, name, ct).ConfigureAwait(false);
            if (role != Role.Admin && IsLastAdmin(users, name))
            {
                await RefuseAsync(store, actor, name, new GateRefusal(LastAdminRule, $"{name} is the only admin; make another user admin first"), ct).ConfigureAwait(false);
            }
            await store.SaveUserAsync(user, ct).ConfigureAwait(false);
        }
        await store.AppendAsync(new AuditEvent
        {
            Actor = actor.Name, Action = "user.add", Target = name, Outcome = $"{AccessPolicy.Name(role)} on {string.Join(", ", user.Environments)}",
        }, ct).ConfigureAwait(false);
        return user;
    }

    /// <summary>Removes <paramref name="name"/> (and its password); false when there is no such user.</summary>
    /// <exception cref="RefusedException">The actor is no admin, or <paramref name="name"/> is the last admin.</exception>
    public static async Task<bool> RemoveAsync(IStateStore store, Principal actor, string name, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(actor);
        var users = await store.ListUsersAsync(ct).ConfigureAwait(false);
        if (users.Count > 0)
        {
            await RequireAdminAsync(store, actor, name, ct).ConfigureAwait(false);
        }
        if (IsLastAdmin(users, name))
        {
            await RefuseAsync(store, actor, name, new GateRefusal(LastAdminRule, $"{name} is the only admin; make another user admin first"), ct).ConfigureAwait(false);
        }
        if (!await store.DeleteUserAsync(name, ct).ConfigureAwait(false))
        {
            return false;
        }
        await store.AppendAsync(new AuditEvent { Actor = actor.Name, Action = "user.remove", Target = name, Outcome = "removed" }, ct).ConfigureAwait(false);
        return true;
    }

    private static bool IsLastAdmin(IReadOnlyList<User> users, string name) =>
        users.Any(u => u.Name == name && u.Role == Role.Admin) && users.Count(u => u.Role == Role.Admin) == 1;

    private static async Task RequireAdminAsync(IStateStore store, Principal actor, string target, CancellationToken ct)
    {
        if (!AccessPolicy.MayManageUsers(actor.User))
        {
            await RefuseAsync(store, actor, target, new GateRefusal(GateRules.Role,
                $"only an admin manages users ({actor.Name} is {(actor.User is null ? "not a user" : AccessPolicy.Name(actor.User.Role))})"), ct).ConfigureAwait(false);
        }
    }

    private static async Task RefuseAsync(IStateStore store, Principal actor, string target, GateRefusal refusal, CancellationToken ct)
    {
        await store.AppendAsync(new AuditEvent { Actor = actor.Name, Action = "user.refused", Target = target, Outcome = refusal.ToString() }, ct).ConfigureAwait(false);
        throw new RefusedException(refusal.Rule, refusal.Message);
    }
}
