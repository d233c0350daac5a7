using System.Diagnostics;
using System.Text.Json;
using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>A lab of its own (127.0.80.x, 90.x, 100.x; ssh port 2382) for applying and rolling back.</summary>
public sealed class ApplyLabFixture() : SharedLab(80, 2382);

/// <summary>Patch sets applied to real lab hosts over SSH with apt and dpkg, and rolled back for real.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Trait("Category", "Lab")] // needs a whole lab: left out of the fast tier (dotnet test --filter "Category!=Lab")
public class LabApplyTests(ApplyLabFixture lab) : IClassFixture<ApplyLabFixture>
{
    private const string Upgrade = """
        id: ACME-2026-11-01
        title: acme-mail 1.1 security update
        ticket: INC-4711
        reason: mailbox endpoint answers for another user's token
        root_cause: token owner not compared with the mailbox owner
        severity: critical
        author: alice
        packages:
          - { name: acme-mail, version: "1.1-1" }
        commands:
          post: [{ run: "service acme-mail restart", timeout: 60 }]
        """;

    private string Dir => lab.Directory;

    private Task<CliRun> Cli(params string[] args) => CliRun.InAsync(Dir, args);

    private Task<string> FreezeAsync(string name, string yaml) => LabCli.FreezeAsync(Dir, Path.Combine(Dir, name), yaml);

    private Task<string> OnHostAsync(string host, RemoteCommand command) => LabCli.OnHostAsync(Dir, host, command);

    private Task<string> VersionOnAsync(string host) =>
        OnHostAsync(host, RemoteCommand.Exec("dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", "acme-mail"));

    private static JsonElement Host(CliRun run, string name) =>
        run.Json.GetProperty("run").GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("host").GetString() == name);

    private static string Status(CliRun run, string name) => Host(run, name).GetProperty("status").GetString()!;

    [SkippableFact]
    public async Task Upgrade_by_digest_then_rollback_without_the_old_version_on_the_mirror_restores_the_recorded_state_and_reapply_is_a_no_op()
    {
        lab.Require();
        var digest = await FreezeAsync("upgrade.yaml", Upgrade);
        Assert.Equal("1.0-1 ii", await VersionOnAsync("staging-app-1"));

        var apply = await Cli("--json", "apply", digest[..12], "--env", "staging");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Equal("applied", Status(apply, "staging-app-1"));
        Assert.Equal("1.1-1 ii", await VersionOnAsync("staging-app-1"));
        var point = apply.Json.GetProperty("rollbackPoint");
        var kept = point.GetProperty("hosts")[0].GetProperty("packages")[0];
        Assert.Equal("1.0-1", kept.GetProperty("oldVersion").GetString());
        Assert.Contains(point.GetProperty("databases").EnumerateArray(), d => d.GetProperty("database").GetString() == "mail");

        var again = await Cli("--json", "apply", digest, "--env", "staging");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal("alreadyApplied", Status(again, "staging-app-1"));

        // The mirror forgets 1.0: the rollback must not need it.
        var saved = Path.Combine(Dir, "acme-mail_1.0-1.deb.saved");
        File.Copy(Path.Combine(Dir, "repo", "acme-mail_1.0-1_amd64.deb"), saved, overwrite: true);
        await lab.Lab.RepoRemoveAsync("acme-mail", "1.0-1");
        try
        {
            Assert.Contains("not found", await OnHostAsync("staging-app-1",
                RemoteCommand.Script("try-old", "cd /tmp && apt-get download acme-mail=1.0-1 2>&1 || true")), StringComparison.Ordinal);

            var rollback = await Cli("--json", "rollback", "--env", "staging");
            Assert.True(rollback.ExitCode == 0, rollback.ToString());
            var host = Host(rollback, "staging-app-1");
            Assert.Equal("rolledBack", host.GetProperty("status").GetString());
            Assert.Equal(0, host.GetProperty("residue").GetArrayLength());
            Assert.Equal("1.0-1 ii", await VersionOnAsync("staging-app-1"));
            var restore = rollback.Json.GetProperty("run").GetProperty("restores")[0];
            Assert.False(restore.GetProperty("needed").GetBoolean());
            Assert.False(restore.GetProperty("restored").GetBoolean());
        }
        finally
        {
            await lab.Lab.RepoAddAsync(saved);
        }

        // 1.1 again: applied the first time, a no-op the second.
        var reapply = await Cli("--json", "apply", digest, "--env", "staging");
        Assert.Equal("applied", Status(reapply, "staging-app-1"));
        var noop = await Cli("--json", "apply", digest, "--env", "staging");
        Assert.Equal("alreadyApplied", Status(noop, "staging-app-1"));
        var rollbackAgain = await Cli("--json", "rollback", "--env", "staging");
        Assert.True(rollbackAgain.ExitCode == 0, rollbackAgain.ToString());

        var audit = await Cli("--json", "audit", "verify");
        Assert.True(audit.ExitCode == 0, audit.ToString());
    }

    [SkippableFact]
    public async Task A_package_whose_postinst_fails_mid_upgrade_is_rolled_back_on_its_own()
    {
        lab.Require();
        var bad = await BuildBadPackageAsync();
        await lab.Lab.RepoAddAsync(bad);
        var digest = await FreezeAsync("bad.yaml", Upgrade.Replace("1.1-1", "1.2-1", StringComparison.Ordinal).Replace("ACME-2026-11-01", "ACME-BAD-1", StringComparison.Ordinal));

        var apply = await Cli("--json", "apply", digest, "--env", "qa");

        Assert.True(apply.ExitCode == ExitCodes.Finding, apply.ToString());
        var host = Host(apply, "qa-app-1");
        Assert.Equal("rolledBack", host.GetProperty("status").GetString());
        Assert.Contains("packages", host.GetProperty("message").GetString());
        Assert.Equal("1.0-1 ii", await VersionOnAsync("qa-app-1"));
        var health = await HealthAsync(lab.Up.Hosts.Single(h => h.Name == "qa-app-1").Address);
        Assert.Contains("\"status\":\"ok\"", health, StringComparison.Ordinal);
        Assert.Contains("1.0", health, StringComparison.Ordinal);

        var log = await Cli("--json", "audit", "log");
        var events = log.Json.EnumerateArray().Select(e => (e.GetProperty("action").GetString(), e.GetProperty("target").GetString(), e.GetProperty("outcome").GetString())).ToList();
        Assert.Contains(events, e => e is ("apply.host", "qa-app-1", { } o) && o.StartsWith("failed at packages", StringComparison.Ordinal));
        Assert.Contains(events, e => e is ("rollback.host", "qa-app-1", { } o) && o.StartsWith("rolled back", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task An_edited_set_has_another_digest_the_old_digest_applies_the_old_content_and_an_applied_migration_may_not_change()
    {
        lab.Require();
        var sql = Path.Combine(Dir, "V1__audit_note.sql");
        await File.WriteAllTextAsync(sql, "CREATE TABLE audit_note (id serial PRIMARY KEY, note text NOT NULL);\n");
        const string set = """
            id: NOTE-1
            title: release note and audit table
            reason: operators asked for it
            severity: low
            author: bob
            files:
              - { path: /etc/acme-mail/release-note.txt, content: "first wording\n", mode: "0644" }
            migrations:
              - { database: mail, files: [V1__audit_note.sql] }
            """;
        var first = await FreezeAsync("note.yaml", set);
        var second = await FreezeAsync("note.yaml", set.Replace("first wording", "second wording", StringComparison.Ordinal));
        Assert.NotEqual(first, second);

        var apply = await Cli("--json", "apply", first[..10], "--env", "prod");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        foreach (var host in new[] { "prod-app-1", "prod-app-2" })
        {
            Assert.Equal("first wording", await OnHostAsync(host, RemoteCommand.Exec("cat", "/etc/acme-mail/release-note.txt")));
        }
        var config = ConfigLoader.Load(Path.Combine(Dir, "stageproof.yaml"));
        await using (var db = new NpgsqlConnection(config.Environments["prod"].Databases["mail"]))
        {
            await db.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM stageproof_schema_history WHERE script = 'V1__audit_note.sql' AND success", db);
            Assert.Equal(1L, await cmd.ExecuteScalarAsync());
        }

        // The migration file changes after it was applied: refused, naming the file and both checksums, nothing touched.
        await File.WriteAllTextAsync(sql, "CREATE TABLE audit_note (id serial PRIMARY KEY, note text);\n");
        var edited = await FreezeAsync("note.yaml", set);
        var refused = await Cli("apply", edited, "--env", "prod");
        Assert.True(refused.ExitCode == ExitCodes.BadInput, refused.ToString());
        Assert.Contains("V1__audit_note.sql", refused.Stderr, StringComparison.Ordinal);
        var oldSum = Core.Patches.PatchSetFreezer.Sha256("CREATE TABLE audit_note (id serial PRIMARY KEY, note text NOT NULL);\n");
        var newSum = Core.Patches.PatchSetFreezer.Sha256("CREATE TABLE audit_note (id serial PRIMARY KEY, note text);\n");
        Assert.Contains(oldSum[..12], refused.Stderr, StringComparison.Ordinal);
        Assert.Contains(newSum[..12], refused.Stderr, StringComparison.Ordinal);
        Assert.Equal("first wording", await OnHostAsync("prod-app-1", RemoteCommand.Exec("cat", "/etc/acme-mail/release-note.txt")));
    }

    [SkippableFact]
    public async Task Scan_drafts_what_prod_lacks_with_exact_candidate_versions_and_the_draft_freezes()
    {
        lab.Require();
        var file = Path.Combine(Dir, "prod-scan.yaml");
        var scan = await Cli("--json", "scan", "prod", "-o", file);
        Assert.True(scan.ExitCode == 0, scan.ToString());
        var acme = scan.Json.GetProperty("upgrades").EnumerateArray().Single(u => u.GetProperty("name").GetString() == "acme-mail");
        // The lab repository offers 1.1-1 (and 1.2-1 once the postinst test has published it): the newest is the candidate.
        Assert.Matches(@"^1\.[12]-1$", acme.GetProperty("candidateVersion").GetString());
        Assert.Equal(["prod-app-1", "prod-app-2"], acme.GetProperty("hosts").EnumerateArray().Select(h => h.GetString()));
        var draft = await File.ReadAllTextAsync(file);
        Assert.Contains("name: acme-mail, version: \"" + acme.GetProperty("candidateVersion").GetString() + "\"", draft, StringComparison.Ordinal);
        var freeze = await Cli("--json", "patch", "freeze", file);
        Assert.True(freeze.ExitCode == 0, freeze.ToString());
        Assert.Equal("1.0-1 ii", await VersionOnAsync("prod-app-1"));
    }

    [SkippableFact]
    public async Task Hostile_values_in_a_patch_set_are_rejected_before_any_host_is_touched()
    {
        lab.Require();
        var before = (await Cli("--json", "audit", "log")).Json.GetArrayLength();
        var cases = new[]
        {
            Upgrade.Replace("name: acme-mail", "name: \"acme-mail;touch /tmp/pwned\"", StringComparison.Ordinal),
            Upgrade + "files:\n  - { path: /etc/acme-mail/../../tmp/pwned, content: x }\n",
            Upgrade.Replace("\"1.1-1\"", "\"1.1-1\\nreboot\"", StringComparison.Ordinal),
        };
        foreach (var yaml in cases)
        {
            var file = Path.Combine(Dir, "hostile.yaml");
            await File.WriteAllTextAsync(file, yaml);
            var run = await Cli("patch", "freeze", file);
            Assert.True(run.ExitCode == ExitCodes.BadInput, run.ToString());
            Assert.Contains("hostile.yaml:", run.Stderr, StringComparison.Ordinal);
        }
        var after = (await Cli("--json", "audit", "log")).Json;
        Assert.Equal(before, after.GetArrayLength());
        Assert.Equal("", await OnHostAsync("prod-app-1", RemoteCommand.Script("pwned", "ls /tmp/pwned 2>/dev/null; true")));
    }

    /// <summary>acme-mail's /health on a lab host, retried for up to 20 s while the service restarts.</summary>
    private static async Task<string> HealthAsync(string address)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        var last = "";
        for (var i = 0; i < 20; i++)
        {
            try
            {
                last = await http.GetStringAsync(new Uri($"http://{address}:8080/health"));
                if (last.Contains("\"status\":\"ok\"", StringComparison.Ordinal))
                {
                    return last;
                }
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }
            catch (TaskCanceledException e)
            {
                last = e.Message;
            }
            await Task.Delay(1000);
        }
        return last;
    }

    /// <summary>acme-mail 1.1 repackaged as 1.2-1 with a postinst that fails after the files are unpacked.</summary>
    private async Task<string> BuildBadPackageAsync()
    {
        var work = Path.Combine(Dir, "bad-deb");
        if (Directory.Exists(work))
        {
            Directory.Delete(work, recursive: true);
        }
        await ExecAsync("dpkg-deb", "-R", Path.Combine(Dir, "repo", "acme-mail_1.1-1_amd64.deb"), work);
        var control = Path.Combine(work, "DEBIAN", "control");
        await File.WriteAllTextAsync(control, (await File.ReadAllTextAsync(control)).Replace("Version: 1.1-1", "Version: 1.2-1", StringComparison.Ordinal));
        var postinst = Path.Combine(work, "DEBIAN", "postinst");
        await File.WriteAllTextAsync(postinst, "#!/bin/sh\necho 'acme-mail: configure failed (injected fault)' >&2\nexit 1\n");
        File.SetUnixFileMode(postinst, (UnixFileMode)0b111_101_101);
        var deb = Path.Combine(Dir, "acme-mail_1.2-1_amd64.deb");
        await ExecAsync("dpkg-deb", "--root-owner-group", "-Zgzip", "-b", work, deb);
        return deb;
    }

    private static async Task ExecAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var err = await p.StandardError.ReadToEndAsync();
        await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)}: {err}");
    }
}
