using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;

namespace Stageproof.Bench.Scale;

/// <summary>
/// SIMULATION, for the scale benchmark only. An in-process stand-in for an estate of Debian hosts reached over SSH: each
/// host is created on first use with the same starting state (its acme-mail configuration, acme-mail 1.0-1 and
/// <see cref="SimulatedHost.FillerPackages"/> other installed packages) and answers the commands the patch engine, the
/// facts script and the service check send, recognised by their program or script name, after a fixed
/// <see cref="Latency"/> per command (an SSH round trip plus the host's own work). It runs no sh, apt or dpkg: the
/// semantics that matter to the engine (key edits, save and restore of files, rollback-point directories, service state)
/// are modelled as in the engine tests' fake; an unknown command answers exit 127, so the benchmark fails loudly rather
/// than measuring a shortcut.
/// </summary>
public sealed class SimulatedEstate(TimeSpan latency) : ITransportFactory
{
    private readonly ConcurrentDictionary<string, SimulatedHost> _hosts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _byCommand = new(StringComparer.Ordinal);
    private long _commands;
    private long _busyTicks;
    private long _hostWorkTicks;
    private int _open;
    private int _maxOpen;

    /// <summary>The simulated wait of every command (network round trip and the host's work).</summary>
    public TimeSpan Latency { get; } = latency;

    public long Commands => Interlocked.Read(ref _commands);

    /// <summary>Sum over commands of the time from sending to answer (the latency, plus any scheduling delay).</summary>
    public TimeSpan CommandTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _busyTicks));

    /// <summary>Sum over commands of the simulation's own CPU work in answering (building the facts output and so on).</summary>
    public TimeSpan SimulationWork => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _hostWorkTicks));

    /// <summary>Most commands in flight at once (the SSH fan-out the engine asked for).</summary>
    public int MaxInFlight => Volatile.Read(ref _maxOpen);

    public IReadOnlyDictionary<string, int> ByCommand => _byCommand;

    public int Hosts => _hosts.Count;

    public ITransport Create(HostConfig host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return new Transport(this, _hosts.GetOrAdd(host.Name, name => new SimulatedHost(name)));
    }

    private sealed class Transport(SimulatedEstate estate, SimulatedHost host) : ITransport
    {
        public string HostName => host.Name;

        public async Task<CommandResult> RunAsync(RemoteCommand command, CommandOptions? options = null, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(command);
            var start = Stopwatch.GetTimestamp();
            var open = Interlocked.Increment(ref estate._open);
            for (var seen = Volatile.Read(ref estate._maxOpen); open > seen; seen = Volatile.Read(ref estate._maxOpen))
            {
                Interlocked.CompareExchange(ref estate._maxOpen, open, seen);
            }
            try
            {
                await Task.Delay(estate.Latency, cancellationToken).ConfigureAwait(false);
                var work = Stopwatch.GetTimestamp();
                var (name, result) = host.Run(command, options?.StandardInput);
                Interlocked.Add(ref estate._hostWorkTicks, Stopwatch.GetTimestamp() - work);
                estate._byCommand.AddOrUpdate(name, 1, (_, n) => n + 1);
                return result with { Elapsed = Stopwatch.GetElapsedTime(start) };
            }
            finally
            {
                Interlocked.Decrement(ref estate._open);
                Interlocked.Increment(ref estate._commands);
                Interlocked.Add(ref estate._busyTicks, Stopwatch.GetTimestamp() - start);
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>SIMULATION. One simulated Debian host's state, and the commands it understands (one at a time).</summary>
public sealed class SimulatedHost(string name)
{
    public const string ConfPath = "/etc/acme-mail/acme-mail.conf";
    public const string Package = "acme-mail";
    /// <summary>Installed packages besides acme-mail, so that manifests have a realistic size (a small Debian server has
    /// 400–600).</summary>
    public const int FillerPackages = 400;

    private static readonly string[] Filler = [.. Enumerable.Range(1, FillerPackages).Select(i => $"lib-sim{i:D4}\t1.{i % 7}.{i % 13}-1\tamd64\tii ")];

    private readonly Lock _lock = new();

    public string Name { get; } = name;
    private Dictionary<string, string> Files { get; } = new(StringComparer.Ordinal)
    {
        [ConfPath] = "# acme-mail\nlisten = 127.0.0.1\nsession.lifetime = 60\n",
    };
    private Dictionary<string, string> Packages { get; } = new(StringComparer.Ordinal) { [Package] = "1.0-1" };
    private Dictionary<string, PointDirectory> Points { get; } = new(StringComparer.Ordinal);
    private bool _running = true;

    private sealed class PointDirectory
    {
        public Dictionary<string, string> Saved { get; } = new(StringComparer.Ordinal);
        public List<string> Absent { get; } = [];
    }

    private string Conf => Files.GetValueOrDefault(ConfPath, "");

    internal (string Name, CommandResult Result) Run(RemoteCommand command, byte[]? stdin)
    {
        var words = Words(command.Display);
        var input = stdin is null ? "" : Encoding.UTF8.GetString(stdin);
        lock (_lock)
        {
            return (words[0], words[0] switch
            {
                "stageproof-facts" => Ok(Facts(words[3..])),
                "stageproof-service" => Ok($"sysv {(_running ? 0 : 3).ToString(CultureInfo.InvariantCulture)}\n"),
                "dpkg-query" when words.Contains("-f=${Conffiles}\\n") => Ok(string.Concat(words.Skip(3).Where(Packages.ContainsKey)
                    .Select(p => p == Package ? $" {ConfPath} {Hash(Conf)[..32]}\n" : ""))),
                "dpkg-query" => Ok(string.Concat(words.Skip(3).Where(Packages.ContainsKey).Select(p => $"{p}\t{Packages[p]}\tii \n"))),
                "stageproof-save-files" => SaveFiles(words[1], words[2..]),
                "stageproof-pre" or "stageproof-post" => RunCommand(words[1]),
                "stageproof-edit-file" => Edit(words[1], words[2..]),
                "stageproof-write-file" => Write(words[1], input),
                "stageproof-restore" => Restore(words[1]),
                "rm" => Remove(words[^1]),
                _ => new CommandResult(127, "", $"simulated host {Name}: no simulation of '{command.Display}'", TimeSpan.Zero),
            });
        }
    }

    private string Facts(string[] tracked)
    {
        var sb = new StringBuilder("@@stageproof-facts 1\n@@os-release\nID=debian\nVERSION_ID=\"12\"\n\n@@kernel\n6.1.0-simulated\n@@arch\namd64\n@@packages\n");
        foreach (var (package, version) in Packages)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{package}\t{version}\tamd64\tii \n");
        }
        foreach (var line in Filler)
        {
            sb.Append(line).Append('\n');
        }
        sb.Append("@@upgrades\n@@files\n");
        foreach (var path in tracked.SelectMany(Matching).Distinct(StringComparer.Ordinal))
        {
            var bytes = Encoding.UTF8.GetBytes(Files[path]);
            sb.Append(CultureInfo.InvariantCulture, $"@@file\troot\troot\t644\t{bytes.Length}\t{Hash(Files[path])}\t{path}\n");
            if (bytes.Length > 0)
            {
                sb.Append(Convert.ToBase64String(bytes)).Append('\n');
            }
        }
        sb.Append(CultureInfo.InvariantCulture, $"@@services sysv\nacme-mail\t{(_running ? 0 : 3)}\n@@tcp\n@@tcp6\n@@end\n");
        return sb.ToString();
    }

    private IEnumerable<string> Matching(string pattern) =>
        Files.Keys.Where(p => System.IO.Enumeration.FileSystemName.MatchesSimpleExpression(pattern, p, ignoreCase: false)).Order(StringComparer.Ordinal).ToList();

    private CommandResult SaveFiles(string dir, string[] patterns)
    {
        var point = Points[dir] = new PointDirectory();
        foreach (var pattern in patterns)
        {
            var found = Matching(pattern).ToList();
            foreach (var path in found)
            {
                point.Saved[path] = Files[path];
            }
            if (found.Count == 0 && pattern.IndexOfAny(['*', '?', '[']) < 0)
            {
                point.Absent.Add(pattern);
            }
        }
        return Ok(string.Concat(point.Saved.Keys.Order(StringComparer.Ordinal).Select(p => $"FILE {p}\n"))
            + string.Concat(point.Absent.Distinct().Order(StringComparer.Ordinal).Select(p => $"ABSENT {p}\n")));
    }

    private CommandResult RunCommand(string text)
    {
        if (text.Contains("restart", StringComparison.Ordinal))
        {
            _running = !Conf.Contains("session.lifetime = 0\n", StringComparison.Ordinal);
        }
        return Ok("");
    }

    /// <summary>Key edits as the edit-file script makes them: a live "key = …" line is replaced (once), a missing key appended.</summary>
    private CommandResult Edit(string path, string[] pairs)
    {
        if (!Files.TryGetValue(path, out var text))
        {
            return new CommandResult(1, "", $"{path} does not exist", TimeSpan.Zero);
        }
        var edits = new List<(string Key, string Value)>();
        for (var i = 0; i + 1 < pairs.Length; i += 2)
        {
            edits.Add((pairs[i], pairs[i + 1]));
        }
        var done = new HashSet<string>(StringComparer.Ordinal);
        var sb = new StringBuilder();
        var lines = text.Split('\n');
        foreach (var line in text.EndsWith('\n') ? lines[..^1] : lines)
        {
            var trimmed = line.TrimStart(' ', '\t');
            var eq = trimmed.IndexOf('=', StringComparison.Ordinal);
            var key = eq > 0 && trimmed[0] is not '#' and not ';' ? trimmed[..eq].TrimEnd(' ', '\t') : null;
            var edit = edits.FirstOrDefault(e => e.Key == key);
            if (key is not null && edit.Key is not null)
            {
                if (done.Add(key))
                {
                    sb.Append(CultureInfo.InvariantCulture, $"{key} = {edit.Value}\n");
                }
                continue;
            }
            sb.Append(line).Append('\n');
        }
        foreach (var (key, value) in edits.Where(e => !done.Contains(e.Key)))
        {
            sb.Append(CultureInfo.InvariantCulture, $"{key} = {value}\n");
        }
        Files[path] = sb.ToString();
        return Ok("");
    }

    private CommandResult Write(string path, string content)
    {
        Files[path] = content;
        return Ok("");
    }

    private CommandResult Restore(string dir)
    {
        var point = Points[dir];
        foreach (var (path, content) in point.Saved)
        {
            Files[path] = content;
        }
        foreach (var path in point.Absent)
        {
            Files.Remove(path);
        }
        return Ok("");
    }

    private CommandResult Remove(string dir)
    {
        Points.Remove(dir);
        return Ok("");
    }

    private static CommandResult Ok(string stdout) => new(0, stdout, "", TimeSpan.Zero);

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>Reads back the words of a display line quoted by <see cref="ShellQuote"/> ('…' with '\'' for a quote).</summary>
    private static string[] Words(string display)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < display.Length; i++)
        {
            var c = display[i];
            if (c == ' ')
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }
                continue;
            }
            inWord = true;
            if (c == '\'')
            {
                var end = display.IndexOf('\'', i + 1);
                current.Append(display, i + 1, end - i - 1);
                i = end;
            }
            else if (c == '\\' && i + 1 < display.Length)
            {
                current.Append(display[++i]);
            }
            else
            {
                current.Append(c);
            }
        }
        if (inWord)
        {
            words.Add(current.ToString());
        }
        return [.. words];
    }
}
