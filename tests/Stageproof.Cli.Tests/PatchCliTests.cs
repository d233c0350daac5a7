using Stageproof.Core;

namespace Stageproof.Cli.Tests;

public class PatchCliTests
{
    private const string Patch = """
        id: ACME-2026-11-01
        title: acme-mail 1.1 security update
        ticket: INC-4711
        reason: mailbox endpoint answers for another user's token
        root_cause: token owner not compared with the mailbox owner
        severity: critical
        cves: [CVE-2026-12345]
        author: alice
        packages:
          - { name: acme-mail, version: "1.1-1" }
        files:
          - { path: /etc/acme-mail/limits.conf, set: { max_conn: "200" } }
        migrations:
          - { database: mail, files: [sql/001_owner.sql] }
        commands:
          post: ["service acme-mail restart"]
        """;

    private static Scratch WithPatch()
    {
        var scratch = new Scratch();
        Directory.CreateDirectory(Path.Combine(scratch.Dir, "sql"));
        scratch.Write("sql/001_owner.sql", "ALTER TABLE mailbox ADD COLUMN owner text;\n");
        scratch.Write("patch.yaml", Patch);
        return scratch;
    }

    private static async Task<string> FreezeAsync(Scratch scratch)
    {
        var run = await CliRun.InAsync(scratch.Dir, "--json", "patch", "freeze", Path.Combine(scratch.Dir, "patch.yaml"));
        Assert.True(run.ExitCode == ExitCodes.Ok, run.ToString());
        Assert.Equal("ACME-2026-11-01", run.Json.GetProperty("id").GetString());
        return run.Json.GetProperty("digest").GetString()!;
    }

    [Fact]
    public async Task Freeze_show_by_prefix_and_list()
    {
        using var scratch = WithPatch();
        var plain = await CliRun.InAsync(scratch.Dir, "patch", "freeze", Path.Combine(scratch.Dir, "patch.yaml"));
        Assert.True(plain.ExitCode == ExitCodes.Ok, plain.ToString());
        var digest = plain.Stdout.Trim();
        Assert.Matches("^[0-9a-f]{64}$", digest);
        Assert.Equal(digest, await FreezeAsync(scratch)); // freezing again is idempotent

        var show = await CliRun.InAsync(scratch.Dir, "patch", "show", digest[..8]);
        Assert.True(show.ExitCode == ExitCodes.Ok, show.ToString());
        foreach (var expected in new[] { "ACME-2026-11-01", "INC-4711", "acme-mail = 1.1-1", "/etc/acme-mail/limits.conf", "max_conn = 200",
                     "sql/001_owner.sql", "service acme-mail restart", "token owner not compared", "CVE-2026-12345", digest })
        {
            Assert.Contains(expected, show.Stdout);
        }

        var json = await CliRun.InAsync(scratch.Dir, "--json", "patch", "show", digest[..8]);
        Assert.Equal(digest, json.Json.GetProperty("digest").GetString());
        var sql = json.Json.GetProperty("patchSet").GetProperty("migrations")[0].GetProperty("scripts")[0].GetProperty("sql").GetString();
        Assert.Equal("ALTER TABLE mailbox ADD COLUMN owner text;\n", sql);

        var list = await CliRun.InAsync(scratch.Dir, "--json", "patch", "list");
        Assert.True(list.ExitCode == ExitCodes.Ok, list.ToString());
        var item = Assert.Single(list.Json.EnumerateArray());
        Assert.Equal(digest, item.GetProperty("digest").GetString());
        var table = await CliRun.InAsync(scratch.Dir, "patch", "list");
        Assert.Contains(digest[..12], table.Stdout);

        var audit = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        var freezes = audit.Json.EnumerateArray().Where(e => e.GetProperty("action").GetString() == "patch.freeze").ToList();
        Assert.Equal(2, freezes.Count);
        Assert.All(freezes, e =>
        {
            Assert.Equal("ACME-2026-11-01", e.GetProperty("target").GetString());
            Assert.Equal(digest, e.GetProperty("payloadDigest").GetString());
        });
    }

    [Fact]
    public async Task An_edit_after_freezing_is_a_new_digest_and_the_old_digest_keeps_the_old_content()
    {
        using var scratch = WithPatch();
        var before = await FreezeAsync(scratch);
        scratch.Write("sql/001_owner.sql", "ALTER TABLE mailbox ADD COLUMN owner_id bigint;\n");
        var after = await FreezeAsync(scratch);
        Assert.NotEqual(before, after);

        var old = await CliRun.InAsync(scratch.Dir, "--json", "patch", "show", before);
        Assert.True(old.ExitCode == ExitCodes.Ok, old.ToString());
        var sql = old.Json.GetProperty("patchSet").GetProperty("migrations")[0].GetProperty("scripts")[0].GetProperty("sql").GetString();
        Assert.Equal("ALTER TABLE mailbox ADD COLUMN owner text;\n", sql);

        var list = await CliRun.InAsync(scratch.Dir, "--json", "patch", "list");
        Assert.Equal(2, list.Json.GetArrayLength());
    }

    [Fact]
    public async Task A_bad_patch_set_exits_2_with_file_and_line()
    {
        using var scratch = WithPatch();
        var bad = scratch.Write("bad.yaml", Patch.Replace("name: acme-mail", "name: \"acme-mail;reboot\"", StringComparison.Ordinal));
        var run = await CliRun.InAsync(scratch.Dir, "patch", "freeze", bad);
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Contains("bad.yaml:10:", run.Stderr);
        Assert.Contains("packages[0].name", run.Stderr);
        var list = await CliRun.InAsync(scratch.Dir, "--json", "patch", "list");
        Assert.Equal(0, list.Json.GetArrayLength());
    }

    [Fact]
    public async Task A_digest_prefix_shorter_than_8_characters_is_refused_by_every_verb_that_acts_and_changes_nothing()
    {
        using var scratch = WithPatch();
        scratch.Write("stageproof.yaml", "hosts:\n  web-1: { transport: local }\nenvironments:\n  prod: { hosts: [web-1], checks: s }\n" +
                                         "checks:\n  s: [{ name: up, type: tcp, port: 9 }]\n");
        var digest = await FreezeAsync(scratch);
        var auditBefore = (await CliRun.InAsync(scratch.Dir, "--json", "audit", "log")).Json.GetArrayLength();
        foreach (var verb in new[]
                 {
                     new[] { "apply", digest[..1], "--env", "prod" },
                     new[] { "apply", digest[..7], "--env", "prod" },
                     new[] { "stage", digest[..4], "--env", "prod" },
                     new[] { "approve", digest[..2], "--env", "prod" },
                     new[] { "promote", digest[..3], "--to", "prod" },
                 })
        {
            var run = await CliRun.InAsync(scratch.Dir, verb);
            Assert.True(run.ExitCode == ExitCodes.BadInput, string.Join(' ', verb) + ": " + run);
            Assert.Contains($"digest '{verb[1]}' is too short to act on: give at least 8 characters", run.Stderr, StringComparison.Ordinal);
        }
        Assert.Equal(auditBefore, (await CliRun.InAsync(scratch.Dir, "--json", "audit", "log")).Json.GetArrayLength());
        // Reading is not acting: a short unique prefix still shows the set.
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "patch", "show", digest[..1])).ExitCode);
    }

    [Theory]
    [InlineData("rollback --env prod --directory bogus", "--directory: 'bogus' is not one of auto, keep, restore")]
    [InlineData("rollback --env prod --database 1", "--database: '1' is not one of auto, keep, restore")]
    [InlineData("apply 0123456789ab --env prod --conffiles new", "--conffiles: 'new' is not one of keep, package")]
    public async Task A_choice_that_is_none_of_its_values_is_refused_naming_the_option_and_its_choices(string line, string says)
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", "hosts:\n  web-1: { transport: local }\nenvironments:\n  prod: { hosts: [web-1] }\n");

        var run = await CliRun.InAsync(scratch.Dir, line.Split(' '));

        Assert.True(run.ExitCode == ExitCodes.BadInput, run.ToString());
        Assert.Contains(says, run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Stageproof.", run.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(scratch.Dir, ".stageproof")), "nothing was written");
    }

    [Fact]
    public async Task An_unknown_digest_exits_2()
    {
        using var scratch = WithPatch();
        await FreezeAsync(scratch);
        var run = await CliRun.InAsync(scratch.Dir, "patch", "show", "zzzz");
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Contains("no frozen patch set", run.Stderr);
    }
}
