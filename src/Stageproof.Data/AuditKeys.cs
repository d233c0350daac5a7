using System.Security.Cryptography;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Validation;

namespace Stageproof.Data;

/// <summary>
/// Where the audit key lives: <c>STAGEPROOF_AUDIT_KEY</c> (a file path), else <c>~/.config/stageproof/audit.key</c>
/// of the user running Stageproof — never inside the state directory, whose whole point is that a key beside the log
/// would let anyone who can rewrite the log re-seal it too. Created on first use: 32 random bytes, 0600.
/// </summary>
public static class AuditKeys
{
    public const string Variable = "STAGEPROOF_AUDIT_KEY";

    public static string DefaultPath()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(string.IsNullOrEmpty(home) ? "/root" : home, ".config", "stageproof", "audit.key");
    }

    /// <summary>The key for a state in <paramref name="stateDirectory"/>, created when absent.</summary>
    public static AuditKey Load(string stateDirectory) => Load(stateDirectory, PathFor(null));

    /// <summary>Where the key is: <paramref name="auditKeyFile"/> (stageproof.yaml's <c>audit_key_file</c>), else
    /// <c>STAGEPROOF_AUDIT_KEY</c>, else <see cref="DefaultPath"/>.</summary>
    public static string PathFor(string? auditKeyFile) =>
        auditKeyFile is { Length: > 0 } ? auditKeyFile
        : Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } configured ? configured
        : DefaultPath();

    /// <summary>
    /// The key of a database state (PostgreSQL) at <paramref name="keyPath"/>. When the state already records the id of
    /// its key (<paramref name="recordedId"/>), the key must be there: creating a fresh one would seal with a key no other
    /// machine of this state holds, so its absence is refused, naming the key to copy. Otherwise created when absent.
    /// </summary>
    public static AuditKey LoadForDatabase(string keyPath, string? recordedId, string location)
    {
        var path = Path.GetFullPath(keyPath);
        if (recordedId is not null && !File.Exists(path))
        {
            throw new InputException($"audit key {path} is missing: the state {location} is sealed under audit key {recordedId}; " +
                                     "copy that key file (0600) from a machine that uses this state, or point audit_key_file at it");
        }
        if (InputFiles.SharedMode(path) is { } mode)
        {
            throw new InputException($"audit key {path} may be read by others (mode {mode}); it must be its owner's alone: chmod 600 {path}");
        }
        return LoadFile(path);
    }

    /// <summary>The key at <paramref name="keyPath"/> for a state in <paramref name="stateDirectory"/>, created when absent.</summary>
    public static AuditKey Load(string stateDirectory, string keyPath)
    {
        var path = Path.GetFullPath(keyPath);
        var state = InputFiles.RealPath(stateDirectory);
        if ((InputFiles.RealPath(path) + "/").StartsWith(state + "/", StringComparison.Ordinal))
        {
            throw new InputException($"{Variable}: the audit key {path} may not live inside the state directory {state}: " +
                                     "whoever can rewrite the log could then re-seal it");
        }
        return LoadFile(path);
    }

    private static AuditKey LoadFile(string path)
    {
        if (!File.Exists(path))
        {
            Create(path);
        }
        var (kind, description) = InputFiles.KindOf(path);
        if (kind != InputFiles.Kind.Regular)
        {
            throw new InputException($"audit key {path} is {description}, not a regular file");
        }
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != AuditKey.Length)
        {
            throw new InputException($"audit key {path} has {bytes.Length} bytes, not {AuditKey.Length}: not a Stageproof audit key");
        }
        return new AuditKey(bytes);
    }

    private static void Create(string path)
    {
        PrivateDirectory(Path.GetDirectoryName(path)!);
        try
        {
            // CreateNew: two processes starting at once must end up with one key, not each its own.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using var stream = new FileStream(path, options);
            stream.Write(RandomNumberGenerator.GetBytes(AuditKey.Length));
            stream.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process created it first; wait for its 32 bytes.
            for (var i = 0; i < 50 && new FileInfo(path).Length < AuditKey.Length; i++)
            {
                Thread.Sleep(20);
            }
        }
    }

    private static void PrivateDirectory(string folder)
    {
        if (Directory.Exists(folder))
        {
            return;
        }
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
