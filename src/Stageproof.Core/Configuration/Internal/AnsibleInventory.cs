using System.Globalization;
using System.Text.RegularExpressions;
using Stageproof.Core.Validation;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>A name that refers to a host or group, with where it was written.</summary>
internal sealed record NameRef(string Name, Where At);

/// <summary>
/// A variable's value as Ansible holds it — string, long, double, bool, null, List&lt;object?&gt; or
/// Dictionary&lt;string, object?&gt; — and where it was set.
/// </summary>
internal sealed record InventoryVar(object? Value, Where At)
{
    /// <summary>The value as one piece of text; null for null, lists and mappings.</summary>
    public string? Text => Value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        _ => null,
    };
}

/// <summary>A value written as <c>!vault |</c> in YAML: encrypted with ansible-vault, so unreadable here.</summary>
internal sealed record VaultedValue;

internal sealed class InventoryHost(string name, Where at)
{
    public string Name { get; } = name;
    public Where At { get; } = at;
    /// <summary>Variables from the inventory file; the later definition wins.</summary>
    public Dictionary<string, InventoryVar> Vars { get; } = new(StringComparer.Ordinal);
    /// <summary>Variables from host_vars/ next to the inventory.</summary>
    public Dictionary<string, InventoryVar> FileVars { get; } = new(StringComparer.Ordinal);
    /// <summary>The groups that name this host directly, in the order they did.</summary>
    public List<string> DirectGroups { get; } = [];
}

internal sealed class InventoryGroup(string name, Where at)
{
    public string Name { get; } = name;
    public Where At { get; set; } = at;
    public List<NameRef> Hosts { get; } = [];
    public List<NameRef> Children { get; } = [];
    public HashSet<string> Parents { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, InventoryVar> Vars { get; } = new(StringComparer.Ordinal);
    /// <summary>Variables from group_vars/ next to the inventory.</summary>
    public Dictionary<string, InventoryVar> FileVars { get; } = new(StringComparer.Ordinal);
    /// <summary>ansible_group_priority, set in the inventory itself (Ansible ignores it in group_vars/).</summary>
    public int Priority { get; set; } = 1;
    /// <summary>Distance from 'all' along the longest chain of parents.</summary>
    public int Depth { get; set; }
}

/// <summary>
/// An Ansible inventory (INI or YAML, with group_vars/ and host_vars/ beside it) loaded as Ansible's own loader
/// loads it: the same host patterns, the same value parsing, the same variable precedence. Anything Ansible refuses
/// is a problem; anything Ansible only warns about is a warning.
/// </summary>
internal sealed partial class AnsibleInventory
{
    private readonly string _file;
    private readonly ProblemList _problems;
    private readonly ProblemList _warnings;
    private readonly Dictionary<string, InventoryHost> _hosts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, InventoryGroup> _groups = new(StringComparer.Ordinal);
    private readonly HashSet<string> _warnedGroupNames = new(StringComparer.Ordinal);

    private AnsibleInventory(string file, ProblemList problems, ProblemList warnings)
    {
        _file = file;
        _problems = problems;
        _warnings = warnings;
        Group("all", new Where(file, 0, 0, "all"));
        Group("ungrouped", new Where(file, 0, 0, "ungrouped"));
    }

    /// <summary>More problems than this in one inventory and it is probably not an inventory: the rest are counted.</summary>
    private const int MaxProblems = 10;

    public string File => _file;

    public IReadOnlyDictionary<string, InventoryHost> Hosts => _hosts;

    /// <summary>Every group, the implicit 'all' and 'ungrouped' included.</summary>
    public IReadOnlyDictionary<string, InventoryGroup> Groups => _groups;

    /// <summary>Reads the inventory text of <paramref name="file"/>, then group_vars/ and host_vars/ in its folder.</summary>
    public static AnsibleInventory Read(string file, string text, ProblemList problems, ProblemList warnings)
    {
        // Problems are gathered apart and then passed on as excerpts: a file that is no inventory at all (say
        // /etc/shadow named by mistake or on purpose) must not come back line by line in the error output.
        var inventory = new AnsibleInventory(file, ProblemList.ExcerptsInto(problems, MaxProblems), warnings);
        inventory.Parse(text);
        inventory.Reconcile();
        inventory.LoadVarsFiles(Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".");
        return inventory;
    }

    /// <summary>
    /// Ansible tries its YAML plugin on files named .yml, .yaml, .json or with no extension, and its INI plugin after
    /// it: a .yml file holding INI text is read as INI. Other names are INI only.
    /// </summary>
    private void Parse(string text)
    {
        var extension = Path.GetExtension(_file).ToLowerInvariant();
        if (extension is not ("" or ".yml" or ".yaml" or ".json"))
        {
            ReadIni(text);
            return;
        }
        var yamlProblems = new ProblemList();
        var yamlWarnings = new ProblemList();
        var yaml = new AnsibleInventory(_file, yamlProblems, yamlWarnings);
        if (yaml.ReadYaml(text))
        {
            // A YAML mapping is a YAML inventory: its problems are reported as they are, not hidden by an INI attempt.
            Adopt(yaml, yamlWarnings);
            Forward(yamlProblems);
            return;
        }
        var iniProblems = new ProblemList();
        var iniWarnings = new ProblemList();
        var ini = new AnsibleInventory(_file, iniProblems, iniWarnings);
        ini.ReadIni(text);
        if (iniProblems.Count == 0)
        {
            Adopt(ini, iniWarnings);
            return;
        }
        // Neither reads it: report the problems of the form the text looks like.
        var (chosen, problems, warnings) = LooksLikeYaml(_file, text) ? (yaml, yamlProblems, yamlWarnings) : (ini, iniProblems, iniWarnings);
        Adopt(chosen, warnings);
        Forward(problems);
    }

    private void Forward(ProblemList problems)
    {
        foreach (var p in problems.All)
        {
            _problems.Add(new Where(p.File, p.Line, p.Column, p.Key), p.Message);
        }
    }

    private void Adopt(AnsibleInventory other, ProblemList warnings)
    {
        foreach (var (name, host) in other._hosts)
        {
            _hosts[name] = host;
        }
        foreach (var (name, group) in other._groups)
        {
            _groups[name] = group;
        }
        foreach (var w in warnings.All)
        {
            _warnings.Add(new Where(w.File, w.Line, w.Column, w.Key), w.Message);
        }
    }

    /// <summary>Which form's problems to show when neither form reads a file.</summary>
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

    // ---- the model, as Ansible's InventoryData keeps it ----------------------------------------------------

    private InventoryGroup Group(string name, Where at)
    {
        if (!_groups.TryGetValue(name, out var group))
        {
            group = new InventoryGroup(name, at);
            _groups[name] = group;
        }
        else if (group.At.Line == 0 && at.Line > 0)
        {
            group.At = at;
        }
        return group;
    }

    /// <summary>Adds a host (or finds it) and makes it a member of <paramref name="group"/>.</summary>
    private InventoryHost? AddHost(string name, Where at, InventoryGroup group, int? port)
    {
        // Ansible takes almost any text as a host name; Stageproof takes names it can show and use safely, and IPv6
        // addresses (which Ansible reads as names too).
        if (Names.HostNameError(name) is { } error && !(name.Contains(':', StringComparison.Ordinal) && Names.AddressError(name) is null))
        {
            _problems.Add(at, error);
            return null;
        }
        if (!_hosts.TryGetValue(name, out var host))
        {
            host = new InventoryHost(name, at);
            _hosts[name] = host;
        }
        if (!host.DirectGroups.Contains(group.Name))
        {
            host.DirectGroups.Add(group.Name);
            group.Hosts.Add(new NameRef(name, at));
        }
        if (port is { } p)
        {
            host.Vars["ansible_port"] = new InventoryVar((long)p, at.WithKey($"{name}.ansible_port"));
        }
        return host;
    }

    /// <summary>Makes <paramref name="child"/> a child of <paramref name="parent"/>, refusing a loop as Ansible does.</summary>
    private void AddChild(InventoryGroup parent, InventoryGroup child, Where at)
    {
        if (parent.Name == child.Name || IsAncestor(child.Name, parent.Name))
        {
            _problems.Add(at, $"groups form a cycle: adding '{child.Name}' as a child of '{parent.Name}' creates a loop");
            return;
        }
        if (child.Parents.Add(parent.Name))
        {
            parent.Children.Add(new NameRef(child.Name, at));
        }
    }

    /// <summary>Whether <paramref name="ancestor"/> is <paramref name="name"/> or above it.</summary>
    private bool IsAncestor(string ancestor, string name)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>([name]);
        while (queue.Count > 0)
        {
            var current = queue.Dequeue();
            if (current == ancestor)
            {
                return true;
            }
            if (seen.Add(current) && _groups.TryGetValue(current, out var g))
            {
                foreach (var p in g.Parents)
                {
                    queue.Enqueue(p);
                }
            }
        }
        return false;
    }

    private void SetGroupVar(InventoryGroup group, string key, object? value, Where at)
    {
        if (key == "ansible_group_priority")
        {
            var text = new InventoryVar(value, at).Text;
            if (text is null || !int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var priority))
            {
                _problems.Add(at, $"ansible_group_priority must be a whole number, got {Names.Show(text ?? "a list or mapping")}");
                return;
            }
            group.Priority = priority;
            return;
        }
        group.Vars[key] = new InventoryVar(value, at);
    }

    /// <summary>
    /// Group names: Ansible keeps any name and warns about characters other than letters, digits and '_' (a name
    /// with '.' or '-' is fine but cannot be used in Jinja2). Stageproof also refuses what it could not show safely.
    /// </summary>
    private void CheckGroupName(string name, Where at)
    {
        if (!GroupNameRegex().IsMatch(name))
        {
            _problems.Add(at, $"group name {Names.Show(name)} is not valid (up to 64 letters, digits, '_', '.' or '-')");
        }
        else if (!PythonIdentifierRegex().IsMatch(name) && _warnedGroupNames.Add(name))
        {
            _warnings.Add(at, $"group name {Names.Show(name)} has characters other than letters, digits and '_'; kept as it is, as Ansible keeps it");
        }
    }

    /// <summary>
    /// What Ansible does after parsing: groups without a parent become children of 'all', hosts in no group go
    /// to 'ungrouped' (and leave it when another group names them), and every group gets its depth.
    /// </summary>
    private void Reconcile()
    {
        var all = _groups["all"];
        var ungrouped = _groups["ungrouped"];
        foreach (var group in _groups.Values.Where(g => g.Name != "all" && g.Parents.Count == 0).ToList())
        {
            AddChild(all, group, group.At);
        }
        foreach (var host in _hosts.Values)
        {
            var others = host.DirectGroups.Where(g => g is not ("all" or "ungrouped")).ToList();
            if (others.Count > 0 && host.DirectGroups.Contains("ungrouped"))
            {
                host.DirectGroups.Remove("ungrouped");
                ungrouped.Hosts.RemoveAll(h => h.Name == host.Name);
            }
            else if (others.Count == 0 && !host.DirectGroups.Contains("ungrouped"))
            {
                host.DirectGroups.Add("ungrouped");
                ungrouped.Hosts.Add(new NameRef(host.Name, host.At));
            }
        }
        var depths = new Dictionary<string, int>(StringComparer.Ordinal);
        int Depth(string name, int guard)
        {
            if (depths.TryGetValue(name, out var known))
            {
                return known;
            }
            var parents = _groups[name].Parents;
            var depth = parents.Count == 0 || guard > 256 ? 0 : parents.Max(p => Depth(p, guard + 1)) + 1;
            depths[name] = depth;
            return depth;
        }
        foreach (var group in _groups.Values)
        {
            group.Depth = Depth(group.Name, 0);
        }
    }

    /// <summary>The groups a host belongs to, directly or through children, 'all' included.</summary>
    public List<InventoryGroup> GroupsOf(InventoryHost host)
    {
        var result = new Dictionary<string, InventoryGroup>(StringComparer.Ordinal);
        var queue = new Queue<string>(host.DirectGroups.Append("all"));
        while (queue.Count > 0)
        {
            var name = queue.Dequeue();
            if (_groups.TryGetValue(name, out var group) && result.TryAdd(name, group))
            {
                foreach (var parent in group.Parents)
                {
                    queue.Enqueue(parent);
                }
            }
        }
        return result.Values.ToList();
    }

    /// <summary>A group's hosts, its children's included, in order, each once.</summary>
    public List<NameRef> HostsOf(InventoryGroup group)
    {
        if (group.Name == "all")
        {
            return _hosts.Values.Select(h => new NameRef(h.Name, h.At)).ToList();
        }
        var result = new List<NameRef>();
        var seenHosts = new HashSet<string>(StringComparer.Ordinal);
        var seenGroups = new HashSet<string>(StringComparer.Ordinal);
        void Walk(InventoryGroup g)
        {
            if (!seenGroups.Add(g.Name))
            {
                return;
            }
            result.AddRange(g.Hosts.Where(h => seenHosts.Add(h.Name)));
            foreach (var child in g.Children)
            {
                Walk(_groups[child.Name]);
            }
        }
        Walk(group);
        return result;
    }

    /// <summary>
    /// A host's variables with Ansible's precedence (its default VARIABLE_PRECEDENCE): the inventory's group
    /// variables, groups ordered by depth, then ansible_group_priority, then name ('all' first, a child after its
    /// parent); then group_vars/ files in the same order; then the host's own inventory variables; then host_vars/.
    /// </summary>
    public Dictionary<string, InventoryVar> EffectiveVars(InventoryHost host)
    {
        var groups = GroupsOf(host)
            .OrderBy(g => g.Depth).ThenBy(g => g.Priority).ThenBy(g => g.Name, StringComparer.Ordinal)
            .ToList();
        var result = new Dictionary<string, InventoryVar>(StringComparer.Ordinal);
        foreach (var layer in groups.Select(g => g.Vars).Concat(groups.Select(g => g.FileVars)).Append(host.Vars).Append(host.FileVars))
        {
            foreach (var (key, value) in layer)
            {
                result[key] = value;
            }
        }
        return result;
    }

    [GeneratedRegex(@"\A[^\s=\[\]]+:(\s.*)?\z")]
    private static partial Regex YamlKeyLineRegex();

    [GeneratedRegex(@"\A[A-Za-z0-9_.-]{1,64}\z")]
    private static partial Regex GroupNameRegex();

    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_]*\z")]
    private static partial Regex PythonIdentifierRegex();
}
