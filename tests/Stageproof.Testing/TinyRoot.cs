using System.Diagnostics;

namespace Stageproof.Testing;

/// <summary>
/// A tiny root for the chroot transport: some of this machine's programs with the libraries ldd names for them and a
/// /dev/null, in a temp folder that disposing removes. Tests add the files their case needs.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TinyRoot : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("stageproof-root-").FullName;

    /// <summary>Skips (fails under CI=true) without root, chroot, ldd or mknod.</summary>
    public static void Require()
    {
        Requires.Root();
        Requires.Executable("/usr/sbin/chroot");
        Requires.Executable("/usr/bin/ldd");
        Requires.Executable("/usr/bin/mknod");
    }

    /// <summary>Copies <paramref name="programs"/> and their libraries in, and makes /dev/null.</summary>
    public async Task AddProgramsAsync(IEnumerable<string> programs)
    {
        foreach (var program in programs)
        {
            Copy(program);
            var ldd = await RunAsync("/usr/bin/ldd", program);
            foreach (var word in ldd.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries).Where(w => w.StartsWith('/')))
            {
                Copy(word);
            }
        }
        if (!File.Exists(System.IO.Path.Combine(Path, "dev/null")))
        {
            Directory.CreateDirectory(System.IO.Path.Combine(Path, "dev"));
            await RunAsync("/usr/bin/mknod", "-m", "666", System.IO.Path.Combine(Path, "dev/null"), "c", "1", "3");
        }
    }

    private void Copy(string path)
    {
        var target = Path + path;
        if (File.Exists(target))
        {
            return;
        }
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
        File.Copy(System.IO.Path.GetFullPath(path), target);
        File.SetUnixFileMode(target, File.GetUnixFileMode(path));
    }

    /// <summary>Runs a program to completion; a non-zero exit fails the test.</summary>
    public static async Task<string> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}: {stderr}");
        return await stdout;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
