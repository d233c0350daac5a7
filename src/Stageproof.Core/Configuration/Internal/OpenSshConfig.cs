using System.Globalization;
using System.Text;
using Stageproof.Core.Validation;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>One value an ssh_config file gave a host: the keyword as written, its argument, where it was written.</summary>
internal readonly record struct SshConfigValue(string Keyword, string Value, Where At);

/// <summary>What the ssh_config files say about one destination, first value winning as in OpenSSH.</summary>
internal sealed record SshConfigHost
{
    public SshConfigValue? HostName { get; init; }
    public SshConfigValue? User { get; init; }
    public SshConfigValue? Port { get; init; }
    /// <summary>Every IdentityFile that applies, in order (OpenSSH tries them all).</summary>
    public IReadOnlyList<SshConfigValue> IdentityFiles { get; init; } = [];
    public SshConfigValue? ProxyJump { get; init; }
    public SshConfigValue? StrictHostKeyChecking { get; init; }
    public SshConfigValue? UserKnownHostsFile { get; init; }
    public SshConfigValue? IdentityAgent { get; init; }
    public SshConfigValue? IdentitiesOnly { get; init; }
    /// <summary>Keywords that change where or how OpenSSH connects and that Stageproof does not act on.</summary>
    public IReadOnlyList<SshConfigValue> Unhonoured { get; init; } = [];
    /// <summary>Match blocks met on the way: not evaluated, so their lines are not applied.</summary>
    public IReadOnlyList<Where> SkippedMatches { get; init; } = [];
}

/// <summary>
/// OpenSSH client configuration (ssh_config(5)) as ssh reads it for a destination: <c>Host</c> blocks with
/// <c>*</c>, <c>?</c> and <c>!</c> patterns, <c>Include</c> (globs, relative to ~/.ssh or /etc/ssh, also inside a
/// block), <c>Keyword value</c> and <c>Keyword=value</c>, double quotes, and the first value of a keyword winning.
/// A keyword OpenSSH does not know is refused with its file and line, as ssh refuses it (unless IgnoreUnknown names
/// it). <c>Match</c> blocks other than <c>Match all</c> are not evaluated: their lines are skipped and the skip is
/// reported for the hosts it could concern.
/// </summary>
internal sealed class OpenSshConfig
{
    private const int MaxIncludeDepth = 16;

    /// <summary>The keywords Stageproof acts on.</summary>
    private static readonly HashSet<string> Honoured = new(StringComparer.Ordinal)
    {
        "hostname", "user", "port", "identityfile", "proxyjump", "stricthostkeychecking", "userknownhostsfile",
        "identityagent", "identitiesonly",
    };

    /// <summary>Keywords that decide where or how ssh connects: applying to a host, each is named in a warning.</summary>
    private static readonly HashSet<string> ConnectionShaping = new(StringComparer.Ordinal)
    {
        "proxycommand", "hostkeyalias", "certificatefile", "bindaddress", "bindinterface", "canonicalizehostname",
        "knownhostscommand", "globalknownhostsfile", "pubkeyauthentication", "addressfamily", "pkcs11provider",
        "securitykeyprovider", "proxyusefdpass",
    };

    /// <summary>Every keyword OpenSSH 9's ssh accepts (Debian's GSSAPI ones and the deprecated ones included).</summary>
    private static readonly HashSet<string> Known = new(StringComparer.Ordinal)
    {
        "host", "match", "include", "ignoreunknown",
        "addkeystoagent", "addressfamily", "batchmode", "bindaddress", "bindinterface", "canonicaldomains",
        "canonicalizefallbacklocal", "canonicalizehostname", "canonicalizemaxdots", "canonicalizepermittedcnames",
        "casignaturealgorithms", "certificatefile", "channeltimeout", "checkhostip", "ciphers", "clearallforwardings",
        "compression", "connectionattempts", "connecttimeout", "controlmaster", "controlpath", "controlpersist",
        "dynamicforward", "enableescapecommandline", "enablesshkeysign", "escapechar", "exitonforwardfailure",
        "fingerprinthash", "forkafterauthentication", "forwardagent", "forwardx11", "forwardx11timeout",
        "forwardx11trusted", "gatewayports", "globalknownhostsfile", "gssapiauthentication", "gssapidelegatecredentials",
        "gssapikeyexchange", "gssapiclientidentity", "gssapiserveridentity", "gssapirenewalforcesrekey", "gssapitrustdns",
        "gssapikexalgorithms", "hashknownhosts", "hostbasedacceptedalgorithms", "hostbasedauthentication",
        "hostbasedkeytypes", "hostkeyalgorithms", "hostkeyalias", "hostname", "identitiesonly", "identityagent",
        "identityfile", "ipqos", "kbdinteractiveauthentication", "kbdinteractivedevices", "kexalgorithms",
        "knownhostscommand", "localcommand", "localforward", "loglevel", "logverbose", "macs",
        "nohostauthenticationforlocalhost", "numberofpasswordprompts", "obscurekeystroketiming", "passwordauthentication",
        "permitlocalcommand", "permitremoteopen", "pkcs11provider", "port", "preferredauthentications", "proxycommand",
        "proxyjump", "proxyusefdpass", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes", "pubkeyauthentication",
        "rekeylimit", "remotecommand", "remoteforward", "requesttty", "requiredrsasize", "revokedhostkeys",
        "securitykeyprovider", "sendenv", "serveralivecountmax", "serveraliveinterval", "sessiontype", "setenv",
        "stdinnull", "streamlocalbindmask", "streamlocalbindunlink", "stricthostkeychecking", "syslogfacility", "tag",
        "tcpkeepalive", "keepalive", "tunnel", "tunneldevice", "updatehostkeys", "user", "userknownhostsfile",
        "verifyhostkeydns", "visualhostkey", "xauthlocation", "challengeresponseauthentication", "protocol", "cipher",
        "useroaming", "rsaauthentication", "rhostsrsaauthentication", "useprivilegedport", "fallbacktorsh", "usersh",
        "compressionlevel", "skeyauthentication", "tisauthentication", "kerberosauthentication", "afstokenpassing",
        "kerberostgtpassing", "smartcarddevice",
    };

    /// <summary>A condition a line is under: a Host block's patterns, or a Match block (never applied).</summary>
    private sealed record Block(IReadOnlyList<(string Pattern, bool Negated)> Patterns, bool IsMatch, Where At);

    private sealed record Line(string Keyword, string Written, IReadOnlyList<string> Args, Where At, IReadOnlyList<Block> Conditions);

    private readonly List<Line> _lines = [];
    private readonly ProblemList _problems;
    private readonly string _home;

    private OpenSshConfig(ProblemList problems, string home) => (_problems, _home) = (problems, home);

    /// <summary>The files an ssh client reads by default: the user's, then the system's.</summary>
    public static IReadOnlyList<string> DefaultFiles(string home) =>
        [Path.Combine(home, ".ssh", "config"), "/etc/ssh/ssh_config"];

    /// <summary>Reads <paramref name="files"/> (a missing one is skipped, as ssh skips it); problems name file and line.</summary>
    public static OpenSshConfig Load(IEnumerable<string> files, string home, ProblemList problems)
    {
        var config = new OpenSshConfig(problems, home);
        foreach (var file in files.Where(File.Exists))
        {
            var user = !file.StartsWith("/etc/ssh/", StringComparison.Ordinal);
            config.Read(file, [], user, 0, new HashSet<string>(StringComparer.Ordinal));
        }
        return config;
    }

    /// <summary>A file given as ssh -F gives it: it must exist, and it replaces both default files.</summary>
    public static OpenSshConfig LoadExplicit(string file, Where at, string home, ProblemList problems)
    {
        var config = new OpenSshConfig(problems, home);
        if (!File.Exists(file))
        {
            problems.Add(at, $"ssh config file {Names.Show(file)} does not exist");
            return config;
        }
        config.Read(file, [], true, 0, new HashSet<string>(StringComparer.Ordinal));
        return config;
    }

    public static OpenSshConfig Empty(string home) => new(new ProblemList(), home);

    private void Read(string file, IReadOnlyList<Block> outer, bool userFile, int depth, HashSet<string> ignoreUnknown)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _problems.Add(new Where(file, 0, 0, ""), $"cannot read the ssh config file: {e.Message}");
            return;
        }
        var conditions = outer;
        for (var i = 0; i < lines.Length; i++)
        {
            var text = lines[i].Trim();
            if (text.Length == 0 || text[0] == '#')
            {
                continue;
            }
            var (written, rest) = SplitKeyword(text);
            var keyword = written.ToLowerInvariant();
            var at = new Where(file, i + 1, 1, written);
            if (Words(rest) is not { } args)
            {
                _problems.Add(at, $"{written}: unterminated quote");
                continue;
            }
            switch (keyword)
            {
                case "host":
                    if (args.Count == 0)
                    {
                        _problems.Add(at, "Host needs at least one pattern");
                        continue;
                    }
                    conditions = [.. outer, new Block(args.Select(a => a.StartsWith('!') ? (a[1..], true) : (a, false)).ToList(), false, at)];
                    continue;
                case "match":
                    var all = args.Count == 1 && args[0].Equals("all", StringComparison.OrdinalIgnoreCase);
                    conditions = all ? outer : [.. outer, new Block([], true, at)];
                    continue;
                case "include":
                    Include(args, at, conditions, userFile, depth, ignoreUnknown);
                    continue;
                case "ignoreunknown":
                    foreach (var pattern in args.SelectMany(a => a.Split(',')))
                    {
                        ignoreUnknown.Add(pattern.ToLowerInvariant());
                    }
                    continue;
            }
            if (!Known.Contains(keyword))
            {
                if (!ignoreUnknown.Any(p => Glob(p, keyword)))
                {
                    _problems.Add(at, $"bad configuration option '{written}' (ssh refuses it too; IgnoreUnknown lets both pass it)");
                }
                continue;
            }
            if (Honoured.Contains(keyword) && Validate(keyword, written, args, at))
            {
                _lines.Add(new Line(keyword, written, args, at, conditions));
            }
            else if (ConnectionShaping.Contains(keyword))
            {
                _lines.Add(new Line(keyword, written, args, at, conditions));
            }
        }
    }

    private void Include(IReadOnlyList<string> args, Where at, IReadOnlyList<Block> conditions, bool userFile, int depth, HashSet<string> ignoreUnknown)
    {
        if (depth >= MaxIncludeDepth)
        {
            _problems.Add(at, $"Include nested more than {MaxIncludeDepth} deep");
            return;
        }
        foreach (var arg in args)
        {
            var expanded = arg.StartsWith('~') ? _home + arg[1..] : arg;
            var pattern = Path.IsPathRooted(expanded) ? expanded : Path.Combine(userFile ? Path.Combine(_home, ".ssh") : "/etc/ssh", expanded);
            foreach (var file in Expand(pattern))
            {
                Read(file, conditions, userFile, depth + 1, ignoreUnknown);
            }
        }
    }

    /// <summary>A glob in the last path component only (as real configs write Include config.d/*), sorted as glob(3) sorts.</summary>
    private static IEnumerable<string> Expand(string pattern)
    {
        var directory = Path.GetDirectoryName(pattern) ?? "/";
        var name = Path.GetFileName(pattern);
        if (name.IndexOfAny(['*', '?']) < 0)
        {
            return File.Exists(pattern) ? [pattern] : [];
        }
        return System.IO.Directory.Exists(directory)
            ? System.IO.Directory.EnumerateFiles(directory).Where(f => Glob(name, Path.GetFileName(f))).Order(StringComparer.Ordinal)
            : [];
    }

    private bool Validate(string keyword, string written, IReadOnlyList<string> args, Where at)
    {
        if (args.Count == 0)
        {
            _problems.Add(at, $"{written} needs a value");
            return false;
        }
        var value = args[0];
        string? error = keyword switch
        {
            "port" => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535
                ? null : $"expected a port from 1 to 65535, got {Names.Show(value)}",
            "stricthostkeychecking" => value.ToLowerInvariant() is "yes" or "no" or "ask" or "accept-new" or "off" or "true" or "false"
                ? null : $"expected yes, no, ask, accept-new or off, got {Names.Show(value)}",
            "identitiesonly" => value.ToLowerInvariant() is "yes" or "no" or "true" or "false"
                ? null : $"expected yes or no, got {Names.Show(value)}",
            "proxyjump" => value.Equals("none", StringComparison.OrdinalIgnoreCase) ? null
                : value.Split(',').Select(JumpError).FirstOrDefault(e => e is not null),
            _ => args.Count > 1 && keyword is not "userknownhostsfile" ? $"{written} takes one value, got {args.Count}" : null,
        };
        if (error is not null)
        {
            _problems.Add(at, $"{written}: {error}");
            return false;
        }
        return true;
    }

    private static string? JumpError(string hop) =>
        SshJump.Parse(hop) is null ? $"{Names.Show(hop)} is not [user@]host[:port]" : null;

    /// <summary>The values for <paramref name="destination"/> (the host name as ssh is given it, before HostName).</summary>
    public SshConfigHost Resolve(string destination)
    {
        var first = new Dictionary<string, SshConfigValue>(StringComparer.Ordinal);
        var identities = new List<SshConfigValue>();
        var unhonoured = new List<SshConfigValue>();
        var matches = new List<Where>();
        foreach (var line in _lines)
        {
            if (line.Conditions.FirstOrDefault(c => c.IsMatch) is { } match)
            {
                if (line.Conditions.Where(c => !c.IsMatch).All(c => Applies(c, destination)) && !matches.Contains(match.At))
                {
                    matches.Add(match.At);
                }
                continue;
            }
            if (!line.Conditions.All(c => Applies(c, destination)))
            {
                continue;
            }
            var value = new SshConfigValue(line.Written, string.Join(' ', line.Args), line.At);
            if (line.Keyword == "identityfile")
            {
                identities.Add(value);
            }
            else if (line.Keyword == "proxycommand")
            {
                // ProxyJump and ProxyCommand exclude each other: whichever comes first is the route.
                if (first.ContainsKey("proxyjump") || !first.TryAdd("proxycommand", value))
                {
                    continue;
                }
                if (SshJump.FromProxyCommand(value.Value) is { } spec)
                {
                    first["proxyjump"] = value with { Value = spec };
                }
                else
                {
                    unhonoured.Add(value);
                }
            }
            else if (ConnectionShaping.Contains(line.Keyword))
            {
                if (!unhonoured.Any(u => u.Keyword.Equals(line.Written, StringComparison.OrdinalIgnoreCase)))
                {
                    unhonoured.Add(value);
                }
            }
            else if (line.Keyword != "proxyjump" || !first.ContainsKey("proxycommand"))
            {
                first.TryAdd(line.Keyword, value);
            }
        }
        SshConfigValue? Get(string keyword) => first.TryGetValue(keyword, out var v) ? v : null;
        return new SshConfigHost
        {
            HostName = Get("hostname"),
            User = Get("user"),
            Port = Get("port"),
            IdentityFiles = identities,
            ProxyJump = Get("proxyjump"),
            StrictHostKeyChecking = Get("stricthostkeychecking"),
            UserKnownHostsFile = Get("userknownhostsfile"),
            IdentityAgent = Get("identityagent"),
            IdentitiesOnly = Get("identitiesonly"),
            Unhonoured = unhonoured,
            SkippedMatches = matches,
        };
    }

    /// <summary>A Host block applies when one of its patterns matches and none of its negated ones does.</summary>
    private static bool Applies(Block block, string destination) =>
        block.Patterns.Any(p => !p.Negated && Glob(p.Pattern, destination))
        && !block.Patterns.Any(p => p.Negated && Glob(p.Pattern, destination));

    /// <summary>ssh's match_pattern: * and ? only, case-insensitive for host names as ssh lowercases them.</summary>
    private static bool Glob(string pattern, string text) => Wildcard.IsMatch(pattern, text, ignoreCase: true);

    /// <summary>The keyword and the rest: "Keyword value", "Keyword=value" or "Keyword = value".</summary>
    private static (string Keyword, string Arguments) SplitKeyword(string text)
    {
        var end = text.IndexOfAny([' ', '\t', '=']);
        if (end < 0)
        {
            return (text, "");
        }
        var rest = text[end..].TrimStart(' ', '\t');
        if (rest.StartsWith('='))
        {
            rest = rest[1..].TrimStart(' ', '\t');
        }
        return (text[..end], rest);
    }

    /// <summary>Arguments split on blanks, double quotes grouping; null for an unterminated quote.</summary>
    private static List<string>? Words(string rest)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var inWord = false;
        var quoted = false;
        foreach (var c in rest)
        {
            if (c == '"')
            {
                quoted = !quoted;
                inWord = true;
            }
            else if (!quoted && c is ' ' or '\t')
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }
            }
            else if (!quoted && c == '#' && !inWord)
            {
                break;
            }
            else
            {
                current.Append(c);
                inWord = true;
            }
        }
        if (quoted)
        {
            return null;
        }
        if (inWord)
        {
            words.Add(current.ToString());
        }
        return words;
    }

    /// <summary>
    /// ssh_config's tokens in a path (IdentityFile, UserKnownHostsFile, IdentityAgent): ~ and %d (home), %u (local
    /// user), %h (host name), %n (host as given), %r (remote user), %p (port), %l (local host name), %% and ${VAR}.
    /// Null with <paramref name="error"/> set for a token ssh does not know here.
    /// </summary>
    public string? ExpandPath(string value, string hostName, string destination, string user, int port, out string? error)
    {
        error = null;
        var text = value.StartsWith('~') ? _home + value[1..] : value;
        var result = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '$' && i + 1 < text.Length && text[i + 1] == '{')
            {
                var close = text.IndexOf('}', i + 2);
                var name = close < 0 ? "" : text[(i + 2)..close];
                if (name.Length == 0 || Environment.GetEnvironmentVariable(name) is not { } env)
                {
                    error = close < 0 ? "unterminated ${" : $"environment variable {name} is not set";
                    return null;
                }
                result.Append(env);
                i = close;
                continue;
            }
            if (c != '%')
            {
                result.Append(c);
                continue;
            }
            if (++i >= text.Length)
            {
                error = "a lone % at the end";
                return null;
            }
            string? token = text[i] switch
            {
                '%' => "%",
                'd' => _home,
                'u' => Environment.UserName,
                'h' => hostName,
                'n' => destination,
                'r' => user,
                'p' => port.ToString(CultureInfo.InvariantCulture),
                'l' => Environment.MachineName,
                _ => null,
            };
            if (token is null)
            {
                error = $"token %{text[i]} is not supported here";
                return null;
            }
            result.Append(token);
        }
        return result.ToString();
    }
}

/// <summary>One hop of a ProxyJump list: [user@]host[:port], or the ssh:// form of it.</summary>
internal sealed record SshJump(string? User, string Host, int? Port)
{
    public static SshJump? Parse(string text)
    {
        var rest = text.StartsWith("ssh://", StringComparison.Ordinal) ? text["ssh://".Length..] : text;
        string? user = null;
        var at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            user = rest[..at];
            rest = rest[(at + 1)..];
            if (user.Length == 0 || Names.UserNameError(user) is not null)
            {
                return null;
            }
        }
        int? port = null;
        if (rest.StartsWith('['))
        {
            // [IPv6]:port
            var close = rest.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return null;
            }
            var after = rest[(close + 1)..];
            rest = rest[1..close];
            if (after.Length > 0)
            {
                if (!after.StartsWith(':') || !TryPort(after[1..], out var p))
                {
                    return null;
                }
                port = p;
            }
        }
        else if (rest.Count(c => c == ':') == 1)
        {
            var colon = rest.IndexOf(':', StringComparison.Ordinal);
            if (!TryPort(rest[(colon + 1)..], out var p))
            {
                return null;
            }
            port = p;
            rest = rest[..colon];
        }
        return rest.Length == 0 || Names.AddressError(rest) is not null ? null : new SshJump(user, rest, port);
    }

    /// <summary>
    /// The jump a ProxyCommand of the form everyone copies means — <c>ssh [-q] [-p PORT] [-l USER] -W %h:%p
    /// [user@]bastion</c>, options in any order — as a ProxyJump spec; null for any other command, which stays unhonoured.
    /// </summary>
    public static string? FromProxyCommand(string command)
    {
        var words = command.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0 || (words[0] != "ssh" && !words[0].EndsWith("/ssh", StringComparison.Ordinal)))
        {
            return null;
        }
        string? destination = null, port = null, user = null;
        var forwards = false;
        for (var i = 1; i < words.Length; i++)
        {
            var word = words[i];
            string? Next() => i + 1 < words.Length ? words[++i] : null;
            switch (word)
            {
                case "-W":
                    forwards = Next() is "%h:%p" or "[%h]:%p";
                    if (!forwards)
                    {
                        return null;
                    }
                    break;
                case "-p":
                    port = Next();
                    break;
                case "-l":
                    user = Next();
                    break;
                case "-q" or "-T" or "-N" or "-x" or "-a" or "-4" or "-6" or "-C":
                    break;
                case var w when w.StartsWith('-') || destination is not null:
                    return null; // an option that changes more than the route (-o, -i, -F, -J ...), or a command
                default:
                    destination = word;
                    break;
            }
        }
        if (!forwards || destination is null)
        {
            return null;
        }
        var spec = (user is null || destination.Contains('@', StringComparison.Ordinal) ? "" : user + "@") + destination + (port is null ? "" : ":" + port);
        return Parse(spec) is null ? null : spec;
    }

    private static bool TryPort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535;

    public override string ToString() =>
        (User is null ? "" : User + "@") + (Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host) + (Port is { } p ? $":{p}" : "");
}
