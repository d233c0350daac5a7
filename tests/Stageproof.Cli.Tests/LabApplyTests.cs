using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>A lab of its own (127.0.80.x, 90.x, 100.x; ssh port 2382) for applying and rolling back, and before them
/// for drift between real hosts (a lab of its own for that one test cost a whole lab's up and down).</summary>
public sealed class ApplyLabFixture() : SharedLab(80, 2382);

/// <summary>Patch sets applied to real lab hosts over SSH with apt and dpkg, and rolled back for real; first, drift between
/// real hosts reached over SSH: exactly the differences made, nothing else.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[TestCaseOrderer(RunOrderer.TypeName, RunOrderer.AssemblyName)] // drift first, while prod and staging are as they came up
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

    private const string WorkerScript = """
        #!/bin/sh
        # A service that listens on nothing: its state is the only thing that can differ.
        PIDFILE=/run/report-worker.pid
        case "$1" in
          start) start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE --exec /bin/sleep -- 100000 ;;
          stop) start-stop-daemon --stop --quiet --oknodo --remove-pidfile --pidfile $PIDFILE ;;
          status) start-stop-daemon --status --pidfile $PIDFILE ;;
          *) echo "usage: $0 start|stop|status" >&2; exit 3 ;;
        esac
        """;

    private static async Task RunAsync(ITransport host, RemoteCommand command, byte[]? input = null)
    {
        var result = await host.RunAsync(command, new CommandOptions { StandardInput = input, Timeout = TimeSpan.FromMinutes(3) });
        Assert.True(result.Succeeded, $"{host.HostName}: {command} exited {result.ExitCode}: {result.StandardError}");
    }

    private string Dir => lab.Directory;

    private Task<CliRun> Cli(params string[] args) => CliRun.InAsync(Dir, args);

    private Task<string> FreezeAsync(string name, string yaml) => LabCli.FreezeAsync(Dir, Path.Combine(Dir, name), yaml);

    private Task<string> OnHostAsync(string host, RemoteCommand command) => LabCli.OnHostAsync(Dir, host, command);

    private Task<string> VersionOnAsync(string host) =>
        OnHostAsync(host, RemoteCommand.Exec("dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", "acme-mail"));

    private static JsonElement Host(CliRun run, string name) =>
        run.Json.GetProperty("run").GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("host").GetString() == name);

    private static string Status(CliRun run, string name) => Host(run, name).GetProperty("status").GetString()!;

    [SkippableFact, RunOrder(1)]
    public async Task Drift_of_staging_against_prod_names_one_package_version_one_config_line_and_one_service_state_and_nothing_else()
    {
        lab.Require();
        var config = ConfigLoader.Load(Path.Combine(lab.Directory, "stageproof.yaml"));
        var factory = new TransportFactory(config.Ssh, HostKeyPolicy.Strict);
        try
        {
            await DriftOfThreeChangesAsync(config, factory);
        }
        finally
        {
            // This class's other tests start from the lab as it came up: the worker gone, staging back at 1.0 as shipped.
            foreach (var host in config.HostsOf("prod").Concat(config.HostsOf("staging")))
            {
                await using var t = factory.Create(host);
                await RunAsync(t, RemoteCommand.Script("remove-worker",
                    "[ ! -x /etc/init.d/report-worker ] || /etc/init.d/report-worker stop; rm -f /etc/init.d/report-worker"));
            }
            await using var staging = factory.Create(config.HostsOf("staging")[0]);
            await RunAsync(staging, RemoteCommand.Exec("sed", "-i", "/^log.level = debug$/d", "/etc/acme-mail/acme-mail.conf"));
            await RunAsync(staging, RemoteCommand.Exec("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--allow-downgrades",
                "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "acme-mail=1.0-1"));
        }
    }

    private async Task DriftOfThreeChangesAsync(StageproofConfig config, TransportFactory factory)
    {
        foreach (var host in config.HostsOf("prod").Concat(config.HostsOf("staging")))
        {
            await using var t = factory.Create(host);
            await RunAsync(t, RemoteCommand.Script("install-worker", "cat > /etc/init.d/report-worker && chmod 755 /etc/init.d/report-worker"),
                Encoding.UTF8.GetBytes(WorkerScript.Replace("\r", "", StringComparison.Ordinal) + "\n"));
            if (host.Name.StartsWith("prod", StringComparison.Ordinal))
            {
                await RunAsync(t, RemoteCommand.Exec("/etc/init.d/report-worker", "start"));
            }
        }
        await using (var staging = factory.Create(config.HostsOf("staging")[0]))
        {
            await RunAsync(staging, RemoteCommand.Exec("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
                "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "acme-mail=1.1-1"));
            await RunAsync(staging, RemoteCommand.Script("tune", "printf 'log.level = debug\\n' >> /etc/acme-mail/acme-mail.conf"));
        }

        var run = await CliRun.WithConfigAsync(Dir, "stageproof.yaml", "--json", "drift", "prod", "staging");

        // 6 of several hundred items keep fidelity above 0.98, but a high-severity difference fails (fail_on: high).
        Assert.True(run.ExitCode == ExitCodes.Finding, run.ToString());
        Assert.False(run.Json.GetProperty("fidelity").GetDouble() < 0.98);
        Assert.Equal("high", run.Json.GetProperty("maxSeverity").GetString());
        var drift = run.Json.GetProperty("drift");
        Assert.Equal(0, drift.GetProperty("items").GetArrayLength());
        var pairs = drift.GetProperty("hosts").EnumerateArray().ToList();
        Assert.Equal(2, pairs.Count);
        foreach (var pair in pairs)
        {
            var items = pair.GetProperty("drift").GetProperty("items").EnumerateArray()
                .Select(i => (i.GetProperty("category").GetString(), i.GetProperty("key").GetString())).Order().ToList();
            Assert.Equal([("config-content", "/etc/acme-mail/acme-mail.conf"), ("package-version", "acme-mail"), ("service-state", "service:report-worker")], items);
            var diff = pair.GetProperty("drift").GetProperty("items").EnumerateArray().Single(i => i.GetProperty("category").GetString() == "config-content").GetProperty("diff").GetString();
            Assert.Contains("+log.level = debug", diff);
        }
        foreach (var db in drift.GetProperty("databases").EnumerateArray())
        {
            Assert.Equal(0, db.GetProperty("drift").GetProperty("items").GetArrayLength());
        }
        var compared = drift.GetProperty("compared").GetInt32();
        var matching = drift.GetProperty("matching").GetInt32();
        Assert.Equal(6, compared - matching);
        Assert.Equal((double)matching / compared, run.Json.GetProperty("fidelity").GetDouble(), 9);
        var packages = Family(drift, "package");
        Assert.Equal(2, packages.Compared - packages.Matching);

        // Ignore rules: the package and the worker no longer count, and the figures follow.
        var yaml = await File.ReadAllTextAsync(Path.Combine(Dir, "stageproof.yaml"));
        var ignoring = yaml.Replace("ignore: [", "ignore: [\"package:acme-*\", \"service:report-*\", ", StringComparison.Ordinal);
        Assert.NotEqual(yaml, ignoring);
        await File.WriteAllTextAsync(Path.Combine(Dir, "ignoring.yaml"), ignoring);
        var ignored = await CliRun.WithConfigAsync(Dir, "ignoring.yaml", "--json", "drift", "prod", "staging");
        Assert.True(ignored.ExitCode == ExitCodes.Finding, ignored.ToString());
        var after = ignored.Json.GetProperty("drift");
        Assert.All(after.GetProperty("hosts").EnumerateArray(), pair =>
            Assert.Equal(["config-content"], pair.GetProperty("drift").GetProperty("items").EnumerateArray().Select(i => i.GetProperty("category").GetString())));
        Assert.Equal(2, after.GetProperty("compared").GetInt32() - after.GetProperty("matching").GetInt32());
        var ignoredPackages = Family(after, "package");
        Assert.Equal(ignoredPackages.Compared, ignoredPackages.Matching);
        Assert.Equal(packages.Compared - 2, ignoredPackages.Compared);

        // With only the figure as the rule, the same drift passes.
        await File.WriteAllTextAsync(Path.Combine(Dir, "figure-only.yaml"), ignoring.Replace("fail_on: high", "fail_on: none", StringComparison.Ordinal));
        var figureOnly = await CliRun.WithConfigAsync(Dir, "figure-only.yaml", "drift", "prod", "staging");
        Assert.True(figureOnly.ExitCode == ExitCodes.Ok, figureOnly.ToString());
    }

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

    private static (int Compared, int Matching) Family(JsonElement drift, string family)
    {
        var f = drift.GetProperty("families").EnumerateArray().Single(x => x.GetProperty("family").GetString() == family);
        return (f.GetProperty("compared").GetInt32(), f.GetProperty("matching").GetInt32());
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
