using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Stageproof.Core.Configuration;
using System.Reflection;
using Stageproof.Core.Hosts;
using Stageproof.Core.State;

namespace Stageproof.Testing.Fakes;

/// <summary>
/// FAKE. An in-process stand-in for Debian hosts reached over SSH, for tests of the engines' state machines and
/// fault paths (the lab proves the real integration). Each <see cref="FakeHost"/> keeps its files, package versions,
/// service state and rollback-point directories in memory and answers the commands <c>HostPatcher</c>, the facts
/// script, the behaviour script and the service check send, recognised by their program or script name. It does not
/// run sh, apt or dpkg: their semantics that matter here (exact versions, key edits, save and restore of files, kept
/// packages) are modelled, nothing else; a package closure (real .debs, published with apt-ftparchive) is not. An
/// unknown command answers exit 127, so a test fails loudly rather than passing on a guess.
/// </summary>
public sealed class FakeEstate : ITransportFactory
{
    private readonly Dictionary<string, FakeHost> _hosts = new(StringComparer.Ordinal);

    /// <summary>The hosts as one process sees them: once <paramref name="death"/> struck, every command of that process
    /// hangs, even one issued later by a task of it that was between commands at the time.</summary>
    public ITransportFactory For(FakeDeath? death) => new ProcessView(this, death);

    private sealed class ProcessView(FakeEstate estate, FakeDeath? death) : ITransportFactory
    {
        public ITransport Create(HostConfig host) => new Transport(estate, estate._hosts[host.Name], death);
    }

    /// <summary>How long every host command takes (zero: none), so that hosts patched at the same time overlap.</summary>
    public TimeSpan CommandTime { get; set; }

    private int _busy;
    private int _mostBusy;

    /// <summary>The most hosts that were running a command at the same moment (counted while <see cref="CommandTime"/> is set).</summary>
    public int MostHostsBusy => Volatile.Read(ref _mostBusy);

    public FakeHost Add(string name, string conf, params (string Name, string Version)[] packages)
    {
        var host = new FakeHost(name);
        host.Files[FakeHost.ConfPath] = conf;
        foreach (var (package, version) in packages)
        {
            host.Packages[package] = version;
        }
        _hosts[name] = host;
        return host;
    }

    public FakeHost this[string name] => _hosts[name];

    /// <summary>The hosts as a process that never dies sees them.</summary>
    public ITransport Create(HostConfig host) => new Transport(this, _hosts[host.Name], null);

    private sealed class Transport(FakeEstate estate, FakeHost host, FakeDeath? death) : ITransport
    {
        public string HostName => host.Name;

        public async Task<CommandResult> RunAsync(RemoteCommand command, CommandOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (death is not null)
            {
                await death.BeforeAsync(host.Name, command.Display).ConfigureAwait(false);
            }
            if (estate.CommandTime > TimeSpan.Zero)
            {
                var busy = Interlocked.Increment(ref estate._busy);
                for (var most = Volatile.Read(ref estate._mostBusy); busy > most; most = Volatile.Read(ref estate._mostBusy))
                {
                    Interlocked.CompareExchange(ref estate._mostBusy, busy, most);
                }
                try
                {
                    await Task.Delay(estate.CommandTime, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref estate._busy);
                }
            }
            var result = host.Run(command, options?.StandardInput);
            if (death is not null)
            {
                await death.AfterAsync().ConfigureAwait(false);
            }
            return result;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>
/// FAKE. SIGKILL for an in-process engine: at the <see cref="At"/>-th host command the "process" dies, before the
/// command reaches the host or (<see cref="AfterTheHostActed"/>) after the host acted but before the answer came back.
/// From then on every command of that process hangs forever, so nothing it would still do (no catch, no finally)
/// reaches a host; the engine's task is abandoned, as a killed process is.
/// </summary>
public sealed class FakeDeath(int at, bool afterTheHostActed)
{
    private readonly TaskCompletionSource _died = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _never = new();
    private int _count;
    private bool _pendingDeath;

    public int At { get; } = at;
    public bool AfterTheHostActed { get; } = afterTheHostActed;
    public string? DiedAt { get; private set; }
    public Task Died => _died.Task;
    public int Commands => Volatile.Read(ref _count);

    /// <summary>The state store as the dying process uses it: after the death every call hangs (nothing more is written).</summary>
    public IStateStore Guard(IStateStore store) => DeadStore.Wrap(store, this);

    internal bool IsDead => _died.Task.IsCompleted;

    internal Task Never => _never.Task;

    internal Task BeforeAsync(string host, string display)
    {
        lock (_died)
        {
            if (_died.Task.IsCompleted)
            {
                return _never.Task;
            }
            if (++_count != At)
            {
                return Task.CompletedTask;
            }
            DiedAt = $"{host}: {display.Split(' ')[0]} ({(AfterTheHostActed ? "after the host acted" : "before it reached the host")})";
            if (!AfterTheHostActed)
            {
                _died.TrySetResult();
                return _never.Task;
            }
            _pendingDeath = true;
            return Task.CompletedTask;
        }
    }

    internal Task AfterAsync()
    {
        lock (_died)
        {
            if (_pendingDeath)
            {
                _pendingDeath = false;
                _died.TrySetResult();
                return _never.Task;
            }
            return _died.Task.IsCompleted ? _never.Task : Task.CompletedTask;
        }
    }
}

/// <summary>FAKE. One host's state, and the commands it understands.</summary>
public sealed class FakeHost(string name)
{
    public const string ConfPath = "/etc/acme-mail/acme-mail.conf";
    public const string Package = "acme-mail";
    public static readonly string[] Available = ["1.0-1", "1.1-1"];

    public string Name { get; } = name;
    public Dictionary<string, string> Files { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Packages { get; } = new(StringComparer.Ordinal);
    /// <summary>Rollback-point directories: saved files, paths that were absent, kept package versions, packages to purge.</summary>
    public Dictionary<string, PointDirectory> Points { get; } = new(StringComparer.Ordinal);
    /// <summary>The service runs unless its last restart read "session.lifetime = 0" (the fake's bad configuration).</summary>
    public bool Running { get; set; } = true;
    public int Restarts { get; private set; }

    /// <summary>What a set's pre or post command does to the host besides a restart (given the command's text, called
    /// after the restart), as a script that also rewrites a file, or a release that refuses its database, would.</summary>
    public Action<FakeHost, string>? Commanded { get; set; }

    /// <summary>Programs running besides the service (by name), as the behaviour script lists them: what a command started.</summary>
    public List<string> Started { get; } = [];

    public sealed class PointDirectory
    {
        public Dictionary<string, string> Saved { get; } = new(StringComparer.Ordinal);
        public List<string> Absent { get; } = [];
        public Dictionary<string, string> Kept { get; } = new(StringComparer.Ordinal);
        public List<string> Purge { get; } = [];
    }

    public string Conf => Files.GetValueOrDefault(ConfPath, "");

    /// <summary>Every command this host answered, by its first word (program or script name).</summary>
    public List<string> Log { get; } = [];

    /// <summary>Commands (by first word) that fail here with exit 1 the given number of times, as a full disk or a
    /// broken script would.</summary>
    public Dictionary<string, int> Failing { get; } = new(StringComparer.Ordinal);

    internal CommandResult Run(RemoteCommand command, byte[]? stdin)
    {
        var words = Words(command.Display);
        Log.Add(words[0]);
        if (Failing.TryGetValue(words[0], out var left) && left > 0)
        {
            Failing[words[0]] = left - 1;
            return new CommandResult(1, "", $"fake host {Name}: {words[0]} fails here", TimeSpan.Zero);
        }
        var input = stdin is null ? "" : Encoding.UTF8.GetString(stdin);
        return words[0] switch
        {
            "stageproof-facts" => Ok(Facts(words[3..])),
            "stageproof-service" => Ok($"sysv {(Running ? 0 : 3).ToString(CultureInfo.InvariantCulture)}\n"),
            "stageproof-behaviour" => Ok(Behaviour()),
            "dpkg-query" when words.Contains("-f=${Conffiles}\\n") => Ok(string.Concat(words.Skip(3).Where(Packages.ContainsKey)
                .Select(p => p == Package ? $" {ConfPath} {Hash(Conf)[..32]}\n" : ""))),
            "dpkg-query" => Ok(string.Concat(words.Skip(3).Where(Packages.ContainsKey).Select(p => $"{p}\t{Packages[p]}\tii \n"))),
            "stageproof-save-files" => SaveFiles(words[1], words[2..]),
            "apt-get" when words[1] == "update" => Ok(""),
            "apt-get" when words[1] == "-s" => Simulate(words.SkipWhile(w => w != "install").Skip(1)),
            // dir, sub-folder, snapshot folder (maybe empty), then name=version specs.
            "stageproof-keep-debs" => Ok(string.Concat(words[2..].Where(w => w.Contains('=', StringComparison.Ordinal)).Select(spec =>
            {
                var (package, version) = Spec(spec);
                Points.TryAdd(words[1], new PointDirectory());
                Points[words[1]].Kept[package] = version;
                return $"KEPT {package} {version} {words[1]}/debs/{package}_{version}_amd64.deb\n";
            }))),
            "env" => Install(words.SkipWhile(w => w != "install").Skip(1)),
            "stageproof-pre" or "stageproof-post" => RunCommand(words[1]),
            "stageproof-edit-file" => Edit(words[1], words[2..]),
            "stageproof-write-file" => Write(words[1], input),
            "stageproof-purge-list" => PurgeList(words[1], input),
            "stageproof-restore" => Restore(words[1]),
            "rm" => Remove(words[^1]),
            _ => new CommandResult(127, "", $"fake host {Name}: no fake for '{command.Display}'", TimeSpan.Zero),
        };
    }

    private string Facts(string[] tracked)
    {
        var sb = new StringBuilder("@@stageproof-facts 1\n@@os-release\nID=debian\nVERSION_ID=\"12\"\n\n@@kernel\n6.1.0-fake\n@@arch\namd64\n@@packages\n");
        foreach (var (package, version) in Packages.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"{package}\t{version}\tamd64\tii \n");
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
        sb.Append(CultureInfo.InvariantCulture, $"@@services sysv\nacme-mail\t{(Running ? 0 : 3)}\n@@tcp\n@@tcp6\n@@end\n");
        return sb.ToString();
    }

    private IEnumerable<string> Matching(string pattern) =>
        Files.Keys.Where(p => System.IO.Enumeration.FileSystemName.MatchesSimpleExpression(pattern, p, ignoreCase: false)).Order(StringComparer.Ordinal);

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

    private CommandResult Simulate(IEnumerable<string> specs)
    {
        var sb = new StringBuilder();
        foreach (var (package, version) in specs.Select(Spec))
        {
            if (!Available.Contains(version))
            {
                return new CommandResult(100, "", $"E: Version '{version}' for '{package}' was not found", TimeSpan.Zero);
            }
            if (Packages.GetValueOrDefault(package) != version)
            {
                sb.Append(CultureInfo.InvariantCulture, $"Inst {package} {(Packages.TryGetValue(package, out var old) ? $"[{old}] " : "")}({version} fake [amd64])\n");
            }
        }
        return Ok(sb.ToString());
    }

    private CommandResult Install(IEnumerable<string> specs)
    {
        foreach (var (package, version) in specs.Select(Spec))
        {
            if (!Available.Contains(version))
            {
                return new CommandResult(100, "", $"E: Version '{version}' for '{package}' was not found", TimeSpan.Zero);
            }
            Packages[package] = version;
        }
        return Ok("");
    }

    /// <summary>What the behaviour script reports: root, the service's process while it runs (a new pid after each
    /// restart) and the <see cref="Started"/> ones, nothing else: a fake host has no cron, units, modules, privileged
    /// files or logs to speak of.</summary>
    private string Behaviour() =>
        "@@stageproof-behaviour 1\n@@users\nroot:0\n@@processes\n"
        + (Running ? string.Create(CultureInfo.InvariantCulture, $"0\t{4000 + Restarts}\t1\tacme-mail\t/usr/sbin/acme-mail\n") : "")
        + string.Concat(Started.Select((name, i) => string.Create(CultureInfo.InvariantCulture, $"0\t{5000 + i}\t1\t{name}\t/usr/sbin/{name}\n")))
        + "@@end\n";

    private CommandResult RunCommand(string text)
    {
        if (text.Contains("restart", StringComparison.Ordinal))
        {
            Restarts++;
            Running = !Conf.Contains("session.lifetime = 0\n", StringComparison.Ordinal);
        }
        Commanded?.Invoke(this, text);
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

    private CommandResult PurgeList(string dir, string content)
    {
        if (!Points.TryGetValue(dir, out var point))
        {
            return new CommandResult(1, "", $"{dir}/purge.list: No such file or directory", TimeSpan.Zero);
        }
        point.Purge.Clear();
        point.Purge.AddRange(content.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        return Ok("");
    }

    private CommandResult Restore(string dir)
    {
        var point = Points[dir];
        foreach (var (package, version) in point.Kept)
        {
            Packages[package] = version;
        }
        foreach (var package in point.Purge)
        {
            Packages.Remove(package);
        }
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

    private static (string Name, string Version) Spec(string spec) => (spec[..spec.IndexOf('=', StringComparison.Ordinal)], spec[(spec.IndexOf('=', StringComparison.Ordinal) + 1)..]);

    private static CommandResult Ok(string stdout) => new(0, stdout, "", TimeSpan.Zero);

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>Reads back the words of a display line quoted by <see cref="ShellQuote"/> ('…' with '\'' for a quote).</summary>
    public static string[] Words(string display)
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

/// <summary>FAKE. An <see cref="IStateStore"/> that stops answering once its process died: each call after the death
/// returns a task that never completes, as a killed process writes nothing more.</summary>
public class DeadStore : DispatchProxy
{
    private IStateStore _inner = null!;
    private FakeDeath _death = null!;

    public static IStateStore Wrap(IStateStore inner, FakeDeath death)
    {
        var proxy = Create<IStateStore, DeadStore>();
        var dead = (DeadStore)(object)proxy;
        dead._inner = inner;
        dead._death = death;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (_death.IsDead && targetMethod.ReturnType != typeof(ValueTask) && typeof(Task).IsAssignableFrom(targetMethod.ReturnType))
        {
            if (!targetMethod.ReturnType.IsGenericType)
            {
                return _death.Never;
            }
            var source = Activator.CreateInstance(typeof(TaskCompletionSource<>).MakeGenericType(targetMethod.ReturnType.GetGenericArguments()[0]))!;
            return source.GetType().GetProperty("Task")!.GetValue(source);
        }
        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }
}
