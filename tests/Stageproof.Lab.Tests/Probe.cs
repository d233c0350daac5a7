using System.Diagnostics;
using Stageproof.Cli;
using Xunit.Abstractions;

namespace Stageproof.Lab.Tests;

/// <summary>Small helpers: run a program, a script inside a host's root, the CLI on a lab; build a tiny .deb; ssh into a
/// lab host with the lab's key and known_hosts.</summary>
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

    /// <summary>Runs a program and throws, with its output, when it fails (for fixtures' setup).</summary>
    public static async Task RunCheckedAsync(string program, params string[] args)
    {
        var (code, output) = await RunAsync(program, args);
        if (code != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {code}: {output}");
        }
    }

    /// <summary>Runs a shell script inside a lab host's root (the lab's hosts are chroots); returns its standard output.</summary>
    public static async Task<string> InRootAsync(string root, string script, params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/sbin/chroot") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { root, "/bin/sh", "-c", script, "sh" }.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return await stdout;
    }

    /// <summary>The CLI in this process on a lab (<paramref name="config"/> in its folder, its state folder), logged to the test's output.</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> CliAsync(ITestOutputHelper output, string labDirectory, string config, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await StageproofCli.RunAsync(
            ["--config", Path.Combine(labDirectory, config), "--state", Path.Combine(labDirectory, ".stageproof"), .. args], stdout, stderr);
        output.WriteLine($"$ stageproof --config {config} {string.Join(' ', args)}  → exit {code}\n{stderr}\n{stdout}");
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The /proc entries of the processes whose root is inside <paramref name="dir"/> (a lab's hosts).</summary>
    public static List<string> ProcessesRootedIn(string dir)
    {
        var found = new List<string>();
        foreach (var p in Directory.EnumerateDirectories("/proc").Where(p => int.TryParse(Path.GetFileName(p), out _)))
        {
            try
            {
                if (new FileInfo(Path.Combine(p, "root")).LinkTarget is { } root && root.StartsWith(dir, StringComparison.Ordinal))
                {
                    found.Add(p);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return found;
    }

    /// <summary>A /proc entry's command name, or null when the process ended meanwhile.</summary>
    public static string? CommandName(string proc)
    {
        try
        {
            return File.ReadAllText(Path.Combine(proc, "comm")).Trim();
        }
        catch (IOException)
        {
            return null;
        }
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
