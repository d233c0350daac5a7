using System.Globalization;

namespace Stageproof.Testing;

/// <summary>
/// A busy minute for chosen processes only: a cgroup of its own whose CPU quota the kernel enforces (cgroup v2's
/// <c>cpu.max</c>, or v1's <c>cpu.cfs_quota_us</c>). <see cref="Release"/> lifts the quota at once; disposing moves every
/// process back to the root group and removes the group, also when a test fails.
/// </summary>
public sealed class CpuThrottle : IDisposable
{
    private readonly string _group;
    private readonly string _root;
    private readonly bool _v2;

    /// <param name="percentOfOneCpu">The share of one CPU the group's processes get together (1–100).</param>
    public CpuThrottle(int percentOfOneCpu)
    {
        _v2 = File.Exists("/sys/fs/cgroup/cgroup.controllers");
        _root = _v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpu";
        if (!Directory.Exists(_root))
        {
            throw new InvalidOperationException($"{_root}: no cpu cgroup controller here");
        }
        _group = Path.Combine(_root, $"stageproof-test-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(_group);
        // A short period keeps the stalls short (the throttled processes run often and briefly, as on a busy machine);
        // the kernel's smallest quota is 1 ms.
        const int period = 25_000;
        var quota = Math.Max(1000, period * Math.Clamp(percentOfOneCpu, 1, 100) / 100).ToString(CultureInfo.InvariantCulture);
        try
        {
            if (_v2)
            {
                File.WriteAllText(Path.Combine(_group, "cpu.max"), $"{quota} {period}");
            }
            else
            {
                File.WriteAllText(Path.Combine(_group, "cpu.cfs_period_us"), period.ToString(CultureInfo.InvariantCulture));
                File.WriteAllText(Path.Combine(_group, "cpu.cfs_quota_us"), quota);
            }
        }
        catch
        {
            Directory.Delete(_group);
            throw;
        }
    }

    /// <summary>Moves a process (all its threads) into the group; false if it has exited meanwhile.</summary>
    public bool Add(int pid)
    {
        try
        {
            File.WriteAllText(Path.Combine(_group, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The processes named <paramref name="comm"/> whose root directory lies under <paramref name="rootPrefix"/>
    /// (the lab's chroot hosts).</summary>
    public static IReadOnlyList<int> Find(string comm, string rootPrefix)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == comm
                    && new FileInfo(Path.Combine(dir, "root")).LinkTarget is { } root && root.StartsWith(rootPrefix, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Exited while we looked.
            }
        }
        return found;
    }

    /// <summary>Lifts the quota: the group's processes run as freely as any other from now on.</summary>
    public void Release()
    {
        if (_v2)
        {
            File.WriteAllText(Path.Combine(_group, "cpu.max"), "max");
        }
        else
        {
            File.WriteAllText(Path.Combine(_group, "cpu.cfs_quota_us"), "-1");
        }
    }

    public void Dispose()
    {
        Release();
        foreach (var line in File.ReadAllLines(Path.Combine(_group, "cgroup.procs")))
        {
            try
            {
                File.WriteAllText(Path.Combine(_root, "cgroup.procs"), line);
            }
            catch (IOException)
            {
                // Exited meanwhile.
            }
        }
        Directory.Delete(_group);
    }
}
