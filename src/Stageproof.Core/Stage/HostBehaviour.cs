using System.Globalization;
using System.Text.RegularExpressions;

namespace Stageproof.Core.Stage;

/// <summary>A process on a host: its user, its executable, its command line, and its and its parent's pid.</summary>
public sealed partial record BehaviourProcess(string User, string Executable, string CommandLine, int Pid = 0, int ParentPid = 0)
{
    /// <summary>What stays the same across a restart: the user and the command line with its numbers blurred (a pid
    /// or a count in a process title is not a new process).</summary>
    public string Identity => User + " " + Digits().Replace(CommandLine.Trim(), "#");

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Digits();
}

/// <summary>A setuid, setgid or world-writable file.</summary>
public sealed record PrivilegedFile(string Path, string Mode, string Owner);

/// <summary>A log file's size and inode (a rotated log has a new inode).</summary>
public sealed record LogFile(string Path, long Size, long Inode);

/// <summary>An error line a log gained.</summary>
public sealed record LogError(string Path, string Line);

/// <summary>
/// What a host does beyond its manifest (see Hosts' BehaviourScript): recorded before a change and after it, so the
/// stage sees a process the change started, errors in a log no check names, a new user, a setuid file, a cron
/// entry, an enabled unit, a module, another package's /etc file edited.
/// </summary>
public sealed record HostBehaviour
{
    public IReadOnlyList<BehaviourProcess> Processes { get; init; } = [];
    public IReadOnlyList<string> Users { get; init; } = [];
    public IReadOnlyList<string> Groups { get; init; } = [];
    public IReadOnlyList<PrivilegedFile> Privileged { get; init; } = [];
    /// <summary>Cron file → MD5.</summary>
    public IReadOnlyDictionary<string, string> Cron { get; init; } = new Dictionary<string, string>();
    /// <summary>Unit or SysV link → its target.</summary>
    public IReadOnlyDictionary<string, string> Units { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<string> Modules { get; init; } = [];
    /// <summary>/etc file → MD5.</summary>
    public IReadOnlyDictionary<string, string> Etc { get; init; } = new Dictionary<string, string>();
    /// <summary>/etc or privileged file → the package whose file list holds it.</summary>
    public IReadOnlyDictionary<string, string> Owners { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<LogFile> Logs { get; init; } = [];
    /// <summary>Error lines the logs gained since the "before" record (only in an "after" record).</summary>
    public IReadOnlyList<LogError> LogErrors { get; init; } = [];

    /// <summary>The <c>@@logs</c> lines to give the "after" run on stdin.</summary>
    public string LogsInput() => string.Concat(Logs.Select(l => FormattableString.Invariant($"{l.Size}\t{l.Inode}\t{l.Path}\n")));

    /// <summary>Reads the script's output; throws FormatException when it is not that output.</summary>
    public static HostBehaviour Parse(string text)
    {
        var lines = text.Split('\n');
        if (lines.Length == 0 || lines[0].TrimEnd('\r') != "@@stageproof-behaviour 1")
        {
            throw new FormatException("not the output of the behaviour script (no @@stageproof-behaviour 1 header)");
        }
        if (!lines.Any(l => l == "@@end"))
        {
            throw new FormatException("the behaviour script's output ends early (no @@end)");
        }
        var sections = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        List<string>? current = null;
        foreach (var line in lines.Skip(1))
        {
            if (line.StartsWith("@@", StringComparison.Ordinal))
            {
                current = sections[line[2..].Trim()] = [];
            }
            else if (line.Length > 0)
            {
                current?.Add(line);
            }
        }
        IEnumerable<string> Section(string name) => sections.TryGetValue(name, out var l) ? l : [];
        IEnumerable<string[]> Fields(string name, int count) =>
            Section(name).Select(l => l.Split('\t', count)).Where(f => f.Length == count);

        var users = Section("users").Select(l => l.Split(':')).Where(f => f.Length == 2).ToList();
        var names = users.GroupBy(f => f[1]).ToDictionary(g => g.Key, g => g.First()[0], StringComparer.Ordinal);
        return new HostBehaviour
        {
            Processes = Fields("processes", 5)
                .Select(f => new BehaviourProcess(names.GetValueOrDefault(f[0], "uid " + f[0]), f[3], f[4].TrimEnd(),
                    int.TryParse(f[1], CultureInfo.InvariantCulture, out var pid) ? pid : 0, int.TryParse(f[2], CultureInfo.InvariantCulture, out var ppid) ? ppid : 0))
                .ToList(),
            Users = users.Select(f => f[0]).Order(StringComparer.Ordinal).ToList(),
            Groups = Section("groups").Select(l => l.Split(':')[0]).Order(StringComparer.Ordinal).ToList(),
            Privileged = Fields("privileged", 3).Select(f => new PrivilegedFile(f[2], f[0], f[1])).ToList(),
            Cron = ToMap(Fields("cron", 2), 1, 0),
            Units = ToMap(Fields("units", 2), 0, 1),
            Modules = Section("modules").ToList(),
            Etc = ToMap(Fields("etc", 2), 1, 0),
            Owners = ToMap(Fields("owners", 2), 1, 0),
            Logs = Fields("logs", 3)
                .Where(f => long.TryParse(f[0], CultureInfo.InvariantCulture, out _) && long.TryParse(f[1], CultureInfo.InvariantCulture, out _))
                .Select(f => new LogFile(f[2], long.Parse(f[0], CultureInfo.InvariantCulture), long.Parse(f[1], CultureInfo.InvariantCulture)))
                .ToList(),
            LogErrors = Fields("log-errors", 2).Select(f => new LogError(f[0], f[1])).ToList(),
        };
    }

    private static Dictionary<string, string> ToMap(IEnumerable<string[]> rows, int key, int value)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            map.TryAdd(row[key], row[value]);
        }
        return map;
    }
}
