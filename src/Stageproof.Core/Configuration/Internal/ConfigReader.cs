using System.Text.RegularExpressions;
using Stageproof.Core.Checks;
using Stageproof.Core.Databases;
using Stageproof.Core.Validation;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>Walks stageproof.yaml against its schema, then checks every cross reference. One instance per load.</summary>
internal sealed partial class ConfigReader
{
    private static readonly string[] RootKeys = ["hosts", "groups", "inventory", "environments", "drift", "ssh", "checks", "lifecycle", "stage", "webhooks",
        "server", "state", "state_password_file", "audit_key_file", "jobs"];
    private static readonly string[] HostKeys = ["transport", "address", "port", "user", "identity", "known_hosts", "jump", "become", "role", "root"];
    private static readonly string[] SshOnlyKeys = ["address", "port", "identity", "known_hosts", "jump"];
    private static readonly string[] DatabaseKeys = ["engine", "connection"];

    /// <summary>
    /// A database: a connection string (PostgreSQL), "engine:connection string", or { engine, connection }.
    /// Returns the one-string form <see cref="DatabaseEndpoint"/> reads; null after reporting a problem at its key.
    /// </summary>
    private string? ReadDatabase(YamlNode value, string path)
    {
        DatabaseEndpoint? endpoint = null;
        if (value is YamlMappingNode mapping)
        {
            var fields = _yaml.Entries(mapping, path, DatabaseKeys).ToDictionary(e => e.Name, StringComparer.Ordinal);
            DatabaseEngine engine = DatabaseEngine.Postgres;
            var ok = true;
            var hasEngine = fields.TryGetValue("engine", out var e);
            if (hasEngine && _yaml.RequiredString(e.Value, e.Path) is { } name)
            {
                if (DatabaseEndpoint.EngineNamed(name) is { } known)
                {
                    engine = known;
                }
                else
                {
                    _yaml.Report(e.Value, e.Path, $"unknown database engine '{Names.Excerpt(name)}' (known: {string.Join(", ", DatabaseEndpoint.EngineNames)})");
                    ok = false;
                }
            }
            else if (hasEngine)
            {
                ok = false;
            }
            if (!fields.TryGetValue("connection", out var c))
            {
                _yaml.Report(value, $"{path}.connection", "connection is required: the database's connection string");
                return null;
            }
            if (_yaml.RequiredString(c.Value, c.Path) is not { } connection)
            {
                return null;
            }
            if (ConnectionStrings.Problem(connection) is { } connectionError)
            {
                _yaml.Report(c.Value, c.Path, connectionError);
                return null;
            }
            endpoint = ok ? new DatabaseEndpoint(engine, connection) : null;
        }
        else if (_yaml.RequiredString(value, path) is { } text)
        {
            if (!DatabaseEndpoint.TryParse(text, out var parsed, out var problem))
            {
                _yaml.Report(value, path, problem!);
                return null;
            }
            if (ConnectionStrings.Problem(parsed.ConnectionString) is { } connectionError)
            {
                _yaml.Report(value, path, connectionError);
                return null;
            }
            endpoint = parsed;
        }
        return endpoint?.ToString();
    }

    private static readonly string[] EnvironmentKeys = ["hosts", "databases", "mirror_of", "control", "checks", "directories"];
    private static readonly string[] DirectoryKeys = ["url", "bind_dn", "password_file", "password", "bases", "rollback"];
    private static readonly string[] DirectoryRollbackKeys = ["bind_dn", "password_file", "password", "host"];
    private static readonly string[] DriftKeys = ["track", "ignore", "formats", "min_fidelity", "fail_on", "max_content_bytes", "secret_keys"];
    private static readonly string[] SshKeys = ["parallelism", "connect_timeout", "command_timeout", "keep_open", "config"];

    /// <summary>
    /// The categories an ignore rule may name: the drift families (Core.Drift.DriftFamily codes) and "upgrade"
    /// (pending upgrades, for scan). Kept in step with Core.Drift.IgnoreRules, which parses the rules themselves.
    /// </summary>
    internal static readonly string[] IgnoreCategories =
        ["package", "file", "service", "port", "setting", "schema", "migration", "os", "host", "database", "upgrade"];

    private readonly string _file;
    private readonly string _baseDirectory;
    private readonly ProblemList _problems = new();
    private readonly ProblemList _warnings = new();
    private readonly YamlWalker _yaml;

    private readonly Dictionary<string, (HostConfig Host, Where At)> _hosts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (Where At, List<NameRef> Members)> _groups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _expandedGroups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HostOrigin> _origins = new(StringComparer.Ordinal);
    private readonly HashSet<string> _inventoryHosts = new(StringComparer.Ordinal);
    /// <summary>Groups read from the inventory: their members are host names (children already expanded).</summary>
    private readonly HashSet<string> _inventoryGroups = new(StringComparer.Ordinal);
    private readonly List<InventoryHostConfig> _unusable = [];
    private readonly Dictionary<string, SkippedHost> _skipped = new(StringComparer.Ordinal);
    private string? _inventoryFile;
    private readonly List<RawEnvironment> _environments = [];
    private readonly Dictionary<string, CheckSuite> _checks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (List<NameRef> Databases, List<NameRef> Environments, List<NameRef> Directories)> _checkRefs = new(StringComparer.Ordinal);
    private DriftRules _drift = new();
    private SshSettings _ssh = new();
    private (string Path, YamlNode Node, string Key)? _inventory;
    private (YamlNode Node, string Path)? _stageNode;

    private sealed record RawEnvironment(string Name, Where At, List<NameRef> Hosts, Dictionary<string, string> Databases, NameRef? MirrorOf, NameRef? Checks)
    {
        public NameRef? Control { get; init; }
        public Dictionary<string, DirectoryConfig> Directories { get; init; } = [];
        /// <summary>Hosts named by the directories' rollback (<c>host:</c>): each must be one of the environment's.</summary>
        public List<NameRef> DirectoryHosts { get; init; } = [];
    }

    public ConfigReader(string file)
    {
        _file = file;
        _baseDirectory = Path.GetDirectoryName(Path.GetFullPath(file)) ?? Directory.GetCurrentDirectory();
        _yaml = new YamlWalker(file, _problems);
    }

    public StageproofConfig Read(string text)
    {
        var root = _yaml.ParseDocument(text);
        var mapping = root is null ? null : _yaml.Mapping(root, "(document)");
        if (mapping is not null)
        {
            foreach (var (name, keyNode, value, path) in _yaml.Entries(mapping, "", RootKeys))
            {
                switch (name)
                {
                    case "hosts": ReadHosts(value, path); break;
                    case "groups": ReadGroups(value, path); break;
                    case "inventory": ReadInventoryKey(value, path); break;
                    case "environments": ReadEnvironments(value, path); break;
                    case "drift": ReadDrift(value, path); break;
                    case "ssh": ReadSsh(value, path); break;
                    case "checks": ReadChecks(value, path); break;
                    case "lifecycle": _lifecycleNode = (value, path); break;
                    case "stage": _stageNode = (value, path); break;
                    case "webhooks": ReadWebhooks(value, path); break;
                    case "state" or "state_password_file" or "audit_key_file": ReadState(name, value, path); break;
                    case "server": _serverNode = (value, path); break;
                    case "jobs": ReadJobs(value, path); break;
                    default: throw new InvalidOperationException($"root key '{name}' at {_yaml.At(keyNode, path)} has no reader");
                }
            }
        }
        if (_inventory is { } inventory)
        {
            LoadInventory(inventory.Path, inventory.Node, inventory.Key);
        }
        ApplySshConfig();
        CheckNameClashes();
        AddImplicitGroups();
        foreach (var group in _groups.Keys)
        {
            ExpandGroup(group, []);
        }
        var environments = ResolveEnvironments();
        SettleUnusableHosts(environments);
        // Read after the environments and suites: stages refer to both, wherever lifecycle: sits in the file.
        var lifecycle = _lifecycleNode is { } node ? ReadLifecycle(node.Node, node.Path, environments) : new Lifecycle.LifecycleConfig();
        var stage = _stageNode is { } stageNode ? ReadStage(stageNode.Node, stageNode.Path, environments) : new StageConfig();
        var server = _serverNode is { } serverNode ? ReadServer(serverNode.Node, serverNode.Path, environments) : new ServerConfig();
        _problems.ThrowIfAny();
        return new StageproofConfig
        {
            SourceFile = Path.GetFullPath(_file),
            Hosts = _hosts.ToDictionary(kv => kv.Key, kv => kv.Value.Host, StringComparer.Ordinal),
            Groups = _expandedGroups.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value, StringComparer.Ordinal),
            Environments = environments,
            Drift = _drift,
            Ssh = _ssh,
            Checks = _checks,
            Lifecycle = lifecycle,
            Stage = stage,
            InventoryFile = _inventoryFile,
            Warnings = _warnings.All.Distinct().ToList(),
            Origins = _origins,
            SkippedHosts = _skipped,
            Webhooks = _webhooks,
            State = _state,
            Server = server,
            Jobs = _jobs,
        };
    }

    // ---- stage ----------------------------------------------------------------------------------------

    private static readonly string[] StagePolicyKeys = ["policy", "environments", "allow"];

    /// <summary>stage: { policy: { category: fail|warn|ignore }, environments: { ENV: { category: ... } } }; an
    /// environment's entries override the general policy's.</summary>
    private StageConfig ReadStage(YamlNode node, string path, IReadOnlyDictionary<string, EnvironmentConfig> environments)
    {
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return new StageConfig();
        }
        var general = new Stage.StagePolicy();
        YamlMappingNode? perEnvironment = null;
        var perEnvironmentPath = "";
        var allow = new List<string>();
        foreach (var (name, _, value, key) in _yaml.Entries(mapping, path, StagePolicyKeys))
        {
            if (name == "policy")
            {
                general = ReadStagePolicy(value, key, general);
            }
            else if (name == "allow")
            {
                foreach (var (rule, ruleNode, rulePath) in _yaml.StringList(value, key) ?? [])
                {
                    var colon = rule.IndexOf(':', StringComparison.Ordinal);
                    var category = colon < 0 ? "" : rule[..colon];
                    if (!Stage.BehaviourChanges.AllowCategories.Contains(category) || colon == rule.Length - 1 || rule.Any(char.IsControl))
                    {
                        _yaml.Report(ruleNode, rulePath, $"{Names.Show(rule)} is not 'category:glob' (categories: {string.Join(", ", Stage.BehaviourChanges.AllowCategories)})");
                        continue;
                    }
                    allow.Add(rule);
                }
            }
            else if (_yaml.Mapping(value, key) is { } envs)
            {
                (perEnvironment, perEnvironmentPath) = (envs, key);
            }
        }
        var overrides = new Dictionary<string, Stage.StagePolicy>(StringComparer.Ordinal);
        if (perEnvironment is not null)
        {
            foreach (var (env, keyNode, value, key) in _yaml.Entries(perEnvironment, perEnvironmentPath))
            {
                if (!environments.ContainsKey(env))
                {
                    var suggestion = YamlWalker.Suggest(env, environments.Keys);
                    _yaml.Report(keyNode, key, $"environment '{Names.Excerpt(env)}' is not defined"
                        + (suggestion is null ? $" (known: {string.Join(", ", environments.Keys)})" : $" (did you mean '{suggestion}'?)"));
                    continue;
                }
                overrides[env] = ReadStagePolicy(value, key, general);
            }
        }
        return new StageConfig { Policy = general, Environments = overrides, Allow = allow };
    }

    private Stage.StagePolicy ReadStagePolicy(YamlNode node, string path, Stage.StagePolicy start)
    {
        var policy = start;
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return policy;
        }
        foreach (var (category, _, value, key) in _yaml.Entries(mapping, path, Stage.StagePolicy.Categories.ToArray()))
        {
            switch (_yaml.String(value, key))
            {
                case "fail": policy = policy.With(category, Stage.StepStatus.Failed); break;
                case "warn": policy = policy.With(category, Stage.StepStatus.Warned); break;
                case "ignore": policy = policy.With(category, Stage.StepStatus.Skipped); break;
                case var other:
                    _yaml.Report(value, key, $"{Names.Show(other ?? "")} is not a policy (fail, warn, ignore)");
                    break;
            }
        }
        return policy;
    }

    // ---- hosts --------------------------------------------------------------------------------------

    private void ReadHosts(YamlNode node, string path)
    {
        if (_yaml.Mapping(node, path) is not { } hosts)
        {
            return;
        }
        foreach (var (name, keyNode, value, hostPath) in _yaml.Entries(hosts, path))
        {
            if (Names.HostNameError(name) is { } error)
            {
                _yaml.Report(keyNode, hostPath, error);
            }
            if (ReadHost(name, keyNode, value, hostPath) is { } host)
            {
                _hosts[name] = (host, _yaml.At(keyNode, hostPath));
            }
        }
    }

    private HostConfig? ReadHost(string name, YamlNode keyNode, YamlNode value, string path)
    {
        if (_yaml.Mapping(value, path) is not { } mapping)
        {
            return null;
        }
        var fields = _yaml.Entries(mapping, path, HostKeys).ToDictionary(e => e.Name, StringComparer.Ordinal);
        var host = new HostConfig { Name = name };

        if (fields.TryGetValue("transport", out var f))
        {
            switch (_yaml.RequiredString(f.Value, f.Path))
            {
                case null: break;
                case "ssh": host = host with { Transport = TransportKind.Ssh }; break;
                case "local": host = host with { Transport = TransportKind.Local }; break;
                case "chroot": host = host with { Transport = TransportKind.Chroot }; break;
                case var other:
                    _yaml.Report(f.Value, f.Path, $"unknown transport {Names.Show(other)} (expected ssh, local or chroot)"
                        + (YamlWalker.Suggest(other, ["ssh", "local", "chroot"]) is { } s ? $" (did you mean '{s}'?)" : ""));
                    break;
            }
        }
        if (fields.TryGetValue("address", out f) && _yaml.RequiredString(f.Value, f.Path) is { } address)
        {
            if (Names.AddressError(address) is { } error)
            {
                _yaml.Report(f.Value, f.Path, error);
            }
            host = host with { Address = address };
        }
        if (fields.TryGetValue("port", out f) && _yaml.Int(f.Value, f.Path, 1, 65535) is { } port)
        {
            host = host with { Port = port };
        }
        if (fields.TryGetValue("user", out f) && _yaml.RequiredString(f.Value, f.Path) is { } user)
        {
            if (Names.UserNameError(user) is { } error)
            {
                _yaml.Report(f.Value, f.Path, error);
            }
            host = host with { User = user };
        }
        if (fields.TryGetValue("identity", out f))
        {
            host = host with { Identity = ReadPath(f.Value, f.Path) };
        }
        if (fields.TryGetValue("known_hosts", out f))
        {
            host = host with { KnownHosts = ReadPath(f.Value, f.Path) };
        }
        if (fields.TryGetValue("jump", out f) && _yaml.RequiredString(f.Value, f.Path) is { } jump)
        {
            _explicitJumps[name] = (jump, _yaml.At(f.Value, f.Path));
        }
        if (fields.TryGetValue("become", out f))
        {
            switch (_yaml.String(f.Value, f.Path))
            {
                case null or "false" or "no": break;
                case "sudo": host = host with { Become = "sudo" }; break;
                case var other:
                    _yaml.Report(f.Value, f.Path, $"become {Names.Show(other)} is not supported (only 'sudo', or leave it out when the user is root)");
                    break;
            }
        }
        if (fields.TryGetValue("role", out f) && _yaml.RequiredString(f.Value, f.Path) is { } role)
        {
            if (Names.IdentifierError(role, "role") is { } error)
            {
                _yaml.Report(f.Value, f.Path, error);
            }
            host = host with { Role = role };
        }
        if (fields.TryGetValue("root", out f) && ReadPath(f.Value, f.Path) is { } root)
        {
            if (Names.AbsolutePathError(root) is { } error)
            {
                _yaml.Report(f.Value, f.Path, error);
            }
            host = host with { Root = root };
        }

        _origins[name] = new HostOrigin
        {
            Definition = Source(_yaml.At(keyNode, path)),
            Values = fields.ToDictionary(kv => kv.Key, kv => Source(_yaml.At(kv.Value.Value, kv.Value.Path)), StringComparer.Ordinal),
        };
        switch (host.Transport)
        {
            case TransportKind.Ssh:
                if (!fields.ContainsKey("address"))
                {
                    _yaml.Report(keyNode, $"{path}.address", "address is required for ssh hosts");
                }
                if (fields.TryGetValue("root", out f))
                {
                    _yaml.Report(f.KeyNode, f.Path, "root is only used by chroot hosts");
                }
                break;
            default:
                foreach (var key in SshOnlyKeys.Where(fields.ContainsKey))
                {
                    _yaml.Report(fields[key].KeyNode, fields[key].Path, $"{key} is only used by ssh hosts, this host's transport is {host.Transport.ToString().ToLowerInvariant()}");
                }
                if (host.Transport == TransportKind.Chroot && !fields.ContainsKey("root"))
                {
                    _yaml.Report(keyNode, $"{path}.root", "root is required for chroot hosts");
                }
                else if (host.Transport == TransportKind.Local && fields.TryGetValue("root", out f))
                {
                    _yaml.Report(f.KeyNode, f.Path, "root is only used by chroot hosts");
                }
                break;
        }
        return host;
    }

    /// <summary>A file path; relative paths are resolved against the configuration file's folder, "~/" against the home folder.</summary>
    private string? ReadPath(YamlNode node, string key)
    {
        var value = _yaml.RequiredString(node, key);
        if (value is null)
        {
            return null;
        }
        if (value.Any(char.IsControl))
        {
            _yaml.Report(node, key, $"path {Names.Show(value)} contains a control character");
            return null;
        }
        return ResolvePath(_baseDirectory, value);
    }

    internal static string ResolvePath(string baseDirectory, string value)
    {
        if (value == "~" || value.StartsWith("~/", StringComparison.Ordinal))
        {
            return Path.GetFullPath(Home() + value[1..]);
        }
        return Path.GetFullPath(value, baseDirectory);
    }

    // ---- groups and inventory -----------------------------------------------------------------------

    private void ReadGroups(YamlNode node, string path)
    {
        if (_yaml.Mapping(node, path) is not { } groups)
        {
            return;
        }
        foreach (var (name, keyNode, value, groupPath) in _yaml.Entries(groups, path))
        {
            if (Names.IdentifierError(name, "group name") is { } error)
            {
                _yaml.Report(keyNode, groupPath, error);
            }
            var members = _yaml.StringList(value, groupPath) ?? [];
            _groups[name] = (_yaml.At(keyNode, groupPath), members.Select(m => new NameRef(m.Value, _yaml.At(m.Node, m.Path))).ToList());
        }
    }

    private void ReadInventoryKey(YamlNode node, string path)
    {
        if (ReadPath(node, path) is { } inventory)
        {
            _inventory = (inventory, node, path);
        }
    }

    private static ValueSource Source(Where at) => new(at.File, at.Line, at.Key);

    private void LoadInventory(string inventoryPath, YamlNode node, string key)
    {
        var (text, problem) = InputFiles.ReadText(inventoryPath);
        if (text is null)
        {
            _yaml.Report(node, key, $"cannot read the Ansible inventory {Names.Show(inventoryPath)}: {problem}");
            return;
        }
        _inventoryFile = inventoryPath;
        var inventory = AnsibleInventory.Read(inventoryPath, text, _problems, _warnings);
        var inventoryDirectory = Path.GetDirectoryName(inventoryPath) ?? _baseDirectory;
        // Hosts and groups written in stageproof.yaml win over the inventory's.
        var overridden = new HashSet<string>(_hosts.Keys, StringComparer.Ordinal);
        var unhonoured = new Dictionary<(Where At, string Key), List<string>>();
        foreach (var entry in inventory.ToHostConfigs(p => ResolvePath(inventoryDirectory, p), overridden))
        {
            var host = entry.Host;
            _hosts[host.Name] = (host, entry.At);
            _inventoryHosts.Add(host.Name);
            _origins[host.Name] = new HostOrigin
            {
                Definition = Source(entry.At),
                Values = entry.Sources.ToDictionary(kv => kv.Key, kv => Source(kv.Value), StringComparer.Ordinal),
                Jump = entry.Jump?.Value,
                JumpSource = entry.Jump is { } jump ? Source(jump.At) : null,
            };
            if (entry.Jump is { } proxyJump)
            {
                _explicitJumps[host.Name] = proxyJump;
            }
            if (entry.Unusable is not null)
            {
                _unusable.Add(entry);
                continue;
            }
            foreach (var (name, at) in entry.Unhonoured)
            {
                if (!unhonoured.TryGetValue((at, name), out var hosts))
                {
                    unhonoured[(at, name)] = hosts = [];
                }
                hosts.Add(host.Name);
            }
        }
        // One warning per place a variable is set, not one per host it reaches.
        foreach (var ((at, name), hosts) in unhonoured)
        {
            if (name is "ansible_ssh_common_args" or "ansible_ssh_extra_args" && _origins[hosts[0]].Jump is not null)
            {
                // Its ProxyJump is used; only the rest of the arguments, if any, goes unheard.
                if (inventory.ArgumentsBesideJump(hosts[0], name) is { Length: > 0 } rest)
                {
                    _warnings.Add(at, $"connection variable '{name}': its ProxyJump is used, the rest ({Names.Show(rest)}) is not honoured by Stageproof (applies to {HostList(hosts)})");
                }
                continue;
            }
            _warnings.Add(at, $"connection variable '{name}' is not honoured by Stageproof (applies to {HostList(hosts)})");
        }
        foreach (var group in inventory.Groups.Values)
        {
            if (!_groups.ContainsKey(group.Name))
            {
                _groups[group.Name] = (group.At, inventory.HostsOf(group));
                _inventoryGroups.Add(group.Name);
            }
        }
    }

    private static string HostList(List<string> hosts) =>
        hosts.Count <= 3 ? string.Join(", ", hosts) : $"{string.Join(", ", hosts.Take(3))} and {hosts.Count - 3} more";

    /// <summary>
    /// 'all' (every host) and 'ungrouped' (hosts no group names) are targets as in Ansible, unless stageproof.yaml
    /// defines groups of those names itself.
    /// </summary>
    private void AddImplicitGroups()
    {
        bool UserDefined(string name) => _groups.ContainsKey(name) && !_inventoryGroups.Contains(name);
        if (!UserDefined("all"))
        {
            _groups["all"] = (new Where(_file, 0, 0, "all"), _hosts.Select(h => new NameRef(h.Key, h.Value.At)).ToList());
            _inventoryGroups.Add("all");
        }
        if (!UserDefined("ungrouped"))
        {
            var grouped = _groups.Where(g => g.Key is not ("all" or "ungrouped"))
                .SelectMany(g => g.Value.Members).Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
            _groups["ungrouped"] = (new Where(_file, 0, 0, "ungrouped"), _hosts.Where(h => !grouped.Contains(h.Key)).Select(h => new NameRef(h.Key, h.Value.At)).ToList());
            _inventoryGroups.Add("ungrouped");
        }
    }

    private void CheckNameClashes()
    {
        foreach (var (name, (at, _)) in _groups)
        {
            if (!_hosts.TryGetValue(name, out var host))
            {
                continue;
            }
            if (_inventoryGroups.Contains(name) || _inventoryHosts.Contains(name))
            {
                // Ansible allows it, warns, and a pattern naming both means the group.
                _warnings.Add(at, $"group '{name}' has the same name as a host ({host.At.File}:{host.At.Line}); as in Ansible, '{name}' in a list of hosts means the group");
            }
            else
            {
                _problems.Add(at, $"group '{name}' has the same name as a host; references to it would be ambiguous");
            }
        }
    }

    /// <summary>
    /// Inventory hosts Stageproof cannot reach as written: a problem when an environment uses them, else a warning,
    /// and they are left out (as Stageproof will never contact them).
    /// </summary>
    private void SettleUnusableHosts(Dictionary<string, EnvironmentConfig> environments)
    {
        // One line per place the unusable setting is written, not one per host it reaches.
        foreach (var site in _unusable.GroupBy(e => (e.UnusableAt, e.Unusable)))
        {
            var (at, reason) = site.Key;
            var used = site.Select(e => e.Host.Name)
                .Select(h => (Host: h, Users: environments.Values.Where(e => e.Hosts.Contains(h)).Select(e => e.Name).ToList()))
                .ToList();
            var refused = used.Where(u => u.Users.Count > 0).ToList();
            if (refused.Count > 0)
            {
                var users = refused.SelectMany(u => u.Users).Distinct().Select(u => $"'{u}'");
                _problems.Add(at, $"{reason}: host {HostList(refused.Select(u => u.Host).ToList())}, used by environment {string.Join(", ", users)}");
            }
            var left = used.Where(u => u.Users.Count == 0).Select(u => u.Host).ToList();
            if (left.Count == 0)
            {
                continue;
            }
            _warnings.Add(at, $"{reason}: host {HostList(left)} left out, as no environment uses {(left.Count == 1 ? "it" : "them")}");
            foreach (var name in left)
            {
                _skipped[name] = new SkippedHost(name, reason!, Source(at));
                _hosts.Remove(name);
                _origins.Remove(name);
                foreach (var members in _expandedGroups.Values)
                {
                    members.Remove(name);
                }
            }
        }
    }

    /// <summary>Expands a group to host names (nested groups flattened, order kept, duplicates dropped), reporting cycles and unknown members.</summary>
    private List<string> ExpandGroup(string name, List<string> stack)
    {
        if (_expandedGroups.TryGetValue(name, out var done))
        {
            return done;
        }
        stack.Add(name);
        var hosts = new List<string>();
        var hostsOnly = _inventoryGroups.Contains(name);
        foreach (var member in _groups[name].Members)
        {
            if (_hosts.ContainsKey(member.Name) && (hostsOnly || !_groups.ContainsKey(member.Name)))
            {
                hosts.Add(member.Name);
            }
            else if (_groups.ContainsKey(member.Name))
            {
                var cycleStart = stack.IndexOf(member.Name);
                if (cycleStart >= 0)
                {
                    _problems.Add(member.At, $"groups form a cycle: {string.Join(" → ", stack.Skip(cycleStart).Append(member.Name))}");
                    continue;
                }
                hosts.AddRange(ExpandGroup(member.Name, stack));
            }
            else
            {
                _problems.Add(member.At, UnknownHostOrGroup(member.Name));
            }
        }
        stack.RemoveAt(stack.Count - 1);
        var result = hosts.Distinct(StringComparer.Ordinal).ToList();
        _expandedGroups[name] = result;
        return result;
    }

    private string UnknownHostOrGroup(string name)
    {
        var suggestion = YamlWalker.Suggest(name, _hosts.Keys.Concat(_groups.Keys));
        return $"unknown host or group {Names.Show(name)}" + (suggestion is null ? "" : $" (did you mean '{suggestion}'?)");
    }

    private static string UnknownEnvironment(string name, IReadOnlyCollection<string> known)
    {
        var suggestion = YamlWalker.Suggest(name, known);
        return $"unknown environment {Names.Show(name)}" + (suggestion is null ? $" (known: {string.Join(", ", known)})" : $" (did you mean '{suggestion}'?)");
    }

    // ---- environments -------------------------------------------------------------------------------

    private void ReadEnvironments(YamlNode node, string path)
    {
        if (_yaml.Mapping(node, path) is not { } environments)
        {
            return;
        }
        foreach (var (name, keyNode, value, envPath) in _yaml.Entries(environments, path))
        {
            var at = _yaml.At(keyNode, envPath);
            if (Names.IdentifierError(name, "environment name") is { } error)
            {
                _problems.Add(at, error);
            }
            if (_yaml.Mapping(value, envPath) is not { } mapping)
            {
                continue;
            }
            var fields = _yaml.Entries(mapping, envPath, EnvironmentKeys).ToDictionary(e => e.Name, StringComparer.Ordinal);
            var hosts = new List<NameRef>();
            if (!fields.TryGetValue("hosts", out var f))
            {
                _problems.Add(at.WithKey($"{envPath}.hosts"), "hosts is required: the hosts or groups of this environment");
            }
            else if (_yaml.StringList(f.Value, f.Path) is { } list)
            {
                hosts.AddRange(list.Select(h => new NameRef(h.Value, _yaml.At(h.Node, h.Path))));
                if (YamlWalker.IsNull(f.Value) || f.Value is YamlSequenceNode { Children.Count: 0 })
                {
                    _yaml.Report(f.Value, f.Path, "an environment needs at least one host or group");
                }
            }
            var databases = new Dictionary<string, string>(StringComparer.Ordinal);
            if (fields.TryGetValue("databases", out f) && _yaml.Mapping(f.Value, f.Path) is { } dbs)
            {
                foreach (var (db, dbKey, dbValue, dbPath) in _yaml.Entries(dbs, f.Path))
                {
                    if (Names.IdentifierError(db, "database name") is { } dbError)
                    {
                        _yaml.Report(dbKey, dbPath, dbError);
                    }
                    if (ReadDatabase(dbValue, dbPath) is { } endpoint)
                    {
                        databases[db] = endpoint;
                    }
                }
            }
            NameRef? mirrorOf = null;
            if (fields.TryGetValue("mirror_of", out f) && _yaml.RequiredString(f.Value, f.Path) is { } mirror)
            {
                mirrorOf = new NameRef(mirror, _yaml.At(f.Value, f.Path));
            }
            NameRef? checks = null;
            if (fields.TryGetValue("checks", out f) && _yaml.RequiredString(f.Value, f.Path) is { } suite)
            {
                checks = new NameRef(suite, _yaml.At(f.Value, f.Path));
            }
            NameRef? control = null;
            if (fields.TryGetValue("control", out f) && _yaml.RequiredString(f.Value, f.Path) is { } twin)
            {
                control = new NameRef(twin, _yaml.At(f.Value, f.Path));
            }
            var directoryHosts = new List<NameRef>();
            var directories = fields.TryGetValue("directories", out f) ? ReadDirectories(f.Value, f.Path, directoryHosts) : [];
            _environments.Add(new RawEnvironment(name, at, hosts, databases, mirrorOf, checks) { Control = control, Directories = directories, DirectoryHosts = directoryHosts });
        }
    }

    /// <summary>directories: NAME → { url, bind_dn, password_file, bases }, every key checked where it stands.</summary>
    private Dictionary<string, DirectoryConfig> ReadDirectories(YamlNode node, string path, List<NameRef> hostRefs)
    {
        var result = new Dictionary<string, DirectoryConfig>(StringComparer.Ordinal);
        if (_yaml.Mapping(node, path) is not { } directories)
        {
            return result;
        }
        foreach (var (name, keyNode, value, dirPath) in _yaml.Entries(directories, path))
        {
            if (Names.IdentifierError(name, "directory name") is { } nameError)
            {
                _yaml.Report(keyNode, dirPath, nameError);
            }
            if (_yaml.Mapping(value, dirPath) is not { } mapping)
            {
                continue;
            }
            var fields = _yaml.Entries(mapping, dirPath, DirectoryKeys).ToDictionary(e => e.Name, StringComparer.Ordinal);
            var problems = _problems.Count;
            if (fields.TryGetValue("password", out var pw))
            {
                _yaml.Report(pw.KeyNode, pw.Path, "a password must not be written in stageproof.yaml; give password_file: a file holding it (mode 0600)");
            }
            foreach (var required in new[] { "url", "bind_dn", "password_file" })
            {
                if (!fields.ContainsKey(required))
                {
                    _yaml.Report(value, $"{dirPath}.{required}", $"{required} is required for a directory (url: ldap://HOST:PORT, bind_dn: a DN that may read cn=config, password_file: its password, mode 0600)");
                }
            }
            Uri? url = null;
            if (fields.TryGetValue("url", out var u) && _yaml.RequiredString(u.Value, u.Path) is { } text)
            {
                if (!Uri.TryCreate(text, UriKind.Absolute, out url) || url.Scheme is not ("ldap" or "ldaps") || url.UserInfo.Length > 0 || url.AbsolutePath.Length > 1 || url.Query.Length > 0)
                {
                    _yaml.Report(u.Value, u.Path, $"{Names.Show(text)} is not an ldap://HOST:PORT or ldaps://HOST:PORT URL");
                }
            }
            string? Dn(YamlNode dnNode, string dnPath)
            {
                var dn = _yaml.RequiredString(dnNode, dnPath);
                if (dn is not null && (dn.Contains(LdapSyntax.UserVariable, StringComparison.Ordinal) ? "a directory's DNs hold no ${user}" : LdapSyntax.DnError(dn)) is { } dnError)
                {
                    _yaml.Report(dnNode, dnPath, dnError);
                }
                return dn;
            }
            var bindDn = fields.TryGetValue("bind_dn", out var b) ? Dn(b.Value, b.Path) : null;
            var passwordFile = fields.TryGetValue("password_file", out var p) ? ReadPath(p.Value, p.Path) : null;
            var bases = new List<string>();
            if (fields.TryGetValue("bases", out var bs) && _yaml.StringList(bs.Value, bs.Path) is { } list)
            {
                foreach (var (baseDn, baseNode, basePath) in list)
                {
                    if (Dn(baseNode, basePath) is { } dn)
                    {
                        bases.Add(dn);
                    }
                }
            }
            DirectoryRollbackConfig? rollback = null;
            if (fields.TryGetValue("rollback", out var rb) && _yaml.Mapping(rb.Value, rb.Path) is { } rollbackMapping)
            {
                var rollbackFields = _yaml.Entries(rollbackMapping, rb.Path, DirectoryRollbackKeys).ToDictionary(e => e.Name, StringComparer.Ordinal);
                if (rollbackFields.TryGetValue("password", out var rpw))
                {
                    _yaml.Report(rpw.KeyNode, rpw.Path, "a password must not be written in stageproof.yaml; give password_file: a file holding it (mode 0600)");
                }
                foreach (var required in new[] { "bind_dn", "password_file" })
                {
                    if (!rollbackFields.ContainsKey(required))
                    {
                        _yaml.Report(rb.Value, $"{rb.Path}.{required}", $"{required} is required for a directory's rollback (bind_dn: a DN that may read and write every entry under the bases, such as the database's rootDN; password_file: its password, mode 0600)");
                    }
                }
                if (bases.Count == 0 && (!fields.TryGetValue("bases", out var given) || given.Value is YamlSequenceNode { Children.Count: 0 }))
                {
                    _yaml.Report(rb.KeyNode, rb.Path, "a directory's rollback exports the entries under its bases: give at least one base");
                }
                var rollbackDn = rollbackFields.TryGetValue("bind_dn", out var rd) ? Dn(rd.Value, rd.Path) : null;
                var rollbackFile = rollbackFields.TryGetValue("password_file", out var rf) ? ReadPath(rf.Value, rf.Path) : null;
                string? rollbackHost = null;
                if (rollbackFields.TryGetValue("host", out var rh) && _yaml.RequiredString(rh.Value, rh.Path) is { } hostName)
                {
                    if (Names.IdentifierError(hostName, "host name") is { } hostError)
                    {
                        _yaml.Report(rh.Value, rh.Path, hostError);
                    }
                    rollbackHost = hostName;
                    hostRefs.Add(new NameRef(hostName, _yaml.At(rh.Value, rh.Path)));
                }
                if (rollbackDn is not null && rollbackFile is not null)
                {
                    rollback = new DirectoryRollbackConfig(rollbackDn, rollbackFile, rollbackHost);
                }
            }
            if (_problems.Count == problems && url is not null && bindDn is not null && passwordFile is not null)
            {
                result[name] = new DirectoryConfig(url, bindDn, passwordFile, bases) { Rollback = rollback };
            }
        }
        return result;
    }

    private Dictionary<string, EnvironmentConfig> ResolveEnvironments()
    {
        var byName = _environments.ToDictionary(e => e.Name, StringComparer.Ordinal);
        var result = new Dictionary<string, EnvironmentConfig>(StringComparer.Ordinal);
        foreach (var env in _environments)
        {
            var hosts = new List<string>();
            foreach (var reference in env.Hosts)
            {
                // A group before a host of the same name, as Ansible's patterns do.
                if (_expandedGroups.TryGetValue(reference.Name, out var members))
                {
                    hosts.AddRange(members);
                }
                else if (_hosts.ContainsKey(reference.Name))
                {
                    hosts.Add(reference.Name);
                }
                else
                {
                    _problems.Add(reference.At, UnknownHostOrGroup(reference.Name));
                }
            }
            if (env.MirrorOf is { } mirror)
            {
                if (mirror.Name == env.Name)
                {
                    _problems.Add(mirror.At, $"environment '{env.Name}' cannot be a mirror of itself");
                }
                else if (!byName.ContainsKey(mirror.Name))
                {
                    _problems.Add(mirror.At, UnknownEnvironment(mirror.Name, byName.Keys));
                }
                else if (MirrorCycle(env, byName) is { } cycle)
                {
                    _problems.Add(mirror.At, $"mirror_of forms a cycle: {cycle}");
                }
            }
            if (env.Control is { } control)
            {
                if (control.Name == env.Name)
                {
                    _problems.Add(control.At, $"environment '{env.Name}' cannot be its own control");
                }
                else if (!byName.ContainsKey(control.Name))
                {
                    _problems.Add(control.At, UnknownEnvironment(control.Name, byName.Keys));
                }
            }
            if (env.Checks is { } checks && !_checks.ContainsKey(checks.Name))
            {
                var suggestion = YamlWalker.Suggest(checks.Name, _checks.Keys);
                _problems.Add(checks.At, $"unknown check suite {Names.Show(checks.Name)}"
                    + (suggestion is not null ? $" (did you mean '{suggestion}'?)"
                        : _checks.Count == 0 ? " (there is no checks: section)" : $" (known: {string.Join(", ", _checks.Keys)})"));
            }
            if (env.Checks is { } used && _checkRefs.TryGetValue(used.Name, out var refs))
            {
                foreach (var db in refs.Databases.Where(d => !env.Databases.ContainsKey(d.Name)))
                {
                    var suggestion = YamlWalker.Suggest(db.Name, env.Databases.Keys);
                    _problems.Add(db.At, $"environment '{env.Name}' uses suite '{used.Name}' but has no database {Names.Show(db.Name)}"
                        + (suggestion is not null ? $" (did you mean '{suggestion}'?)" : env.Databases.Count == 0 ? "" : $" (known: {string.Join(", ", env.Databases.Keys)})"));
                }
                foreach (var directory in refs.Directories.Where(d => !env.Directories.ContainsKey(d.Name)))
                {
                    var suggestion = YamlWalker.Suggest(directory.Name, env.Directories.Keys);
                    _problems.Add(directory.At, $"environment '{env.Name}' uses suite '{used.Name}' but has no directory {Names.Show(directory.Name)}"
                        + (suggestion is not null ? $" (did you mean '{suggestion}'?)" : env.Directories.Count == 0 ? "" : $" (known: {string.Join(", ", env.Directories.Keys)})"));
                }
            }
            foreach (var named in env.DirectoryHosts.Where(h => !hosts.Contains(h.Name, StringComparer.Ordinal)))
            {
                _problems.Add(named.At, $"host {Names.Show(named.Name)} is not a host of environment '{env.Name}'"
                    + (hosts.Count == 0 ? "" : $" ({string.Join(", ", hosts.Distinct(StringComparer.Ordinal))})"));
            }
            result[env.Name] = new EnvironmentConfig
            {
                Name = env.Name,
                Hosts = hosts.Distinct(StringComparer.Ordinal).ToList(),
                Databases = env.Databases,
                MirrorOf = env.MirrorOf?.Name,
                Control = env.Control?.Name,
                Checks = env.Checks?.Name,
                Directories = env.Directories,
            };
        }
        foreach (var env in _environments)
        {
            // Twins are paired by position: the n-th host of an environment with the n-th of its control.
            if (env.Control is { } control && result.TryGetValue(env.Name, out var staged) && result.TryGetValue(control.Name, out var twin)
                && control.Name != env.Name && twin.Hosts.Count != staged.Hosts.Count)
            {
                _problems.Add(control.At, $"control '{control.Name}' has {twin.Hosts.Count} host(s) and '{env.Name}' {staged.Hosts.Count}: a control pairs one twin with each host, in order");
            }
        }
        foreach (var reference in _checkRefs.Values.SelectMany(r => r.Environments).Where(r => !byName.ContainsKey(r.Name)))
        {
            _problems.Add(reference.At, UnknownEnvironment(reference.Name, byName.Keys));
        }
        return result;
    }

    private static string? MirrorCycle(RawEnvironment start, Dictionary<string, RawEnvironment> byName)
    {
        var chain = new List<string> { start.Name };
        var current = start;
        while (current.MirrorOf is { } next && byName.TryGetValue(next.Name, out var target))
        {
            if (target.Name == start.Name)
            {
                chain.Add(start.Name);
                return string.Join(" → ", chain);
            }
            if (chain.Contains(target.Name))
            {
                return null; // a cycle further along; reported at its own members
            }
            chain.Add(target.Name);
            current = target;
        }
        return null;
    }

    // ---- drift, ssh, checks -------------------------------------------------------------------------

    private void ReadDrift(YamlNode node, string path)
    {
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return;
        }
        foreach (var (name, _, value, key) in _yaml.Entries(mapping, path, DriftKeys))
        {
            switch (name)
            {
                case "track" when _yaml.StringList(value, key) is { } track:
                    foreach (var (item, itemNode, itemKey) in track)
                    {
                        if (Names.AbsolutePathError(item) is { } error)
                        {
                            _yaml.Report(itemNode, itemKey, error);
                        }
                    }
                    _drift = _drift with { Track = track.Select(t => t.Value).ToList() };
                    break;
                case "ignore" when _yaml.StringList(value, key) is { } ignore:
                    foreach (var (item, itemNode, itemKey) in ignore)
                    {
                        if (IgnoreRuleError(item) is { } error)
                        {
                            _yaml.Report(itemNode, itemKey, error);
                        }
                    }
                    _drift = _drift with { Ignore = ignore.Select(t => t.Value).ToList() };
                    break;
                case "formats" when _yaml.Mapping(value, key) is { } formats:
                    var rules = new List<ConfigFiles.FormatRule>();
                    foreach (var (glob, _, formatNode, formatKey) in _yaml.Entries(formats, key))
                    {
                        if (Names.AbsolutePathError(glob) is { } error)
                        {
                            _yaml.Report(formatNode, formatKey, error);
                        }
                        else if (_yaml.RequiredString(formatNode, formatKey) is { } code)
                        {
                            if (ConfigFiles.ConfigFormatCodes.Parse(code) is { } format)
                            {
                                rules.Add(new ConfigFiles.FormatRule(glob, format));
                            }
                            else
                            {
                                var suggestion = YamlWalker.Suggest(code, ConfigFiles.ConfigFormatCodes.All);
                                _yaml.Report(formatNode, formatKey, $"{Names.Show(code)} is not a file format (known: {string.Join(", ", ConfigFiles.ConfigFormatCodes.All)})"
                                    + (suggestion is null ? "" : $"; did you mean '{suggestion}'?"));
                            }
                        }
                    }
                    _drift = _drift with { Formats = rules };
                    break;
                case "min_fidelity" when _yaml.Number(value, key, 0, 1) is { } fidelity:
                    _drift = _drift with { MinFidelity = fidelity };
                    break;
                case "fail_on" when _yaml.String(value, key) is { } failOn:
                    switch (failOn)
                    {
                        case "none":
                            _drift = _drift with { FailOn = null };
                            break;
                        case "info" or "low" or "medium" or "high":
                            _drift = _drift with { FailOn = Enum.Parse<Drift.DriftSeverity>(failOn, ignoreCase: true) };
                            break;
                        default:
                            _yaml.Report(value, key, $"{Names.Show(failOn)} is not a severity (none, info, low, medium, high)");
                            break;
                    }
                    break;
                case "max_content_bytes" when _yaml.Int(value, key, 1, int.MaxValue) is { } bytes:
                    _drift = _drift with { MaxContentBytes = bytes };
                    break;
                case "secret_keys" when _yaml.StringList(value, key) is { } secrets:
                    foreach (var (item, itemNode, itemKey) in secrets)
                    {
                        try
                        {
                            _ = new Regex(item, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                        }
                        catch (ArgumentException ex)
                        {
                            _yaml.Report(itemNode, itemKey, $"{Names.Show(item)} is not a valid regular expression: {ex.Message}");
                        }
                    }
                    _drift = _drift with { SecretKeys = secrets.Select(t => t.Value).ToList() };
                    break;
                default:
                    break;
            }
        }
    }

    internal static string? IgnoreRuleError(string rule)
    {
        var colon = rule.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return $"ignore rule {Names.Show(rule)} must be 'category:pattern' (categories: {string.Join(", ", IgnoreCategories)})";
        }
        var category = rule[..colon];
        if (!IgnoreCategories.Contains(category))
        {
            var suggestion = YamlWalker.Suggest(category, IgnoreCategories);
            return $"unknown drift category {Names.Show(category)} in ignore rule {Names.Show(rule)}"
                + (suggestion is null ? $" (categories: {string.Join(", ", IgnoreCategories)})" : $" (did you mean '{suggestion}'?)");
        }
        var pattern = rule[(colon + 1)..];
        if (pattern.Trim().Length == 0)
        {
            return $"ignore rule {Names.Show(rule)} has an empty pattern";
        }
        return pattern.Any(char.IsControl) ? $"ignore rule {Names.Show(rule)} contains a control character" : null;
    }

    private void ReadSsh(YamlNode node, string path)
    {
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return;
        }
        foreach (var (name, _, value, key) in _yaml.Entries(mapping, path, SshKeys))
        {
            switch (name)
            {
                case "parallelism" when _yaml.Int(value, key, 1, 256) is { } parallelism:
                    _ssh = _ssh with { Parallelism = parallelism };
                    break;
                case "connect_timeout" when _yaml.Seconds(value, key, 3600) is { } connect:
                    _ssh = _ssh with { ConnectTimeout = connect };
                    break;
                case "command_timeout" when _yaml.Seconds(value, key, 86400) is { } command:
                    _ssh = _ssh with { CommandTimeout = command };
                    break;
                case "keep_open" when _yaml.Seconds(value, key, 3600, allowZero: true) is { } keepOpen:
                    _ssh = _ssh with { KeepOpen = keepOpen };
                    break;
                case "config" when _yaml.RequiredString(value, key) is { } file:
                    _sshConfigFile = (file == "none" ? file : ResolvePath(_baseDirectory, file), _yaml.At(value, key));
                    break;
                default:
                    break;
            }
        }
    }

    private void ReadChecks(YamlNode node, string path)
    {
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return;
        }
        foreach (var (name, keyNode, value, key) in _yaml.Entries(mapping, path))
        {
            if (Names.IdentifierError(name, "check suite name") is { } error)
            {
                _yaml.Report(keyNode, key, error);
            }
            var reader = new CheckSuiteReader(_yaml, p => ResolvePath(_baseDirectory, p));
            _checks[name] = reader.Read(name, value, key);
            _checkRefs[name] = (reader.DatabaseRefs, reader.EnvironmentRefs, reader.DirectoryRefs);
        }
    }
}
