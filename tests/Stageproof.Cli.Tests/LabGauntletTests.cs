using System.Text.Json;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;
using Stageproof.Lab;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Cli.Tests;

/// <summary>A lab of its own for the gauntlet (127.0.57.x, 67.x, 77.x; ssh port 2472), with staging's control twin on
/// 127.0.87.x: every stage here judges latency against it in the same seconds.</summary>
public sealed class GauntletLabFixture() : SharedLab(57, 2472, stagingControl: true);

/// <summary>
/// The stage gate's gauntlet on a real lab: each bad update (a real .deb built here from acme-mail 1.1's package) fails
/// for its own reason and staging is left as it was; and the good update passes against its control while the machine
/// gets busy. The two latency cases that a busy machine could blur (the slow search, and the busy machine itself) run
/// here one after another, never at the same time.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Trait("Category", "Lab")] // needs a whole lab: left out of the fast tier (dotnet test --filter "Category!=Lab")
public class LabGauntletTests(GauntletLabFixture lab, ITestOutputHelper output) : StageLabTestBase(lab, output), IClassFixture<GauntletLabFixture>, IClassFixture<JudgesLatency>
{
    [SkippableFact]
    public async Task A_good_update_passes_against_its_control_while_the_machine_gets_busy_right_after_the_change()
    {
        Fixture.Require();
        var digest = await FreezeAsync("ACME-BUSY", "1.1-1");
        // The moment dpkg on staging records 1.1, two busy loops take both cores: the after-change load runs on a machine
        // far busier than the baseline's, which a before/after comparison alone reads as a regression.
        var status = Path.Combine(Dir, "hosts", "staging-app-1", "root", "var", "lib", "dpkg", "status");
        using var stop = new CancellationTokenSource();
        var burners = new List<System.Diagnostics.Process>();
        var busy = Task.Run(async () =>
        {
            static bool Installed11(string dpkgStatus) => dpkgStatus.Split("\n\n").Any(p => p.StartsWith("Package: acme-mail\n", StringComparison.Ordinal)
                && p.Contains("\nStatus: install ok installed\n", StringComparison.Ordinal) && p.Contains("\nVersion: 1.1-1\n", StringComparison.Ordinal));
            while (!Installed11(await File.ReadAllTextAsync(status, stop.Token)))
            {
                await Task.Delay(100, stop.Token);
            }
            for (var i = 0; i < 2; i++)
            {
                burners.Add(System.Diagnostics.Process.Start("/bin/sh", ["-c", "while :; do :; done"]));
            }
            Output.WriteLine($"busy loops started: {string.Join(", ", burners.Select(b => b.Id))}");
        }, stop.Token);
        CliRun run;
        try
        {
            run = await StageAsync(digest);
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var burner in burners)
            {
                burner.Kill();
                burner.Dispose();
            }
        }
        try
        {
            Assert.True(burners.Count == 2, "the machine never got busy: staging never recorded 1.1-1");
            Assert.True(run.ExitCode == 0, string.Join("\n", Reasons(run)) + "\n" + run.Stderr[^Math.Min(4000, run.Stderr.Length)..]);
            Assert.Equal("staging-control", run.Json.GetProperty("control").GetString());
            var loads = run.Json.GetProperty("comparisons").EnumerateArray().Where(c => c.GetProperty("type").GetString() == "load").ToList();
            Assert.Equal(2, loads.Count);
            foreach (var c in loads)
            {
                var load = c.GetProperty("load");
                Output.WriteLine($"{c.GetProperty("name").GetString()}: before/after p95 ratio {load.GetProperty("p95Ratio").GetDouble():0.00}, " +
                                 $"against the control {load.GetProperty("control").GetProperty("p95Ratio").GetDouble():0.00}, effect {load.GetProperty("controlEffect").GetDouble():0.00}");
                Assert.Equal("control", load.GetProperty("basis").GetString());
                Assert.False(c.GetProperty("regressed").GetBoolean(), c.GetProperty("message").GetString());
            }
            var compare = run.Json.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "compare");
            Assert.Contains("latency judged against staging-control in the same seconds", compare.GetProperty("summary").GetString(), StringComparison.Ordinal);
            // The control stayed on the old version all along.
            Assert.Equal("1.0-1", (await OnHostAsync("staging-control-app-1", RemoteCommand.Exec("dpkg-query", "-W", "-f=${Version}", "acme-mail"))).Trim());
        }
        finally
        {
            var rollback = await Cli("rollback", "--env", "staging");
            Assert.True(rollback.ExitCode == 0, rollback.ToString());
        }
    }

    public static TheoryData<BadUpdate, string, string> Gauntlet => new()
    {
        { BadUpdate.ChangedDefault, "drift", "session.lifetime" },
        { BadUpdate.LoginRace, "compare", "login-load" },
        { BadUpdate.DroppedSearchIndex, "compare", "mail-load" },
        { BadUpdate.DiesAfter20s, "soak", "soak" },
        { BadUpdate.IndexerErrors, "compare", "log-errors" },
        { BadUpdate.MigrationFailsHalfway, "", "" },
        { BadUpdate.SchemaBreaksDowngrade, "rollback-rehearsal", "database restore" },
        { BadUpdate.DeletesData, "compare", "data mail public.messages" },
        { BadUpdate.TruncatesBodies, "compare", "data mail-content" },
    };

    [SkippableTheory]
    [MemberData(nameof(Gauntlet))]
    public async Task Each_bad_update_fails_for_its_own_reason_and_staging_is_left_as_it_was(BadUpdate kind, string step, string mention)
    {
        Fixture.Require();
        var deb = await BadPackages.BuildAsync(Path.Combine(Dir, "repo", "acme-mail_1.1-1_amd64.deb"), kind, Path.Combine(Dir, "bad"));
        await Fixture.Lab.RepoAddAsync(deb);
        var version = BadPackages.Version(kind);
        var digest = await FreezeAsync("ACME-" + kind.ToString().ToUpperInvariant(), version);

        var run = await StageThenRestoreAsync(digest);

        Assert.True(run.ExitCode == ExitCodes.Finding, run.ToString());
        Assert.Equal("fail", run.Json.GetProperty("verdict").GetString());
        var reasons = Reasons(run).ToList();
        Output.WriteLine($"{kind}: " + string.Join("\n  ", reasons));
        if (step.Length > 0)
        {
            Assert.Contains(reasons, r => r.Step == step && (r.Subject + " " + r.Evidence).Contains(mention, StringComparison.Ordinal));
        }
        else
        {
            // A migration that fails halfway: the service cannot come up on it, and the run says so.
            Assert.Contains(reasons, r => (r.Subject + " " + r.Evidence).Contains("migration", StringComparison.OrdinalIgnoreCase)
                || r.Subject.StartsWith("health", StringComparison.Ordinal) || r.Subject.StartsWith("schema", StringComparison.Ordinal));
        }
        if (kind == BadUpdate.DeletesData)
        {
            // The seed's 20,000 messages less every tenth: the numbers, not only the table.
            Assert.Contains(reasons, r => r.Subject == "data mail public.messages"
                && r.Evidence.Contains("20000 row(s) at the rollback point, 18000 now: 2000 lost (10%)", StringComparison.Ordinal));
        }
        if (kind == BadUpdate.TruncatesBodies)
        {
            // Every row kept, so no table lost rows: only the suite's continuity measure of the bodies sees it, with its numbers.
            Assert.DoesNotContain(reasons, r => r.Subject.StartsWith("data mail public.", StringComparison.Ordinal));
            Assert.Contains(reasons, r => r.Subject == "data mail-content" && r.Evidence.Contains("mail-content (mail) body_bytes: ", StringComparison.Ordinal)
                && r.Evidence.Contains(" at the rollback point, ", StringComparison.Ordinal) && r.Evidence.Contains(" (at most 0%)", StringComparison.Ordinal));
        }
        if (kind == BadUpdate.ChangedDefault)
        {
            // The file was also reworded and reordered: the one value changed is named, and nothing else in it.
            Assert.Contains(reasons, r => r.Step == "drift" && r.Evidence.Contains(
                $"not declared by the set: session.lifetime: 60 → {BadPackages.ChangedSessionLifetime} (", StringComparison.Ordinal));
        }
        Assert.Equal("1.0-1", await StagingVersionAsync());
    }
}
