using Stageproof.Core.Lifecycle;

namespace Stageproof.Core.Tests.Lifecycle;

/// <summary>A token narrows its user: what the access policy judges is the intersection of the two, and a scope wider
/// than the user is named.</summary>
public sealed class TokenScopeTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 3, 0, 0, TimeSpan.Zero);

    private static ApiToken Token(Role? role = null, params string[]? environments) =>
        ApiToken.Create("carol", "admin", Now, null, role, environments is { Length: > 0 } ? environments : null).Token;

    [Theory]
    [InlineData(Role.Viewer, Role.Operator, true)]
    [InlineData(Role.Viewer, Role.Approver, true)]
    [InlineData(Role.Operator, Role.Operator, true)]
    [InlineData(Role.Approver, Role.Admin, true)]
    [InlineData(Role.Admin, Role.Admin, true)]
    [InlineData(Role.Operator, Role.Approver, false)]
    [InlineData(Role.Approver, Role.Operator, false)]
    [InlineData(Role.Admin, Role.Approver, false)]
    [InlineData(Role.Operator, Role.Viewer, false)]
    public void A_role_is_within_another_only_below_it_or_equal(Role narrower, Role wider, bool within) =>
        Assert.Equal(within, AccessPolicy.RoleWithin(narrower, wider));

    [Fact]
    public void An_unscoped_token_is_its_user()
    {
        var user = new User { Name = "carol", Role = Role.Approver, Environments = ["staging", "prod"] };
        var acting = AccessPolicy.Within(user, Token());
        Assert.Equal(Role.Approver, acting.Role);
        Assert.Equal(["staging", "prod"], acting.Environments);
    }

    [Fact]
    public void A_viewer_token_of_an_approver_may_read_but_not_approve()
    {
        var user = new User { Name = "carol", Role = Role.Approver };
        var acting = AccessPolicy.Within(user, Token(Role.Viewer));
        Assert.True(AccessPolicy.MayRead(acting, "prod"));
        Assert.False(AccessPolicy.MayApprove(acting, "prod"));
    }

    [Fact]
    public void A_token_scoped_to_staging_covers_staging_only()
    {
        var user = new User { Name = "carol", Role = Role.Approver };
        var acting = AccessPolicy.Within(user, Token(null, "staging"));
        Assert.True(AccessPolicy.MayApprove(acting, "staging"));
        Assert.False(AccessPolicy.MayApprove(acting, "prod"));
    }

    [Fact]
    public void A_user_demoted_or_narrowed_since_keeps_only_what_both_grant()
    {
        var token = Token(Role.Approver, "staging", "prod");
        // Once an approver of everything; now an operator of staging only.
        var now = new User { Name = "carol", Role = Role.Operator, Environments = ["staging", "qa"] };
        var acting = AccessPolicy.Within(now, token);
        Assert.Equal(Role.Viewer, acting.Role);          // operator and approver share only viewing
        Assert.Equal(["staging"], acting.Environments);
        Assert.False(AccessPolicy.MayPromote(acting, "staging", null));

        var demoted = AccessPolicy.Within(new User { Name = "carol", Role = Role.Viewer }, Token(Role.Admin));
        Assert.Equal(Role.Viewer, demoted.Role);
        var removedFromAll = AccessPolicy.Within(new User { Name = "carol", Role = Role.Admin, Environments = ["qa"] }, Token(null, "prod"));
        Assert.Empty(removedFromAll.Environments);
        Assert.False(AccessPolicy.MayRead(removedFromAll, "prod"));
    }

    [Fact]
    public void A_scope_beyond_its_user_is_named()
    {
        var olga = new User { Name = "olga", Role = Role.Operator, Environments = ["staging"] };
        Assert.Equal("role", AccessPolicy.ScopeBeyond(olga, Role.Approver, null));
        Assert.Equal("environment prod", AccessPolicy.ScopeBeyond(olga, null, ["staging", "prod"]));
        Assert.Equal("environment *", AccessPolicy.ScopeBeyond(olga, null, ["*"]));
        Assert.Null(AccessPolicy.ScopeBeyond(olga, Role.Operator, ["staging"]));
        Assert.Null(AccessPolicy.ScopeBeyond(olga, Role.Viewer, null));
        var admin = new User { Name = "root", Role = Role.Admin };
        Assert.Null(AccessPolicy.ScopeBeyond(admin, Role.Approver, ["*"]));
    }

    [Fact]
    public void The_seal_covers_a_scope_and_is_unchanged_for_tokens_without_one()
    {
        var plain = Token();
        // Exactly as sealed before scopes existed, so those tokens keep verifying.
        Assert.Equal(string.Join('\n', "token", plain.Id, "carol", plain.SecretHash, Now.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture), "", ""),
            plain.SealText);
        var scoped = plain with { Role = Role.Viewer, Environments = ["staging"] };
        Assert.NotEqual(plain.SealText, scoped.SealText);
        Assert.NotEqual(scoped.SealText, (scoped with { Role = Role.Approver }).SealText);
        Assert.NotEqual(scoped.SealText, (scoped with { Environments = ["prod"] }).SealText);
    }
}
