using Stageproof.Core.Validation;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>
/// ssh hosts as OpenSSH would reach them when Ansible (or a person) runs <c>ssh -o Port=… -o User=… ADDRESS</c>: what
/// stageproof.yaml or the inventory says wins, as ssh's command line does; the rest comes from ssh_config for
/// ADDRESS (HostName, User, Port, IdentityFile, ProxyJump, StrictHostKeyChecking, UserKnownHostsFile,
/// IdentityAgent, IdentitiesOnly), and a user set nowhere is the local user, as with ssh and Ansible.
/// </summary>
internal sealed partial class ConfigReader
{
    private const int MaxJumps = 8;

    /// <summary>ssh.config: null for ~/.ssh/config then /etc/ssh/ssh_config; "none" for no file.</summary>
    private (string Path, Where At)? _sshConfigFile;

    /// <summary>A ProxyJump given for a host outside ssh_config (jump: in stageproof.yaml, or the inventory's ssh args).</summary>
    private readonly Dictionary<string, (string Value, Where At)> _explicitJumps = new(StringComparer.Ordinal);

    private readonly Dictionary<(Where At, string Message), List<string>> _sshWarnings = [];

    private static string Home() =>
        Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    private void ApplySshConfig()
    {
        var home = Home();
        var sshConfig = _sshConfigFile switch
        {
            null => OpenSshConfig.Load(OpenSshConfig.DefaultFiles(home), home, _problems),
            { Path: "none" } => OpenSshConfig.Empty(home),
            { } file => OpenSshConfig.LoadExplicit(file.Path, file.At, home, _problems),
        };
        foreach (var name in _hosts.Keys.ToList())
        {
            var (host, at) = _hosts[name];
            if (host.Transport != TransportKind.Ssh || host.Address is null || _unusable.Any(u => u.Host.Name == name))
            {
                continue;
            }
            var origin = _origins[name];
            var values = origin.Values.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            var explicitJump = _explicitJumps.TryGetValue(name, out var j) ? j : ((string, Where)?)null;
            var resolved = Resolve(sshConfig, host, values, explicitJump, name, [], 0);
            _hosts[name] = (resolved, at);
            _origins[name] = origin with { Values = values };
        }
        foreach (var ((where, message), hosts) in _sshWarnings)
        {
            _warnings.Add(where, $"{message} (applies to {HostList(hosts)})");
        }
    }

    /// <summary>
    /// One endpoint: fields not in <paramref name="values"/> (set explicitly) are filled from ssh_config, and
    /// <paramref name="values"/> gains where each came from. <paramref name="explicitJump"/> beats ssh_config's
    /// ProxyJump; "none" means direct.
    /// </summary>
    private HostConfig Resolve(OpenSshConfig sshConfig, HostConfig host, Dictionary<string, ValueSource> values,
        (string Value, Where At)? explicitJump, string forHost, List<string> visiting, int depth)
    {
        var destination = host.Address!;
        var found = sshConfig.Resolve(destination);
        void From(string field, SshConfigValue value) => values[field] = new ValueSource(value.At.File, value.At.Line, value.Keyword);

        if (found.HostName is { } hostName)
        {
            var address = hostName.Value.Replace("%h", destination, StringComparison.Ordinal).Replace("%%", "%", StringComparison.Ordinal);
            if (Names.AddressError(address) is { } error)
            {
                _problems.Add(hostName.At, $"HostName: {error}");
            }
            host = host with { Address = address };
            From("address", hostName);
        }
        if (!values.ContainsKey("port") && found.Port is { } port)
        {
            host = host with { Port = int.Parse(port.Value, System.Globalization.CultureInfo.InvariantCulture) };
            From("port", port);
        }
        if (!values.ContainsKey("user"))
        {
            if (found.User is { } user && Names.UserNameError(user.Value) is null)
            {
                host = host with { User = user.Value };
                From("user", user);
            }
            else
            {
                // As ssh and Ansible do when no user is configured.
                host = host with { User = Environment.UserName };
            }
        }
        string? Expand(SshConfigValue value, string text)
        {
            var path = sshConfig.ExpandPath(text, host.Address!, destination, host.User, host.Port, out var error);
            if (path is null)
            {
                _problems.Add(value.At, $"{value.Keyword}: {error}");
            }
            return path;
        }
        if (!values.ContainsKey("identity") && found.IdentityFiles.Count > 0)
        {
            // ssh tries each; the first that exists is the one that can be used without a prompt.
            var candidates = found.IdentityFiles.Select(v => (Value: v, Path: Expand(v, v.Value))).Where(c => c.Path is not null).ToList();
            var pick = candidates.FirstOrDefault(c => File.Exists(c.Path));
            if (pick.Path is null)
            {
                pick = candidates.FirstOrDefault();
            }
            if (pick.Path is not null)
            {
                host = host with { Identity = pick.Path };
                From("identity", pick.Value);
            }
        }
        if (!values.ContainsKey("known_hosts") && found.UserKnownHostsFile is { } knownHosts
            && Expand(knownHosts, knownHosts.Value.Split(' ')[0]) is { } knownHostsPath)
        {
            host = host with { KnownHosts = knownHostsPath };
            From("known_hosts", knownHosts);
        }
        if (found.IdentityAgent is { } agent)
        {
            var socket = agent.Value switch
            {
                "SSH_AUTH_SOCK" => null,
                var v when v.Equals("none", StringComparison.OrdinalIgnoreCase) => HostConfig.NoAgent,
                var v when v.StartsWith('$') && !v.StartsWith("${", StringComparison.Ordinal) => Environment.GetEnvironmentVariable(v[1..]) ?? HostConfig.NoAgent,
                var v => Expand(agent, v),
            };
            host = host with { IdentityAgent = socket };
            From("identity_agent", agent);
        }
        if (found.IdentitiesOnly is { } only)
        {
            host = host with { IdentitiesOnly = only.Value.ToLowerInvariant() is "yes" or "true" };
            From("identities_only", only);
        }
        if (found.StrictHostKeyChecking is { } strict)
        {
            var mode = strict.Value.ToLowerInvariant();
            host = host with { AcceptNewHostKeys = mode is "accept-new" or "no" or "off" or "false" };
            From("host_key_checking", strict);
            if (mode is "no" or "off" or "false")
            {
                Warn(strict.At, $"StrictHostKeyChecking {strict.Value} is read as accept-new: Stageproof never connects to a host whose key changed", forHost);
            }
        }
        foreach (var unhonoured in found.Unhonoured)
        {
            Warn(unhonoured.At, $"ssh config {unhonoured.Keyword} is not honoured by Stageproof", forHost);
        }
        foreach (var match in found.SkippedMatches)
        {
            Warn(match, "ssh config Match blocks are not evaluated by Stageproof: the lines under this one are not applied", forHost);
        }

        var jump = explicitJump ?? (found.ProxyJump is { } pj ? (pj.Value, pj.At) : null);
        if (jump is not { } spec || spec.Value.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            return host;
        }
        if (explicitJump is null)
        {
            From("jump", found.ProxyJump!.Value);
        }
        else
        {
            values["jump"] = new ValueSource(spec.At.File, spec.At.Line, spec.At.Key);
        }
        return host with { Jumps = ResolveJumps(sshConfig, spec, forHost, [.. visiting, destination], depth) };
    }

    /// <summary>
    /// A ProxyJump list as ssh follows it: the first hop is reached with its own ssh_config (its own ProxyJump
    /// included), each later hop through the ones before it, with its ssh_config but not its ProxyJump.
    /// </summary>
    private List<HostConfig> ResolveJumps(OpenSshConfig sshConfig, (string Value, Where At) spec, string forHost, List<string> visiting, int depth)
    {
        var chain = new List<HostConfig>();
        var hops = spec.Value.Split(',');
        for (var i = 0; i < hops.Length; i++)
        {
            if (SshJump.Parse(hops[i]) is not { } hop)
            {
                _problems.Add(spec.At, $"ProxyJump: {Names.Show(hops[i])} is not [user@]host[:port]");
                return [];
            }
            if (visiting.Contains(hop.Host, StringComparer.OrdinalIgnoreCase) || depth + chain.Count >= MaxJumps)
            {
                _problems.Add(spec.At, $"ProxyJump of host '{forHost}' loops or is longer than {MaxJumps} hops ({string.Join(" -> ", [.. visiting, hop.Host])})");
                return [];
            }
            var values = new Dictionary<string, ValueSource>(StringComparer.Ordinal);
            var source = new ValueSource(spec.At.File, spec.At.Line, spec.At.Key);
            var jumpHost = new HostConfig { Name = hop.ToString(), Address = hop.Host };
            if (hop.Port is { } port)
            {
                jumpHost = jumpHost with { Port = port };
                values["port"] = source;
            }
            if (hop.User is { } user)
            {
                jumpHost = jumpHost with { User = user };
                values["user"] = source;
            }
            (string, Where)? ownJump = i == 0 ? null : ("none", spec.At);
            var resolved = Resolve(sshConfig, jumpHost, values, ownJump, forHost, visiting, depth + chain.Count + 1);
            chain.AddRange(resolved.Jumps);
            chain.Add(resolved with { Jumps = [] });
        }
        return chain;
    }

    private void Warn(Where at, string message, string host)
    {
        if (!_sshWarnings.TryGetValue((at, message), out var hosts))
        {
            _sshWarnings[(at, message)] = hosts = [];
        }
        if (!hosts.Contains(host))
        {
            hosts.Add(host);
        }
    }
}
