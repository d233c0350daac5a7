using System.Diagnostics;
using Stageproof.Lab;
using Stageproof.Testing;

namespace Stageproof.Lab.Tests;

/// <summary>A lab of its own (addresses 127.0.200.x ...): up from a cached base, down leaves nothing behind. A lab coming
/// up and going down loads the machine in bursts: the class starts first beside the noise-floor collection (Order.cs),
/// while every lab of the run comes up anyway, and ends before that collection's first baseline. (The mail estate's
/// servers up and down are MailEstateLabTests', on its own lab: a second mail estate for them alone cost a whole
/// estate's up and down.)</summary>
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
            Assert.Empty(Probe.ProcessesRootedIn(dir));
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
}
