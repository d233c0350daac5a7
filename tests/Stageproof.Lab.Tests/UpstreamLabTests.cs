using System.Diagnostics;
using System.Text.Json;
using Stageproof.Cli;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Lab.Tests;

/// <summary>A lab whose hosts also see Debian's own archives (security included): octets 5/15/25, one app host each.</summary>
public sealed class UpstreamLabFixture() : SharedLab(5, 2602, appHosts: 1, upstream: true);

/// <summary>
/// Real updates, not only ours: whatever security updates Debian has pending for the lab's minbase system on the day
/// are scanned, frozen, staged and applied to prod, and prod ends with exactly staging's versions and files.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Trait("Category", "Lab")] // needs a whole lab and Debian's archive: left out of the fast tier
public sealed class UpstreamLabTests(UpstreamLabFixture lab, ITestOutputHelper output) : IClassFixture<UpstreamLabFixture>
{
    /// <summary>The lab's configuration, except that a tracked config file changed by a package's own new conffile only
    /// warns: Debian's security updates ship such changes (PAM's namespace.init did on 2026-11-30), and an operator who
    /// reviewed them says so in stage.policy rather than declaring every file.</summary>
    private const string ConfigFile = "upstream.yaml";

    private async Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args)
    {
        var config = Path.Combine(lab.Directory, ConfigFile);
        if (!File.Exists(config))
        {
            await File.WriteAllTextAsync(config, await File.ReadAllTextAsync(Path.Combine(lab.Directory, "stageproof.yaml")) +
                "\nstage:\n  policy:\n    unexpected_config: warn\n");
        }
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await StageproofCli.RunAsync(
            ["--config", config, "--state", Path.Combine(lab.Directory, ".stageproof"), .. args], stdout, stderr);
        output.WriteLine($"$ stageproof {string.Join(' ', args)}  → exit {code}\n{stderr}\n{stdout}");
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string RootOf(string host) => lab.Up.Hosts.Single(h => h.Name == host).Root;

    /// <summary>What dpkg recorded for <paramref name="package"/> on a host: its version and the MD5 of every file it installed.</summary>
    private async Task<string> InstalledAsync(string host, string package)
    {
        var psi = new ProcessStartInfo("/usr/sbin/chroot") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { RootOf(host), "/bin/sh", "-c",
                     "dpkg-query -W -f='${Version}\\n' \"$1\"; cat /var/lib/dpkg/info/\"$1\".md5sums /var/lib/dpkg/info/\"$1\":*.md5sums 2>/dev/null; true", "sh", package })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var text = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return text;
    }

    [SkippableFact]
    public async Task Pending_Debian_security_updates_are_staged_and_reach_prod_as_the_bytes_staging_proved()
    {
        lab.Require();
        var draft = Path.Combine(lab.Directory, "security.yaml");
        var scan = await CliAsync("--json", "scan", "staging", "--security", "-o", draft);
        Assert.True(scan.Code == 0, scan.Stderr);
        var upgrades = JsonDocument.Parse(scan.Stdout).RootElement.GetProperty("upgrades").EnumerateArray().ToList();
        if (upgrades.Count == 0)
        {
            // Nothing to prove on such a day; said plainly rather than passed off as a proof.
            output.WriteLine("NO SECURITY UPDATES are pending in Debian's archive for the lab's base image today: nothing was staged.");
            Assert.Contains("packages: []", await File.ReadAllTextAsync(draft), StringComparison.Ordinal);
            return;
        }
        output.WriteLine($"{upgrades.Count} pending security update(s): " + string.Join(", ", upgrades.Select(u => $"{u.GetProperty("name").GetString()} {u.GetProperty("candidateVersion").GetString()}")));

        var freeze = await CliAsync("--json", "patch", "freeze", draft);
        Assert.True(freeze.Code == 0, freeze.Stderr);
        var digest = JsonDocument.Parse(freeze.Stdout).RootElement.GetProperty("digest").GetString()!;

        var stage = await CliAsync("stage", digest[..12], "--env", "staging");
        Assert.True(stage.Code == 0, stage.Stdout);
        var show = await CliAsync("--json", "patch", "show", digest[..12]);
        var closure = JsonDocument.Parse(show.Stdout).RootElement.GetProperty("closure");
        var packages = closure.GetProperty("packages").EnumerateArray()
            .Select(p => (Name: p.GetProperty("name").GetString()!, Version: p.GetProperty("version").GetString()!)).ToList();
        Assert.True(packages.Count >= upgrades.Count, show.Stdout);

        var apply = await CliAsync("apply", digest[..12], "--env", "prod");
        Assert.True(apply.Code == 0, apply.Stderr);
        Assert.Contains("proven closure", apply.Stderr, StringComparison.Ordinal);
        foreach (var (name, version) in packages)
        {
            var staged = await InstalledAsync("staging-app-1", name);
            Assert.StartsWith(version + "\n", staged, StringComparison.Ordinal);
            Assert.Equal(staged, await InstalledAsync("prod-app-1", name));
        }
    }
}
