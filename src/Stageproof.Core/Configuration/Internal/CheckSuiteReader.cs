using System.Text.RegularExpressions;
using Stageproof.Core.Checks;
using Stageproof.Core.Validation;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>Reads one check suite (a list of checks) into typed, validated definitions, reporting every problem located.</summary>
internal sealed class CheckSuiteReader(YamlWalker yaml, Func<string, string> resolvePath)
{
    private static readonly string[] CommonKeys = ["name", "type", "timeout"];
    private static readonly string[] HostTypes = [CheckTypes.Http, CheckTypes.Tcp, CheckTypes.Command, CheckTypes.Service, CheckTypes.Auth, CheckTypes.Load, CheckTypes.Logs, CheckTypes.Ldap];
    private static readonly string[] TargetKeys = ["port", "url"];
    private static readonly string[] RequestKeys = ["method", "path", "headers", "json", "expect_status", "extract"];
    private static readonly string[] CompareKeys = ["max_p95_ratio", "max_added_error_rate", "confidence", "resamples", "seed"];
    private static readonly string[] Methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

    private static readonly Dictionary<string, string[]> TypeKeys = new(StringComparer.Ordinal)
    {
        [CheckTypes.Http] = [.. TargetKeys, "path", "method", "headers", "json", "expect_status", "expect_body", "expect_body_regex", "expect_json", "max_latency"],
        [CheckTypes.Tcp] = ["port", "address"],
        [CheckTypes.Command] = ["run", "expect_exit", "expect_output", "expect_output_regex"],
        [CheckTypes.Service] = ["service", "expect"],
        [CheckTypes.Auth] = [.. TargetKeys, "user", "credentials", "steps", "password"],
        [CheckTypes.Load] = [.. TargetKeys, "clients", "duration", "iterations", "warmup", "auth", "requests", "max_error_rate", "max_p95", "compare"],
        [CheckTypes.Logs] = ["file", "fail", "warn", "max_added_error_rate", "max_bytes"],
        [CheckTypes.Sql] = ["database", "query", "expect", "expect_rows", "continuity"],
        [CheckTypes.Schema] = ["database", "expect_digest", "same_as", "migrations_complete"],
        [CheckTypes.DbIntegrity] = ["database", "amcheck", "pg_amcheck", "install_missing", "invariants", "replica", "max_replication_lag"],
        [CheckTypes.Soak] = ["checks", "duration", "interval"],
        [CheckTypes.Ldap] = [.. TargetKeys, "directory", "bind_dn", "credentials", "user", "accounts", "password", "base", "scope", "filter", "attributes", "min_entries",
            "clients", "duration", "iterations", "warmup", "max_error_rate", "max_p95", "compare"],
    };

    /// <summary>Databases the suite's checks name, to be checked against each environment that uses the suite.</summary>
    public List<NameRef> DatabaseRefs { get; } = [];

    /// <summary>Directories the suite's ldap checks name (directory:), to be checked against each environment that uses the suite.</summary>
    public List<NameRef> DirectoryRefs { get; } = [];

    /// <summary>Environments named by schema checks' same_as.</summary>
    public List<NameRef> EnvironmentRefs { get; } = [];

    public CheckSuite Read(string suiteName, YamlNode node, string path)
    {
        var checks = new List<CheckDefinition>();
        if (YamlWalker.IsNull(node))
        {
            return new CheckSuite(suiteName, checks);
        }
        if (node is not YamlSequenceNode sequence)
        {
            yaml.Report(node, path, $"expected a list of checks ('- name: ...' items), got {YamlWalker.Describe(node)}");
            return new CheckSuite(suiteName, checks);
        }
        var names = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        var references = new List<(NameRef Ref, string From, bool AuthOnly)>();
        var index = 0;
        foreach (var item in sequence.Children)
        {
            var itemPath = $"{path}[{index++}]";
            if (ReadCheck(item, itemPath, references) is { } check)
            {
                if (names.ContainsKey(check.Name))
                {
                    yaml.Report(item, $"{itemPath}.name", $"check name '{check.Name}' is used twice in suite '{suiteName}'");
                }
                names[check.Name] = item;
                checks.Add(check);
            }
        }
        foreach (var (reference, from, authOnly) in references)
        {
            var target = checks.FirstOrDefault(c => c.Name == reference.Name);
            if (target is null)
            {
                var suggestion = YamlWalker.Suggest(reference.Name, checks.Select(c => c.Name));
                yaml.Problems.Add(reference.At, $"unknown check {Names.Show(reference.Name)} in suite '{suiteName}'"
                    + (suggestion is null ? "" : $" (did you mean '{suggestion}'?)"));
            }
            else if (authOnly && target is not AuthCheck)
            {
                yaml.Problems.Add(reference.At, $"'{reference.Name}' is a {target.Type} check; a load check's auth must name an auth check");
            }
            else if (target is SoakCheck)
            {
                yaml.Problems.Add(reference.At, $"a soak check cannot repeat another soak check ('{reference.Name}' from '{from}')");
            }
        }
        return new CheckSuite(suiteName, checks);
    }

    private CheckDefinition? ReadCheck(YamlNode node, string path, List<(NameRef, string, bool)> references)
    {
        if (yaml.Mapping(node, path) is not { } mapping)
        {
            return null;
        }
        string? type = null;
        var typeEntry = mapping.Children.FirstOrDefault(kv => kv.Key is YamlScalarNode { Value: "type" });
        if (typeEntry.Key is null)
        {
            yaml.Report(node, $"{path}.type", $"type is required ({string.Join(", ", CheckTypes.All)})");
        }
        else if (yaml.RequiredString(typeEntry.Value, $"{path}.type") is { } t)
        {
            if (TypeKeys.ContainsKey(t))
            {
                type = t;
            }
            else
            {
                var suggestion = YamlWalker.Suggest(t, CheckTypes.All);
                yaml.Report(typeEntry.Value, $"{path}.type", $"unknown check type {Names.Show(t)}"
                    + (suggestion is null ? $" (types: {string.Join(", ", CheckTypes.All)})" : $" (did you mean '{suggestion}'?)"));
            }
        }
        if (type is null)
        {
            return null;
        }
        var known = CommonKeys.Concat(HostTypes.Contains(type) ? ["role"] : []).Concat(TypeKeys[type]).ToArray();
        var f = yaml.Entries(mapping, path, known).ToDictionary(e => e.Name, e => (e.KeyNode, e.Value, e.Path), StringComparer.Ordinal);
        var problemsBefore = yaml.Problems.Count;

        string? name = null;
        if (!f.TryGetValue("name", out var n))
        {
            yaml.Report(node, $"{path}.name", "name is required");
        }
        else if (yaml.RequiredString(n.Value, n.Path) is { } nm)
        {
            if (Names.IdentifierError(nm, "check name") is { } error)
            {
                yaml.Report(n.Value, n.Path, error);
            }
            name = nm;
        }
        var timeout = f.TryGetValue("timeout", out var to) ? yaml.Seconds(to.Value, to.Path, 3600) : null;
        string? role = null;
        if (f.TryGetValue("role", out var ro) && yaml.RequiredString(ro.Value, ro.Path) is { } roleName)
        {
            if (Names.IdentifierError(roleName, "role") is { } roleError)
            {
                yaml.Report(ro.Value, ro.Path, roleError);
            }
            role = roleName;
        }

        string? Str(string key) => f.TryGetValue(key, out var e) ? yaml.RequiredString(e.Value, e.Path) : null;
        int? Int(string key, int min, int max) => f.TryGetValue(key, out var e) ? yaml.Int(e.Value, e.Path, min, max) : null;
        double? Num(string key, double min, double max) => f.TryGetValue(key, out var e) ? yaml.Number(e.Value, e.Path, min, max) : null;
        TimeSpan? Dur(string key, double max) => f.TryGetValue(key, out var e) ? yaml.Seconds(e.Value, e.Path, max) : null;
        bool? Bool(string key) => f.TryGetValue(key, out var e) ? ReadBool(e.Value, e.Path) : null;
        void Require(string key, string what)
        {
            if (!f.ContainsKey(key))
            {
                yaml.Report(node, $"{path}.{key}", $"{key} is required for {type} checks: {what}");
            }
        }
        string? Regex(string key)
        {
            var value = Str(key);
            if (value is not null)
            {
                CheckRegex(f[key].Value, f[key].Path, value);
            }
            return value;
        }
        string? Replica()
        {
            var replica = Str("replica");
            if (replica is not null)
            {
                DatabaseRefs.Add(new NameRef(replica, yaml.At(f["replica"].Value, f["replica"].Path)));
            }
            return replica;
        }
        string? Database()
        {
            Require("database", "a database name of the environment (environments.ENV.databases)");
            var db = Str("database");
            if (db is not null)
            {
                DatabaseRefs.Add(new NameRef(db, yaml.At(f["database"].Value, f["database"].Path)));
            }
            return db;
        }

        CheckDefinition? check = type switch
        {
            CheckTypes.Http => ReadHttp(f, node, path, Str, Regex, Int, Dur),
            CheckTypes.Tcp => new TcpCheck { Name = "", Port = RequiredPort(f, node, path, type) ?? 0, Address = ReadAddress(f) },
            CheckTypes.Command => ReadCommand(f, node, path, Str, Regex, Int),
            CheckTypes.Service => ReadService(f, node, path, Str),
            CheckTypes.Auth => ReadAuth(f, node, path, Str),
            CheckTypes.Load => ReadLoad(f, node, path, name, Int, Num, Dur, references),
            CheckTypes.Logs => ReadLogs(f, node, path, Num, Int),
            CheckTypes.Sql => ReadSql(f, node, path, Database(), Str, Int),
            CheckTypes.Schema => ReadSchema(f, Database(), Str, Bool),
            CheckTypes.DbIntegrity => ReadIntegrity(f, Database(), Bool) is { } integrity
                ? integrity with { Replica = Replica(), MaxReplicationLag = Dur("max_replication_lag", 86400) ?? integrity.MaxReplicationLag }
                : null,
            CheckTypes.Soak => ReadSoak(f, node, path, name, Dur, references),
            CheckTypes.Ldap => ReadLdap(f, node, path, Str, Int, Num, Dur),
            _ => null,
        };
        if (check is null || name is null || yaml.Problems.Count > problemsBefore)
        {
            return null;
        }
        check = check with { Name = name, Role = role };
        return timeout is { } t2 ? check with { Timeout = t2 } : check;
    }

    private delegate string? StrReader(string key);
    private delegate int? IntReader(string key, int min, int max);
    private delegate double? NumReader(string key, double min, double max);
    private delegate TimeSpan? DurReader(string key, double max);
    private delegate bool? BoolReader(string key);
    private delegate string? RegexReader(string key);

    private HttpTarget? ReadTarget(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path, string type)
    {
        var hasPort = f.TryGetValue("port", out var p);
        var hasUrl = f.TryGetValue("url", out var u);
        if (hasPort == hasUrl)
        {
            yaml.Report(hasUrl ? u.KeyNode : node, $"{path}.port",
                hasPort ? "give either port (each host of the environment) or url (one address), not both"
                    : $"port or url is required for {type} checks");
            return null;
        }
        if (hasPort)
        {
            return yaml.Int(p.Value, p.Path, 1, 65535) is { } port ? new HttpTarget { Port = port } : null;
        }
        var text = yaml.RequiredString(u.Value, u.Path);
        if (text is null)
        {
            return null;
        }
        if (type == CheckTypes.Ldap)
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var ldapUri) || ldapUri.Scheme is not ("ldap" or "ldaps") || ldapUri.UserInfo.Length > 0
                || ldapUri.AbsolutePath.Length > 1 || ldapUri.Query.Length > 0)
            {
                yaml.Report(u.Value, u.Path, $"{Names.Show(text)} is not an ldap://HOST:PORT or ldaps://HOST:PORT URL (no credentials, DN or query: those are bind_dn, base and filter)");
                return null;
            }
            return new HttpTarget { Url = ldapUri, Scheme = ldapUri.Scheme };
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.UserInfo.Length > 0)
        {
            yaml.Report(u.Value, u.Path, $"{Names.Show(text)} is not an absolute http:// or https:// URL without credentials");
            return null;
        }
        return new HttpTarget { Url = uri, Scheme = uri.Scheme };
    }

    private int? RequiredPort(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path, string type)
    {
        if (!f.TryGetValue("port", out var p))
        {
            yaml.Report(node, $"{path}.port", $"port is required for {type} checks");
            return null;
        }
        return yaml.Int(p.Value, p.Path, 1, 65535);
    }

    private string? ReadAddress(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f)
    {
        if (!f.TryGetValue("address", out var a) || yaml.RequiredString(a.Value, a.Path) is not { } address)
        {
            return null;
        }
        if (Names.AddressError(address) is { } error)
        {
            yaml.Report(a.Value, a.Path, error);
        }
        return address;
    }

    private HttpCheck? ReadHttp(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path,
        StrReader str, RegexReader regex, IntReader @int, DurReader dur)
    {
        var target = ReadTarget(f, node, path, CheckTypes.Http);
        var request = ReadRequestFields(f, allowExtract: false);
        var assertions = new List<JsonAssertion>();
        if (f.TryGetValue("expect_json", out var ej))
        {
            var items = ej.Value is YamlScalarNode ? [(yaml.String(ej.Value, ej.Path) ?? "", ej.Value, ej.Path)] : yaml.StringList(ej.Value, ej.Path) ?? [];
            foreach (var (text, itemNode, itemPath) in items)
            {
                var (assertion, error) = JsonAssertion.Parse(text);
                if (assertion is null)
                {
                    yaml.Report(itemNode, itemPath, error!);
                }
                else
                {
                    assertions.Add(assertion);
                }
            }
        }
        if (target is null || request is null)
        {
            return null;
        }
        return new HttpCheck
        {
            Name = "", Target = target, Request = request, ExpectBody = str("expect_body"), ExpectBodyRegex = regex("expect_body_regex"),
            ExpectJson = assertions, MaxLatency = dur("max_latency", 3600),
        };
    }

    /// <summary>Reads method, path, headers, json, expect_status (and extract) from a mapping's fields.</summary>
    private HttpRequestSpec? ReadRequestFields(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, bool allowExtract)
    {
        var spec = new HttpRequestSpec();
        var ok = true;
        if (f.TryGetValue("method", out var m) && yaml.RequiredString(m.Value, m.Path) is { } method)
        {
            var upper = method.ToUpperInvariant();
            if (!Methods.Contains(upper))
            {
                yaml.Report(m.Value, m.Path, $"unknown HTTP method {Names.Show(method)} ({string.Join(", ", Methods)})");
                ok = false;
            }
            spec = spec with { Method = upper };
        }
        if (f.TryGetValue("path", out var p) && yaml.RequiredString(p.Value, p.Path) is { } requestPath)
        {
            if (!requestPath.StartsWith('/') || requestPath.Any(c => char.IsControl(c) || c == ' '))
            {
                yaml.Report(p.Value, p.Path, $"path {Names.Show(requestPath)} must start with '/' and contain no spaces or control characters");
                ok = false;
            }
            spec = spec with { Path = requestPath };
        }
        if (f.TryGetValue("headers", out var h))
        {
            if (StringMap(h.Value, h.Path) is { } headers)
            {
                foreach (var (key, value) in headers)
                {
                    if (key.Any(c => char.IsControl(c) || c is ' ' or ':') || value.Any(char.IsControl))
                    {
                        yaml.Report(h.Value, $"{h.Path}.{key}", "header names and values cannot contain control characters (a header name no spaces or ':')");
                        ok = false;
                    }
                    if (Regex.IsMatch(value, @"^\s*(Basic|Bearer)\s+[^$\s]", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))
                    {
                        yaml.Report(h.Value, $"{h.Path}.{key}", "credentials must not be written in stageproof.yaml; take them from an auth check's credentials (${token})");
                        ok = false;
                    }
                }
                spec = spec with { Headers = headers };
            }
            else
            {
                ok = false;
            }
        }
        if (f.TryGetValue("json", out var j))
        {
            if (StringMap(j.Value, j.Path) is { } json)
            {
                spec = spec with { Json = json };
            }
            else
            {
                ok = false;
            }
        }
        if (f.TryGetValue("expect_status", out var s))
        {
            if (yaml.Int(s.Value, s.Path, 100, 599) is { } status)
            {
                spec = spec with { ExpectStatus = status };
            }
            else
            {
                ok = false;
            }
        }
        if (allowExtract && f.TryGetValue("extract", out var x))
        {
            if (StringMap(x.Value, x.Path) is { } extract)
            {
                foreach (var (variable, jsonPath) in extract)
                {
                    if (Names.IdentifierError(variable, "variable name") is { } error)
                    {
                        yaml.Report(x.Value, $"{x.Path}.{variable}", error);
                        ok = false;
                    }
                    if (JsonAssertion.Parse(jsonPath + " exists").Assertion is null)
                    {
                        yaml.Report(x.Value, $"{x.Path}.{variable}", $"{Names.Show(jsonPath)} is not a JSON path like $.token or $.items[0].id");
                        ok = false;
                    }
                }
                spec = spec with { Extract = extract };
            }
            else
            {
                ok = false;
            }
        }
        return ok ? spec : null;
    }

    private Dictionary<string, string>? StringMap(YamlNode node, string path)
    {
        if (yaml.Mapping(node, path) is not { } mapping)
        {
            return null;
        }
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, _, value, valuePath) in yaml.Entries(mapping, path))
        {
            result[key] = yaml.String(value, valuePath) ?? "";
        }
        return result;
    }

    private CommandCheck? ReadCommand(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path,
        StrReader str, RegexReader regex, IntReader @int)
    {
        if (!f.TryGetValue("run", out var r))
        {
            yaml.Report(node, $"{path}.run", "run is required for command checks: the program and its arguments as a list, e.g. [systemctl, is-active, nginx]");
            return null;
        }
        if (r.Value is YamlScalarNode)
        {
            yaml.Report(r.Value, r.Path, "run must be a list of words (program, then arguments), e.g. [test, -f, /etc/app.conf]; it is never given to a shell as text");
            return null;
        }
        var words = yaml.StringList(r.Value, r.Path);
        if (words is null || words.Count == 0)
        {
            if (words is not null)
            {
                yaml.Report(r.Value, r.Path, "run needs at least the program");
            }
            return null;
        }
        foreach (var (word, wordNode, wordPath) in words)
        {
            if (word.Contains('\0', StringComparison.Ordinal))
            {
                yaml.Report(wordNode, wordPath, "a NUL character cannot be passed to a command");
            }
        }
        return new CommandCheck
        {
            Name = "", Run = words.Select(w => w.Value).ToList(), ExpectExit = @int("expect_exit", 0, 255) ?? 0,
            ExpectOutput = str("expect_output"), ExpectOutputRegex = regex("expect_output_regex"),
        };
    }

    private ServiceCheck? ReadService(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path, StrReader str)
    {
        if (!f.ContainsKey("service"))
        {
            yaml.Report(node, $"{path}.service", "service is required for service checks: the service's name");
            return null;
        }
        var service = str("service");
        if (service is not null && !Regex.IsMatch(service, @"^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))
        {
            yaml.Report(f["service"].Value, f["service"].Path, $"{Names.Show(service)} is not a service name (letters, digits, '@', '.', '_', ':', '-')");
            return null;
        }
        var running = true;
        if (str("expect") is { } expect)
        {
            switch (expect)
            {
                case "running": break;
                case "stopped": running = false; break;
                default:
                    yaml.Report(f["expect"].Value, f["expect"].Path, $"expect must be running or stopped, got {Names.Show(expect)}");
                    break;
            }
        }
        return service is null ? null : new ServiceCheck { Name = "", Service = service, ExpectRunning = running };
    }

    private AuthCheck? ReadAuth(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path, StrReader str)
    {
        var target = ReadTarget(f, node, path, CheckTypes.Auth);
        var credentials = ReadCredentials(f, node, path, CheckTypes.Auth);
        var user = str("user");
        if (user is not null && user.Any(char.IsControl))
        {
            yaml.Report(f["user"].Value, f["user"].Path, "user contains a control character");
        }
        if (credentials?.Env is not null && user is null)
        {
            // "user:password" in the variable is allowed; nothing to check here.
        }
        var steps = new List<HttpRequestSpec>();
        if (!f.TryGetValue("steps", out var s))
        {
            yaml.Report(node, $"{path}.steps", "steps is required for auth checks: the requests in order, e.g. a login then an authenticated call");
        }
        else if (s.Value is not YamlSequenceNode seq || seq.Children.Count == 0)
        {
            yaml.Report(s.Value, s.Path, "steps must be a non-empty list of requests");
        }
        else
        {
            steps.AddRange(ReadRequestList(seq, s.Path));
        }
        return target is null || credentials is null || steps.Count == 0 ? null
            : new AuthCheck { Name = "", Target = target, User = user, Credentials = credentials, Steps = steps };
    }

    /// <summary>credentials: { env } or { file }; a password written in the YAML is refused.</summary>
    private CredentialSource? ReadCredentials(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path, string type)
    {
        if (f.TryGetValue("password", out var pw))
        {
            yaml.Report(pw.KeyNode, pw.Path,
                "credentials must not be written in stageproof.yaml; use credentials: { env: VARIABLE } or credentials: { file: secrets/FILE.env } (lines user=password, mode 0600)");
        }
        CredentialSource? credentials = null;
        if (!f.TryGetValue("credentials", out var c))
        {
            yaml.Report(node, $"{path}.credentials", $"credentials is required for {type} checks: {{ env: VARIABLE }} or {{ file: PATH }}");
        }
        else if (yaml.Mapping(c.Value, c.Path) is { } cm)
        {
            var cf = yaml.Entries(cm, c.Path, ["env", "file"]).ToDictionary(e => e.Name, StringComparer.Ordinal);
            if (cf.Count != 1)
            {
                yaml.Report(c.Value, c.Path, "credentials needs exactly one of env (an environment variable) or file (a secrets file of user=password lines)");
            }
            else if (cf.TryGetValue("env", out var env) && yaml.RequiredString(env.Value, env.Path) is { } variable)
            {
                if (!Regex.IsMatch(variable, "^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))
                {
                    yaml.Report(env.Value, env.Path, $"{Names.Show(variable)} is not an environment variable name");
                }
                credentials = new CredentialSource { Env = variable };
            }
            else if (cf.TryGetValue("file", out var file) && yaml.RequiredString(file.Value, file.Path) is { } filePath)
            {
                credentials = new CredentialSource { File = resolvePath(filePath) };
            }
        }
        return credentials;
    }

    private List<HttpRequestSpec> ReadRequestList(YamlSequenceNode sequence, string path)
    {
        var result = new List<HttpRequestSpec>();
        var i = 0;
        foreach (var item in sequence.Children)
        {
            var itemPath = $"{path}[{i++}]";
            if (yaml.Mapping(item, itemPath) is not { } m)
            {
                continue;
            }
            var fields = yaml.Entries(m, itemPath, RequestKeys).ToDictionary(e => e.Name, e => (e.KeyNode, e.Value, e.Path), StringComparer.Ordinal);
            if (!fields.ContainsKey("path"))
            {
                yaml.Report(item, $"{itemPath}.path", "path is required for a request");
                continue;
            }
            if (ReadRequestFields(fields, allowExtract: true) is { } spec)
            {
                result.Add(spec);
            }
        }
        return result;
    }

    private LoadCheck? ReadLoad(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path, string? name,
        IntReader @int, NumReader num, DurReader dur, List<(NameRef, string, bool)> references)
    {
        var target = ReadTarget(f, node, path, CheckTypes.Load);
        var duration = dur("duration", 3600);
        var iterations = @int("iterations", 1, 1_000_000);
        if (!f.ContainsKey("duration") && !f.ContainsKey("iterations"))
        {
            yaml.Report(node, $"{path}.duration", "a load check needs duration (e.g. 30s) or iterations (a request count), or both (whichever ends first)");
        }
        string? auth = null;
        if (f.TryGetValue("auth", out var a) && yaml.RequiredString(a.Value, a.Path) is { } authName)
        {
            auth = authName;
            references.Add((new NameRef(authName, yaml.At(a.Value, a.Path)), name ?? "", true));
        }
        var requests = new List<HttpRequestSpec>();
        if (f.TryGetValue("requests", out var r))
        {
            if (r.Value is YamlSequenceNode seq)
            {
                requests.AddRange(ReadRequestList(seq, r.Path));
            }
            else
            {
                yaml.Report(r.Value, r.Path, $"expected a list of requests, got {YamlWalker.Describe(r.Value)}");
            }
        }
        if (requests.Count == 0 && auth is null && !f.ContainsKey("requests"))
        {
            yaml.Report(node, $"{path}.requests", "a load check needs requests, an auth sequence (auth: CHECK), or both");
        }
        var compare = ReadCompare(f);
        if (target is null)
        {
            return null;
        }
        return new LoadCheck
        {
            Name = "", Target = target, Clients = @int("clients", 1, 1024) ?? 4, Duration = duration, Iterations = iterations, Warmup = @int("warmup", 0, 100_000) ?? 0,
            Auth = auth, Requests = requests, MaxErrorRate = num("max_error_rate", 0, 1) ?? 0, MaxP95 = dur("max_p95", 3600), Compare = compare,
        };
    }

    private LoadThresholds ReadCompare(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f)
    {
        var compare = new LoadThresholds();
        if (f.TryGetValue("compare", out var c) && yaml.Mapping(c.Value, c.Path) is { } cm)
        {
            foreach (var (key, _, value, keyPath) in yaml.Entries(cm, c.Path, CompareKeys))
            {
                compare = key switch
                {
                    "max_p95_ratio" when yaml.Number(value, keyPath, 1, 1000) is { } v => compare with { MaxP95Ratio = v },
                    "max_added_error_rate" when yaml.Number(value, keyPath, 0, 1) is { } v => compare with { MaxAddedErrorRate = v },
                    "confidence" when yaml.Number(value, keyPath, 0.5, 0.999) is { } v => compare with { Confidence = v },
                    "resamples" when yaml.Int(value, keyPath, 100, 20000) is { } v => compare with { Resamples = v },
                    "seed" when yaml.Int(value, keyPath, int.MinValue, int.MaxValue) is { } v => compare with { Seed = v },
                    _ => compare,
                };
            }
        }
        return compare;
    }

    private LdapCheck? ReadLdap(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path,
        StrReader str, IntReader @int, NumReader num, DurReader dur)
    {
        // directory: NAME is the environment's directory of that name (environments.ENV.directories): one suite then
        // reaches each environment's own server, as database: does for sql checks.
        string? directory = null;
        HttpTarget? target;
        if (f.TryGetValue("directory", out var d))
        {
            if (f.TryGetValue("port", out var other) || f.TryGetValue("url", out other))
            {
                yaml.Report(other.KeyNode, other.Path, "give one of directory (the environment's directory of that name), port (each host) or url, not two");
            }
            directory = yaml.RequiredString(d.Value, d.Path);
            if (directory is not null)
            {
                DirectoryRefs.Add(new NameRef(directory, yaml.At(d.Value, d.Path)));
            }
            target = new HttpTarget { Scheme = "ldap" };
        }
        else
        {
            target = ReadTarget(f, node, path, CheckTypes.Ldap);
        }
        var credentials = ReadCredentials(f, node, path, CheckTypes.Ldap);
        string? Dn(string key, string what)
        {
            if (!f.ContainsKey(key))
            {
                yaml.Report(node, $"{path}.{key}", $"{key} is required for ldap checks: {what}");
                return null;
            }
            var dn = str(key);
            if (dn is not null && LdapSyntax.DnError(dn) is { } error)
            {
                yaml.Report(f[key].Value, f[key].Path, error);
            }
            return dn;
        }
        var bindDn = Dn("bind_dn", "the DN to bind as, e.g. \"uid=${user},ou=people,dc=acme,dc=test\"");
        var searchBase = Dn("base", "the search base, e.g. \"ou=people,dc=acme,dc=test\"");
        var filter = str("filter");
        if (filter is not null && LdapSyntax.FilterError(filter) is { } filterError)
        {
            yaml.Report(f["filter"].Value, f["filter"].Path, filterError);
        }
        var scope = LdapScope.Sub;
        if (str("scope") is { } scopeText)
        {
            switch (scopeText)
            {
                case "base": scope = LdapScope.Base; break;
                case "one": scope = LdapScope.One; break;
                case "sub": scope = LdapScope.Sub; break;
                default:
                    yaml.Report(f["scope"].Value, f["scope"].Path, $"scope must be base, one or sub, got {Names.Show(scopeText)}");
                    break;
            }
        }
        List<string> Words(string key, Func<string, string?> error)
        {
            if (!f.TryGetValue(key, out var e) || yaml.StringList(e.Value, e.Path) is not { } list)
            {
                return [];
            }
            foreach (var (word, wordNode, wordPath) in list)
            {
                if (error(word) is { } message)
                {
                    yaml.Report(wordNode, wordPath, message);
                }
            }
            return list.Select(l => l.Value).ToList();
        }
        var accounts = Words("accounts", a => a.Length == 0 || a.Any(char.IsControl) ? $"{Names.Show(a)} is not an account name" : null);
        var attributes = Words("attributes", LdapSyntax.AttributeError);
        var user = str("user");
        if (user is not null && user.Any(char.IsControl))
        {
            yaml.Report(f["user"].Value, f["user"].Path, "user contains a control character");
        }
        var isLoad = f.ContainsKey("clients") || f.ContainsKey("duration") || f.ContainsKey("iterations");
        foreach (var loadOnly in new[] { "warmup", "max_error_rate", "max_p95", "compare" })
        {
            if (!isLoad && f.TryGetValue(loadOnly, out var e))
            {
                yaml.Report(e.KeyNode, e.Path, $"{loadOnly} applies to an ldap load: give clients and duration or iterations too");
            }
        }
        if (f.ContainsKey("clients") && !f.ContainsKey("duration") && !f.ContainsKey("iterations"))
        {
            yaml.Report(f["clients"].KeyNode, $"{path}.duration", "an ldap load needs duration (e.g. 30s) or iterations (bind+search count), or both (whichever ends first)");
        }
        var compare = ReadCompare(f);
        if (target is null || credentials is null || bindDn is null || searchBase is null)
        {
            return null;
        }
        return new LdapCheck
        {
            Name = "", Target = target, Directory = directory, BindDn = bindDn, Credentials = credentials, User = user, Accounts = accounts, Base = searchBase, Scope = scope,
            Filter = filter ?? "(objectClass=*)", Attributes = attributes, MinEntries = @int("min_entries", 0, 1_000_000) ?? 1,
            Clients = isLoad ? @int("clients", 1, 1024) ?? 4 : null, Duration = dur("duration", 3600), Iterations = @int("iterations", 1, 1_000_000),
            Warmup = @int("warmup", 0, 100_000) ?? 0, MaxErrorRate = num("max_error_rate", 0, 1) ?? 0, MaxP95 = dur("max_p95", 3600), Compare = compare,
        };
    }

    private LogsCheck? ReadLogs(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path, NumReader num, IntReader @int)
    {
        string? file = null;
        if (!f.TryGetValue("file", out var fl))
        {
            yaml.Report(node, $"{path}.file", "file is required for logs checks: the log file's absolute path on each host");
        }
        else if (yaml.RequiredString(fl.Value, fl.Path) is { } text)
        {
            if (Names.AbsolutePathError(text) is { } error)
            {
                yaml.Report(fl.Value, fl.Path, error);
            }
            file = text;
        }
        List<string> Patterns(string key)
        {
            if (!f.TryGetValue(key, out var e) || yaml.StringList(e.Value, e.Path) is not { } list)
            {
                return [];
            }
            foreach (var (pattern, patternNode, patternPath) in list)
            {
                CheckRegex(patternNode, patternPath, pattern);
            }
            return list.Select(l => l.Value).ToList();
        }
        var fail = Patterns("fail");
        var warn = Patterns("warn");
        if (fail.Count == 0 && warn.Count == 0)
        {
            yaml.Report(node, $"{path}.fail", "a logs check needs fail or warn patterns (regular expressions)");
        }
        return file is null ? null : new LogsCheck
        {
            Name = "", File = file, Fail = fail, Warn = warn, MaxAddedErrorRate = num("max_added_error_rate", 0, 1) ?? 0.01,
            MaxBytes = @int("max_bytes", 1024, 1024 * 1024 * 1024) ?? 8 * 1024 * 1024,
        };
    }

    private SqlCheck? ReadSql(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path, string? database,
        StrReader str, IntReader @int)
    {
        if (!f.ContainsKey("query"))
        {
            yaml.Report(node, $"{path}.query", "query is required for sql checks");
        }
        ContinuityRule? continuity = null;
        if (f.TryGetValue("continuity", out var c))
        {
            continuity = ReadContinuity(c.Value, c.Path);
        }
        if (!f.ContainsKey("expect") && !f.ContainsKey("expect_rows") && !f.ContainsKey("continuity"))
        {
            yaml.Report(node, $"{path}.expect", "a sql check needs expect (the first value of the first row), expect_rows (a row count) or continuity (a measure compared across the change)");
        }
        var query = str("query");
        return database is null || query is null ? null
            : new SqlCheck
            {
                Name = "", Database = database, Query = query, Expect = f.TryGetValue("expect", out var e) ? yaml.String(e.Value, e.Path) ?? "" : null,
                ExpectRows = @int("expect_rows", 0, int.MaxValue), Continuity = continuity,
            };
    }

    /// <summary>continuity: true (no loss), or { max_loss: 0.05 } (a numeric column may fall by 5 %).</summary>
    private ContinuityRule? ReadContinuity(YamlNode node, string path)
    {
        if (node is YamlScalarNode { Value: "true" })
        {
            return new ContinuityRule();
        }
        if (node is not YamlMappingNode)
        {
            yaml.Report(node, path, $"expected true or {{ max_loss: FRACTION }}, got {YamlWalker.Describe(node)}");
            return null;
        }
        var rule = new ContinuityRule();
        foreach (var (key, _, value, keyPath) in yaml.Entries((YamlMappingNode)node, path, ["max_loss"]))
        {
            if (key == "max_loss" && yaml.Number(value, keyPath, 0, 1) is { } v)
            {
                rule = rule with { MaxLoss = v };
            }
        }
        return rule;
    }

    private SchemaCheck? ReadSchema(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, string? database, StrReader str, BoolReader @bool)
    {
        var digest = str("expect_digest");
        if (digest is not null && !Regex.IsMatch(digest, "^[0-9a-f]{64}$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))
        {
            yaml.Report(f["expect_digest"].Value, f["expect_digest"].Path, "expect_digest must be a SHA-256 in lower-case hex (64 characters), as `stageproof facts` shows it");
        }
        var sameAs = str("same_as");
        if (sameAs is not null)
        {
            EnvironmentRefs.Add(new NameRef(sameAs, yaml.At(f["same_as"].Value, f["same_as"].Path)));
        }
        return database is null ? null
            : new SchemaCheck { Name = "", Database = database, ExpectDigest = digest, SameAs = sameAs, MigrationsComplete = @bool("migrations_complete") ?? true };
    }

    private DbIntegrityCheck? ReadIntegrity(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, string? database, BoolReader @bool)
    {
        var invariants = new List<InvariantQuery>();
        if (f.TryGetValue("invariants", out var inv) && yaml.Mapping(inv.Value, inv.Path) is { } m)
        {
            foreach (var (name, keyNode, value, keyPath) in yaml.Entries(m, inv.Path))
            {
                if (Names.IdentifierError(name, "invariant name") is { } error)
                {
                    yaml.Report(keyNode, keyPath, error);
                }
                if (yaml.RequiredString(value, keyPath) is { } query)
                {
                    invariants.Add(new InvariantQuery(name, query));
                }
            }
        }
        string? pgAmcheck = null;
        if (f.TryGetValue("pg_amcheck", out var p) && yaml.RequiredString(p.Value, p.Path) is { } tool)
        {
            pgAmcheck = resolvePath(tool);
        }
        return database is null ? null : new DbIntegrityCheck
        {
            Name = "", Database = database, Amcheck = @bool("amcheck") ?? true, InstallMissing = @bool("install_missing") ?? false,
            PgAmcheck = pgAmcheck ?? "/usr/lib/postgresql/15/bin/pg_amcheck", Invariants = invariants,
        };
    }

    private SoakCheck? ReadSoak(Dictionary<string, (YamlNode KeyNode, YamlNode Value, string Path)> f, YamlNode node, string path, string? name,
        DurReader dur, List<(NameRef, string, bool)> references)
    {
        if (!f.TryGetValue("checks", out var c))
        {
            yaml.Report(node, $"{path}.checks", "checks is required for soak checks: names of checks of this suite to repeat");
            return null;
        }
        var list = yaml.StringList(c.Value, c.Path);
        if (list is { Count: 0 })
        {
            yaml.Report(c.Value, c.Path, "a soak check needs at least one check to repeat");
        }
        foreach (var (checkName, checkNode, checkPath) in list ?? [])
        {
            references.Add((new NameRef(checkName, yaml.At(checkNode, checkPath)), name ?? "", false));
        }
        if (!f.ContainsKey("duration"))
        {
            yaml.Report(node, $"{path}.duration", "duration is required for soak checks (e.g. 60s, 10m)");
        }
        if (!f.ContainsKey("interval"))
        {
            yaml.Report(node, $"{path}.interval", "interval is required for soak checks (e.g. 5s)");
        }
        var duration = dur("duration", 24 * 3600);
        var interval = dur("interval", 3600);
        if (duration is { } d && interval is { } i && i > d)
        {
            yaml.Report(f["interval"].Value, f["interval"].Path, "interval is longer than duration");
        }
        return list is null || duration is null || interval is null ? null
            : new SoakCheck { Name = "", Checks = list.Select(l => l.Value).ToList(), Duration = duration.Value, Interval = interval.Value };
    }

    private bool? ReadBool(YamlNode node, string path)
    {
        switch (yaml.RequiredString(node, path))
        {
            case null: return null;
            case "true" or "yes" or "True" or "on": return true;
            case "false" or "no" or "False" or "off": return false;
            case var other:
                yaml.Report(node, path, $"expected true or false, got {Names.Show(other)}");
                return null;
        }
    }

    private void CheckRegex(YamlNode node, string path, string pattern)
    {
        try
        {
            _ = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException ex)
        {
            yaml.Report(node, path, $"{Names.Show(pattern)} is not a valid regular expression: {ex.Message}");
        }
    }
}
