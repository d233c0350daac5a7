namespace Stageproof.Lab.Internal;

/// <summary>Finds and stops processes whose root directory lies in a lab host root.</summary>
internal static class Processes
{
    public static IReadOnlyList<int> RootedUnder(string dir)
    {
        var prefix = dir.TrimEnd('/') + "/";
        var found = new List<int>();
        foreach (var p in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(p), out var pid))
            {
                continue;
            }
            try
            {
                var root = new FileInfo(Path.Combine(p, "root")).LinkTarget;
                if (root is not null && (root + "/").StartsWith(prefix, StringComparison.Ordinal))
                {
                    found.Add(pid);
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

    public static bool Alive(int pid) => System.IO.Directory.Exists($"/proc/{pid}") && !IsZombie(pid);

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] == 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>SIGTERM, wait up to <paramref name="grace"/>, then SIGKILL. Returns how many were signalled.</summary>
    public static async Task<int> StopAllAsync(string dir, TimeSpan grace, CancellationToken ct)
    {
        var pids = RootedUnder(dir);
        if (pids.Count == 0)
        {
            return 0;
        }
        foreach (var pid in pids)
        {
            _ = kill(pid, 15);
        }
        var deadline = DateTime.UtcNow + grace;
        while (DateTime.UtcNow < deadline && RootedUnder(dir).Any(Alive))
        {
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
        foreach (var pid in RootedUnder(dir))
        {
            _ = kill(pid, 9);
        }
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && RootedUnder(dir).Any(Alive))
        {
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
        return pids.Count;
    }

    public static void Signal(int pid, int signal) => _ = kill(pid, signal);

    /// <summary>Stops the process a pid file names: SIGTERM (a clean shutdown), SIGKILL when it is still there after
    /// <paramref name="grace"/>. False when the file names no live process.</summary>
    public static async Task<bool> StopByPidFileAsync(string pidFile, TimeSpan grace, CancellationToken ct)
    {
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) || !Alive(pid))
        {
            return false;
        }
        Signal(pid, 15);
        if (!await Net.WaitUntilAsync(_ => Task.FromResult(!Alive(pid)), grace, ct).ConfigureAwait(false))
        {
            Signal(pid, 9);
            await Net.WaitUntilAsync(_ => Task.FromResult(!Alive(pid)), TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        }
        return true;
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
