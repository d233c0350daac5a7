using System.Text.Json;
using Microsoft.AspNetCore.Identity;
using Stageproof.Application.Identity;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;

namespace Stageproof.Application.Tests.Identity;

public sealed class PasswordAuthenticatorTests
{
    private const string Right = "correct horse battery";
    private const string Wrong = "incorrect horse battery";

    private static async Task<IdentityState> WithAliceAsync()
    {
        var state = await IdentityState.OpenAsync();
        await Bootstrap.InitAdminAsync(state.Store, "alice", Right, state.Clock);
        return state;
    }

    private static Task<PasswordCheck> LoginAsync(IdentityState state, string password, string user = "alice") =>
        PasswordAuthenticator.VerifyAsync(state.Store, user, password, state.Clock.GetUtcNow(), CancellationToken.None);

    private static async Task<IReadOnlyList<string>> ActionsAsync(IdentityState state) =>
        (await state.Store.ReadAllAsync()).Select(e => e.Action).ToList();

    [Fact]
    public async Task The_right_password_logs_the_user_in_and_is_audited()
    {
        await using var state = await WithAliceAsync();
        var check = await LoginAsync(state, Right);
        Assert.Null(check.Refusal);
        Assert.Equal("alice", check.Principal!.Name);
        Assert.Equal("password:alice", check.Principal.AuthenticatedBy);
        Assert.Equal(Role.Admin, check.Principal.User!.Role);
        Assert.Contains("login", await ActionsAsync(state));
        // Stored as the hasher's hash, never the password.
        Assert.DoesNotContain(Right, (await state.Store.FindPasswordAsync("alice"))!.Hash, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_password_and_an_unknown_user_are_refused_alike()
    {
        await using var state = await WithAliceAsync();
        var wrong = await LoginAsync(state, Wrong);
        var unknown = await LoginAsync(state, Right, "mallory");
        Assert.Null(wrong.Principal);
        Assert.Null(unknown.Principal);
        Assert.Equal("user name or password not accepted", wrong.Refusal);
        Assert.Equal(wrong.Refusal, unknown.Refusal);
        Assert.Equal(2, (await ActionsAsync(state)).Count(a => a == "login.failed"));
    }

    [Fact]
    public async Task Five_failures_lock_the_account_for_fifteen_minutes_even_for_the_right_password()
    {
        await using var state = await WithAliceAsync();
        for (var i = 1; i <= 4; i++)
        {
            Assert.Equal("user name or password not accepted", (await LoginAsync(state, Wrong)).Refusal);
            state.Clock.Advance(TimeSpan.FromMinutes(1));
        }
        var fifth = await LoginAsync(state, Wrong);
        Assert.StartsWith("too many failed logins for alice: locked until 2026-11-23 10:19 UTC", fifth.Refusal, StringComparison.Ordinal);
        Assert.Contains("login.locked", await ActionsAsync(state));

        state.Clock.Advance(TimeSpan.FromMinutes(14));
        var stillLocked = await LoginAsync(state, Right);
        Assert.Null(stillLocked.Principal);
        Assert.StartsWith("too many failed logins for alice", stillLocked.Refusal, StringComparison.Ordinal);

        state.Clock.Advance(TimeSpan.FromMinutes(1));
        var after = await LoginAsync(state, Right);
        Assert.NotNull(after.Principal);
    }

    [Fact]
    public async Task An_unknown_name_locks_like_a_known_one()
    {
        await using var state = await WithAliceAsync();
        PasswordCheck last = null!;
        for (var i = 0; i < 5; i++)
        {
            last = await LoginAsync(state, Wrong, "mallory");
        }
        Assert.StartsWith("too many failed logins for mallory: locked until", last.Refusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failures_older_than_fifteen_minutes_and_failures_before_a_success_do_not_count()
    {
        await using var state = await WithAliceAsync();
        for (var i = 0; i < 4; i++)
        {
            await LoginAsync(state, Wrong);
        }
        state.Clock.Advance(TimeSpan.FromMinutes(15));
        Assert.Equal("user name or password not accepted", (await LoginAsync(state, Wrong)).Refusal);

        Assert.NotNull((await LoginAsync(state, Right)).Principal);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("user name or password not accepted", (await LoginAsync(state, Wrong)).Refusal);
        }
        Assert.NotNull((await LoginAsync(state, Right)).Principal);
    }

    [Fact]
    public async Task A_hash_row_written_straight_into_the_store_logs_nobody_in()
    {
        await using var state = await WithAliceAsync();
        await state.Store.SaveUserAsync(new User { Name = "bob", Role = Role.Admin });
        // A genuine hash of a password the writer knows, in exactly the stored shape, but not sealed by Stageproof.
        var hash = new PasswordHasher<User>().HashPassword(new User { Name = "bob", Role = Role.Admin }, "bob's own password");
        var json = JsonSerializer.Serialize(new { user = "bob", hash, set_at = "2026-11-23T10:00:00+00:00", set_by = "bob" });
        Assert.Equal(1, await state.ExecuteRawAsync("INSERT INTO passwords (user_name, json) VALUES ('bob', @json)", ("@json", json)));

        var forged = await LoginAsync(state, "bob's own password", "bob");
        Assert.Null(forged.Principal);
        Assert.Equal("user name or password not accepted", forged.Refusal);
        var failed = (await state.Store.ReadAllAsync()).Last(e => e.Action == "login.failed");
        Assert.Contains("does not verify against the audit key", failed.Outcome, StringComparison.Ordinal);

        // Replacing alice's sealed hash with another is caught the same way.
        var aliceJson = JsonSerializer.Serialize(new { user = "alice", hash, set_at = "2026-11-23T10:00:00+00:00", set_by = "alice" });
        await state.ExecuteRawAsync("UPDATE passwords SET json = @json WHERE user_name = 'alice'", ("@json", aliceJson));
        Assert.Null((await LoginAsync(state, "bob's own password")).Principal);
    }

    [Fact]
    public async Task A_removed_user_re_added_under_the_same_name_does_not_get_the_old_password_back()
    {
        await using var state = await WithAliceAsync();
        await state.Store.SaveUserAsync(new User { Name = "bob", Role = Role.Operator });
        await PasswordAuthenticator.SetPasswordAsync(state.Store, "bob", "bob's old password", "alice", state.Clock.GetUtcNow(), CancellationToken.None);
        Assert.True(await state.Store.DeleteUserAsync("bob"));
        await state.Store.SaveUserAsync(new User { Name = "bob", Role = Role.Operator });
        Assert.Null((await LoginAsync(state, "bob's old password", "bob")).Principal);
        Assert.Null(await state.Store.FindPasswordAsync("bob"));
    }

    [Fact]
    public async Task The_first_admin_is_made_only_in_a_state_without_users()
    {
        await using var state = await WithAliceAsync();
        var again = await Assert.ThrowsAsync<InputException>(() => Bootstrap.InitAdminAsync(state.Store, "mallory", "a long enough password", state.Clock));
        Assert.Contains("cannot create mallory as the first admin: this state already has 1 user(s) (alice)", again.Message, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.BadInput, again.ExitCode);
        Assert.DoesNotContain(await state.Store.ListUsersAsync(), u => u.Name == "mallory");
        Assert.Null(await state.Store.FindPasswordAsync("mallory"));
    }

    [Fact]
    public async Task A_password_shorter_than_twelve_characters_is_refused()
    {
        await using var state = await IdentityState.OpenAsync();
        var init = await Assert.ThrowsAsync<InputException>(() => Bootstrap.InitAdminAsync(state.Store, "alice", "short pass", state.Clock));
        Assert.Contains("the password has 10 characters; at least 12 are needed", init.Message, StringComparison.Ordinal);
        Assert.Empty(await state.Store.ListUsersAsync());

        await Bootstrap.InitAdminAsync(state.Store, "alice", Right, state.Clock);
        var set = await Assert.ThrowsAsync<InputException>(() => PasswordAuthenticator.SetPasswordAsync(state.Store, "alice", "elevenchars", "alice", state.Clock.GetUtcNow(), CancellationToken.None));
        Assert.Contains("at least 12", set.Message, StringComparison.Ordinal);
        Assert.NotNull((await LoginAsync(state, Right)).Principal);
    }
}
