using System.Runtime.InteropServices;

namespace Stageproof.Core.Validation;

/// <summary>
/// Reading what a user points Stageproof at (a configuration, an inventory, a patch set and the files it embeds)
/// without trusting the path: only regular files, within a size limit, so a FIFO cannot hang a verb, /dev/zero
/// cannot exhaust memory, and a 50 MB file is refused in a millisecond instead of parsed for twenty seconds.
/// </summary>
public static class InputFiles
{
    /// <summary>Configuration, inventory and patch-set files: far above any real one.</summary>
    public const long MaxDocumentBytes = 4 * 1024 * 1024;

    /// <summary>What kind of file system object a path names (symbolic links followed).</summary>
    public enum Kind
    {
        Missing,
        Regular,
        Directory,
        Other,
    }

    /// <summary>The kind of <paramref name="path"/>; "Other" is a FIFO, socket or device.</summary>
    public static (Kind Kind, string Description) KindOf(string path)
    {
        if (Directory.Exists(path))
        {
            return (Kind.Directory, "a folder");
        }
        if (!File.Exists(path))
        {
            return (Kind.Missing, "missing");
        }
        if (!OperatingSystem.IsLinux())
        {
            return (Kind.Regular, "a file");
        }
        // statx has one layout on every Linux architecture (stx_mode is the u16 at offset 28); stat does not.
        var buffer = new byte[256];
        if (Statx(-100 /* AT_FDCWD */, path, 0 /* follow links */, 0x1 /* STATX_TYPE */, buffer) != 0)
        {
            return (Kind.Regular, "a file"); // cannot tell; reading will say what is wrong
        }
        var type = BitConverter.ToUInt16(buffer, 28) & 0xF000;
        return type switch
        {
            0x8000 => (Kind.Regular, "a regular file"),
            0x4000 => (Kind.Directory, "a folder"),
            0x1000 => (Kind.Other, "a FIFO"),
            0x2000 => (Kind.Other, "a character device"),
            0x6000 => (Kind.Other, "a block device"),
            0xC000 => (Kind.Other, "a socket"),
            _ => (Kind.Other, "not a regular file"),
        };
    }

    /// <summary>
    /// The text of a regular file of at most <paramref name="maxBytes"/>, or the one-line reason it cannot be read
    /// (missing, a folder, a FIFO or device, too large, unreadable).
    /// </summary>
    public static (string? Text, string? Problem) ReadText(string path, long maxBytes = MaxDocumentBytes)
    {
        var (kind, description) = KindOf(path);
        switch (kind)
        {
            case Kind.Missing:
                return (null, "file not found");
            case Kind.Directory or Kind.Other:
                return (null, $"is {description}, not a regular file");
        }
        try
        {
            var length = new FileInfo(path).Length;
            if (length > maxBytes)
            {
                return (null, $"is {Size(length)}, more than the {Size(maxBytes)} a file of this kind may have");
            }
            return (File.ReadAllText(path), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, e.Message);
        }
    }

    /// <summary>
    /// <paramref name="path"/> with every symbolic link resolved, component by component (what realpath(3) gives for
    /// a path without '..'): where the bytes really are, so "inside this folder" can be judged.
    /// </summary>
    public static string RealPath(string path) => RealPath(Path.GetFullPath(path), 0);

    private static string RealPath(string full, int hops)
    {
        var parts = full.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = "/";
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.LinkTarget is { } target)
            {
                if (++hops > 40)
                {
                    throw new IOException($"{full}: too many levels of symbolic links");
                }
                var resolved = Path.IsPathRooted(target) ? target : Path.Combine(current, target);
                var rest = string.Join('/', parts.Skip(i + 1));
                return RealPath(Path.GetFullPath(rest.Length == 0 ? resolved : Path.Combine(resolved, rest)), hops);
            }
            current = next;
        }
        return current;
    }

    /// <summary>A secret file's mode ("0644") when its group or others may read or write it; null when it is its owner's
    /// alone (or on Windows, or when it does not exist: reading it says that).</summary>
    public static string? SharedMode(string path)
    {
        const UnixFileMode shared = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
        if (OperatingSystem.IsWindows() || !File.Exists(path))
        {
            return null;
        }
        var mode = File.GetUnixFileMode(path);
        return (mode & shared) == 0 ? null : Convert.ToString((int)mode & 0x1ff, 8).PadLeft(4, '0');
    }

    public static string Size(long bytes) => bytes >= 1024 * 1024
        ? $"{bytes / (1024.0 * 1024):0.#} MiB"
        : bytes >= 1024 ? $"{bytes / 1024.0:0.#} KiB" : $"{bytes} bytes";

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);
}
