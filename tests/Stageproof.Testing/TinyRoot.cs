using System.Collections.Concurrent;
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

    /// <summary>What a host's root holds: enough of this machine's programs for facts, apply and rollback.</summary>
    public static readonly IReadOnlyList<string> PatchablePrograms =
    [
        "/bin/sh", "/usr/bin/cat", "/usr/bin/uname", "/usr/bin/stat", "/usr/bin/sha256sum", "/usr/bin/base64", "/usr/bin/grep",
        "/usr/bin/dpkg-query", "/usr/bin/timeout", "/usr/bin/cksum", "/usr/bin/mkdir", "/usr/bin/mv", "/usr/bin/rm", "/usr/bin/sleep",
        "/usr/bin/cp", "/usr/bin/chmod", "/usr/bin/chown", "/usr/bin/ln", "/usr/bin/touch", "/usr/bin/ls", "/usr/bin/tar", "/usr/bin/find",
        "/usr/bin/sed", "/usr/bin/head", "/usr/bin/tail", "/usr/bin/wc", "/usr/bin/sort", "/usr/bin/dirname", "/usr/bin/basename",
        "/usr/bin/readlink", "/usr/bin/id", "/usr/bin/env", "/usr/bin/printf", "/usr/bin/date", "/usr/bin/gzip", "/usr/bin/mktemp",
        "/usr/bin/test", "/usr/bin/true", "/usr/bin/false", "/usr/bin/tr", "/usr/bin/cut", "/usr/bin/awk", "/usr/bin/xargs", "/usr/bin/sync",
        "/usr/bin/dpkg", "/usr/bin/dpkg-deb", "/usr/bin/diff", "/usr/sbin/ldconfig", "/usr/sbin/start-stop-daemon",
    ];

    /// <summary>A host the chroot transport can patch: <see cref="PatchablePrograms"/>, an empty dpkg database (a rollback
    /// runs 'dpkg --configure -a' whatever the set held), /tmp, and this machine's users and groups.</summary>
    public static async Task<TinyRoot> PatchableHostAsync()
    {
        var root = new TinyRoot();
        await root.AddProgramsAsync(PatchablePrograms.Where(File.Exists));
        foreach (var dir in new[] { "etc", "tmp", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log" })
        {
            Directory.CreateDirectory(System.IO.Path.Combine(root.Path, dir));
        }
        await File.WriteAllTextAsync(System.IO.Path.Combine(root.Path, "var/lib/dpkg/available"), "");
        await File.WriteAllTextAsync(System.IO.Path.Combine(root.Path, "var/lib/dpkg/status"), "");
        File.Copy("/etc/passwd", System.IO.Path.Combine(root.Path, "etc/passwd"));
        File.Copy("/etc/group", System.IO.Path.Combine(root.Path, "etc/group"));
        return root;
    }

    /// <summary>Skips (fails under CI=true) without root, chroot, ldd or mknod.</summary>
    public static void Require()
    {
        Requires.Root();
        Requires.Executable("/usr/sbin/chroot");
        Requires.Executable("/usr/bin/ldd");
        Requires.Executable("/usr/bin/mknod");
    }

    /// <summary>The libraries ldd names for each program, asked once a test process: a patchable root needs about 50
    /// programs, and one ldd each took 5 s a root (a worker estate makes six roots, the proxy test three).</summary>
    private static readonly ConcurrentDictionary<string, string[]> LibrariesOf = new(StringComparer.Ordinal);

    /// <summary>Copies <paramref name="programs"/> and their libraries in, and makes /dev/null.</summary>
    public async Task AddProgramsAsync(IEnumerable<string> programs)
    {
        var wanted = programs.ToList();
        await LearnLibrariesAsync(wanted.Where(p => !LibrariesOf.ContainsKey(p)).Distinct(StringComparer.Ordinal).ToList());
        foreach (var program in wanted)
        {
            Copy(program);
            foreach (var library in LibrariesOf[program])
            {
                Copy(library);
            }
        }
        if (!File.Exists(System.IO.Path.Combine(Path, "dev/null")))
        {
            Directory.CreateDirectory(System.IO.Path.Combine(Path, "dev"));
            await RunAsync("/usr/bin/mknod", "-m", "666", System.IO.Path.Combine(Path, "dev/null"), "c", "1", "3");
        }
    }

    /// <summary>One ldd for all of <paramref name="programs"/>: given more than one file, it heads each one's libraries
    /// with a line "PROGRAM:".</summary>
    private static async Task LearnLibrariesAsync(IReadOnlyList<string> programs)
    {
        if (programs.Count == 0)
        {
            return;
        }
        var found = programs.ToDictionary(p => p, _ => new List<string>(), StringComparer.Ordinal);
        var current = programs.Count == 1 ? programs[0] : null;
        foreach (var line in (await RunAsync("/usr/bin/ldd", [.. programs])).Split('\n'))
        {
            if (programs.Count > 1 && line.Length > 1 && !char.IsWhiteSpace(line[0]) && line.EndsWith(':'))
            {
                current = line[..^1];
                continue;
            }
            Assert.True(current is not null && found.ContainsKey(current), $"ldd: a line before any program it names: {line}");
            found[current].AddRange(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Where(w => w.StartsWith('/')));
        }
        foreach (var (program, libraries) in found)
        {
            LibrariesOf[program] = [.. libraries];
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
