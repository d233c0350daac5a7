using Stageproof.Core;

namespace Stageproof.Cli.Tests;

/// <summary>A token may be narrower than its user (--role, --env): every role decision judges the user as the token
/// lets it act, a scope wider than the user is refused when the token is made, and the scope is sealed with the token.</summary>
public class ScopedTokenCliTests
{
    private const string Config = """
        hosts:
          web-1: { transport: local }
          stage-1: { transport: local }
        environments:
          staging: { hosts: [stage-1] }
          prod: { hosts: [web-1] }
        lifecycle:
          stages:
            - environment: staging
              approvals: 1
            - environment: prod
              approvals: 1
        """;

    private const string Set = """
        id: SCOPED-1
        title: a set to approve
        reason: token scopes
        severity: low
        author: alice
        commands:
          post: ["true"]
        """;

    private static readonly string Me = Environment.UserName;

    /// <summary>The OS user is the admin; carol an approver of every environment.</summary>
    private static async Task<string> PeopleAsync(Scratch scratch)
    {
        scratch.Write("stageproof.yaml", Config);
        scratch.Write("set.yaml", Set);
        foreach (var (name, role) in new[] { (Me, "admin"), ("carol", "approver") })
        {
            var add = await CliRun.InAsync(scratch.Dir, "user", "add", name, "--role", role);
            Assert.True(add.ExitCode == ExitCodes.Ok, add.ToString());
        }
        var freeze = await CliRun.InAsync(scratch.Dir, "--json", "patch", "freeze", Path.Combine(scratch.Dir, "set.yaml"));
        Assert.True(freeze.ExitCode == ExitCodes.Ok, freeze.ToString());
        return freeze.Json.GetProperty("digest").GetString()![..12];
    }

    private static async Task<string> TokenAsync(Scratch scratch, string user, string file, params string[] scope)
    {
        var path = Path.Combine(scratch.Dir, file);
        var create = await CliRun.InAsync(scratch.Dir, ["token", "create", user, "-o", path, .. scope]);
        Assert.True(create.ExitCode == ExitCodes.Ok, create.ToString());
        return path;
    }

    [Fact]
    public async Task An_approvers_viewer_token_cannot_approve()
    {
        using var scratch = new Scratch();
        var digest = await PeopleAsync(scratch);
        var viewer = await TokenAsync(scratch, "carol", "carol-viewer.token", "--role", "viewer");

        var approve = await CliRun.InAsync(scratch.Dir, "--token-file", viewer, "approve", digest, "--env", "staging");
        Assert.True(approve.ExitCode == ExitCodes.Finding, approve.ToString());
        Assert.Contains("refused by rule role", approve.Stderr, StringComparison.Ordinal);
        Assert.Contains("carol (viewer", approve.Stderr, StringComparison.Ordinal);
        var dryRun = await CliRun.InAsync(scratch.Dir, "promote", digest, "--to", "staging", "--dry-run");
        Assert.Contains("0 of 1 approval(s)", dryRun.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_approvers_token_scoped_to_staging_approves_for_staging_but_not_for_prod()
    {
        using var scratch = new Scratch();
        var digest = await PeopleAsync(scratch);
        var staging = await TokenAsync(scratch, "carol", "carol-staging.token", "--env", "staging");

        var prod = await CliRun.InAsync(scratch.Dir, "--token-file", staging, "approve", digest, "--env", "prod");
        Assert.True(prod.ExitCode == ExitCodes.Finding, prod.ToString());
        Assert.Contains("refused by rule role", prod.Stderr, StringComparison.Ordinal);
        Assert.Contains("may not approve for prod", prod.Stderr, StringComparison.Ordinal);

        var ok = await CliRun.InAsync(scratch.Dir, "--token-file", staging, "approve", digest, "--env", "staging");
        Assert.True(ok.ExitCode == ExitCodes.Ok, ok.ToString());

        var list = await CliRun.InAsync(scratch.Dir, "--json", "token", "list");
        var token = Assert.Single(list.Json.EnumerateArray());
        Assert.Equal("staging", Assert.Single(token.GetProperty("environments").EnumerateArray()).GetString());
        Assert.False(token.TryGetProperty("role", out var role) && role.ValueKind != System.Text.Json.JsonValueKind.Null);
        var table = await CliRun.InAsync(scratch.Dir, "token", "list");
        Assert.Contains("on staging", table.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_admins_operator_token_cannot_manage_users_nor_mint_itself_a_wider_token()
    {
        using var scratch = new Scratch();
        await PeopleAsync(scratch);
        var operatorToken = await TokenAsync(scratch, Me, "me-operator.token", "--role", "operator");

        var add = await CliRun.InAsync(scratch.Dir, "--token-file", operatorToken, "user", "add", "mallory", "--role", "admin");
        Assert.True(add.ExitCode == ExitCodes.Finding, add.ToString());
        Assert.Contains("refused by rule role", add.Stderr, StringComparison.Ordinal);
        Assert.Contains($"only an admin manages users ({Me} is operator)", add.Stderr, StringComparison.Ordinal);
        var users = await CliRun.InAsync(scratch.Dir, "--json", "user", "list");
        Assert.DoesNotContain(users.Json.EnumerateArray(), u => u.GetProperty("name").GetString() == "mallory");

        var wider = await CliRun.InAsync(scratch.Dir, "--token-file", operatorToken, "token", "create", Me, "--role", "admin");
        Assert.True(wider.ExitCode == ExitCodes.BadInput, wider.ToString());
        Assert.Contains("--role: admin is beyond", wider.Stderr, StringComparison.Ordinal);
        // Without a scope, a token made through a scoped one inherits that scope.
        var inherited = await CliRun.InAsync(scratch.Dir, "--token-file", operatorToken, "--json", "token", "create", Me);
        Assert.True(inherited.ExitCode == ExitCodes.Ok, inherited.ToString());
        Assert.Equal("operator", inherited.Json.GetProperty("role").GetString());
    }

    [Fact]
    public async Task A_token_wider_than_its_user_is_refused_when_created()
    {
        using var scratch = new Scratch();
        await PeopleAsync(scratch);
        var olga = await CliRun.InAsync(scratch.Dir, "user", "add", "olga", "--role", "operator", "--env", "staging");
        Assert.True(olga.ExitCode == ExitCodes.Ok, olga.ToString());

        var role = await CliRun.InAsync(scratch.Dir, "token", "create", "olga", "--role", "approver");
        Assert.True(role.ExitCode == ExitCodes.BadInput, role.ToString());
        Assert.Contains("--role: approver is beyond olga, who may act as operator", role.Stderr, StringComparison.Ordinal);

        var env = await CliRun.InAsync(scratch.Dir, "token", "create", "olga", "--env", "staging", "--env", "prod");
        Assert.True(env.ExitCode == ExitCodes.BadInput, env.ToString());
        Assert.Contains("--env: prod is beyond olga, who may act on staging", env.Stderr, StringComparison.Ordinal);

        var unknown = await CliRun.InAsync(scratch.Dir, "token", "create", "olga", "--env", "qa");
        Assert.True(unknown.ExitCode == ExitCodes.BadInput, unknown.ToString());
        Assert.Contains("--env: ", unknown.Stderr, StringComparison.Ordinal);
        Assert.Contains("defines no environment 'qa'", unknown.Stderr, StringComparison.Ordinal);

        var list = await CliRun.InAsync(scratch.Dir, "--json", "token", "list");
        Assert.Empty(list.Json.EnumerateArray());
        var audit = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.DoesNotContain(audit.Json.EnumerateArray(), e => e.GetProperty("action").GetString() == "token.create");

        // Equal to the user, or narrower, is fine.
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "token", "create", "olga", "--role", "operator", "--env", "staging")).ExitCode);
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "token", "create", "olga", "--role", "viewer")).ExitCode);
    }

    [Fact]
    public async Task A_scope_edited_in_the_store_no_longer_verifies()
    {
        using var scratch = new Scratch();
        var digest = await PeopleAsync(scratch);
        var viewer = await TokenAsync(scratch, "carol", "carol-viewer.token", "--role", "viewer");

        // Someone with write access to the database widens the token to what carol is.
        Assert.Equal(1, await scratch.ExecuteSqlAsync("UPDATE api_tokens SET json = json_set(json, '$.role', 'approver') WHERE user_name = 'carol'"));
        var approve = await CliRun.InAsync(scratch.Dir, "--token-file", viewer, "approve", digest, "--env", "staging");
        Assert.True(approve.ExitCode == ExitCodes.BadInput, approve.ToString());
        Assert.Contains("does not verify against the audit key", approve.Stderr, StringComparison.Ordinal);

        // Removing the scope altogether is caught the same way.
        Assert.Equal(1, await scratch.ExecuteSqlAsync("UPDATE api_tokens SET json = json_remove(json, '$.role') WHERE user_name = 'carol'"));
        var unscoped = await CliRun.InAsync(scratch.Dir, "--token-file", viewer, "approve", digest, "--env", "staging");
        Assert.True(unscoped.ExitCode == ExitCodes.BadInput, unscoped.ToString());
        Assert.Contains("does not verify against the audit key", unscoped.Stderr, StringComparison.Ordinal);
        var dryRun = await CliRun.InAsync(scratch.Dir, "promote", digest, "--to", "staging", "--dry-run");
        Assert.Contains("0 of 1 approval(s)", dryRun.Stderr, StringComparison.Ordinal);
    }
}
