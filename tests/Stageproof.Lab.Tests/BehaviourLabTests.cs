using System.Text.Json;
using Stageproof.Core;
using Xunit.Abstractions;

namespace Stageproof.Lab.Tests;

/// <summary>
/// Gauntlet update 9 on the Lab tests' lab: a postinst that starts a helper of its own, which writes ERROR lines to a
/// log no check names while the service and every check stay fine. The stage must see the whole host: it FAILs naming
/// the process and the log, and says that rolling the package back leaves the helper running.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Collection(LabCollection.Name)]
[Trait("Category", "Lab")] // needs a whole lab: left out of the fast tier
public sealed class BehaviourLabTests(LabFixture lab, ITestOutputHelper output)
{
    private Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) => Probe.CliAsync(output, lab.Directory, "stageproof.yaml", args);

    private Task<string> InStagingAsync(string script) => Probe.InRootAsync(lab.Up.Hosts.Single(h => h.Name == "staging-app-1").Root, script);

    /// <summary>The bad update built, published to the lab's repository and frozen; returns its digest's first 12 characters.</summary>
    private async Task<string> FreezeAsync(BadUpdate kind)
    {
        var deb = await BadPackages.BuildAsync(Path.Combine(lab.Directory, "repo", "acme-mail_1.1-1_amd64.deb"), kind, Path.Combine(lab.Directory, "bad"));
        await lab.Lab.RepoAddAsync([deb]);
        var file = Path.Combine(lab.Directory, $"bad-{(int)kind}.yaml");
        await File.WriteAllTextAsync(file, $"""
            id: ACME-BAD-{(int)kind}
            title: acme-mail {BadPackages.Version(kind)}
            reason: gauntlet update {(int)kind}
            root_cause: none, a test
            severity: high
            author: alice
            packages:
              - {"{"} name: acme-mail, version: "{BadPackages.Version(kind)}" {"}"}
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

    /// <summary>Back to acme-mail 1.0 if the stage did not get there itself (the next case starts from it).</summary>
    private async Task BackTo10Async()
    {
        if ((await InStagingAsync("dpkg-query -W -f='${Version}' acme-mail")) != "1.0-1")
        {
            await CliAsync("rollback", "--env", "staging", "--database", "restore");
        }
    }

    [SkippableFact]
    public async Task A_helper_the_postinst_starts_and_its_errors_in_a_log_no_check_reads_fail_the_stage_and_survive_the_rollback()
    {
        lab.Require();
        var digest = await FreezeAsync(BadUpdate.BackgroundErrors);

        (int Code, string Stdout, string Stderr) stage;
        string runningAfter;
        try
        {
            stage = await StageAsync(digest);
            runningAfter = await InStagingAsync($"for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c 'ERROR [{BadPackages.BackgroundMarker[0]}]{BadPackages.BackgroundMarker[1..]}' || true");
        }
        finally
        {
            // The helper is this test's: end it (its command line names it) and its log, so the lab is as it was.
            await InStagingAsync($"pkill -f 'ERROR [{BadPackages.BackgroundMarker[0]}]{BadPackages.BackgroundMarker[1..]}'; rm -f {BadPackages.BackgroundLog}");
            await BackTo10Async();
        }

        Assert.True(stage.Code == ExitCodes.Finding, stage.Stderr + stage.Stdout);
        var result = JsonDocument.Parse(stage.Stdout).RootElement;
        Assert.Equal("fail", result.GetProperty("verdict").GetString());
        var reasons = Reasons(result);
        output.WriteLine(string.Join("\n", reasons));
        // The service, its log and every check were fine: the reasons are the host's behaviour, and only that.
        Assert.All(reasons, r => Assert.Equal("drift", r.Step));
        Assert.Contains(reasons, r => r.Subject.StartsWith("staging-app-1 process sh -c while", StringComparison.Ordinal)
            && r.Evidence.Contains("a new long-running process the set does not declare", StringComparison.Ordinal)
            && r.Evidence.Contains(BadPackages.BackgroundMarker, StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Subject == $"staging-app-1 log {BadPackages.BackgroundLog}"
            && r.Evidence.Contains($"ERROR {BadPackages.BackgroundMarker}: upstream refused the mailbox sync", StringComparison.Ordinal));
        // Back at 1.0, the helper still ran: the run says so.
        Assert.NotEqual("0", runningAfter.Trim());
        var residue = result.GetProperty("rehearsal").GetProperty("residue").EnumerateArray().Select(r => r.GetString()!).ToList();
        Assert.Contains(residue, r => r.StartsWith("staging-app-1: process still running after the rollback: root: sh -c while", StringComparison.Ordinal));
    }

    public static TheoryData<BadUpdate, string, string> Behaviours => new()
    {
        { BadUpdate.WidensPermissions, "/etc/acme-mail/acme-mail.conf", "world-writable" },
        { BadUpdate.OpensPort, $"tcp/{BadPackages.ExtraPort}", "a new listening port the set does not declare" },
        { BadUpdate.EditsOtherPackage, $"etc {BadPackages.OtherPackageFile}", "a file of login, a package the change does not touch, was changed" },
    };

    [SkippableTheory]
    [MemberData(nameof(Behaviours))]
    public async Task Each_host_behaviour_update_fails_at_drift_naming_its_category(BadUpdate kind, string subject, string evidence)
    {
        lab.Require();
        var digest = await FreezeAsync(kind);

        (int Code, string Stdout, string Stderr) stage;
        try
        {
            stage = await StageAsync(digest);
        }
        finally
        {
            // What a package rollback does not undo is this test's to undo: the exporter, the other package's line.
            await InStagingAsync($"pkill -f '{BadPackages.ExporterMarker[0]}[{BadPackages.ExporterMarker[1]}]{BadPackages.ExporterMarker[2..]}'; " +
                $"sed -i '/^PASS_MIN_LEN 12$/d' {BadPackages.OtherPackageFile}; chmod 0644 /etc/acme-mail/acme-mail.conf");
            await BackTo10Async();
        }

        Assert.True(stage.Code == ExitCodes.Finding, stage.Stderr + stage.Stdout);
        var result = JsonDocument.Parse(stage.Stdout).RootElement;
        var reasons = Reasons(result);
        output.WriteLine(string.Join("\n", reasons));
        Assert.Contains(reasons, r => r.Step == "drift" && r.Subject.Contains(subject, StringComparison.Ordinal)
            && r.Evidence.Contains(evidence, StringComparison.Ordinal));
        if (kind == BadUpdate.EditsOtherPackage)
        {
            // acme-mail back at 1.0 does not take the line out of login's file: the run says so.
            Assert.Contains(result.GetProperty("rehearsal").GetProperty("residue").EnumerateArray().Select(r => r.GetString()!),
                r => r == $"staging-app-1: {BadPackages.OtherPackageFile}, a file of login, is still edited after the rollback");
        }
    }
}
