using System.Diagnostics;

namespace Stageproof.Lab.Tests;

/// <summary>Small helpers: run a program, build a tiny .deb, ssh into a lab host with the lab's key and known_hosts.</summary>
internal static class Probe
{
    public static async Task<(int Code, string Out)> RunAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await o + await e);
    }

    public static Task<(int Code, string Out)> SshAsync(LabManager lab, LabHost host, string command) =>
        RunAsync("/usr/bin/ssh", "-o", "BatchMode=yes", "-o", $"UserKnownHostsFile={lab.KnownHostsFile}", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=10", "-i", lab.IdentityFile, "-p", host.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            $"root@{host.Address}", command);

    /// <summary>Builds NAME_VERSION_all.deb (one file under /usr/share/NAME) in <paramref name="outDir"/>.</summary>
    public static async Task<string> BuildDebAsync(string outDir, string name, string version)
    {
        var tree = Path.Combine(outDir, $"{name}-{version}-tree");
        Directory.CreateDirectory(Path.Combine(tree, "DEBIAN"));
        Directory.CreateDirectory(Path.Combine(tree, "usr/share", name));
        await File.WriteAllTextAsync(Path.Combine(tree, "DEBIAN/control"),
            $"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: test <t@example.invalid>\nDescription: lab test package\n");
        await File.WriteAllTextAsync(Path.Combine(tree, "usr/share", name, "version"), version + "\n");
        var deb = Path.Combine(outDir, $"{name}_{version}_all.deb");
        var (code, output) = await RunAsync("/usr/bin/dpkg-deb", "--root-owner-group", "--build", tree, deb);
        Assert.True(code == 0, output);
        return deb;
    }
}
