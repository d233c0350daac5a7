using Stageproof.Core;

namespace Stageproof.Cli.Tests;

/// <summary>Four eyes does not rest on a set's self-declared author (whoever froze it is its author too), nor on a
/// typed name: once Stageproof has users, people act through their API tokens.</summary>
public class FourEyesCliTests
{
    private const string Config = """
        hosts:
          web-1: { transport: local }
        environments:
          prod: { hosts: [web-1] }
        lifecycle:
          stages:
            - environment: prod
              approvals: 1
        """;

    private const string Set = """
        id: CAROL-AS-ALICE
        title: a set whose author line names someone else
        reason: four eyes
        severity: low
        author: alice
        commands:
          post: ["true"]
        """;

    private static readonly string Me = Environment.UserName;

    /// <summary>The OS user becomes the admin and gives carol and erin (approvers) tokens in files.</summary>
    private static async Task<Dictionary<string, string>> PeopleAsync(Scratch scratch)
    {
        scratch.Write("stageproof.yaml", Config);
        scratch.Write("set.yaml", Set);
        return await CliRun.ApproversAsync(scratch);
    }

    [Fact]
    public async Task Whoever_froze_a_set_that_names_another_author_may_not_approve_it()
    {
        using var scratch = new Scratch();
        var tokens = await PeopleAsync(scratch);
        var freeze = await CliRun.InAsync(scratch.Dir, "--token-file", tokens["carol"], "--json", "patch", "freeze", Path.Combine(scratch.Dir, "set.yaml"));
        Assert.True(freeze.ExitCode == ExitCodes.Ok, freeze.ToString());
        var digest = freeze.Json.GetProperty("digest").GetString()!;

        var own = await CliRun.InAsync(scratch.Dir, "--token-file", tokens["carol"], "approve", digest[..12], "--env", "prod");
        Assert.True(own.ExitCode == ExitCodes.Finding, own.ToString());
        Assert.Contains("rule four-eyes", own.Stderr, StringComparison.Ordinal);
        Assert.Contains("carol froze CAROL-AS-ALICE (its author: says alice)", own.Stderr, StringComparison.Ordinal);

        // Someone else's approval is recorded as usual, with how the approver was known.
        var other = await CliRun.InAsync(scratch.Dir, "--token-file", tokens["erin"], "--json", "approve", digest[..12], "--env", "prod");
        Assert.True(other.ExitCode == ExitCodes.Ok, other.ToString());
        Assert.StartsWith("token:", other.Json.GetProperty("authenticatedBy").GetString(), StringComparison.Ordinal);
        var audit = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.Contains(audit.Json.EnumerateArray(), e => e.GetProperty("action").GetString() == "approve.refused" && e.GetProperty("actor").GetString() == "carol");
        Assert.Contains(audit.Json.EnumerateArray(), e => e.GetProperty("action").GetString() == "approve" && e.GetProperty("actor").GetString() == "erin");
    }

    [Fact]
    public async Task A_typed_actor_is_refused_where_a_role_decides_and_a_token_is_the_way_to_act_as_someone()
    {
        using var scratch = new Scratch();
        var tokens = await PeopleAsync(scratch);
        var freeze = await CliRun.InAsync(scratch.Dir, "--json", "patch", "freeze", Path.Combine(scratch.Dir, "set.yaml"));
        var digest = freeze.Json.GetProperty("digest").GetString()!;

        foreach (var args in new[] { new[] { "approve", digest[..12], "--env", "prod" }, ["promote", digest[..12], "--to", "prod", "--dry-run"], ["user", "add", "mallory", "--role", "admin"],
                     ["patch", "freeze", Path.Combine(scratch.Dir, "set.yaml")], ["token", "create", "carol"] })
        {
            var claimed = await CliRun.InAsync(scratch.Dir, ["--actor", "carol", .. args]);
            Assert.True(claimed.ExitCode == ExitCodes.Finding, claimed.ToString());
            Assert.Contains("rule authenticated-actor", claimed.Stderr, StringComparison.Ordinal);
            Assert.Contains($"--actor carol is a name, not a login: {Me} is running this command", claimed.Stderr, StringComparison.Ordinal);
        }
        var users = await CliRun.InAsync(scratch.Dir, "--json", "user", "list");
        Assert.DoesNotContain(users.Json.EnumerateArray(), u => u.GetProperty("name").GetString() == "mallory");
        var approvals = await CliRun.InAsync(scratch.Dir, "--json", "promote", digest[..12], "--to", "prod", "--dry-run");
        Assert.Contains("0 of 1 approval(s)", approvals.Stderr, StringComparison.Ordinal);
        var audit = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.Equal(5, audit.Json.EnumerateArray().Count(e => e.GetProperty("action").GetString() == "identity.refused" && e.GetProperty("target").GetString() == "carol"));

        // Naming yourself is not a claim; naming the token's owner beside the token is consistent; anyone else is not.
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "--actor", Me, "token", "list")).ExitCode);
        var mixed = await CliRun.InAsync(scratch.Dir, "--actor", "erin", "--token-file", tokens["carol"], "token", "list");
        Assert.True(mixed.ExitCode == ExitCodes.BadInput, mixed.ToString());
        Assert.Contains("is carol's", mixed.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tokens_that_are_revoked_expired_forged_in_the_store_or_of_a_removed_user_are_refused_in_one_line()
    {
        using var scratch = new Scratch();
        var tokens = await PeopleAsync(scratch);
        var list = await CliRun.InAsync(scratch.Dir, "--json", "token", "list");
        var carolsId = list.Json.EnumerateArray().Single(t => t.GetProperty("user").GetString() == "carol").GetProperty("id").GetString()!;

        // A token row written straight into the database, with a secret its writer knows, authenticates nobody.
        var forgedFile = Path.Combine(scratch.Dir, "forged.token");
        var forgedSecret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        await File.WriteAllTextAsync(forgedFile, $"spt_0123456789ab_{forgedSecret}");
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(forgedSecret)));
        await scratch.ExecuteSqlAsync("INSERT INTO api_tokens (id, user_name, json) VALUES ('0123456789ab', 'carol', " +
            $"'{{\"id\":\"0123456789ab\",\"user\":\"carol\",\"secret_hash\":\"{hash}\",\"created_at\":\"2026-11-30T00:00:00+00:00\",\"created_by\":\"{Me}\"}}')");
        var forged = await CliRun.InAsync(scratch.Dir, "--token-file", forgedFile, "token", "list");
        Assert.True(forged.ExitCode == ExitCodes.BadInput, forged.ToString());
        Assert.Contains("does not verify against the audit key", forged.Stderr, StringComparison.Ordinal);

        var expired = Path.Combine(scratch.Dir, "short.token");
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "token", "create", "erin", "--expires", "1m", "-o", expired)).ExitCode);
        var later = await CliRun.InAsync(scratch.Dir, TimeSpan.FromMinutes(2), "--token-file", expired, "token", "list");
        Assert.True(later.ExitCode == ExitCodes.BadInput, later.ToString());
        Assert.Contains("is expired at", later.Stderr, StringComparison.Ordinal);

        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "token", "revoke", carolsId)).ExitCode);
        var revoked = await CliRun.InAsync(scratch.Dir, "--token-file", tokens["carol"], "token", "list");
        Assert.True(revoked.ExitCode == ExitCodes.BadInput, revoked.ToString());
        Assert.Contains($"token {carolsId} of carol is revoked", revoked.Stderr, StringComparison.Ordinal);

        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "user", "remove", "erin")).ExitCode);
        var tokenOfGone = Path.Combine(scratch.Dir, "erin.token");
        var gone = await CliRun.InAsync(scratch.Dir, "--token-file", tokenOfGone, "token", "list");
        Assert.True(gone.ExitCode == ExitCodes.BadInput, gone.ToString());
        Assert.Contains("who is no longer a Stageproof user", gone.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", forged.Stderr + later.Stderr + revoked.Stderr + gone.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_approval_written_straight_into_the_store_is_not_counted_by_the_gate()
    {
        using var scratch = new Scratch();
        await PeopleAsync(scratch);
        var freeze = await CliRun.InAsync(scratch.Dir, "--json", "patch", "freeze", Path.Combine(scratch.Dir, "set.yaml"));
        var digest = freeze.Json.GetProperty("digest").GetString()!;
        await scratch.ExecuteSqlAsync("INSERT INTO approvals (id, patch_digest, environment, approver, at, json) VALUES " +
            $"('ap-forged', '{digest}', 'prod', 'erin', '2026-11-30T00:00:00.0000000Z', " +
            $"'{{\"id\":\"ap-forged\",\"patch_digest\":\"{digest}\",\"environment\":\"prod\",\"approver\":\"erin\",\"at\":\"2026-11-30T00:00:00+00:00\"}}')");

        var dryRun = await CliRun.InAsync(scratch.Dir, "promote", digest[..12], "--to", "prod", "--dry-run");
        Assert.True(dryRun.ExitCode == ExitCodes.Finding, dryRun.ToString());
        Assert.Contains("0 of 1 approval(s) for prod", dryRun.Stderr, StringComparison.Ordinal);
        Assert.Contains("approval ap-forged in erin's name does not verify against the audit key", dryRun.Stderr, StringComparison.Ordinal);
    }
}
