using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>The command line against real sshd servers started by the test on loopback addresses.</summary>
public class SshCliTests
{
    private static string HostYaml(string name, SshdFixture sshd, string role = "app") =>
        $"  {name}: {{ address: {sshd.Address}, port: {sshd.Port}, user: root, role: {role}, identity: {sshd.ClientKeyPath}, known_hosts: {sshd.KnownHostsPath} }}\n";

    [SkippableFact]
    public async Task Facts_of_an_environment_report_every_reachable_host_and_exit_3_naming_the_unreachable_one()
    {
        await using var a = await SshdFixture.StartAsync();
        a.Require();
        await using var b = await SshdFixture.StartAsync();
        b.Require();
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml",
            "hosts:\n" + HostYaml("web-1", a) + HostYaml("web-2", b) +
            $"  web-3: {{ address: 127.0.2.251, port: 2299, identity: {a.ClientKeyPath}, known_hosts: {a.KnownHostsPath} }}\n" +
            "environments:\n  prod: { hosts: [web-1, web-2, web-3] }\ndrift:\n  track: [/etc/hostname]\n");

        var run = await CliRun.InAsync(scratch.Dir, "--json", "facts", "prod");

        Assert.True(run.ExitCode == ExitCodes.Infrastructure, run.ToString());
        var manifests = run.Json.GetProperty("manifests").EnumerateArray().ToList();
        Assert.Equal(["web-1", "web-2"], manifests.Select(m => m.GetProperty("manifest").GetProperty("target").GetString()).Order());
        Assert.All(manifests, m => Assert.True(m.GetProperty("manifest").GetProperty("packages").GetArrayLength() > 100));
        var failure = Assert.Single(run.Json.GetProperty("failures").EnumerateArray());
        Assert.Equal("web-3", failure.GetProperty("target").GetString());
        Assert.Contains("web-3", run.Stderr);
        Assert.Contains("127.0.2.251:2299", run.Stderr);

        var log = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        var actions = log.Json.EnumerateArray().Select(e => (e.GetProperty("action").GetString(), e.GetProperty("target").GetString(), e.GetProperty("outcome").GetString())).ToList();
        Assert.Contains(actions, e => e is ("facts.collect", "web-1", "ok"));
        Assert.Contains(actions, e => e.Item1 == "facts.collect" && e.Item2 == "web-3" && e.Item3!.StartsWith("failed", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task A_host_whose_key_changed_is_refused_as_a_possible_man_in_the_middle()
    {
        await using var real = await SshdFixture.StartAsync();
        real.Require();
        await using var other = await SshdFixture.StartAsync();
        other.Require();
        using var scratch = new Scratch();
        // known_hosts records another server's key for this address and port: what an attacker in the middle looks like.
        var knownHosts = scratch.Write("known_hosts", $"[{real.Address}]:{real.Port} {other.HostPublicKey}\n");
        scratch.Write("stageproof.yaml",
            $"hosts:\n  web-1: {{ address: {real.Address}, port: {real.Port}, identity: {real.ClientKeyPath}, known_hosts: {knownHosts} }}\n" +
            "environments:\n  prod: { hosts: [web-1] }\n");

        var run = await CliRun.InAsync(scratch.Dir, "--accept-new-host-keys", "facts", "prod");

        Assert.Equal(ExitCodes.Infrastructure, run.ExitCode);
        Assert.Contains("man-in-the-middle", run.Stderr);
        Assert.Equal(0, real.AcceptedLogins);
    }

    [SkippableFact]
    public async Task An_unknown_host_is_refused_until_the_operator_accepts_its_key()
    {
        await using var sshd = await SshdFixture.StartAsync();
        sshd.Require();
        using var scratch = new Scratch();
        var knownHosts = Path.Combine(scratch.Dir, "known_hosts");
        scratch.Write("stageproof.yaml",
            $"hosts:\n  web-1: {{ address: {sshd.Address}, port: {sshd.Port}, identity: {sshd.ClientKeyPath}, known_hosts: {knownHosts} }}\n" +
            "environments:\n  prod: { hosts: [web-1] }\n");

        var refused = await CliRun.InAsync(scratch.Dir, "facts", "prod");
        Assert.Equal(ExitCodes.Infrastructure, refused.ExitCode);
        Assert.Contains("--accept-new-host-keys", refused.Stderr);

        var accepted = await CliRun.InAsync(scratch.Dir, "--accept-new-host-keys", "facts", "prod");
        Assert.True(accepted.ExitCode == ExitCodes.Ok, accepted.ToString());
        Assert.Contains(sshd.HostPublicKey.Split(' ')[1], await File.ReadAllTextAsync(knownHosts));

        var again = await CliRun.InAsync(scratch.Dir, "facts", "prod");
        Assert.True(again.ExitCode == ExitCodes.Ok, again.ToString());
    }

    [SkippableFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Keys_held_only_by_an_ssh_agent_reach_the_host_and_a_gone_agent_is_exit_3_naming_it()
    {
        await using var sshd = await SshdFixture.StartAsync();
        sshd.Require();
        await using var agent = await SshAgentProcess.StartAsync();
        using var scratch = new Scratch();
        // The key goes into the agent, then its file goes: only the agent holds it, and no identity is configured.
        var key = Path.Combine(scratch.Dir, "only_in_agent");
        File.Copy(sshd.ClientKeyPath, key);
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await agent.AddAsync(key);
        File.Delete(key);
        scratch.Write("ssh_config", $"Host web-1.lab\n  HostName {sshd.Address}\n  Port {sshd.Port}\n  IdentityAgent {agent.SocketPath}\n" +
            $"  UserKnownHostsFile {sshd.KnownHostsPath}\n");
        scratch.Write("stageproof.yaml", "ssh: { config: ssh_config }\nhosts:\n  web-1: { address: web-1.lab }\nenvironments:\n  prod: { hosts: [web-1] }\n");

        var run = await CliRun.InAsync(scratch.Dir, "--json", "facts", "prod");

        Assert.True(run.ExitCode == ExitCodes.Ok, run.ToString());
        Assert.Equal(1, await sshd.AcceptedLoginsAsync(1));

        await agent.KillAsync();
        var gone = await CliRun.InAsync(scratch.Dir, "facts", "prod");

        Assert.Equal(ExitCodes.Infrastructure, gone.ExitCode);
        Assert.Contains($"ssh-agent at {agent.SocketPath}", gone.Stderr);
        Assert.DoesNotContain("   at ", gone.Stderr);
        Assert.Equal(1, sshd.AcceptedLogins);
    }
}
