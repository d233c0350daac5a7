using System.Globalization;
using System.Text.RegularExpressions;
using Stageproof.Core.Validation;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>An inventory host as a Stageproof host, with where each of its values came from.</summary>
/// <param name="Unusable">Why Stageproof cannot reach the host as configured (a winrm connection, become_method su);
/// the configuration decides whether that is a problem (an environment uses the host) or a warning.</param>
/// <param name="Jump">A ProxyJump found in ansible_ssh_common_args or ansible_ssh_extra_args (ssh's -J or -o ProxyJump).</param>
/// <param name="Unhonoured">Connection variables Ansible would use and Stageproof does not.</param>
internal sealed record InventoryHostConfig(
    HostConfig Host,
    Where At,
    string? Unusable,
    Where UnusableAt,
    IReadOnlyDictionary<string, Where> Sources,
    (string Value, Where At)? Jump,
    IReadOnlyList<(string Key, Where At)> Unhonoured);

internal sealed partial class AnsibleInventory
{
    /// <summary>Variables Stageproof reads (the rest are the playbooks' business, or named in a warning).</summary>
    private static readonly HashSet<string> HonouredVars = new(StringComparer.Ordinal)
    {
        "ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port", "ansible_user", "ansible_ssh_user",
        "ansible_ssh_private_key_file", "ansible_private_key_file", "ansible_become", "ansible_become_method", "ansible_connection", "role",
    };

    /// <summary>Connection and privilege variables Ansible acts on that Stageproof does not: never dropped silently.</summary>
    private static readonly HashSet<string> UnhonouredVars = new(StringComparer.Ordinal)
    {
        "ansible_password", "ansible_ssh_pass", "ansible_ssh_password", "ansible_ssh_common_args", "ansible_ssh_extra_args",
        "ansible_ssh_args", "ansible_scp_extra_args", "ansible_sftp_extra_args", "ansible_ssh_executable", "ansible_pipelining",
        "ansible_ssh_pipelining", "ansible_ssh_transfer_method", "ansible_scp_if_ssh", "ansible_sftp_batch_mode", "ansible_timeout",
        "ansible_ssh_timeout", "ansible_host_key_checking", "ansible_ssh_host_key_checking", "ansible_ssh_retries",
        "ansible_become_user", "ansible_become_password", "ansible_become_pass", "ansible_become_exe", "ansible_become_flags",
        "ansible_sudo_pass", "ansible_su_pass", "ansible_shell_type", "ansible_shell_executable", "ansible_connection_timeout",
        "ansible_ssh_use_tty", "ansible_control_path", "ansible_control_path_dir", "ansible_ssh_known_hosts_file",
    };

    private static bool IsUnhonoured(string key, InventoryVar value) =>
        key switch
        {
            "ansible_become_user" => value.Text != "root",
            _ => UnhonouredVars.Contains(key)
                || (key.StartsWith("ansible_ssh_", StringComparison.Ordinal) && !HonouredVars.Contains(key))
                || (key.StartsWith("ansible_become_", StringComparison.Ordinal) && !HonouredVars.Contains(key))
                || key.StartsWith("ansible_paramiko_", StringComparison.Ordinal)
                || key.StartsWith("ansible_libssh_", StringComparison.Ordinal),
        };

    /// <summary>
    /// The hosts as Stageproof hosts, except those in <paramref name="skip"/> (defined in stageproof.yaml, so not
    /// checked here); relative key files are resolved with <paramref name="resolvePath"/>.
    /// </summary>
    public List<InventoryHostConfig> ToHostConfigs(Func<string, string> resolvePath, IReadOnlySet<string> skip)
    {
        var result = new List<InventoryHostConfig>();
        foreach (var host in _hosts.Values.Where(h => !skip.Contains(h.Name)))
        {
            var vars = EffectiveVars(host);
            var sources = new Dictionary<string, Where>(StringComparer.Ordinal);
            string? unusable = null;
            var unusableAt = host.At;
            string? Get(string field, params string[] keys)
            {
                foreach (var key in keys)
                {
                    if (vars.TryGetValue(key, out var v) && v.Value is not null)
                    {
                        sources[field] = v.At;
                        if (v.Value is VaultedValue)
                        {
                            _problems.Add(v.At, $"{key} is encrypted with ansible-vault, and Stageproof does not decrypt vaults");
                            return null;
                        }
                        if (v.Text is not { } text)
                        {
                            _problems.Add(v.At, $"{key}: expected a single value, got a list or mapping");
                            return null;
                        }
                        return text;
                    }
                }
                return null;
            }
            Where AtOf(string field) => sources.GetValueOrDefault(field, host.At);

            var transport = TransportKind.Ssh;
            if (Get("transport", "ansible_connection") is { } connection)
            {
                switch (connection)
                {
                    case "ssh" or "smart" or "paramiko" or "paramiko_ssh":
                        break;
                    case "local":
                        transport = TransportKind.Local;
                        break;
                    default:
                        unusable = $"connection {Names.Show(connection)} is not supported (ssh or local)";
                        unusableAt = AtOf("transport");
                        break;
                }
            }

            string? address = null;
            if (transport == TransportKind.Ssh)
            {
                address = Get("address", "ansible_host", "ansible_ssh_host") ?? host.Name;
                if (Names.AddressError(address) is { } error && unusable is null)
                {
                    _problems.Add(AtOf("address"), sources.ContainsKey("address") ? error : $"{error}; set ansible_host");
                }
            }

            var port = 22;
            if (Get("port", "ansible_port", "ansible_ssh_port") is { } portText)
            {
                if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
                {
                    _problems.Add(AtOf("port"), $"expected a port from 1 to 65535, got {Names.Show(portText)}");
                    port = 22;
                }
            }

            var user = Get("user", "ansible_user", "ansible_ssh_user") ?? "root";
            if (Names.UserNameError(user) is { } userError)
            {
                _problems.Add(AtOf("user"), userError);
            }

            string? become = null;
            if (Get("become", "ansible_become") is { } becomeText)
            {
                var on = ParseBool(becomeText);
                if (on is null)
                {
                    _problems.Add(AtOf("become"), $"expected true or false, got {Names.Show(becomeText)}");
                }
                else if (on.Value)
                {
                    var method = Get("become", "ansible_become_method") ?? "sudo";
                    if (method == "sudo")
                    {
                        become = "sudo";
                    }
                    else if (unusable is null)
                    {
                        unusable = $"become method {Names.Show(method)} is not supported (only 'sudo')";
                        unusableAt = AtOf("become");
                    }
                }
            }

            var role = Get("role", "role");
            if (role is not null && Names.IdentifierError(role, "role") is { } roleError)
            {
                _problems.Add(AtOf("role"), roleError);
            }

            var identity = Get("identity", "ansible_ssh_private_key_file", "ansible_private_key_file");
            if (identity is not null)
            {
                if (identity.Any(char.IsControl))
                {
                    _problems.Add(AtOf("identity"), $"path {Names.Show(identity)} contains a control character");
                    identity = null;
                }
                else
                {
                    identity = resolvePath(identity);
                }
            }

            (string, Where)? jump = null;
            foreach (var key in new[] { "ansible_ssh_common_args", "ansible_ssh_extra_args" })
            {
                if (vars.TryGetValue(key, out var args) && args.Text is { } argsText)
                {
                    if (ProxyJumpRegex().Match(argsText) is { Success: true } m)
                    {
                        jump = (m.Groups["a"].Success ? m.Groups["a"].Value : m.Groups["b"].Value, args.At);
                    }
                    else if (ProxyCommandRegex().Match(argsText) is { Success: true } c && SshJump.FromProxyCommand(c.Groups["a"].Value) is { } spec)
                    {
                        jump = (spec, args.At);
                    }
                }
            }

            var unhonoured = vars.Where(kv => IsUnhonoured(kv.Key, kv.Value)).Select(kv => (kv.Key, kv.Value.At)).ToList();

            result.Add(new InventoryHostConfig(new HostConfig
            {
                Name = host.Name,
                Transport = transport,
                Address = address,
                Port = port,
                User = user,
                Identity = identity,
                Become = become,
                Role = role,
            }, host.At, unusable, unusableAt, sources, jump, unhonoured));
        }
        return result;
    }

    /// <summary>The ssh arguments in <paramref name="key"/> of a host once its ProxyJump (and the -o before it) is taken out.</summary>
    public string ArgumentsBesideJump(string hostName, string key) =>
        _hosts.TryGetValue(hostName, out var host) && EffectiveVars(host).TryGetValue(key, out var args) && args.Text is { } text
            ? JumpOptionRegex().Replace(text, " ").Trim()
            : "";

    private static bool? ParseBool(string text) => text.ToLowerInvariant() switch
    {
        "true" or "yes" or "on" or "1" or "y" => true,
        "false" or "no" or "off" or "0" or "n" => false,
        _ => null,
    };

    /// <summary>-J host, -o ProxyJump=host or -o ProxyJump host, as ssh reads its arguments.</summary>
    [GeneratedRegex(@"(?:-J\s*|ProxyJump[=\s]\s*)(?:""(?<a>[^""]+)""|'(?<a>[^']+)'|(?<b>[^\s'""]+))", RegexOptions.IgnoreCase)]
    private static partial Regex ProxyJumpRegex();

    /// <summary>-o ProxyCommand="ssh -W %h:%p bastion" (or single quotes): the command, for <see cref="SshJump.FromProxyCommand"/>.</summary>
    [GeneratedRegex(@"ProxyCommand[=\s]\s*(?:""(?<a>[^""]+)""|'(?<a>[^']+)')", RegexOptions.IgnoreCase)]
    private static partial Regex ProxyCommandRegex();

    /// <summary>Either, with the -o that introduces it, quoted or not ("-o ProxyJump=x", -o 'ProxyJump x', -oProxyJump=x,
    /// -o ProxyCommand="ssh -W %h:%p x").</summary>
    [GeneratedRegex(@"(?:-o\s*)?[""']?(?:-J\s*|ProxyJump[=\s]\s*|ProxyCommand[=\s]\s*)(?:""[^""]+""|'[^']+'|[^\s'""]+)[""']?", RegexOptions.IgnoreCase)]
    private static partial Regex JumpOptionRegex();
}
