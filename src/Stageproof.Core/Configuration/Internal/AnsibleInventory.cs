using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Stageproof.Core.Validation;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>A name that refers to a host or group, with where it was written.</summary>
internal sealed record NameRef(string Name, Where At);

internal sealed record InventoryVar(string Value, Where At);

internal sealed class InventoryHost(string name, Where at)
{
    public string Name { get; } = name;
    public Where At { get; } = at;
    public Dictionary<string, InventoryVar> Vars { get; } = new(StringComparer.Ordinal);
}

internal sealed class InventoryGroup(string name, Where at)
{
    public string Name { get; } = name;
    public Where At { get; } = at;
    public List<NameRef> Hosts { get; } = [];
    public List<NameRef> Children { get; } = [];
    public Dictionary<string, InventoryVar> Vars { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// An Ansible inventory in INI or YAML form, reduced to what Stageproof uses: hosts with their connection
/// variables and groups. Variables are layered as Ansible does: 'all', then groups from parent to child, then the host.
/// </summary>
internal sealed partial class AnsibleInventory
{
    private const int MaxRangeHosts = 10_000;

    private readonly string _file;
    private readonly ProblemList _problems;
    private readonly Dictionary<string, InventoryHost> _hosts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, InventoryGroup> _groups = new(StringComparer.Ordinal);

    private AnsibleInventory(string file, ProblemList problems)
    {
        _file = file;
        _problems = problems;
    }

    public IEnumerable<InventoryHost> Hosts => _hosts.Values;

    /// <summary>Named groups; the implicit 'all' and 'ungrouped' are left out.</summary>
    public IEnumerable<InventoryGroup> Groups => _groups.Values.Where(g => g.Name is not ("all" or "ungrouped"));

    public static AnsibleInventory Read(string file, string text, ProblemList problems)
    {
        // Problems are gathered apart and then passed on as excerpts: a file that is no inventory at all (say
        // /etc/shadow named by mistake or on purpose) must not come back line by line in the error output.
        var inventory = new AnsibleInventory(file, ProblemList.ExcerptsInto(problems, MaxProblems));
        if (LooksLikeYaml(file, text))
        {
            inventory.ReadYaml(text);
        }
        else
        {
            inventory.ReadIni(text);
        }
        return inventory;
    }

    /// <summary>More problems than this in one inventory and it is probably not an inventory: the rest are counted.</summary>
    private const int MaxProblems = 10;

    internal static bool LooksLikeYaml(string file, string text)
    {
        var extension = Path.GetExtension(file).ToLowerInvariant();
        if (extension is ".yml" or ".yaml" or ".json")
        {
            return true;
        }
        if (extension is ".ini" or ".cfg")
        {
            return false;
        }
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith(';'))
            {
                continue;
            }
            return line.StartsWith("---", StringComparison.Ordinal) || line.StartsWith('{') || YamlKeyLineRegex().IsMatch(line);
        }
        return false;
    }

    // ---- INI ------------------------------------------------------------------------------------------

    private void ReadIni(string text)
    {
        var group = Group("ungrouped", new Where(_file, 1, 1, "ungrouped"));
        var kind = "hosts";
        var lines = text.Split('\n');
        for (var n = 0; n < lines.Length; n++)
        {
            var line = lines[n].TrimEnd('\r');
            var trimmed = line.Trim();
            var lineNo = n + 1;
            if (trimmed.Length == 0 || trimmed[0] is '#' or ';')
            {
                continue;
            }
            var indent = line.Length - line.TrimStart().Length + 1;
            if (trimmed[0] == '[')
            {
                var close = trimmed.IndexOf(']', StringComparison.Ordinal);
                var rest = close < 0 ? "" : trimmed[(close + 1)..].Trim();
                if (close < 0 || (rest.Length > 0 && rest[0] is not ('#' or ';')))
                {
                    _problems.Add(new Where(_file, lineNo, indent, "(section)"), $"malformed section header {Names.Show(trimmed)}");
                    continue;
                }
                var header = trimmed[1..close];
                var colon = header.IndexOf(':', StringComparison.Ordinal);
                var name = colon < 0 ? header : header[..colon];
                kind = colon < 0 ? "hosts" : header[(colon + 1)..];
                var at = new Where(_file, lineNo, indent + 1, name);
                if (kind is not ("hosts" or "children" or "vars"))
                {
                    _problems.Add(at.WithKey(header), $"unknown section kind ':{kind}' (expected [group], [group:children] or [group:vars])");
                    kind = "skip";
                    continue;
                }
                CheckGroupName(name, at);
                group = Group(name, at);
                continue;
            }
            switch (kind)
            {
                case "hosts":
                    ReadIniHostLine(line, lineNo, group);
                    break;
                case "children":
                    {
                        var tokens = Tokenize(line);
                        if (tokens.Count == 0)
                        {
                            break;
                        }
                        var at = new Where(_file, lineNo, tokens[0].Column, $"{group.Name}:children");
                        CheckGroupName(tokens[0].Text, at);
                        group.Children.Add(new NameRef(tokens[0].Text, at));
                        Group(tokens[0].Text, at);
                        if (tokens.Count > 1)
                        {
                            _problems.Add(at with { Column = tokens[1].Column }, $"unexpected text {Names.Show(tokens[1].Text)} after a child group name");
                        }
                        break;
                    }
                case "vars":
                    {
                        var equals = line.IndexOf('=', StringComparison.Ordinal);
                        var at = new Where(_file, lineNo, indent, $"{group.Name}:vars");
                        if (equals < 0)
                        {
                            _problems.Add(at, $"expected 'key=value', got {Names.Show(trimmed)}");
                            break;
                        }
                        var key = line[..equals].Trim();
                        group.Vars[key] = new InventoryVar(Unquote(line[(equals + 1)..].Trim()), at.WithKey($"{group.Name}:vars.{key}"));
                        break;
                    }
                default:
                    break;
            }
        }
    }

    private void ReadIniHostLine(string line, int lineNo, InventoryGroup group)
    {
        var tokens = Tokenize(line);
        if (tokens.Count == 0)
        {
            return;
        }
        var pattern = tokens[0];
        var names = ExpandRange(pattern.Text, new Where(_file, lineNo, pattern.Column, pattern.Text));
        var vars = new List<(string Key, string Value, int Column)>();
        foreach (var token in tokens.Skip(1))
        {
            var equals = token.Text.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                _problems.Add(new Where(_file, lineNo, token.Column, pattern.Text), $"expected 'key=value' after the host name, got {Names.Show(token.Text)}");
                continue;
            }
            vars.Add((token.Text[..equals], token.Text[(equals + 1)..], token.Column));
        }
        foreach (var name in names)
        {
            var at = new Where(_file, lineNo, pattern.Column, name);
            var host = Host(name, at);
            if (host is null)
            {
                continue;
            }
            foreach (var (key, value, column) in vars)
            {
                host.Vars[key] = new InventoryVar(value, new Where(_file, lineNo, column, $"{name}.{key}"));
            }
            group.Hosts.Add(new NameRef(name, at));
        }
    }

    private readonly record struct Token(string Text, int Column);

    /// <summary>Splits a line into words, honouring single and double quotes; an unquoted '#' starts a comment.</summary>
    private static List<Token> Tokenize(string line)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < line.Length)
        {
            while (i < line.Length && char.IsWhiteSpace(line[i]))
            {
                i++;
            }
            if (i >= line.Length || line[i] == '#')
            {
                break;
            }
            var start = i;
            var sb = new StringBuilder();
            char? quote = null;
            while (i < line.Length && (quote is not null || !char.IsWhiteSpace(line[i])))
            {
                var c = line[i++];
                if (quote is null && c is '"' or '\'')
                {
                    quote = c;
                }
                else if (quote == c)
                {
                    quote = null;
                }
                else
                {
                    sb.Append(c);
                }
            }
            tokens.Add(new Token(sb.ToString(), start + 1));
        }
        return tokens;
    }

    private static string Unquote(string value) =>
        value.Length >= 2 && value[0] is '"' or '\'' && value[^1] == value[0] ? value[1..^1] : value;

    // ---- YAML -----------------------------------------------------------------------------------------

    private static readonly string[] GroupKeys = ["hosts", "children", "vars"];

    private void ReadYaml(string text)
    {
        var walker = new YamlWalker(_file, _problems);
        var root = walker.ParseDocument(text);
        if (root is null)
        {
            return;
        }
        var mapping = walker.Mapping(root, "(inventory)");
        if (mapping is null)
        {
            return;
        }
        foreach (var (name, keyNode, value, _) in walker.Entries(mapping, ""))
        {
            var at = walker.At(keyNode, name);
            CheckGroupName(name, at);
            ReadYamlGroup(walker, Group(name, at), value, name);
        }
    }

    private void ReadYamlGroup(YamlWalker walker, InventoryGroup group, YamlNode node, string path)
    {
        var mapping = walker.Mapping(node, path);
        if (mapping is null)
        {
            return;
        }
        foreach (var (key, _, value, keyPath) in walker.Entries(mapping, path, GroupKeys))
        {
            var entries = walker.Mapping(value, keyPath);
            if (entries is null)
            {
                continue;
            }
            foreach (var (name, nameNode, child, childPath) in walker.Entries(entries, keyPath))
            {
                var at = walker.At(nameNode, childPath);
                switch (key)
                {
                    case "hosts":
                        foreach (var hostName in ExpandRange(name, at))
                        {
                            var host = Host(hostName, at);
                            if (host is null)
                            {
                                continue;
                            }
                            ReadYamlVars(walker, host.Vars, child, childPath);
                            group.Hosts.Add(new NameRef(hostName, at));
                        }
                        break;
                    case "children":
                        CheckGroupName(name, at);
                        group.Children.Add(new NameRef(name, at));
                        ReadYamlGroup(walker, Group(name, at), child, childPath);
                        break;
                    default:
                        ReadYamlVar(walker, group.Vars, name, child, childPath);
                        break;
                }
            }
        }
    }

    private static void ReadYamlVars(YamlWalker walker, Dictionary<string, InventoryVar> vars, YamlNode node, string path)
    {
        var mapping = walker.Mapping(node, path);
        if (mapping is null)
        {
            return;
        }
        foreach (var (name, _, value, childPath) in walker.Entries(mapping, path))
        {
            ReadYamlVar(walker, vars, name, value, childPath);
        }
    }

    private static void ReadYamlVar(YamlWalker walker, Dictionary<string, InventoryVar> vars, string name, YamlNode value, string path)
    {
        if (value is YamlScalarNode scalar && !YamlWalker.IsNull(value))
        {
            vars[name] = new InventoryVar(scalar.Value ?? "", walker.At(value, path));
        }
        else if (UsedVars.Contains(name) && !YamlWalker.IsNull(value))
        {
            walker.Report(value, path, $"expected a single value, got {YamlWalker.Describe(value)}");
        }
        // Other variables (lists, mappings) belong to Ansible playbooks; Stageproof has no use for them.
    }

    // ---- shared ---------------------------------------------------------------------------------------

    private InventoryGroup Group(string name, Where at)
    {
        if (!_groups.TryGetValue(name, out var group))
        {
            group = new InventoryGroup(name, at);
            _groups[name] = group;
        }
        return group;
    }

    private InventoryHost? Host(string name, Where at)
    {
        if (Names.HostNameError(name) is { } error)
        {
            _problems.Add(at, error);
            return null;
        }
        if (!_hosts.TryGetValue(name, out var host))
        {
            host = new InventoryHost(name, at);
            _hosts[name] = host;
        }
        return host;
    }

    private void CheckGroupName(string name, Where at)
    {
        if (Names.IdentifierError(name, "group name") is { } error)
        {
            _problems.Add(at, error);
        }
    }

    /// <summary>Expands Ansible host ranges: "web[01:03]" → web01, web02, web03; "db-[a:c]" → db-a, db-b, db-c.</summary>
    private List<string> ExpandRange(string pattern, Where at)
    {
        var match = RangeRegex().Match(pattern);
        if (!match.Success)
        {
            return [pattern];
        }
        var (prefix, from, to, suffix) = (match.Groups["pre"].Value, match.Groups["from"].Value, match.Groups["to"].Value, match.Groups["post"].Value);
        var step = match.Groups["step"].Success ? int.Parse(match.Groups["step"].Value, CultureInfo.InvariantCulture) : 1;
        var names = new List<string>();
        if (from.All(char.IsAsciiDigit) && to.All(char.IsAsciiDigit) && from.Length <= 6 && to.Length <= 6 && step > 0)
        {
            var (a, b) = (int.Parse(from, CultureInfo.InvariantCulture), int.Parse(to, CultureInfo.InvariantCulture));
            var width = from.Length > 1 && from[0] == '0' ? from.Length : 0;
            if (a <= b && (b - a) / step < MaxRangeHosts)
            {
                for (var i = a; i <= b; i += step)
                {
                    names.Add(prefix + i.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0') + suffix);
                }
                return names;
            }
        }
        else if (from.Length == 1 && to.Length == 1 && char.IsAsciiLetter(from[0]) && char.IsAsciiLetter(to[0]) && from[0] <= to[0] && step > 0)
        {
            for (var c = from[0]; c <= to[0]; c = (char)(c + step))
            {
                names.Add(prefix + c + suffix);
            }
            return names;
        }
        _problems.Add(at, $"host range {Names.Show(pattern)} is not valid (expected [01:10] or [a:f], ascending, at most {MaxRangeHosts} hosts)");
        return [];
    }

    // ---- to Stageproof's model ------------------------------------------------------------------------

    private static readonly HashSet<string> UsedVars = new(StringComparer.Ordinal)
    {
        "ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port", "ansible_user", "ansible_ssh_user",
        "ansible_ssh_private_key_file", "ansible_become", "ansible_become_method", "ansible_connection", "role",
    };

    /// <summary>
    /// The hosts as Stageproof hosts, except those in <paramref name="skip"/> (defined elsewhere, so not checked here);
    /// relative key files are resolved with <paramref name="resolvePath"/>.
    /// </summary>
    public List<(HostConfig Host, Where At)> ToHostConfigs(Func<string, string> resolvePath, IReadOnlySet<string> skip)
    {
        var result = new List<(HostConfig, Where)>();
        foreach (var host in _hosts.Values.Where(h => !skip.Contains(h.Name)))
        {
            var vars = EffectiveVars(host);
            string? Get(params string[] keys) => keys.Select(k => vars.GetValueOrDefault(k)?.Value).FirstOrDefault(v => v is not null);
            Where AtVar(string key) => vars.TryGetValue(key, out var v) ? v.At : host.At;
            string Which(params string[] keys) => keys.FirstOrDefault(vars.ContainsKey) ?? keys[0];

            var transport = TransportKind.Ssh;
            if (Get("ansible_connection") is { } connection)
            {
                switch (connection)
                {
                    case "ssh" or "smart" or "paramiko":
                        break;
                    case "local":
                        transport = TransportKind.Local;
                        break;
                    default:
                        _problems.Add(AtVar("ansible_connection"), $"connection {Names.Show(connection)} is not supported (ssh or local)");
                        break;
                }
            }

            string? address = null;
            if (transport == TransportKind.Ssh)
            {
                var key = Which("ansible_host", "ansible_ssh_host");
                address = Get("ansible_host", "ansible_ssh_host") ?? host.Name;
                if (Names.AddressError(address) is { } error)
                {
                    _problems.Add(AtVar(key), vars.ContainsKey(key) ? error : $"{error}; set ansible_host");
                }
            }

            var port = 22;
            if (Get("ansible_port", "ansible_ssh_port") is { } portText)
            {
                if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
                {
                    _problems.Add(AtVar(Which("ansible_port", "ansible_ssh_port")), $"expected a port from 1 to 65535, got {Names.Show(portText)}");
                    port = 22;
                }
            }

            var user = Get("ansible_user", "ansible_ssh_user") ?? "root";
            if (Names.UserNameError(user) is { } userError)
            {
                _problems.Add(AtVar(Which("ansible_user", "ansible_ssh_user")), userError);
            }

            string? become = null;
            if (Get("ansible_become") is { } becomeText)
            {
                var on = ParseBool(becomeText);
                if (on is null)
                {
                    _problems.Add(AtVar("ansible_become"), $"expected true or false, got {Names.Show(becomeText)}");
                }
                else if (on.Value)
                {
                    var method = Get("ansible_become_method") ?? "sudo";
                    if (method == "sudo")
                    {
                        become = "sudo";
                    }
                    else
                    {
                        _problems.Add(AtVar("ansible_become_method"), $"become method {Names.Show(method)} is not supported (only 'sudo')");
                    }
                }
            }

            var role = Get("role");
            if (role is not null && Names.IdentifierError(role, "role") is { } roleError)
            {
                _problems.Add(AtVar("role"), roleError);
            }

            var identity = Get("ansible_ssh_private_key_file");
            if (identity is not null)
            {
                if (identity.Any(char.IsControl))
                {
                    _problems.Add(AtVar("ansible_ssh_private_key_file"), $"path {Names.Show(identity)} contains a control character");
                    identity = null;
                }
                else
                {
                    identity = resolvePath(identity);
                }
            }

            result.Add((new HostConfig
            {
                Name = host.Name,
                Transport = transport,
                Address = address,
                Port = port,
                User = user,
                Identity = identity,
                Become = become,
                Role = role,
            }, host.At));
        }
        return result;
    }

    private Dictionary<string, InventoryVar> EffectiveVars(InventoryHost host)
    {
        var parents = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var group in _groups.Values)
        {
            foreach (var child in group.Children)
            {
                if (!parents.TryGetValue(child.Name, out var list))
                {
                    parents[child.Name] = list = [];
                }
                list.Add(group.Name);
            }
        }
        var memberOf = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>(_groups.Values.Where(g => g.Hosts.Any(h => h.Name == host.Name)).Select(g => g.Name));
        while (queue.Count > 0)
        {
            var name = queue.Dequeue();
            if (memberOf.Add(name))
            {
                foreach (var parent in parents.GetValueOrDefault(name) ?? [])
                {
                    queue.Enqueue(parent);
                }
            }
        }
        var depths = new Dictionary<string, int>(StringComparer.Ordinal);
        int Depth(string name, int guard)
        {
            if (name == "all")
            {
                return 0;
            }
            if (depths.TryGetValue(name, out var known))
            {
                return known;
            }
            var ps = parents.GetValueOrDefault(name);
            var depth = ps is null || ps.Count == 0 || guard > 64 ? 1 : ps.Max(p => Depth(p, guard + 1)) + 1;
            depths[name] = depth;
            return depth;
        }
        var result = new Dictionary<string, InventoryVar>(StringComparer.Ordinal);
        var layers = memberOf.Where(g => g != "all").OrderBy(g => Depth(g, 0)).ThenBy(g => g, StringComparer.Ordinal).Prepend("all");
        foreach (var name in layers)
        {
            if (_groups.TryGetValue(name, out var group))
            {
                foreach (var (key, value) in group.Vars)
                {
                    result[key] = value;
                }
            }
        }
        foreach (var (key, value) in host.Vars)
        {
            result[key] = value;
        }
        return result;
    }

    private static bool? ParseBool(string text) => text.ToLowerInvariant() switch
    {
        "true" or "yes" or "on" or "1" or "y" => true,
        "false" or "no" or "off" or "0" or "n" => false,
        _ => null,
    };

    [GeneratedRegex(@"\A[^\s=\[\]]+:(\s.*)?\z")]
    private static partial Regex YamlKeyLineRegex();

    [GeneratedRegex(@"\A(?<pre>[^\[]*)\[(?<from>[0-9a-zA-Z]+):(?<to>[0-9a-zA-Z]+)(?::(?<step>[0-9]+))?\](?<post>[^\[]*)\z")]
    private static partial Regex RangeRegex();
}
