using System.DirectoryServices.Protocols;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Stageproof.Core;
using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Checks;

namespace Stageproof.Hosts.Facts;

/// <summary>Where a directory's facts are read: its URL, a DN that may read cn=config (and cn=Monitor), its password, the bases counted.</summary>
public sealed record DirectorySource(Uri Url, string BindDn, string Password, IReadOnlyList<string> Bases)
{
    public override string ToString() => $"DirectorySource {{ Url = {Url}, BindDn = {BindDn}, Bases = [{string.Join(", ", Bases)}] }}";

    /// <summary>A configured directory with its password read from its file, which group or others must not be able to read.</summary>
    /// <exception cref="InfrastructureException">The password file is missing, unreadable, empty or readable by others.</exception>
    public static DirectorySource From(string target, DirectoryConfig directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return new DirectorySource(directory.Url, directory.BindDn, ReadPassword(target, directory.PasswordFile), directory.Bases);
    }

    /// <summary>The directory as its rollback binds to it: the rollback's DN and password, the same URL and bases.</summary>
    /// <exception cref="InfrastructureException">The directory has no rollback, or its password file is unusable (as <see cref="From"/>).</exception>
    public static DirectorySource ForRollback(string target, DirectoryConfig directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var rollback = directory.Rollback ?? throw new InfrastructureException(target, "the directory has no rollback: configured (bind_dn and password_file of a DN that may write its entries)");
        return new DirectorySource(directory.Url, rollback.BindDn, ReadPassword(target, rollback.PasswordFile), directory.Bases);
    }

    private static string ReadPassword(string target, string file)
    {
        try
        {
            if (!OperatingSystem.IsWindows())
            {
                var mode = File.GetUnixFileMode(file);
                if ((mode & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
                {
                    throw new InfrastructureException(target, $"password file {file} is readable or writable by group or others (mode {Convert.ToString((int)mode, 8)}); chmod 600 it");
                }
            }
            var password = File.ReadAllText(file).TrimEnd('\r', '\n');
            return password.Length == 0 ? throw new InfrastructureException(target, $"password file {file} is empty") : password;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InfrastructureException(target, $"cannot read password file {file}: {(e is FileNotFoundException or DirectoryNotFoundException ? "not found" : e.Message)}", e);
        }
    }
}

/// <summary>
/// Reads an OpenLDAP server's facts through LDAP, bound as a DN allowed to read cn=config: the version from cn=Monitor,
/// modules, overlays and settings from cn=config, the schema from the subschema entry, and the entries under each
/// configured base (counted by DN, no attribute read). Secrets are never read: no attribute the facts ask for holds
/// one, and the cn=config attributes that do (olcRootPW and the like) are dropped.
/// </summary>
public sealed partial class LdapFactsCollector(TimeProvider time)
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>cn=config attributes that name a path on the server, not a behaviour: left out so two instances compare.</summary>
    private static readonly HashSet<string> PathSettings = new(StringComparer.OrdinalIgnoreCase)
    {
        "olcPidFile", "olcArgsFile", "olcDbDirectory", "olcConfigDir", "olcConfigFile", "olcModulePath",
    };

    /// <summary>Attributes that name the entry rather than configure it.</summary>
    private static readonly HashSet<string> NamingAttributes = new(StringComparer.OrdinalIgnoreCase)
    {
        "objectClass", "cn", "olcDatabase", "olcOverlay", "olcModuleLoad", "olcSuffix",
    };

    /// <summary>Collects the facts of one directory as a manifest with target "ENV/NAME".</summary>
    /// <exception cref="InfrastructureException">The server is unreachable, refuses the bind, or cn=config cannot be read.</exception>
    public Task<Manifest> CollectAsync(string environment, string name, DirectorySource source, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(source);
        var target = $"{environment}/{name}";
        return Task.Factory.StartNew(() =>
        {
            try
            {
                return Collect(environment, name, target, source, ct);
            }
            catch (Exception e) when (e is LdapException or DirectoryOperationException)
            {
                var detail = e is LdapException l ? $"{l.Message.TrimEnd('.')} ({l.ErrorCode})" : ((DirectoryOperationException)e).Response?.ResultCode.ToString() ?? e.Message;
                throw new InfrastructureException(target, $"directory {source.Url} as {source.BindDn}: {detail.Replace(source.Password, "********", StringComparison.Ordinal)}", e);
            }
        }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private Manifest Collect(string environment, string name, string target, DirectorySource source, CancellationToken ct)
    {
        using var connection = LdapChecks.Connect(source.Url, Timeout);
        connection.Bind(new NetworkCredential(source.BindDn, source.Password));
        var version = Version(connection);
        ct.ThrowIfCancellationRequested();

        var config = Search(connection, "cn=config", SearchScope.Subtree, "(objectClass=*)", ["*"]);
        var modules = new List<string>();
        var overlays = new List<string>();
        var settings = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var databases = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase); // "olcDatabase={1}mdb,cn=config" → "mdb dc=acme,dc=test"
        foreach (SearchResultEntry entry in config.Entries)
        {
            if (entry.Attributes["olcDatabase"] is { } db)
            {
                var kind = StripOrder(Values(db).FirstOrDefault() ?? "?");
                var suffix = entry.Attributes["olcSuffix"] is { } s ? Values(s).FirstOrDefault() : null;
                databases[entry.DistinguishedName] = suffix is null ? kind : $"{kind} {suffix}";
            }
        }
        foreach (SearchResultEntry entry in config.Entries)
        {
            var dn = entry.DistinguishedName;
            if (dn.EndsWith(",cn=schema,cn=config", StringComparison.OrdinalIgnoreCase) || dn.Equals("cn=schema,cn=config", StringComparison.OrdinalIgnoreCase))
            {
                continue; // the schema is read from the subschema entry, whole
            }
            string label;
            if (entry.Attributes["olcModuleLoad"] is { } loaded)
            {
                modules.AddRange(Values(loaded).Select(v => ModuleExtension().Replace(StripOrder(v), "")));
                continue;
            }
            if (entry.Attributes["olcOverlay"] is { } overlay)
            {
                var parent = dn[(dn.IndexOf(',', StringComparison.Ordinal) + 1)..];
                var on = databases.GetValueOrDefault(parent, parent);
                label = $"{StripOrder(Values(overlay).First())} on {on}";
                overlays.Add(label);
            }
            else if (databases.TryGetValue(dn, out var database))
            {
                label = database;
            }
            else
            {
                label = dn.Equals("cn=config", StringComparison.OrdinalIgnoreCase) ? "global" : dn;
            }
            foreach (DirectoryAttribute attribute in entry.Attributes.Values)
            {
                var attributeName = attribute.Name;
                if (NamingAttributes.Contains(attributeName) || PathSettings.Contains(attributeName)
                    || LdapSyntax.SecretAttributes.Contains(attributeName, StringComparer.OrdinalIgnoreCase))
                {
                    continue;
                }
                var values = Values(attribute);
                // Ordered values ({0}…, as olcAccess) keep their order; others are a set.
                var shown = values.All(v => v.StartsWith('{')) ? values : values.Order(StringComparer.Ordinal).ToList();
                settings[$"{label}: {attributeName}"] = string.Join(" | ", shown);
            }
        }
        ct.ThrowIfCancellationRequested();

        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var searchBase in source.Bases)
        {
            counts[searchBase] = Count(connection, searchBase);
        }

        return new Manifest
        {
            Kind = ManifestKind.Directory,
            Target = target,
            Environment = environment,
            CollectedAt = time.GetUtcNow(),
            Directory = new DirectoryServerInfo
            {
                Name = name, ServerVersion = version, Modules = modules, Overlays = overlays, Settings = settings, Schema = Schema(connection), EntryCounts = counts,
            },
        };
    }

    private string Version(LdapConnection connection)
    {
        try
        {
            var monitor = Search(connection, "cn=Monitor", SearchScope.Base, "(objectClass=*)", ["monitoredInfo"]);
            return monitor.Entries.Count > 0 && monitor.Entries[0].Attributes["monitoredInfo"] is { } info
                ? (Values(info).FirstOrDefault() ?? "unknown").Trim() : "unknown";
        }
        catch (DirectoryOperationException)
        {
            return "unknown"; // no monitor database, or this DN may not read it
        }
    }

    /// <summary>Names of every attribute type and object class, and a SHA-256 over their definitions (sorted).</summary>
    private DirectorySchema Schema(LdapConnection connection)
    {
        var root = Search(connection, "", SearchScope.Base, "(objectClass=*)", ["subschemaSubentry"]);
        var subschema = root.Entries.Count > 0 && root.Entries[0].Attributes["subschemaSubentry"] is { } sub ? Values(sub).First() : "cn=Subschema";
        var schema = Search(connection, subschema, SearchScope.Base, "(objectClass=subschema)", ["attributeTypes", "objectClasses"]);
        var entry = schema.Entries[0];
        var attributeTypes = entry.Attributes["attributeTypes"] is { } at ? Values(at) : [];
        var objectClasses = entry.Attributes["objectClasses"] is { } oc ? Values(oc) : [];
        var definitions = attributeTypes.Select(d => "at " + Whitespace().Replace(d, " ").Trim())
            .Concat(objectClasses.Select(d => "oc " + Whitespace().Replace(d, " ").Trim())).Order(StringComparer.Ordinal);
        var digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", definitions))));
        return new DirectorySchema
        {
            Digest = digest,
            AttributeTypes = attributeTypes.Select(NameOf).Order(StringComparer.Ordinal).ToList(),
            ObjectClasses = objectClasses.Select(NameOf).Order(StringComparer.Ordinal).ToList(),
        };
    }

    /// <summary>Entries under a base, by pages of 500 DNs (no attribute is read).</summary>
    private long Count(LdapConnection connection, string searchBase)
    {
        var page = new PageResultRequestControl(500);
        var request = new SearchRequest(searchBase, "(objectClass=*)", SearchScope.Subtree, "1.1");
        request.Controls.Add(page);
        long count = 0;
        while (true)
        {
            SearchResponse response;
            try
            {
                response = (SearchResponse)connection.SendRequest(request, Timeout);
            }
            catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.NoSuchObject)
            {
                return 0;
            }
            count += response.Entries.Count;
            var cookie = response.Controls.OfType<PageResultResponseControl>().FirstOrDefault()?.Cookie;
            if (cookie is not { Length: > 0 })
            {
                return count;
            }
            page.Cookie = cookie;
        }
    }

    private SearchResponse Search(LdapConnection connection, string searchBase, SearchScope scope, string filter, string[] attributes) =>
        (SearchResponse)connection.SendRequest(new SearchRequest(searchBase, filter, scope, attributes), Timeout);

    private static List<string> Values(DirectoryAttribute attribute) =>
        attribute.GetValues(typeof(string)).Cast<string>().ToList();

    /// <summary>"{1}mdb" → "mdb".</summary>
    private static string StripOrder(string value) => OrderPrefix().Replace(value, "");

    /// <summary>The first NAME of a schema definition: "( 2.5.4.3 NAME ( 'cn' 'commonName' ) …" → "cn".</summary>
    private static string NameOf(string definition) =>
        SchemaName().Match(definition) is { Success: true } m ? m.Groups[1].Value : definition.Trim();

    [GeneratedRegex(@"^\{-?\d+\}", RegexOptions.CultureInvariant)]
    private static partial Regex OrderPrefix();

    [GeneratedRegex(@"\.(la|so)$", RegexOptions.CultureInvariant)]
    private static partial Regex ModuleExtension();

    [GeneratedRegex(@"NAME\s+\(?\s*'([^']+)'", RegexOptions.CultureInvariant)]
    private static partial Regex SchemaName();

    [GeneratedRegex(@"\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Whitespace();
}
