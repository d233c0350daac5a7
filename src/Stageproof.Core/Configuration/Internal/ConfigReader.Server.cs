using System.Text;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Validation;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>The <c>server:</c> section: single sign-on for the web console (<c>server.oidc</c>).</summary>
internal sealed partial class ConfigReader
{
    private static readonly string[] ServerKeys = ["oidc"];
    private static readonly string[] OidcKeys = ["authority", "client_id", "client_secret_file", "role_claim", "roles", "name_claim", "require_https_metadata"];
    private static readonly string[] OidcRoleKeys = ["role", "environments"];

    private (YamlNode Node, string Path)? _serverNode;

    /// <summary>Read after the environments: a role mapping may scope a role to some of them.</summary>
    private ServerConfig ReadServer(YamlNode node, string path, IReadOnlyDictionary<string, EnvironmentConfig> environments)
    {
        var server = new ServerConfig();
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return server;
        }
        foreach (var (_, _, value, key) in _yaml.Entries(mapping, path, ServerKeys))
        {
            if (!YamlWalker.IsNull(value))
            {
                server = server with { Oidc = ReadOidc(value, key, environments) };
            }
        }
        return server;
    }

    private OidcConfig? ReadOidc(YamlNode node, string path, IReadOnlyDictionary<string, EnvironmentConfig> environments)
    {
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return null;
        }
        var before = _problems.Count;
        (Uri Url, YamlNode Node, string Path)? authority = null;
        string? clientId = null;
        (string Path, byte[] Secret)? secret = null;
        Dictionary<string, OidcRoleMapping>? roles = null;
        var roleClaim = "groups";
        var nameClaim = "preferred_username";
        var requireHttps = true;
        foreach (var (key, _, value, keyPath) in _yaml.Entries(mapping, path, OidcKeys))
        {
            switch (key)
            {
                case "authority":
                    if (ReadAuthority(value, keyPath) is { } url)
                    {
                        authority = (url, value, keyPath);
                    }
                    break;
                case "client_id":
                    clientId = _yaml.RequiredString(value, keyPath);
                    break;
                case "client_secret_file":
                    secret = ReadSecretFile(value, keyPath, "client secret");
                    break;
                case "role_claim" when ReadClaimName(value, keyPath) is { } claim:
                    roleClaim = claim;
                    break;
                case "name_claim" when ReadClaimName(value, keyPath) is { } claim:
                    nameClaim = claim;
                    break;
                case "require_https_metadata":
                    switch (_yaml.RequiredString(value, keyPath))
                    {
                        case "true" or "yes" or "True" or "on": requireHttps = true; break;
                        case "false" or "no" or "False" or "off": requireHttps = false; break;
                        case { } other: _yaml.Report(value, keyPath, $"expected true or false, got {Names.Show(other)}"); break;
                    }
                    break;
                case "roles":
                    roles = ReadOidcRoles(value, keyPath, environments);
                    break;
            }
        }
        foreach (var (required, present) in new[] { ("authority", authority is not null), ("client_id", clientId is not null), ("client_secret_file", secret is not null), ("roles", roles is not null) })
        {
            if (!present && !mapping.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == required))
            {
                _yaml.Report(node, $"{path}.{required}", "is required");
            }
        }
        if (authority is { } a && a.Url.Scheme == "http" && requireHttps)
        {
            _yaml.Report(a.Node, a.Path, $"{a.Url} is not https://: an identity provider's keys and metadata are fetched over TLS " +
                                         "(require_https_metadata: false allows http:// for a provider on this machine's loopback only)");
        }
        if (_problems.Count > before || authority is null || clientId is null || secret is null || roles is null)
        {
            return null;
        }
        return new OidcConfig
        {
            Authority = authority.Value.Url, ClientId = clientId, ClientSecretFile = secret.Value.Path, ClientSecret = Encoding.UTF8.GetString(secret.Value.Secret),
            RoleClaim = roleClaim, NameClaim = nameClaim, Roles = roles, RequireHttpsMetadata = requireHttps,
            Source = new ValueSource(_file, (int)node.Start.Line, path),
        };
    }

    private Uri? ReadAuthority(YamlNode node, string path)
    {
        var text = _yaml.RequiredString(node, path);
        if (text is null)
        {
            return null;
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.Host.Length == 0
            || url.UserInfo.Length > 0 || url.Query.Length > 0 || url.Fragment.Length > 0)
        {
            _yaml.Report(node, path, $"{Names.Show(text)} is not an issuer URL (https://host/path, no user, query or fragment)");
            return null;
        }
        return url;
    }

    private string? ReadClaimName(YamlNode node, string path)
    {
        var text = _yaml.RequiredString(node, path);
        if (text is not null && (text.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)) || text.Length > 128))
        {
            _yaml.Report(node, path, $"{Names.Show(text)} is not a claim name (no spaces, at most 128 characters)");
            return null;
        }
        return text;
    }

    /// <summary>roles: { VALUE: ROLE } or { VALUE: { role: ROLE, environments: [ENV, ...] } }.</summary>
    private Dictionary<string, OidcRoleMapping>? ReadOidcRoles(YamlNode node, string path, IReadOnlyDictionary<string, EnvironmentConfig> environments)
    {
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return null;
        }
        var roles = new Dictionary<string, OidcRoleMapping>(StringComparer.Ordinal);
        foreach (var (value, _, target, key) in _yaml.Entries(mapping, path))
        {
            if (target is YamlScalarNode)
            {
                if (ReadRoleName(target, key) is { } role)
                {
                    roles[value] = new OidcRoleMapping(role, ["*"]);
                }
                continue;
            }
            if (_yaml.Mapping(target, key) is not { } scoped)
            {
                continue;
            }
            Role? scopedRole = null;
            List<string> scopedEnvironments = ["*"];
            foreach (var (field, _, fieldValue, fieldPath) in _yaml.Entries(scoped, key, OidcRoleKeys))
            {
                if (field == "role")
                {
                    scopedRole = ReadRoleName(fieldValue, fieldPath);
                    continue;
                }
                scopedEnvironments = [];
                foreach (var (env, envNode, envPath) in _yaml.StringList(fieldValue, fieldPath) ?? [])
                {
                    if (env != "*" && !environments.ContainsKey(env))
                    {
                        var suggestion = YamlWalker.Suggest(env, environments.Keys);
                        _yaml.Report(envNode, envPath, $"environment '{Names.Excerpt(env)}' is not defined"
                            + (suggestion is null ? $" (known: {string.Join(", ", environments.Keys)})" : $" (did you mean '{suggestion}'?)"));
                        continue;
                    }
                    scopedEnvironments.Add(env);
                }
            }
            if (scopedRole is null && !scoped.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == "role"))
            {
                _yaml.Report(target, key + ".role", "is required");
            }
            if (scopedRole is { } r && scopedEnvironments.Count > 0)
            {
                roles[value] = new OidcRoleMapping(r, scopedEnvironments);
            }
        }
        if (roles.Count == 0 && mapping.Children.Count == 0)
        {
            _yaml.Report(node, path, "maps no claim value to a role, so every sign-in would be refused (e.g. 'patch-approvers: approver')");
            return null;
        }
        return roles;
    }

    private Role? ReadRoleName(YamlNode node, string path)
    {
        var text = _yaml.RequiredString(node, path);
        if (text is null)
        {
            return null;
        }
        if (!RoleNames.Contains(text))
        {
            var suggestion = YamlWalker.Suggest(text, RoleNames);
            _yaml.Report(node, path, $"{Names.Show(text)} is not a role" + (suggestion is null ? $" ({string.Join(", ", RoleNames)})" : $" (did you mean '{suggestion}'?)"));
            return null;
        }
        return Enum.Parse<Role>(text, ignoreCase: true);
    }
}
