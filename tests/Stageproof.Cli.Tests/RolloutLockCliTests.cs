using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>
/// One rollout per environment, between two real <c>stageproof</c> processes: while one promotes (its post command held
/// on this machine through the local transport), a second promotion to the same environment is refused by name and
/// recorded nowhere. The lock is the state's, not the hosts': no lab is needed to prove it.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class RolloutLockCliTests
{
    private static string Config(string dir) => $$"""
        hosts:
          prod-1: { transport: local }
        environments:
          prod: { hosts: [prod-1] }
        lifecycle:
          stages:
            - environment: prod
              rollout: { canary: 1, batch: 50%, max_failures: 0, pause: 0s, settle: 0s, checks: [], rollback: all }
        drift:
          track: [{{dir}}/prod.conf]
        """;

    /// <summary>A set that writes a line into the scratch directory's prod.conf, then waits in its post command while the
    /// hold file is there (at most five minutes, so a failed test never leaves a command behind for long).</summary>
    private static string Set(string dir, string id, int value) => $$"""
        id: {{id}}
        title: session lifetime {{value}}
        reason: one rollout at a time
        severity: low
        author: alice
        files:
          - { path: {{dir}}/prod.conf, content: "session.lifetime = {{value}}\n", mode: "0644" }
        commands:
          post: ["i=0; while [ -e {{dir}}/hold ] && [ $i -lt 300 ]; do sleep 1; i=$((i+1)); done"]
        """;

    [Fact]
    public async Task A_second_rollout_to_the_same_environment_is_refused_while_the_first_runs()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", Config(scratch.Dir));
        scratch.Write("prod.conf", "session.lifetime = 30\n");
        scratch.Write("hold", "");
        Assert.Equal(0, (await CliRun.InAsync(scratch.Dir, "user", "add", Environment.UserName, "--role", "admin")).ExitCode);
        Assert.Equal(0, (await CliRun.InAsync(scratch.Dir, "user", "add", "bob", "--role", "operator")).ExitCode);
        var bob = Path.Combine(scratch.Dir, "bob.token");
        Assert.Equal(0, (await CliRun.InAsync(scratch.Dir, "token", "create", "bob", "-o", bob)).ExitCode);
        async Task<string> FreezeAsync(string id, int value)
        {
            var freeze = await CliRun.InAsync(scratch.Dir, "--json", "patch", "freeze", scratch.Write($"{id}.yaml", Set(scratch.Dir, id, value)));
            Assert.True(freeze.ExitCode == ExitCodes.Ok, freeze.ToString());
            return freeze.Json.GetProperty("digest").GetString()![..12];
        }
        var first = await FreezeAsync("LOCK-1", 51);
        var second = await FreezeAsync("LOCK-2", 52);

        using var running = StageproofProcess.Start("promote LOCK-1", scratch.Dir, ["--token-file", bob, "--config", Path.Combine(scratch.Dir, "stageproof.yaml"),
            "--state", Path.Combine(scratch.Dir, ".stageproof"), "promote", first, "--to", "prod"]);
        try
        {
            var until = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(60);
            while (!File.ReadAllText(Path.Combine(scratch.Dir, "prod.conf")).Contains("= 51", StringComparison.Ordinal))
            {
                Assert.True(DateTimeOffset.UtcNow < until && !running.Exited, "the first rollout never changed prod-1: " + running.Output);
                await Task.Delay(100);
            }
            var list = await CliRun.InAsync(scratch.Dir, "--json", "rollout", "list", "--env", "prod");
            Assert.Contains(list.Json.EnumerateArray(), r => r.GetProperty("patchId").GetString() == "LOCK-1" && r.GetProperty("status").GetString() == "running");

            var refused = await CliRun.InAsync(scratch.Dir, "--token-file", bob, "promote", second, "--to", "prod");
            Assert.True(refused.ExitCode == ExitCodes.Finding, refused.ToString());
            Assert.Contains("rule one-rollout-per-environment", refused.Stderr, StringComparison.Ordinal);
            Assert.Contains("= 51", File.ReadAllText(Path.Combine(scratch.Dir, "prod.conf")), StringComparison.Ordinal); // LOCK-2 changed nothing

            File.Delete(Path.Combine(scratch.Dir, "hold"));
            Assert.True(running.WaitForExit(TimeSpan.FromMinutes(2)), "the first rollout did not finish in 2 minutes once released");
            Assert.True(running.ExitCode == ExitCodes.Ok, running.Output);
        }
        finally
        {
            File.Delete(Path.Combine(scratch.Dir, "hold"));
        }
        var after = await CliRun.InAsync(scratch.Dir, "--json", "rollout", "list", "--env", "prod");
        Assert.DoesNotContain(after.Json.EnumerateArray(), r => r.GetProperty("patchId").GetString() == "LOCK-2");
        Assert.Contains(after.Json.EnumerateArray(), r => r.GetProperty("patchId").GetString() == "LOCK-1" && r.GetProperty("status").GetString() == "succeeded");
        // The trail does not end at LOCK-2's allowed promote: its refusal follows, by rule.
        var log = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        var refusal = log.Json.EnumerateArray().Single(e => e.GetProperty("action").GetString() == "promote.refused");
        Assert.Equal("bob", refusal.GetProperty("actor").GetString());
        Assert.Contains("rule one-rollout-per-environment", refusal.GetProperty("outcome").GetString(), StringComparison.Ordinal);
        var verify = await CliRun.InAsync(scratch.Dir, "audit", "verify");
        Assert.True(verify.ExitCode == ExitCodes.Ok, verify.ToString());
    }
}
