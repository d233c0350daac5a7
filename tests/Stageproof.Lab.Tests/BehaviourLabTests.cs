using System.Text.Json;
using Stageproof.Core;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Lab.Tests;

/// <summary>
/// Gauntlet updates 9 to 12 on the Lab tests' lab, in one package: a postinst that starts a helper of its own (which
/// writes ERROR lines to a log no check names), makes the configuration world-writable, starts an exporter on a new
/// port and edits another package's file, while the service and every check stay fine. The stage must see the whole
/// host: it FAILs naming each in its own category, and says what rolling the package back leaves behind. (Four stage
/// runs, one per update, until the suite had to answer in minutes: each postinst fault is still its own block, built
/// and checked per update by AcmeMail.Tests' BadPackagesTests.)
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Collection(LabCollection.Name)]
[Trait("Category", "Lab")] // needs a whole lab: left out of the fast tier
public sealed class BehaviourLabTests(LabFixture lab, ITestOutputHelper output) : IClassFixture<JudgesLatency> // its stage compares latency too
{
    private Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) => Probe.CliAsync(output, lab.Directory, "stageproof.yaml", args);

    private Task<string> InStagingAsync(string script) => Probe.InRootAsync(lab.Up.Hosts.Single(h => h.Name == "staging-app-1").Root, script);

    /// <summary>The package with every host behaviour built, published to the lab's repository and frozen; returns its
    /// digest's first 12 characters.</summary>
    private async Task<string> FreezeAsync()
    {
        var deb = await BadPackages.BuildHostBehavioursAsync(Path.Combine(lab.Directory, "repo", "acme-mail_1.1-1_amd64.deb"), Path.Combine(lab.Directory, "bad"));
        await lab.Lab.RepoAddAsync([deb]);
        var file = Path.Combine(lab.Directory, "bad-behaviours.yaml");
        await File.WriteAllTextAsync(file, $"""
            id: ACME-BAD-BEHAVIOURS
            title: acme-mail {BadPackages.HostBehavioursVersion()}
            reason: gauntlet updates 9 to 12
            root_cause: none, a test
            severity: high
            author: alice
            packages:
              - {"{"} name: acme-mail, version: "{BadPackages.HostBehavioursVersion()}" {"}"}
            """);
        var freeze = await CliAsync("--json", "patch", "freeze", file);
        Assert.True(freeze.Code == 0, freeze.Stderr);
        return JsonDocument.Parse(freeze.Stdout).RootElement.GetProperty("digest").GetString()![..12];
    }

    private static List<(string Step, string Subject, string Evidence)> Reasons(JsonElement result) =>
        result.GetProperty("reasons").EnumerateArray()
            .Select(r => (Step: r.GetProperty("step").GetString()!, Subject: r.GetProperty("subject").GetString()!, Evidence: r.GetProperty("evidence").GetString()!))
            .ToList();

    /// <summary>
    /// The stage, past the fidelity step: other tests of this collection leave packages on the shared lab's prod (the
    /// probe of LabTests), which staging does not mirror. Accepted with a reason, it is a warning, never a reason.
    /// </summary>
    private Task<(int Code, string Stdout, string Stderr)> StageAsync(string digest) =>
        CliAsync("--json", "stage", digest, "--env", "staging", "--accept-drift", "--reason", "the shared lab's prod carries other tests' packages");

    /// <summary>Back to acme-mail 1.0 if the stage did not get there itself (the next test starts from it).</summary>
    private async Task BackTo10Async()
    {
        if ((await InStagingAsync("dpkg-query -W -f='${Version}' acme-mail")) != "1.0-1")
        {
            await CliAsync("rollback", "--env", "staging", "--database", "restore");
        }
    }

    private static string Unquoted(string marker) => $"[{marker[0]}]{marker[1..]}"; // a pattern that does not match its own pkill

    [SkippableFact]
    public async Task Each_host_behaviour_of_an_update_fails_at_drift_in_its_own_category_and_what_outlives_the_rollback_is_named()
    {
        lab.Require();
        var digest = await FreezeAsync();

        (int Code, string Stdout, string Stderr) stage;
        string runningAfter;
        try
        {
            stage = await StageAsync(digest);
            runningAfter = await InStagingAsync($"for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c 'ERROR {Unquoted(BadPackages.BackgroundMarker)}' || true");
        }
        finally
        {
            // What a package rollback does not undo is this test's to undo: the helper and its log, the exporter, the
            // other package's line, the mode.
            await InStagingAsync($"pkill -f 'ERROR {Unquoted(BadPackages.BackgroundMarker)}'; rm -f {BadPackages.BackgroundLog}; " +
                $"pkill -f '{BadPackages.ExporterMarker[0]}[{BadPackages.ExporterMarker[1]}]{BadPackages.ExporterMarker[2..]}'; " +
                $"sed -i '/^PASS_MIN_LEN 12$/d' {BadPackages.OtherPackageFile}; chmod 0644 /etc/acme-mail/acme-mail.conf");
            await BackTo10Async();
        }

        StageOutput.AssertExit(ExitCodes.Finding, stage.Code, stage.Stdout, stage.Stderr);
        var result = JsonDocument.Parse(stage.Stdout).RootElement;
        Assert.Equal("fail", result.GetProperty("verdict").GetString());
        var reasons = Reasons(result);
        output.WriteLine(string.Join("\n", reasons));
        // The service, its log and every check were fine: the reasons are the host's behaviour, and only that.
        Assert.All(reasons, r => Assert.Equal("drift", r.Step));
        // Update 9: a helper the postinst starts, and the errors it writes to a log no check reads.
        Assert.Contains(reasons, r => r.Subject.StartsWith("staging-app-1 process sh -c while", StringComparison.Ordinal)
            && r.Evidence.Contains("a new long-running process the set does not declare", StringComparison.Ordinal)
            && r.Evidence.Contains(BadPackages.BackgroundMarker, StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Subject == $"staging-app-1 log {BadPackages.BackgroundLog}"
            && r.Evidence.Contains($"ERROR {BadPackages.BackgroundMarker}: upstream refused the mailbox sync", StringComparison.Ordinal));
        // Updates 10, 11 and 12: a widened mode, a new port, another package's file.
        foreach (var (subject, evidence) in new[]
        {
            ("/etc/acme-mail/acme-mail.conf", "world-writable"),
            ($"tcp/{BadPackages.ExtraPort}", "a new listening port the set does not declare"),
            ($"etc {BadPackages.OtherPackageFile}", "a file of login, a package the change does not touch, was changed"),
        })
        {
            Assert.Contains(reasons, r => r.Subject.Contains(subject, StringComparison.Ordinal) && r.Evidence.Contains(evidence, StringComparison.Ordinal));
        }
        // Back at 1.0, the helper still ran and login's file was still edited: the run says so.
        Assert.NotEqual("0", runningAfter.Trim());
        var residue = result.GetProperty("rehearsal").GetProperty("residue").EnumerateArray().Select(r => r.GetString()!).ToList();
        output.WriteLine(string.Join("\n", residue));
        Assert.Contains(residue, r => r.StartsWith("staging-app-1: process still running after the rollback: root: sh -c while", StringComparison.Ordinal));
        Assert.Contains(residue, r => r == $"staging-app-1: {BadPackages.OtherPackageFile}, a file of login, is still edited after the rollback");
    }
}
