using System.Globalization;
using Microsoft.AspNetCore.Identity;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;

namespace Stageproof.Application.Identity;

/// <summary>What presenting a name and password came to: the principal, or why it was refused (one line that does not
/// tell whether the name is a user).</summary>
public sealed record PasswordCheck(Principal? Principal, string? Refusal);

/// <summary>
/// Password logins (the web console's), for every entry point. Hashing is ASP.NET Core Identity's
/// <see cref="PasswordHasher{TUser}"/>; the hash is stored sealed under the audit key. Five failures of one name within
/// fifteen minutes lock it for fifteen minutes, whether or not the name is a user, so lockout tells nothing either;
/// a success clears the count. Every attempt is audited: <c>login</c>, <c>login.failed</c>, <c>login.locked</c>.
/// </summary>
public static class PasswordAuthenticator
{
    public const int MaxFailures = 5;
    public static readonly TimeSpan FailureWindow = TimeSpan.FromMinutes(15);
    public static readonly TimeSpan LockoutDuration = TimeSpan.FromMinutes(15);

    private const string NotAccepted = "user name or password not accepted";

    private static readonly PasswordHasher<User> Hasher = new();

    private static readonly User Decoy = new() { Name = "", Role = Role.Viewer };

    // Verified against when a name has no usable hash, so an unknown name costs as long as a wrong password.
    private static readonly Lazy<string> DecoyHash = new(() => Hasher.HashPassword(Decoy, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16))));

    public static async Task<PasswordCheck> VerifyAsync(IStateStore store, string user, string password, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        var state = await store.FindLoginStateAsync(user, ct).ConfigureAwait(false) ?? new LoginState { User = user };
        if (state.LockedUntil is { } until && until > now)
        {
            var locked = Locked(user, until);
            await AuditAsync(store, user, "login.locked", "refused: " + locked, ct).ConfigureAwait(false);
            return new(null, locked);
        }

        var credential = await store.FindPasswordAsync(user, ct).ConfigureAwait(false);
        var account = (await store.ListUsersAsync(ct).ConfigureAwait(false)).FirstOrDefault(u => u.Name == user);
        var usable = credential is { SealBroken: false } && account is not null;
        var result = Verify(account ?? Decoy, usable ? credential!.Hash : DecoyHash.Value, password);
        if (usable && result is PasswordVerificationResult.Success or PasswordVerificationResult.SuccessRehashNeeded)
        {
            if (result == PasswordVerificationResult.SuccessRehashNeeded)
            {
                await store.SavePasswordAsync(credential! with { Hash = Hasher.HashPassword(account!, password), SetAt = now }, ct).ConfigureAwait(false);
            }
            await store.SaveLoginStateAsync(new LoginState { User = user }, ct).ConfigureAwait(false);
            var principal = new Principal(account!.Name, "password:" + account.Name, account);
            await AuditAsync(store, user, "login", principal.AuthenticatedBy!, ct).ConfigureAwait(false);
            return new(principal, null);
        }

        // The audit says why (its readers may know); the one refused does not learn whether the name exists.
        var why = account is null ? "no such user"
            : credential is null ? "the user has no password"
            : credential.SealBroken ? "the stored password hash does not verify against the audit key (written outside Stageproof)"
            : "wrong password";
        var failures = state.Failures.Where(f => now - f < FailureWindow).Append(now).ToList();
        await AuditAsync(store, user, "login.failed", $"{why} (failure {failures.Count} of {MaxFailures} within {FailureWindow.TotalMinutes:0} minutes)", ct).ConfigureAwait(false);
        if (failures.Count >= MaxFailures)
        {
            var lockedUntil = now + LockoutDuration;
            await store.SaveLoginStateAsync(new LoginState { User = user, LockedUntil = lockedUntil }, ct).ConfigureAwait(false);
            var locked = Locked(user, lockedUntil);
            await AuditAsync(store, user, "login.locked", locked, ct).ConfigureAwait(false);
            return new(null, locked);
        }
        await store.SaveLoginStateAsync(new LoginState { User = user, Failures = failures }, ct).ConfigureAwait(false);
        return new(null, NotAccepted);
    }

    /// <summary>
    /// Sets <paramref name="user"/>'s password (who may is the caller's to decide, with
    /// <see cref="AccessPolicy.MaySetPasswordOf"/>): hashed, sealed, the name's failed logins cleared, audited as
    /// <c>password.set</c> by <paramref name="setBy"/>.
    /// </summary>
    /// <exception cref="InputException">The password breaks <see cref="PasswordPolicy"/>, or there is no such user.</exception>
    public static async Task SetPasswordAsync(IStateStore store, string user, string password, string setBy, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(password);
        if (PasswordPolicy.Error(password) is { } error)
        {
            throw new InputException($"password for {user}: {error}");
        }
        var account = (await store.ListUsersAsync(ct).ConfigureAwait(false)).FirstOrDefault(u => u.Name == user)
            ?? throw new InputException($"there is no user '{user}' (see 'stageproof user list')");
        await store.SavePasswordAsync(new PasswordCredential { User = user, Hash = Hasher.HashPassword(account, password), SetAt = now, SetBy = setBy }, ct).ConfigureAwait(false);
        await store.SaveLoginStateAsync(new LoginState { User = user }, ct).ConfigureAwait(false);
        await store.AppendAsync(new AuditEvent { Actor = setBy, Action = "password.set", Target = user, Outcome = setBy == user ? "by the user" : "by an admin" }, ct).ConfigureAwait(false);
    }

    private static PasswordVerificationResult Verify(User user, string hash, string password)
    {
        try
        {
            return Hasher.VerifyHashedPassword(user, hash, password);
        }
        catch (FormatException)
        {
            return PasswordVerificationResult.Failed;   // not the hasher's format: edited by hand
        }
    }

    private static string Locked(string user, DateTimeOffset until) =>
        $"too many failed logins for {user}: locked until {until.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC";

    private static Task AuditAsync(IStateStore store, string user, string action, string outcome, CancellationToken ct) =>
        store.AppendAsync(new AuditEvent { Actor = user, Action = action, Target = user, Outcome = outcome }, ct);
}
