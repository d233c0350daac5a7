namespace Stageproof.Testing;

/// <summary>
/// Where tests keep scratch state (a SQLite state directory with its audit head, configs, keys): /dev/shm when it is
/// a tmpfs this user can write, else the temp path; <c>STAGEPROOF_TEST_SCRATCH</c> names another place. SQLite syncs
/// every commit and Stageproof the audit head every append; on this machine's disk, beside the fast tier's other
/// writers, those syncs made the state-heavy tests three to five times slower (RolloutKillTests 46 s against 15 s, the
/// eight SQLite writers 57 s against 12 s, in one hour). No test asserts what reaches the disk, as the test PostgreSQL
/// runs with fsync=off and the test MariaDB with innodb-flush-log-at-trx-commit=0; the product still syncs. Hosts'
/// roots (chroots) and labs stay on disk: with a tiny root on /dev/shm the behaviour script's test missed the root's
/// log errors (not looked into further), and labs are too large for memory.
/// </summary>
public static class ScratchDirectory
{
    public static string Root { get; } = Pick();

    /// <summary>A new private directory (0700) under <see cref="Root"/>, named <paramref name="prefix"/> and a random tail.</summary>
    public static string Create(string prefix)
    {
        var path = NewPath(prefix);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return path;
    }

    /// <summary>A path under <see cref="Root"/> not yet created (for code that creates its directory itself).</summary>
    public static string NewPath(string prefix) => Path.Combine(Root, prefix + Guid.NewGuid().ToString("N")[..12]);

    private static string Pick()
    {
        if (Environment.GetEnvironmentVariable("STAGEPROOF_TEST_SCRATCH") is { Length: > 0 } chosen)
        {
            Directory.CreateDirectory(chosen);
            return chosen;
        }
        const string Shm = "/dev/shm";
        try
        {
            var isTmpfs = File.Exists("/proc/self/mounts") && File.ReadLines("/proc/self/mounts")
                .Select(line => line.Split(' '))
                .Any(f => f.Length > 2 && f[1] == Shm && f[2] == "tmpfs");
            if (isTmpfs)
            {
                var probe = Path.Combine(Shm, ".stageproof-scratch-" + Guid.NewGuid().ToString("N")[..8]);
                Directory.CreateDirectory(probe);
                Directory.Delete(probe);
                return Shm;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not writable here: the temp path it is.
        }
        return Path.GetTempPath();
    }
}
