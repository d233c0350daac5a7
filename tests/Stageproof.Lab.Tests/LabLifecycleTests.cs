using System.Diagnostics;
using Stageproof.Lab;
using Stageproof.Testing;

namespace Stageproof.Lab.Tests;

/// <summary>A lab of its own (addresses 127.0.200.x ...): up from a cached base, down leaves nothing behind. Whole labs
/// (one of them the nine-host mail estate) coming up and going down load the machine in bursts: the class starts first
/// beside the noise-floor collection (Order.cs), while every lab of the run comes up anyway, and ends before that
/// collection's first baseline.</summary>
[Trait("Category", "Lab")] // needs a whole lab: left out of the fast tier (dotnet test --filter "Category!=Lab")
public sealed class LabLifecycleTests
{
    [SkippableFact]
    public async Task Up_with_a_cached_base_is_fast_and_down_leaves_no_mount_process_or_database()
    {
        Requires.Root();
        Requires.Executable("/usr/sbin/debootstrap");
        var dir = Path.Combine(Path.GetTempPath(), "stageproof-lab-life-" + Guid.NewGuid().ToString("N")[..8]);
        var lab = new LabManager(LabFixture.Options(dir, 200) with { AppHosts = 1 });
        try
        {
            var first = await lab.UpAsync(new Progress<string>(Console.WriteLine));
            Console.WriteLine($"LAB UP (first{(first.BaseImageBuilt ? ", base built" : ", cached base")}) took {first.Elapsed.TotalSeconds:0.0}s");
            await lab.DownAsync();
            var up = await lab.UpAsync(new Progress<string>(Console.WriteLine));
            Console.WriteLine($"LAB UP (second, cached base) took {up.Elapsed.TotalSeconds:0.0}s");
            Assert.False(up.BaseImageBuilt);
            // How long an up takes is bench/lab-up.sh's figure, not a verdict: a loaded machine may take longer.
            Assert.Contains(File.ReadAllLines("/proc/mounts"), l => l.Contains(dir, StringComparison.Ordinal));

            await Assert.ThrowsAsync<Stageproof.Core.InputException>(() => lab.UpAsync());

            var down = await lab.DownAsync();
            Console.WriteLine($"LAB DOWN took {down.Elapsed.TotalSeconds:0.0}s");
            Assert.True(down.WasUp);
            Assert.DoesNotContain(File.ReadAllLines("/proc/mounts"), l => l.Contains(dir, StringComparison.Ordinal));
            Assert.Empty(ProcessesRootedIn(dir));
            var (_, ps) = await Probe.RunAsync("/bin/ps", "-eo", "args");
            Assert.DoesNotContain(dir, ps);
            Assert.False((await lab.StatusAsync()).Up);

            var again = await lab.DownAsync();
            Assert.False(again.WasUp);
        }
        finally
        {
            await lab.DownAsync();
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [SkippableFact]
    public async Task The_mail_estate_s_MariaDB_and_slapd_answer_once_up_and_down_stops_every_one_of_them()
    {
        Requires.Root();
        Requires.Executable("/usr/sbin/debootstrap");
        Requires.Executable("/usr/sbin/mariadbd");
        var dir = Path.Combine(Path.GetTempPath(), "stageproof-lab-mail-" + Guid.NewGuid().ToString("N")[..8]);
        // No acme-mail: this is about the estate's servers, which come up without it.
        var lab = new LabManager(LabFixture.Options(dir, 204) with { AppHosts = 1, Estate = LabEstate.Mail, InstallAcmeMail = false });
        try
        {
            var up = await lab.UpAsync(new Progress<string>(Console.WriteLine));
            Assert.All(up.Environments, e => Assert.Equal("mariadb", e.DatabaseEngine));
            var status = await lab.StatusAsync();
            Assert.True(status.Healthy, string.Join("; ", status.Environments));
            Assert.Equal(["127.0.204.7", "127.0.214.7", "127.0.224.7"], status.Environments.Select(e => e.DirectoryAddress));
            var (_, running) = await Probe.RunAsync("/bin/ps", "-eo", "args");
            Assert.Equal(3, running.Split('\n').Count(l => l.Contains("mariadbd", StringComparison.Ordinal) && l.Contains(dir, StringComparison.Ordinal)));
            // Each environment's directory is the slapd of its LDAP host (.7), Debian's package in the host's root.
            Assert.Equal(3, ProcessesRootedIn(dir).Count(p => CommandName(p) == "slapd"));
            Assert.Equal(["127.0.204.7", "127.0.214.7", "127.0.224.7"], up.Hosts.Where(h => h.Role == "ldap").Select(h => h.Address));

            var down = await lab.DownAsync();
            Assert.Equal(3, down.DatabasesStopped);
            var (_, ps) = await Probe.RunAsync("/bin/ps", "-eo", "args");
            Assert.DoesNotContain(dir, ps);
            Assert.False(Directory.Exists(Path.Combine(dir, "db")));
        }
        finally
        {
            await lab.DownAsync();
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static string? CommandName(string proc)
    {
        try
        {
            return File.ReadAllText(Path.Combine(proc, "comm")).Trim();
        }
        catch (IOException)
        {
            return null; // it ended meanwhile
        }
    }

    private static List<string> ProcessesRootedIn(string dir)
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
}
