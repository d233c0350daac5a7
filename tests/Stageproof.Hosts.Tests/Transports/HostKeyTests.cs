using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Transports;

/// <summary>Host key checking against a real sshd: changed keys are always refused, unknown ones by policy.</summary>
public sealed class HostKeyTests(SshdFixture sshd) : IClassFixture<SshdFixture>
{
    private static readonly SshSettings Settings = new() { ConnectTimeout = TimeSpan.FromSeconds(5) };

    private string HostPattern => $"[{sshd.Address}]:{sshd.Port}";

    private string KnownHostsWith(params string[] lines)
    {
        var path = Path.Combine(sshd.Directory, "kh-" + Guid.NewGuid().ToString("N")[..8]);
        File.WriteAllLines(path, lines);
        return path;
    }

    private string Marker() => Path.Combine(sshd.Directory, "ran-" + Guid.NewGuid().ToString("N")[..8]);

    [SkippableFact]
    public async Task A_known_and_equal_key_is_accepted()
    {
        sshd.Require();
        // Other hosts' lines and hashed lines around ours must not confuse the lookup.
        var path = KnownHostsWith($"[{sshd.Address}]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICzAfIjqxUV7A1vj91sD+s+rma2cU0veTMiEP2dnqPTL",
            $"{HostPattern} {sshd.HostPublicKey}");
        await using var ssh = new SshTransport(sshd.Host() with { KnownHosts = path }, Settings, HostKeyPolicy.Strict);

        Assert.Equal("ok", (await ssh.RunAsync(RemoteCommand.Exec("printf", "ok"))).StandardOutput);
    }

    [SkippableFact]
    public async Task A_changed_key_is_refused_with_both_fingerprints_and_a_mitm_warning_even_under_accept_new()
    {
        sshd.Require();
        var impostor = Path.Combine(sshd.Directory, "impostor-" + Guid.NewGuid().ToString("N")[..8]);
        await SshdFixture.GenerateKeyAsync(impostor);
        var recorded = SshdFixture.PublicKeyOf(impostor);
        var path = KnownHostsWith($"{HostPattern} {recorded}");
        var marker = Marker();

        foreach (var policy in new[] { HostKeyPolicy.Strict, HostKeyPolicy.AcceptNew })
        {
            await using var ssh = new SshTransport(sshd.Host("prod-app-1") with { KnownHosts = path }, Settings, policy);

            var e = await Assert.ThrowsAsync<HostKeyException>(() => ssh.RunAsync(RemoteCommand.Exec("touch", marker)));

            Assert.Equal("prod-app-1", e.Host);
            Assert.Contains("CHANGED", e.Message, StringComparison.Ordinal);
            Assert.Contains(KnownHosts.Fingerprint(Convert.FromBase64String(recorded.Split(' ')[1])), e.Message, StringComparison.Ordinal);
            Assert.Contains(KnownHosts.Fingerprint(sshd.HostKeyBlob), e.Message, StringComparison.Ordinal);
            Assert.Contains("man-in-the-middle", e.Message, StringComparison.Ordinal);
            Assert.Equal(0, ssh.ConnectionsOpened);
        }
        Assert.False(File.Exists(marker), "a command ran on a host whose key changed");
        Assert.Equal([$"{HostPattern} {recorded}"], File.ReadAllLines(path));
    }

    [SkippableFact]
    public async Task An_unknown_host_is_refused_under_strict_with_its_fingerprint_and_the_option_to_accept()
    {
        sshd.Require();
        var path = Path.Combine(sshd.Directory, "absent", "known_hosts");
        var marker = Marker();
        await using var ssh = new SshTransport(sshd.Host("new-host") with { KnownHosts = path }, Settings, HostKeyPolicy.Strict);

        var e = await Assert.ThrowsAsync<HostKeyException>(() => ssh.RunAsync(RemoteCommand.Exec("touch", marker)));

        Assert.Contains(KnownHosts.Fingerprint(sshd.HostKeyBlob), e.Message, StringComparison.Ordinal);
        Assert.Contains("--accept-new-host-keys", e.Message, StringComparison.Ordinal);
        Assert.Contains("Verify", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(marker));
        Assert.False(File.Exists(path));
    }

    [SkippableFact]
    public async Task An_unknown_host_is_accepted_and_recorded_under_accept_new_then_trusted_under_strict()
    {
        sshd.Require();
        var path = KnownHostsWith("# managed by stageproof");
        await using (var ssh = new SshTransport(sshd.Host() with { KnownHosts = path }, Settings, HostKeyPolicy.AcceptNew))
        {
            Assert.Equal("ok", (await ssh.RunAsync(RemoteCommand.Exec("printf", "ok"))).StandardOutput);
        }

        Assert.Equal(["# managed by stageproof", $"{HostPattern} {sshd.HostPublicKey}"], File.ReadAllLines(path));
        await using var strict = new SshTransport(sshd.Host() with { KnownHosts = path }, Settings, HostKeyPolicy.Strict);
        Assert.Equal("ok", (await strict.RunAsync(RemoteCommand.Exec("printf", "ok"))).StandardOutput);
    }

    [SkippableFact]
    public async Task A_revoked_key_is_refused()
    {
        sshd.Require();
        var path = KnownHostsWith($"@revoked {HostPattern} {sshd.HostPublicKey}");
        await using var ssh = new SshTransport(sshd.Host() with { KnownHosts = path }, Settings, HostKeyPolicy.AcceptNew);

        var e = await Assert.ThrowsAsync<HostKeyException>(() => ssh.RunAsync(RemoteCommand.Exec("true")));

        Assert.Contains("@revoked", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_host_key_fingerprint_matches_ssh_keygen()
    {
        sshd.Require();
        var psi = new System.Diagnostics.ProcessStartInfo(SshdFixture.KeygenPath) { RedirectStandardOutput = true };
        psi.ArgumentList.Add("-lf");
        psi.ArgumentList.Add(sshd.HostKeyPath + ".pub");
        using var p = System.Diagnostics.Process.Start(psi)!;
        var printed = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();

        Assert.Equal(printed.Split(' ')[1], KnownHosts.Fingerprint(sshd.HostKeyBlob));
    }
}
