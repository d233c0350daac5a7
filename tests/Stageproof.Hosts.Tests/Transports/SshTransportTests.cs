using System.Diagnostics;
using System.Text;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Hosts.Tests.Transports;

/// <summary>Against a real sshd on 127.0.2.x.</summary>
public sealed class SshTransportTests(SshdFixture sshd, ITestOutputHelper output) : IClassFixture<SshdFixture>
{
    private static readonly SshSettings Settings = new() { ConnectTimeout = TimeSpan.FromSeconds(5) };

    private SshTransport Transport(HostConfig? host = null, HostKeyPolicy policy = HostKeyPolicy.Strict) =>
        new(host ?? sshd.Host(), Settings, policy);

    [SkippableFact]
    public async Task A_command_returns_its_exit_code_stdout_and_stderr()
    {
        sshd.Require();
        await using var ssh = Transport();

        var result = await ssh.RunAsync(RemoteCommand.Script("t", "echo out; echo err >&2; exit 3"));

        Assert.Equal(3, result.ExitCode);
        Assert.Equal("out\n", result.StandardOutput);
        Assert.Equal("err\n", result.StandardError);
        Assert.False(result.Succeeded);
    }

    [SkippableFact]
    public async Task Commands_run_with_LC_ALL_C_and_without_a_login_shell()
    {
        sshd.Require();
        await using var ssh = Transport();

        var result = await ssh.RunAsync(RemoteCommand.Script("t", "echo \"$LC_ALL\"; shopt -q login_shell 2>/dev/null && echo login; true"));

        Assert.Equal("C\n", result.StandardOutput);
    }

    [SkippableTheory]
    [InlineData("; rm -rf /")]
    [InlineData("$(id)")]
    [InlineData("`id`")]
    [InlineData("it's")]
    [InlineData("say \"hi\"")]
    [InlineData("'\"'\"'")]
    [InlineData("line1\nline2\n")]
    [InlineData("ünïcødé ✓ 日本 🚀")]
    [InlineData("$HOME ${PATH} \\ * ? [a] ~ & | > < #")]
    [InlineData("-n")]
    [InlineData("")]
    public async Task Hostile_arguments_come_back_byte_for_byte(string value)
    {
        sshd.Require();
        await using var ssh = Transport();

        var result = await ssh.RunAsync(RemoteCommand.Exec("printf", "%s", value));

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(value, result.StandardOutput);
    }

    [SkippableFact]
    public async Task Standard_input_reaches_the_command()
    {
        sshd.Require();
        await using var ssh = Transport();
        var input = Encoding.UTF8.GetBytes("first line\nzweite Zeile ✓\n");

        var result = await ssh.RunAsync(RemoteCommand.Exec("cat"), new CommandOptions { StandardInput = input });
        var withoutInput = await ssh.RunAsync(RemoteCommand.Exec("cat"), new CommandOptions { Timeout = TimeSpan.FromSeconds(10) });

        Assert.Equal("first line\nzweite Zeile ✓\n", result.StandardOutput);
        Assert.Equal("", withoutInput.StandardOutput);
    }

    [SkippableFact]
    public async Task Become_sudo_wraps_the_command_in_sudo()
    {
        sshd.Require();
        Requires.Executable("/usr/bin/sudo");
        await using var ssh = Transport(sshd.Host() with { Become = "sudo" });

        var result = await ssh.RunAsync(RemoteCommand.Exec("id", "-u"));

        Assert.Equal("0\n", result.StandardOutput);
    }

    [SkippableFact]
    public async Task A_command_that_outlives_its_timeout_throws_naming_host_and_timeout()
    {
        sshd.Require();
        await using var ssh = Transport(sshd.Host("slow-host"));
        await ssh.RunAsync(RemoteCommand.Exec("true"));
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAnyAsync<InfrastructureException>(() =>
            ssh.RunAsync(RemoteCommand.Exec("sleep", "30"), new CommandOptions { Timeout = TimeSpan.FromMilliseconds(500) }));

        // The cause is the message below; the clock only shows the command was not waited for (sleep 30).
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}: the timeout did not end the command");
        Assert.Equal("slow-host", e.Host);
        Assert.Contains("timed out after 0.5s", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("slow-host: ", e.Message, StringComparison.Ordinal);
        // The connection is still usable afterwards.
        Assert.Equal("ok", (await ssh.RunAsync(RemoteCommand.Exec("printf", "ok"))).StandardOutput);
    }

    [SkippableFact]
    public async Task Ten_commands_share_one_connection()
    {
        sshd.Require();
        var initial = sshd.AcceptedLogins;
        await using (var warmUp = Transport())
        {
            await warmUp.RunAsync(RemoteCommand.Exec("true")); // JIT and first-use costs out of the measurement
        }
        var before = await sshd.AcceptedLoginsAsync(atLeast: initial + 1); // the warm-up's own login counted first
        await using var ssh = Transport();
        var clock = Stopwatch.StartNew();

        await ssh.RunAsync(RemoteCommand.Exec("true"));
        var first = clock.Elapsed;
        clock.Restart();
        for (var i = 0; i < 9; i++)
        {
            Assert.Equal($"{i}", (await ssh.RunAsync(RemoteCommand.Exec("printf", "%s", $"{i}"))).StandardOutput);
        }
        var next = clock.Elapsed / 9;

        output.WriteLine($"connect + first command: {first.TotalMilliseconds:0} ms; each further command: {next.TotalMilliseconds:0.0} ms");
        Assert.Equal(1, ssh.ConnectionsOpened);
        Assert.Equal(before + 1, await sshd.AcceptedLoginsAsync(atLeast: before + 1));
    }

    [SkippableFact]
    public async Task The_key_exchange_is_curve25519()
    {
        sshd.Require();
        await using var ssh = Transport();

        await ssh.RunAsync(RemoteCommand.Exec("true"));

        Assert.Equal("curve25519-sha256", ssh.KeyExchangeAlgorithm);
    }

    [SkippableFact]
    public async Task Concurrent_first_use_opens_a_single_connection()
    {
        sshd.Require();
        await using var ssh = Transport();

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => ssh.RunAsync(RemoteCommand.Exec("printf", "%s", $"{i}"))));

        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"{i}"), results.Select(r => r.StandardOutput));
        Assert.Equal(1, ssh.ConnectionsOpened);
    }

    [SkippableFact]
    public async Task A_dropped_connection_is_reopened_for_the_next_command()
    {
        sshd.Require();
        await using var ssh = Transport();
        await ssh.RunAsync(RemoteCommand.Exec("true"));

        // Kills the nearest sshd ancestor, this connection's session process: the connection drops under the transport.
        const string dropConnection = """
            p=$$
            while [ "$p" -gt 1 ]; do
              if [ "$(cat /proc/$p/comm)" = sshd ]; then kill -9 "$p"; exit 0; fi
              p=$(cut -d' ' -f4 /proc/$p/stat)
            done
            exit 1
            """;
        var e = await Assert.ThrowsAnyAsync<InfrastructureException>(() =>
            ssh.RunAsync(RemoteCommand.Script("drop", dropConnection), new CommandOptions { Timeout = TimeSpan.FromSeconds(10) }));
        output.WriteLine(e.Message);
        var result = await ssh.RunAsync(RemoteCommand.Exec("printf", "back"));

        Assert.Equal("back", result.StandardOutput);
        Assert.Equal(2, ssh.ConnectionsOpened);
    }

    [SkippableFact]
    public async Task A_wrong_key_is_refused_with_user_host_port_and_key_in_the_message()
    {
        sshd.Require();
        var otherKey = Path.Combine(sshd.Directory, "stranger_ed25519");
        await SshdFixture.GenerateKeyAsync(otherKey);
        await using var ssh = Transport(sshd.Host("h1") with { Identity = otherKey });

        var e = await Assert.ThrowsAnyAsync<InfrastructureException>(() => ssh.RunAsync(RemoteCommand.Exec("true")));

        Assert.Equal($"h1: authentication refused for root@{sshd.Address}:{sshd.Port} with key {otherKey}", e.Message);
    }

    [SkippableFact]
    public async Task A_missing_identity_file_is_named()
    {
        sshd.Require();
        var missing = Path.Combine(sshd.Directory, "no_such_key");
        await using var ssh = Transport(sshd.Host() with { Identity = missing });

        var e = await Assert.ThrowsAnyAsync<InfrastructureException>(() => ssh.RunAsync(RemoteCommand.Exec("true")));

        Assert.Contains(missing, e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task An_identity_file_others_can_read_is_refused_before_any_connection_as_openssh_would()
    {
        sshd.Require();
        var exposed = Path.Combine(sshd.Directory, "exposed_ed25519");
        File.Copy(sshd.ClientKeyPath, exposed, overwrite: true);
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        File.SetUnixFileMode(exposed, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var before = sshd.AcceptedLogins;
        await using (var ssh = Transport(sshd.Host() with { Identity = exposed }))
        {
            var e = await Assert.ThrowsAnyAsync<InfrastructureException>(() => ssh.RunAsync(RemoteCommand.Exec("true")));
            Assert.Contains($"identity file {exposed} is accessible by others (mode 0644)", e.Message, StringComparison.Ordinal);
            Assert.Contains($"chmod 600 {exposed}", e.Message, StringComparison.Ordinal);
        }
        Assert.Equal(before, sshd.AcceptedLogins);

        File.SetUnixFileMode(exposed, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await using var fixedUp = Transport(sshd.Host() with { Identity = exposed });
        Assert.Equal("ok", (await fixedUp.RunAsync(RemoteCommand.Exec("printf", "ok"))).StandardOutput);
    }

    [SkippableFact]
    public async Task A_connection_opened_ahead_is_the_one_the_first_command_uses_and_a_failure_is_the_first_commands_to_report()
    {
        sshd.Require();
        var before = sshd.AcceptedLogins;
        await using (var ssh = Transport())
        {
            await ssh.ConnectAheadAsync(CancellationToken.None);
            Assert.Equal(1, ssh.ConnectionsOpened);
            Assert.Equal(before + 1, await sshd.AcceptedLoginsAsync(atLeast: before + 1));
            Assert.Equal("x", (await ssh.RunAsync(RemoteCommand.Exec("printf", "x"))).StandardOutput);
            Assert.Equal(1, ssh.ConnectionsOpened);
            Assert.Equal(1, sshd.AcceptedLogins - before);
        }

        await using var gone = Transport(sshd.Host("gone") with { Address = "127.0.2.250", Port = 2299 });
        await gone.ConnectAheadAsync(CancellationToken.None); // not thrown here: the caller is not the one to handle it
        var e = await Assert.ThrowsAnyAsync<InfrastructureException>(() => gone.RunAsync(RemoteCommand.Exec("true")));
        Assert.Contains("connection refused by 127.0.2.250:2299", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task An_unreachable_host_fails_quickly_naming_address_port_and_cause()
    {
        sshd.Require();
        await using var ssh = Transport(sshd.Host("gone") with { Address = "127.0.2.250", Port = 2299 });
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAnyAsync<InfrastructureException>(() => ssh.RunAsync(RemoteCommand.Exec("true")));

        output.WriteLine($"{e.Message} ({clock.ElapsedMilliseconds} ms)");
        // Refused, not timed out: the message names the refusal; the clock only shows the connect timeout was not waited out.
        Assert.True(clock.Elapsed < Settings.ConnectTimeout, $"took {clock.Elapsed}");
        Assert.Equal("gone", e.Host);
        Assert.Equal("gone: connection refused by 127.0.2.250:2299 (is sshd running and listening there?)", e.Message);
    }

    [SkippableFact]
    public async Task An_unresolvable_name_is_reported_as_such()
    {
        sshd.Require();
        await using var ssh = Transport(sshd.Host("dns") with { Address = "no-such-host.invalid" });

        var e = await Assert.ThrowsAnyAsync<InfrastructureException>(() => ssh.RunAsync(RemoteCommand.Exec("true")));

        output.WriteLine(e.Message);
        Assert.Contains("no-such-host.invalid", e.Message, StringComparison.Ordinal);
    }
}
