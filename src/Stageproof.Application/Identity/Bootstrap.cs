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
        var now = time.GetUtcNow();
        var admin = new User { Name = name, Role = Role.Admin, Environments = ["*"], CreatedAt = now, CreatedBy = name };
        // Checked and written in one step: two servers started with --init-admin at once cannot both become the first.
        if (!await store.SaveFirstUserAsync(admin, ct).ConfigureAwait(false))
        {
            var users = await store.ListUsersAsync(ct).ConfigureAwait(false);
            throw new InputException($"cannot create {name} as the first admin: this state already has {users.Count} user(s) " +
                                     $"({string.Join(", ", users.Take(5).Select(u => u.Name))}{(users.Count > 5 ? ", ..." : "")}); an admin adds users with 'stageproof user add'");
        }
        await store.AppendAsync(new AuditEvent { Actor = name, Action = "user.add", Target = name, Outcome = "admin on * (first admin, --init-admin)" }, ct).ConfigureAwait(false);
        await PasswordAuthenticator.SetPasswordAsync(store, name, password, name, now, ct).ConfigureAwait(false);
        return admin;
    }
}
