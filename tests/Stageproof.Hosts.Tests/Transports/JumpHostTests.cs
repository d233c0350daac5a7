using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Transports;

/// <summary>
/// ProxyJump through real sshd servers on loopback: each hop authenticates and has its key checked like any host.
/// (That a host is reachable only through its bastion is enforced in the lab's bastion test, with a network namespace.)
/// </summary>
public sealed class JumpHostTests
{
    private static readonly SshSettings Settings = new() { ConnectTimeout = TimeSpan.FromSeconds(5) };

    [SkippableFact]
    public async Task A_command_runs_on_the_host_through_one_and_then_two_jump_hosts()
    {
        await using var bastion = await SshdFixture.StartAsync();
        bastion.Require();
        await using var inner = await SshdFixture.StartAsync();
        await using var target = await SshdFixture.StartAsync();

        await using (var oneHop = new SshTransport(target.Host("app-1") with { Jumps = [bastion.Host("bastion")] }, Settings, HostKeyPolicy.Strict))
        {
            var result = await oneHop.RunAsync(RemoteCommand.Exec("printf", "%s", "through"));
            Assert.Equal("through", result.StandardOutput);
            // Reused: a second command opens no new connection on the way.
            Assert.Equal(0, (await oneHop.RunAsync(RemoteCommand.Exec("true"))).ExitCode);
            Assert.Equal(1, oneHop.ConnectionsOpened);
        }
        Assert.Equal(1, await bastion.AcceptedLoginsAsync(1));
        Assert.Equal(1, await target.AcceptedLoginsAsync(1));

        var twoHops = target.Host("app-1") with { Jumps = [bastion.Host("bastion"), inner.Host("inner")] };
        await using (var ssh = new SshTransport(twoHops, Settings, HostKeyPolicy.Strict))
        {
            Assert.Equal(0, (await ssh.RunAsync(RemoteCommand.Exec("true"))).ExitCode);
        }
        Assert.Equal(2, await bastion.AcceptedLoginsAsync(2));
        Assert.Equal(1, await inner.AcceptedLoginsAsync(1));
        Assert.Equal(2, await target.AcceptedLoginsAsync(2));
    }

    [SkippableFact]
    public async Task A_jump_host_whose_key_changed_is_refused_before_the_host_is_reached()
    {
        await using var bastion = await SshdFixture.StartAsync();
        bastion.Require();
        await using var target = await SshdFixture.StartAsync();
        var impostor = Path.Combine(bastion.Directory, "impostor");
        await SshdFixture.GenerateKeyAsync(impostor);
        var knownHosts = Path.Combine(bastion.Directory, "known_hosts_changed");
        await File.WriteAllTextAsync(knownHosts, $"[{bastion.Address}]:{bastion.Port} {SshdFixture.PublicKeyOf(impostor)}\n");
        var host = target.Host("app-1") with { Jumps = [bastion.Host("bastion") with { KnownHosts = knownHosts }] };

        await using var ssh = new SshTransport(host, Settings, HostKeyPolicy.AcceptNew);
        var e = await Assert.ThrowsAsync<HostKeyException>(() => ssh.RunAsync(RemoteCommand.Exec("true")));

        Assert.Equal("app-1", e.Host);
        Assert.Contains("jump host bastion", e.Message, StringComparison.Ordinal);
        Assert.Contains("man-in-the-middle", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, target.AcceptedLogins);
    }

    [SkippableFact]
    public async Task A_host_the_jump_host_cannot_reach_is_named_with_the_jump_host()
    {
        await using var bastion = await SshdFixture.StartAsync();
        bastion.Require();
        var nowhere = new HostConfig { Name = "app-9", Address = "127.0.2.252", Port = 2299, User = "root", Identity = bastion.ClientKeyPath,
            KnownHosts = bastion.KnownHostsPath, Jumps = [bastion.Host("bastion")] };

        await using var ssh = new SshTransport(nowhere, Settings, HostKeyPolicy.Strict);
        var e = await Assert.ThrowsAsync<InfrastructureException>(() => ssh.RunAsync(RemoteCommand.Exec("true")));

        Assert.Equal(ExitCodes.Infrastructure, e.ExitCode);
        Assert.Contains("127.0.2.252:2299 through jump host bastion", e.Message, StringComparison.Ordinal);
    }
}
