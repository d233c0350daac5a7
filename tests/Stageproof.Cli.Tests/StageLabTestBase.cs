using System.Text.Json;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;
using Stageproof.Lab;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Cli.Tests;

/// <summary>What the stage-gate tests on a lab share: the set template, the CLI against the lab, staging's version and a
/// stage run with its reasons. Each class of them has a lab of its own (with staging's control twin), so the two run side
/// by side.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public abstract class StageLabTestBase(SharedLab lab, ITestOutputHelper output)
{
    protected SharedLab Fixture => lab;

    protected ITestOutputHelper Output => output;

    protected const string SetTemplate = """
        id: ID
        title: acme-mail VERSION
        reason: the gauntlet
        severity: high
        author: alice
        packages:
          - { name: acme-mail, version: "VERSION" }
        commands:
          post: [{ run: "service acme-mail restart", timeout: 60 }]
        """;

    protected string Dir => lab.Directory;

    private protected Task<CliRun> Cli(params string[] args) => CliRun.InAsync(Dir, args);

    protected Task<string> FreezeAsync(string id, string version) => LabCli.FreezeAsync(Dir, Path.Combine(Dir, id + ".yaml"),
        SetTemplate.Replace("ID", id, StringComparison.Ordinal).Replace("VERSION", version, StringComparison.Ordinal));

    protected Task<string> OnHostAsync(string host, RemoteCommand command) => LabCli.OnHostAsync(Dir, host, command);

    /// <summary>acme-mail's version on staging, with its dpkg state when that is not "ii" (installed and configured):
    /// a half-configured or removed package still has a version.</summary>
    protected async Task<string> StagingVersionAsync()
    {
        var line = await OnHostAsync("staging-app-1", RemoteCommand.Exec("dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", "acme-mail"));
        var parts = line.Split(' ', 2);
        return parts.Length == 2 && parts[1].Trim() != "ii" ? $"{parts[0]} ({parts[1].Trim()})" : parts[0];
    }

    private protected async Task<CliRun> StageAsync(string digest, params string[] extra)
    {
        var run = await Cli(["--json", "stage", digest, "--env", "staging", .. extra]);
        output.WriteLine(run.Stderr.Length > 6000 ? run.Stderr[^6000..] : run.Stderr);
        return run;
    }

    /// <summary>Staging back at 1.0 with its database as at the rollback point, whatever a case left it as.</summary>
    protected async Task RestoreStagingAsync()
    {
        if (await StagingVersionAsync() != "1.0-1")
        {
            output.WriteLine((await Cli("rollback", "--env", "staging", "--database", "restore")).ToString());
        }
    }

    /// <summary>A stage run that staging is restored after (<see cref="RestoreStagingAsync"/>), also when it throws.</summary>
    private protected async Task<CliRun> StageThenRestoreAsync(string digest, params string[] extra)
    {
        try
        {
            return await StageAsync(digest, extra);
        }
        finally
        {
            await RestoreStagingAsync();
        }
    }

    private protected static IEnumerable<(string Step, string Subject, string Evidence)> Reasons(CliRun run) =>
        run.Json.GetProperty("reasons").EnumerateArray().Select(r =>
            (r.GetProperty("step").GetString()!, r.GetProperty("subject").GetString()!, r.GetProperty("evidence").GetString()!));
}
