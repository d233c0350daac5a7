using Stageproof.Application.Identity;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;
using Stageproof.Data;

namespace Stageproof.Application.Tests.Identity;

public sealed class BootstrapTests
{
    private const string Password = "correct horse battery";

    /// <summary>Rounds of the race: when the check and the write were two steps, three rounds in ten let two or more
    /// admins through on this machine.</summary>
    public static TheoryData<int> Rounds() => new(Enumerable.Range(1, 10));

    [Theory]
    [MemberData(nameof(Rounds))]
    public async Task Servers_started_with_init_admin_at_once_make_exactly_one_first_admin(int round)
    {
        _ = round;
        await using var state = await IdentityState.OpenAsync();
        // Sixteen processes over one state, each told to create its own first admin, released together.
        var stores = new List<SqliteStateStore>();
        for (var i = 0; i < 16; i++)
        {
            stores.Add(await state.OpenAnotherAsync());
        }
        try
        {
            using var start = new ManualResetEventSlim();
            var attempts = stores.Select((store, i) => Task.Run(async () =>
            {
                start.Wait();
                try
                {
                    await Bootstrap.InitAdminAsync(store, $"admin{i}", Password, state.Clock);
                    return (Name: $"admin{i}", Error: (string?)null);
                }
                catch (InputException e)
                {
                    return (Name: $"admin{i}", Error: e.Message);
                }
            })).ToList();
            start.Set();
            var outcomes = await Task.WhenAll(attempts);

            var winner = Assert.Single(outcomes, o => o.Error is null);
            Assert.All(outcomes.Where(o => o.Error is not null), o => Assert.Contains("already has 1 user(s)", o.Error, StringComparison.Ordinal));
            var user = Assert.Single(await state.Store.ListUsersAsync());
            Assert.Equal(winner.Name, user.Name);
            Assert.Equal(Role.Admin, user.Role);
            // Only the winner has a password and an audit record of being added.
            Assert.Single(await state.Store.ReadAllAsync(), e => e.Action == "user.add");
            Assert.NotNull(await state.Store.FindPasswordAsync(winner.Name));
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Init_admin_on_a_state_with_users_changes_nothing()
    {
        await using var state = await IdentityState.OpenAsync();
        await Bootstrap.InitAdminAsync(state.Store, "alice", Password, state.Clock);
        var before = (await state.Store.ReadAllAsync()).Count;

        var refused = await Assert.ThrowsAsync<InputException>(() => Bootstrap.InitAdminAsync(state.Store, "mallory", Password, state.Clock));

        Assert.Equal("cannot create mallory as the first admin: this state already has 1 user(s) (alice); an admin adds users with 'stageproof user add'", refused.Message);
        Assert.Equal("alice", Assert.Single(await state.Store.ListUsersAsync()).Name);
        Assert.Null(await state.Store.FindPasswordAsync("mallory"));
        Assert.Equal(before, (await state.Store.ReadAllAsync()).Count);
    }
}
