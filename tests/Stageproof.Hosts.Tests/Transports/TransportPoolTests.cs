using Microsoft.Extensions.Time.Testing;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Transports;

/// <summary>
/// The server's kept connections against a real sshd on 127.0.2.x. Which connection a command ran on is what the host
/// says: <c>$SSH_CONNECTION</c> (the client's address and port). The pool's clock is a FAKE one, so <c>keep_open</c>
/// passes when a test says; the connections and their timeouts run on real time.
/// </summary>
public sealed class TransportPoolTests(SshdFixture sshd) : IClassFixture<SshdFixture>
{
    private static readonly TimeSpan KeepOpen = TimeSpan.FromSeconds(60);
    private static readonly SshSettings Settings = new() { ConnectTimeout = TimeSpan.FromSeconds(5) };

    private readonly FakeTimeProvider _clock = new();

    private TransportPool Pool(TimeSpan? keepOpen = null) => new(new TransportFactory(Settings, HostKeyPolicy.Strict), keepOpen ?? KeepOpen, _clock);

    /// <summary>The client end of the SSH connection the command ran on, as the host saw it.</summary>
    private static async Task<string> ConnectionOfAsync(ITransport transport)
    {
        var result = await transport.RunAsync(RemoteCommand.Script("which connection", "echo \"$SSH_CONNECTION\""));
        Assert.True(result.Succeeded, result.StandardError);
        var connection = result.StandardOutput.Trim();
        Assert.NotEqual("", connection);
        return connection;
    }

    private static async Task<string> UseOnceAsync(TransportPool pool, HostConfig host)
    {
        await using var transport = pool.Create(host);
        return await ConnectionOfAsync(transport);
    }

    [SkippableFact]
    public async Task A_host_reached_twice_in_turn_is_reached_over_one_connection_and_twice_at_once_over_two()
    {
        sshd.Require();
        await using var pool = Pool();
        var host = sshd.Host();

        var first = await UseOnceAsync(pool, host);
        var second = await UseOnceAsync(pool, host);
        Assert.Equal(first, second);

        await using var a = pool.Create(host);
        await using var b = pool.Create(host);
        var both = new[] { await ConnectionOfAsync(a), await ConnectionOfAsync(b) };
        Assert.NotEqual(both[0], both[1]);
        Assert.Contains(first, both);
        Assert.Equal((2, 2), (pool.Opened, pool.Reused));

        // Another entry for the same sshd (another name) is another host to the pool: its own connection.
        var other = await UseOnceAsync(pool, sshd.Host("another-name"));
        Assert.DoesNotContain(other, both);
    }

    [SkippableFact]
    public async Task A_connection_idle_for_keep_open_is_closed_and_the_next_use_logs_in_again()
    {
        sshd.Require();
        await using var pool = Pool();
        var host = sshd.Host();
        var first = await UseOnceAsync(pool, host);
        var disconnects = sshd.Disconnects;

        _clock.Advance(KeepOpen - TimeSpan.FromSeconds(1));
        Assert.Equal(1, pool.Idle);
        Assert.Equal(first, await UseOnceAsync(pool, host)); // a use restarts the idle time

        _clock.Advance(KeepOpen + TimeSpan.FromSeconds(15)); // past keep_open and the sweep that follows it
        Assert.Equal(0, pool.Idle);
        Assert.True(await sshd.DisconnectsAsync(disconnects + 1) > disconnects, "the host never saw the idle connection close:\n" + sshd.Log);

        Assert.NotEqual(first, await UseOnceAsync(pool, host));
        Assert.Equal(2, pool.Opened);
    }

    [SkippableFact]
    public async Task Stopping_the_pool_closes_the_idle_connections_and_one_in_use_when_it_is_returned()
    {
        sshd.Require();
        var host = sshd.Host();
        var pool = Pool();
        await UseOnceAsync(pool, host);
        var inUse = pool.Create(host);
        var second = pool.Create(host);
        await ConnectionOfAsync(inUse);
        await ConnectionOfAsync(second);
        await second.DisposeAsync();
        var disconnects = sshd.Disconnects;

        await pool.DisposeAsync();
        Assert.True(await sshd.DisconnectsAsync(disconnects + 1) >= disconnects + 1, sshd.Log);
        Assert.Equal(0, pool.Idle);
        Assert.Throws<ObjectDisposedException>(() => pool.Create(host));

        await ConnectionOfAsync(inUse); // a use in progress is not cut off
        await inUse.DisposeAsync();
        Assert.True(await sshd.DisconnectsAsync(disconnects + 2) >= disconnects + 2, sshd.Log);
        Assert.Equal(0, pool.Idle);
    }

    [SkippableFact]
    public async Task A_kept_connection_that_the_host_dropped_is_reopened_by_the_next_command()
    {
        sshd.Require();
        await using var pool = Pool();
        var host = sshd.Host();
        var logins = sshd.AcceptedLogins;
        string first;
        await using (var transport = pool.Create(host))
        {
            first = await ConnectionOfAsync(transport);
            // The host kills the sshd processes holding this connection once the command has returned: a real drop.
            var kill = await transport.RunAsync(RemoteCommand.Script("drop the connection", """
                set -- $SSH_CONNECTION
                pids=$(ss -tnpH state established "( sport = :$4 and dport = :$2 )" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u | tr '\n' ' ')
                [ -n "$pids" ] || { echo "no process holds the connection" >&2; exit 1; }
                setsid sh -c "sleep 0.3; kill -9 $pids" </dev/null >/dev/null 2>&1 &
                """));
            Assert.True(kill.Succeeded, kill.StandardError);
        }
        Assert.True(await GoneAsync(first), $"the connection {first} was still established 10 s after its sshd was killed");

        var second = await UseOnceAsync(pool, host);
        Assert.NotEqual(first, second);
        Assert.True(await sshd.AcceptedLoginsAsync(logins + 2) >= logins + 2, sshd.Log);
    }

    /// <summary>Whether the host's side of <paramref name="connection"/> ($SSH_CONNECTION: client address, port, server
    /// address, port) has stopped being an established connection, polled for up to 10 s.</summary>
    private static async Task<bool> GoneAsync(string connection)
    {
        var parts = connection.Split(' ');
        await using var here = new LocalTransport("here");
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            var held = await here.RunAsync(RemoteCommand.Script("held", "ss -tnH state established \"( sport = :$1 and dport = :$2 )\"", parts[3], parts[1]));
            Assert.True(held.Succeeded, held.StandardError);
            if (held.StandardOutput.Trim().Length == 0)
            {
                return true;
            }
            await Task.Delay(50);
        }
        return false;
    }

    [Fact]
    public async Task Local_hosts_and_a_keep_open_of_zero_are_not_kept()
    {
        await using var zero = Pool(TimeSpan.Zero);
        var local = new HostConfig { Name = "here", Transport = TransportKind.Local };
        await using (var transport = zero.Create(local))
        {
            Assert.IsType<LocalTransport>(transport);
        }
        await using var pool = Pool();
        await using (var transport = pool.Create(local))
        {
            Assert.IsType<LocalTransport>(transport);
        }
        Assert.Equal((0, 0), (pool.Opened, pool.Idle));
        await using var direct = zero.Create(new HostConfig { Name = "there", Address = "127.0.0.1" });
        Assert.IsType<SshTransport>(direct);
    }
}
