using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using Stageproof.Core;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Lab.Tests;

/// <summary>
/// A lab (octets 35/45/55, one app host each) whose staging app host is reachable only through a bastion: the host's
/// sshd runs in a network namespace of its own, so its address answers nothing from this machine, and the bastion is a
/// second sshd (inetd mode, started per connection by systemd-socket-activate) whose sessions live in that namespace,
/// allowed by its authorized_keys to open that one address and port and nothing else.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class BastionLabFixture() : SharedLab(35, 2652, appHosts: 1), IAsyncLifetime
{
    public const string BastionAddress = "127.0.35.250";
    public const int BastionPort = 2652;
    public const string Target = "staging-app-1";

    private readonly string _namespace = $"sp-bastion-{Environment.ProcessId}";
    private Process? _bastion;
    private Exception? _setupFailure;

    public string BastionDirectory => Path.Combine(Directory, "bastion");
    public string BastionLog => Path.Combine(BastionDirectory, "sshd.log");
    public string BastionHostKey => Path.Combine(BastionDirectory, "host_ed25519");
    public string TargetRoot => Up.Hosts.Single(h => h.Name == Target).Root;
    public string TargetAddress => Up.Hosts.Single(h => h.Name == Target).Address;

    async Task IAsyncLifetime.InitializeAsync()
    {
        await InitializeAsync();
        if (Failure is not null || !CanRun)
        {
            return;
        }
        try
        {
            await IsolateTargetAsync();
            await StartBastionAsync();
        }
#pragma warning disable CA1031 // Reported by Require() inside the test, where xunit shows it; DisposeAsync still cleans up.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _setupFailure = e;
        }
    }

    /// <summary>As the lab's Require, and fails the test when the namespace or the bastion could not be set up.</summary>
    public new void Require()
    {
        base.Require();
        if (_setupFailure is not null)
        {
            throw new InvalidOperationException("bastion setup failed: " + _setupFailure.Message, _setupFailure);
        }
    }

    /// <summary>The target's sshd stopped and started again inside the namespace (same root, address and port).</summary>
    private async Task IsolateTargetAsync()
    {
        var pidFile = Path.Combine(TargetRoot, "run/sshd.pid");
        var pid = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using (var sshd = Process.GetProcessById(pid))
        {
            sshd.Kill();
            await sshd.WaitForExitAsync();
        }
        await Probe.RunCheckedAsync("/usr/sbin/ip", "netns", "add", _namespace);
        await Probe.RunCheckedAsync("/usr/sbin/ip", "-n", _namespace, "link", "set", "lo", "up");
        await Probe.RunCheckedAsync("/usr/sbin/ip", "netns", "exec", _namespace, "/usr/sbin/chroot", TargetRoot,
            "/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config", "-E", "/var/log/sshd.log");
    }

    private async Task StartBastionAsync()
    {
        System.IO.Directory.CreateDirectory(BastionDirectory);
        await SshdFixture.GenerateKeyAsync(BastionHostKey);
        var labKey = await File.ReadAllTextAsync(Path.Combine(Directory, "keys", "lab_ed25519.pub"));
        // The bastion lets this key open the staging host's sshd and nothing else: no shell, no other forward.
        await File.WriteAllTextAsync(Path.Combine(BastionDirectory, "authorized_keys"),
            $"restrict,port-forwarding,permitopen=\"{TargetAddress}:{SshPort}\" {labKey.Trim()}\n");
        var config = Path.Combine(BastionDirectory, "sshd_config");
        await File.WriteAllLinesAsync(config,
        [
            $"HostKey {BastionHostKey}",
            $"AuthorizedKeysFile {Path.Combine(BastionDirectory, "authorized_keys")}",
            "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "AllowTcpForwarding yes", "PidFile none", "LogLevel INFO",
        ]);
        System.IO.Directory.CreateDirectory("/run/sshd");
        var psi = new ProcessStartInfo("/usr/bin/systemd-socket-activate") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-a", "--inetd", "-l", $"{BastionAddress}:{BastionPort}", "/usr/sbin/ip", "netns", "exec", _namespace,
                     "/usr/sbin/sshd", "-i", "-f", config, "-E", BastionLog })
        {
            psi.ArgumentList.Add(a);
        }
        _bastion = Process.Start(psi)!;
        _bastion.ErrorDataReceived += (_, _) => { };
        _bastion.OutputDataReceived += (_, _) => { };
        _bastion.BeginErrorReadLine();
        _bastion.BeginOutputReadLine();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(BastionAddress, BastionPort);
                break;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(50);
            }
        }
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        if (_bastion is { } bastion)
        {
            bastion.Kill(entireProcessTree: true);
            await bastion.WaitForExitAsync();
            bastion.Dispose();
        }
        // lab down ends the host's sshd (by its pid file, wherever it runs); then the namespace goes.
        await DisposeAsync();
        if (File.Exists($"/run/netns/{_namespace}"))
        {
            await Probe.RunCheckedAsync("/usr/sbin/ip", "netns", "del", _namespace);
        }
    }
}

/// <summary>
/// Facts, apply and rollback of a staging host that only its bastion can reach, through ~/.ssh/config-style aliases
/// (Host, HostName, Port, User, IdentityFile, UserKnownHostsFile, ProxyJump); a changed bastion key stops everything.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Trait("Category", "Lab")] // needs a whole lab: left out of the fast tier
public sealed class BastionLabTests(BastionLabFixture lab, ITestOutputHelper output) : IClassFixture<BastionLabFixture>
{
    /// <summary>A package of the test's own: the host's namespace has no way to the lab's database, which acme-mail's
    /// maintainer scripts need, and a real estate's bastion-only host would have its own.</summary>
    private const string Package = "sp-bastion-probe";

    private static string Set(string version) => $$"""
        id: PROBE-{{version.Replace(".", "-", StringComparison.Ordinal)}}
        title: {{Package}} {{version}} through the bastion
        ticket: INC-4712
        reason: the staging host sits behind a bastion, as production's do
        root_cause: none, a probe
        severity: low
        author: alice
        packages:
          - { name: {{Package}}, version: "{{version}}" }
        """;

    private async Task<string> FreezeAsync(string config, string version)
    {
        var file = Path.Combine(lab.Directory, $"probe-{version}.yaml");
        await File.WriteAllTextAsync(file, Set(version));
        var freeze = await CliAsync(config, "--json", "patch", "freeze", file);
        Assert.True(freeze.Code == 0, freeze.Stderr);
        return JsonDocument.Parse(freeze.Stdout).RootElement.GetProperty("digest").GetString()![..12];
    }

    private Task<(int Code, string Stdout, string Stderr)> CliAsync(string config, params string[] args) => Probe.CliAsync(output, lab.Directory, config, args);

    /// <summary>The lab's configuration reading an ssh_config that sends the staging host through the bastion.</summary>
    private async Task<string> BastionConfigAsync()
    {
        var keys = Path.Combine(lab.Directory, "keys");
        await File.WriteAllTextAsync(Path.Combine(lab.Directory, "ssh_config"), $"""
            # What a team's ~/.ssh/config says: the bastion by its alias, staging behind it.
            Host bastion
                HostName {BastionLabFixture.BastionAddress}
                Port {BastionLabFixture.BastionPort}
                User root
                IdentityFile {keys}/lab_ed25519
                UserKnownHostsFile {keys}/known_hosts

            Host {lab.TargetAddress}
                ProxyJump bastion

            """);
        var yaml = await File.ReadAllTextAsync(Path.Combine(lab.Directory, "stageproof.yaml"));
        Assert.Contains("ssh:\n  parallelism: 16\n", yaml, StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(lab.Directory, "bastion.yaml"),
            yaml.Replace("ssh:\n  parallelism: 16\n", "ssh:\n  parallelism: 16\n  config: ssh_config\n", StringComparison.Ordinal));
        return "bastion.yaml";
    }

    private Task<string> VersionAsync() => Probe.InRootAsync(lab.TargetRoot, "dpkg-query -W -f='${Version}' \"$1\"", Package);

    private int BastionLogins => File.Exists(lab.BastionLog)
        ? File.ReadAllLines(lab.BastionLog).Count(l => l.Contains("Accepted publickey", StringComparison.Ordinal)) : 0;

    [SkippableFact]
    public async Task Facts_apply_and_rollback_reach_a_host_only_through_its_bastion_and_a_changed_bastion_key_stops_them()
    {
        lab.Require();
        var known = Path.Combine(lab.Directory, "keys", "known_hosts");
        await File.AppendAllTextAsync(known, $"[{BastionLabFixture.BastionAddress}]:{BastionLabFixture.BastionPort} {SshdFixture.PublicKeyOf(lab.BastionHostKey)}\n");

        // Directly, the staging host cannot be reached at all.
        var direct = await CliAsync("stageproof.yaml", "--json", "facts", "staging");
        Assert.Equal(ExitCodes.Infrastructure, direct.Code);
        Assert.Contains($"connection refused by {lab.TargetAddress}:{lab.SshPort}", direct.Stderr, StringComparison.Ordinal);

        var config = await BastionConfigAsync();
        var show = await CliAsync(config, "--json", "config", "show");
        var target = JsonDocument.Parse(show.Stdout).RootElement.GetProperty("hosts").EnumerateArray()
            .Single(h => h.GetProperty("name").GetString() == BastionLabFixture.Target);
        var jump = Assert.Single(target.GetProperty("jumps").EnumerateArray());
        Assert.Equal((BastionLabFixture.BastionAddress, BastionLabFixture.BastionPort), (jump.GetProperty("address").GetString(), jump.GetProperty("port").GetInt32()));
        Assert.Equal(10, target.GetProperty("values").GetProperty("jump").GetProperty("from").GetProperty("line").GetInt32());

        var facts = await CliAsync(config, "--json", "facts", "staging");
        Assert.True(facts.Code == 0, facts.Stderr);
        Assert.True(JsonDocument.Parse(facts.Stdout).RootElement.GetProperty("manifests")[0].GetProperty("manifest")
            .GetProperty("packages").GetArrayLength() > 100);
        Assert.True(BastionLogins >= 1, "the bastion logged no login");

        await lab.Lab.RepoAddAsync([await Probe.BuildDebAsync(lab.Directory, Package, "1.0"), await Probe.BuildDebAsync(lab.Directory, Package, "2.0")]);
        var first = await CliAsync(config, "--json", "apply", await FreezeAsync(config, "1.0"), "--env", "staging");
        Assert.True(first.Code == 0, first.Stderr + first.Stdout);
        Assert.Equal("1.0", await VersionAsync());
        var upgrade = await CliAsync(config, "--json", "apply", await FreezeAsync(config, "2.0"), "--env", "staging");
        Assert.True(upgrade.Code == 0, upgrade.Stderr + upgrade.Stdout);
        Assert.Equal("2.0", await VersionAsync());

        var rollback = await CliAsync(config, "--json", "rollback", "--env", "staging");
        Assert.True(rollback.Code == 0, rollback.Stderr + rollback.Stdout);
        Assert.Equal("1.0", await VersionAsync());

        // The bastion is reinstalled, or someone sits in its place: its key is not the recorded one.
        File.Delete(lab.BastionHostKey);
        File.Delete(lab.BastionHostKey + ".pub");
        await SshdFixture.GenerateKeyAsync(lab.BastionHostKey);
        var logins = BastionLogins;
        var refused = await CliAsync(config, "facts", "staging");
        Assert.Equal(ExitCodes.Infrastructure, refused.Code);
        Assert.Contains("jump host bastion", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("man-in-the-middle", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(logins, BastionLogins);
    }
}
