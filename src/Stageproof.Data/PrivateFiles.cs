namespace Stageproof.Data;

/// <summary>
/// The state holds production's database dumps, every frozen file and the audit trail: only its owner may read it.
/// Directories are created 0700 and files 0600 (whatever the umask); an existing state that others can read is
/// named in a warning, never silently widened or narrowed.
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OthersMayRead = UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    /// <summary>Creates <paramref name="directory"/> (and missing parents) readable by its owner only.</summary>
    public static void CreateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, DirectoryMode);
        }
    }

    /// <summary>Makes a file this process just wrote readable by its owner only.</summary>
    public static void Restrict(string file)
    {
        if (!OperatingSystem.IsWindows() && File.Exists(file) && (File.GetUnixFileMode(file) & ~FileMode) != 0)
        {
            File.SetUnixFileMode(file, FileMode);
        }
    }

    /// <summary>A warning when group or others may read or enter <paramref name="directory"/>; null when it is private.</summary>
    public static string? Warning(string directory)
    {
        if (OperatingSystem.IsWindows() || !Directory.Exists(directory))
        {
            return null;
        }
        var mode = File.GetUnixFileMode(directory);
        return (mode & OthersMayRead) == 0
            ? null
            : $"{directory} is readable by others (mode {Octal(mode)}): it holds database dumps, frozen files and the audit trail; " +
              $"'chmod 700 {directory}' makes it private";
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode & 0x1ff, 8).PadLeft(4, '0');
}
