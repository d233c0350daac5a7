using Stageproof.Core;

namespace Stageproof.Cli.Tests;

/// <summary>Four eyes does not rest on a set's self-declared author: whoever froze it is its author too.</summary>
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

    [Fact]
    public async Task Whoever_froze_a_set_that_names_another_author_may_not_approve_it()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", Config);
        scratch.Write("set.yaml", Set);
        foreach (var (name, role) in new[] { ("root", "admin"), ("carol", "approver"), ("erin", "approver") })
        {
            var add = await CliRun.InAsync(scratch.Dir, "--actor", "root", "user", "add", name, "--role", role);
            Assert.True(add.ExitCode == ExitCodes.Ok, add.ToString());
        }
        var freeze = await CliRun.InAsync(scratch.Dir, "--actor", "carol", "--json", "patch", "freeze", Path.Combine(scratch.Dir, "set.yaml"));
        Assert.True(freeze.ExitCode == ExitCodes.Ok, freeze.ToString());
        var digest = freeze.Json.GetProperty("digest").GetString()!;

        var own = await CliRun.InAsync(scratch.Dir, "--actor", "carol", "approve", digest[..12], "--env", "prod");
        Assert.True(own.ExitCode == ExitCodes.Finding, own.ToString());
        Assert.Contains("rule four-eyes", own.Stderr, StringComparison.Ordinal);
        Assert.Contains("carol froze CAROL-AS-ALICE (its author: says alice)", own.Stderr, StringComparison.Ordinal);

        // Someone else's approval is recorded as usual.
        var other = await CliRun.InAsync(scratch.Dir, "--actor", "erin", "approve", digest[..12], "--env", "prod");
        Assert.True(other.ExitCode == ExitCodes.Ok, other.ToString());
        var audit = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.Contains(audit.Json.EnumerateArray(), e => e.GetProperty("action").GetString() == "approve.refused" && e.GetProperty("actor").GetString() == "carol");
        Assert.Contains(audit.Json.EnumerateArray(), e => e.GetProperty("action").GetString() == "approve" && e.GetProperty("actor").GetString() == "erin");
    }
}
