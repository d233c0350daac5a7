using System.Text;

namespace Stageproof.Lab.Internal;

/// <summary>Mounting, and finding and removing every mount under a directory (read from /proc/mounts).</summary>
internal static class Mounts
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Mount points at or under <paramref name="dir"/>, in the order they were mounted.</summary>
    public static IReadOnlyList<string> Under(string dir)
    {
        var prefix = dir.TrimEnd('/') + "/";
        return Current().Where(m => m == dir.TrimEnd('/') || m.StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    public static bool IsMountPoint(string path) => Current().Contains(path.TrimEnd('/'));

    public static IReadOnlyList<string> Current() =>
        File.ReadAllLines("/proc/mounts").Select(l => l.Split(' ')).Where(f => f.Length > 1).Select(f => Unescape(f[1])).ToList();

    public static Task MountAsync(string subject, IEnumerable<string> args, CancellationToken ct) =>
        Run.CheckedAsync(subject, "/usr/bin/mount", args, Timeout, ct);

    /// <summary>
    /// Unmounts everything under <paramref name="dir"/>, deepest and latest first; retries while busy, then
    /// unmounts lazily as a last resort. Returns (unmounted, lazily unmounted).
    /// </summary>
    public static async Task<(int Unmounted, int Lazy)> UnmountAllUnderAsync(string dir, CancellationToken ct)
    {
        int done = 0, lazy = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var left = Under(dir);
            if (left.Count == 0)
            {
                return (done, lazy);
            }
            var progress = false;
            foreach (var m in left.Reverse().OrderByDescending(p => p.Count(c => c == '/')))
            {
                var r = await Run.ExecAsync("lab", "/usr/bin/umount", [m], Timeout, ct).ConfigureAwait(false);
                if (r.Succeeded)
                {
                    done++;
                    progress = true;
                }
            }
            if (!progress && DateTime.UtcNow > deadline)
            {
                foreach (var m in Under(dir).Reverse().OrderByDescending(p => p.Count(c => c == '/')))
                {
                    var r = await Run.ExecAsync("lab", "/usr/bin/umount", ["-l", m], Timeout, ct).ConfigureAwait(false);
                    if (r.Succeeded)
                    {
                        lazy++;
                    }
                }
                if (Under(dir).Count > 0)
                {
                    throw new Stageproof.Core.InfrastructureException("lab", $"could not unmount: {string.Join(", ", Under(dir))}");
                }
                return (done, lazy);
            }
            if (!progress)
            {
                await Task.Delay(200, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>/proc/mounts escapes space, tab, newline and backslash as octal.</summary>
    private static string Unescape(string s)
    {
        if (!s.Contains('\\', StringComparison.Ordinal))
        {
            return s;
        }
        var sb = new StringBuilder();
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && IsOctal(s, i + 1))
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                sb.Append(s[i]);
            }
        }
        return sb.ToString();
    }

    private static bool IsOctal(string s, int at) =>
        at + 3 <= s.Length && s.Substring(at, 3).All(c => c is >= '0' and <= '7');
}
