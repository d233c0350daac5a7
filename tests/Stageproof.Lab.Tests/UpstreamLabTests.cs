using System.Text.Json;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Lab.Tests;

/// <summary>A lab whose hosts also see Debian's own archives (security included): octets 5/15/25, one app host each.</summary>
public sealed class UpstreamLabFixture() : SharedLab(5, 2602, appHosts: 1, upstream: true);

/// <summary>
/// Real updates, not only ours: whatever security updates Debian has pending for the lab's minbase system on the day
/// are scanned, frozen, staged and promoted to prod, and prod ends with exactly staging's versions and files.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Trait("Category", "Lab")] // needs a whole lab and Debian's archive: left out of the fast tier
public sealed class UpstreamLabTests(UpstreamLabFixture lab, ITestOutputHelper output) : IClassFixture<UpstreamLabFixture>
{
    /// <summary>The lab's configuration, except that a tracked config file changed by a package's own new conffile only
    /// warns: Debian's security updates ship such changes (PAM's namespace.init did on 2026-11-30), and an operator who
    /// reviewed them says so in stage.policy rather than declaring every file; and without the suite's load checks
    /// (<see cref="LabConfigs.WithoutLoadChecks"/>): this stage gives the gate its PASS, what reaches prod is the
    /// subject, and this lab has no control twin to judge latency against (the mail estate's stages judge it against
    /// their noise floor, the stage lab tests against a control).</summary>
    private const string ConfigFile = "upstream.yaml";

    private async Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args)
    {
        var config = Path.Combine(lab.Directory, ConfigFile);
        if (!File.Exists(config))
        {
            await File.WriteAllTextAsync(config, LabConfigs.WithoutLoadChecks(await File.ReadAllTextAsync(Path.Combine(lab.Directory, "stageproof.yaml"))) +
                "\nstage:\n  policy:\n    unexpected_config: warn\n");
        }
        return await Probe.CliAsync(output, lab.Directory, ConfigFile, args);
    }

    private string RootOf(string host) => lab.Up.Hosts.Single(h => h.Name == host).Root;

    private Task<string> InRootAsync(string host, string script, params string[] args) => Probe.InRootAsync(RootOf(host), script, args);

    /// <summary>What dpkg recorded for <paramref name="package"/> on a host: its version and the MD5 of every file it installed.</summary>
    private Task<string> InstalledAsync(string host, string package) => InRootAsync(host,
        "dpkg-query -W -f='${Version}\\n' \"$1\" 2>/dev/null; cat /var/lib/dpkg/info/\"$1\".md5sums /var/lib/dpkg/info/\"$1\":*.md5sums 2>/dev/null; true", package);

    [SkippableFact]
    public async Task Pending_Debian_security_updates_are_staged_and_promoted_to_prod_as_the_bytes_staging_proved()
    {
        lab.Require();
        var draft = Path.Combine(lab.Directory, "security.yaml");
        var scan = await CliAsync("--json", "scan", "staging", "--security", "-o", draft);
        Assert.True(scan.Code == 0, scan.Stderr);
        var upgrades = JsonDocument.Parse(scan.Stdout).RootElement.GetProperty("upgrades").EnumerateArray().ToList();
        output.WriteLine(upgrades.Count == 0
            // Said plainly rather than passed off as a proof: the set then holds jq alone.
            ? "NO SECURITY UPDATES are pending in Debian's archive for the lab's base image today."
            : $"{upgrades.Count} pending security update(s): " + string.Join(", ", upgrades.Select(u => $"{u.GetProperty("name").GetString()} {u.GetProperty("candidateVersion").GetString()}")));

        // jq too, which minbase lacks, and whose libraries (libjq1, libonig5) the set does not name: apt brings them.
        var policy = await InRootAsync("staging-app-1", "apt-cache policy jq");
        var jq = policy.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("Candidate:", StringComparison.Ordinal))["Candidate:".Length..].Trim();
        var yaml = (await File.ReadAllTextAsync(draft)).Replace("packages: []\n", "packages:\n", StringComparison.Ordinal);
        await File.WriteAllTextAsync(draft, yaml + $"  - {{ name: jq, version: \"{jq}\" }}\n");

        var freeze = await CliAsync("--json", "patch", "freeze", draft);
        Assert.True(freeze.Code == 0, freeze.Stderr);
        var digest = JsonDocument.Parse(freeze.Stdout).RootElement.GetProperty("digest").GetString()!;

        var stage = await CliAsync("stage", digest[..12], "--env", "staging");
        Assert.True(stage.Code == 0, stage.Stdout);
        var show = await CliAsync("--json", "patch", "show", digest[..12]);
        var closure = JsonDocument.Parse(show.Stdout).RootElement.GetProperty("closure");
        var packages = closure.GetProperty("packages").EnumerateArray()
            .Select(p => (Name: p.GetProperty("name").GetString()!, Version: p.GetProperty("version").GetString()!)).ToList();
        Assert.Equal(upgrades.Count + 1, packages.Count(p => p.Name == "jq" || upgrades.Any(u => u.GetProperty("name").GetString() == p.Name)));
        var pulledIn = packages.Where(p => p.Name != "jq" && upgrades.All(u => u.GetProperty("name").GetString() != p.Name)).ToList();
        Assert.Contains(pulledIn, p => p.Name == "libjq1");
        output.WriteLine("apt brought, unnamed by the set: " + string.Join(", ", pulledIn.Select(p => $"{p.Name} {p.Version}")));

        // Promoted as the lifecycle asks: staging's PASS, carol's approval (through her token), a canary-first rollout.
        var me = Environment.UserName;
        Assert.Equal(0, (await CliAsync("user", "add", me, "--role", "admin")).Code);
        Assert.Equal(0, (await CliAsync("user", "add", "carol", "--role", "approver")).Code);
        var carol = Path.Combine(lab.Directory, "carol.token");
        Assert.Equal(0, (await CliAsync("token", "create", "carol", "-o", carol)).Code);
        Assert.Equal(0, (await CliAsync("--token-file", carol, "approve", digest[..12], "--env", "prod")).Code);
        var promote = await CliAsync("--json", "promote", digest[..12], "--to", "prod");
        Assert.True(promote.Code == 0, promote.Stderr + promote.Stdout);
        Assert.Equal("succeeded", JsonDocument.Parse(promote.Stdout).RootElement.GetProperty("status").GetString());

        // Prod's .debs are the closure's, byte for byte, and dpkg shows staging's versions and files for every package.
        var digests = closure.GetProperty("packages").EnumerateArray().Select(p => p.GetProperty("sha256").GetString()!).Order(StringComparer.Ordinal).ToList();
        var onProd = await InRootAsync("prod-app-1", "cd /var/lib/stageproof/snapshots/\"$1\"/pool && sha256sum *.deb | cut -d' ' -f1 | sort", closure.GetProperty("digest").GetString()!);
        Assert.Equal(digests, onProd.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        foreach (var (name, version) in packages)
        {
            var staged = await InstalledAsync("staging-app-1", name);
            Assert.StartsWith(version + "\n", staged, StringComparison.Ordinal);
            Assert.Equal(staged, await InstalledAsync("prod-app-1", name));
        }
    }
}
