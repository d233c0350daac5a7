using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;
using Stageproof.Core.Validation;

namespace Stageproof.Application.Identity;

/// <summary>The first admin of a fresh state, with a password (the server's <c>serve --init-admin NAME</c>): only while
/// the state has no users at all, so it can never add an admin beside existing ones.</summary>
public static class Bootstrap
{
    /// <exception cref="InputException">The state already has users, the name is not a user name, or the password breaks
    /// <see cref="PasswordPolicy"/>.</exception>
    public static async Task<User> InitAdminAsync(IStateStore store, string name, string password, TimeProvider time, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(time);
        if (Names.UserNameError(name) is { } nameError)
        {
            throw new InputException($"first admin '{name}': {nameError}");
        }
        if (PasswordPolicy.Error(password) is { } passwordError)
        {
            throw new InputException($"password for {name}: {passwordError}");
        }
        var users = await store.ListUsersAsync(ct).ConfigureAwait(false);
        if (users.Count > 0)
        {
            throw new InputException($"cannot create {name} as the first admin: this state already has {users.Count} user(s) " +
                                     $"({string.Join(", ", users.Take(5).Select(u => u.Name))}{(users.Count > 5 ? ", ..." : "")}); an admin adds users with 'stageproof user add'");
        }
        var now = time.GetUtcNow();
        var admin = new User { Name = name, Role = Role.Admin, Environments = ["*"], CreatedAt = now, CreatedBy = name };
        await store.SaveUserAsync(admin, ct).ConfigureAwait(false);
        await store.AppendAsync(new AuditEvent { Actor = name, Action = "user.add", Target = name, Outcome = "admin on * (first admin, --init-admin)" }, ct).ConfigureAwait(false);
        await PasswordAuthenticator.SetPasswordAsync(store, name, password, name, now, ct).ConfigureAwait(false);
        return admin;
    }
}
