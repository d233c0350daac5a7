using System.Globalization;
using Stageproof.Core.ConfigFiles;
using Stageproof.Core.Configuration;
using Stageproof.Core.Manifests;

namespace Stageproof.Core.Drift;

/// <summary>
/// Compares manifests item by item. Pure: no I/O, no clock.
/// <para>Severities: os id/version/arch high, kernel low; package-missing high, package-version medium;
/// config-content and config-missing high, config-meta medium; service-state high; port medium; db-setting medium
/// (server_version high when the major version differs, low otherwise); schema-object and migration high;
/// host-missing and database-missing high.</para>
/// <para>Pending upgrades are facts about the package archive, not state, and are not compared.</para>
/// </summary>
public static class DriftEngine
{
    /// <summary>Host (or database) roles without a name are paired under this role.</summary>
    public const string DefaultRole = "default";

    /// <summary>Compares two manifests of the same kind.</summary>
    /// <exception cref="InputException">The manifests are of different kinds, or an ignore rule is malformed.</exception>
    public static HostDrift Compare(Manifest left, Manifest right, DriftRules rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        return Compare(left, right, IgnoreRules.Parse(rules.Ignore), new ConfigFormats(rules.Formats));
    }

    /// <summary>Compares two manifests with already parsed ignore rules and file formats.</summary>
    public static HostDrift Compare(Manifest left, Manifest right, IgnoreRules ignore, ConfigFormats formats)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        ArgumentNullException.ThrowIfNull(ignore);
        ArgumentNullException.ThrowIfNull(formats);
        if (left.Kind != right.Kind)
        {
            throw new InputException(
                $"cannot compare {Describe(left.Kind)} manifest '{left.Target}' with {Describe(right.Kind)} manifest '{right.Target}'");
        }

        var tally = new Tally(ignore);
        CompareOs(tally, left.Os, right.Os);
        ComparePackages(tally, left.Packages, right.Packages);
        CompareFiles(tally, left, right, formats);
        CompareServices(tally, left.Services, right.Services);
        ComparePorts(tally, left.Ports, right.Ports);
        CompareDatabases(tally, left.Database, right.Database);
        CompareDirectories(tally, left.Directory, right.Directory);
        return new HostDrift(left.Target, right.Target, tally.Items, tally.Figures());
    }

    /// <summary>
    /// Compares two environments. Host manifests are paired by role (no role: <see cref="DefaultRole"/>); within a
    /// role, hosts are sorted by name and every host of the larger side is paired round robin with a host of the
    /// smaller side. A role on one side only is a <see cref="DriftCategory.HostMissing"/> item. Database manifests
    /// (target "ENV/DB") are paired by database name; one on one side only is a
    /// <see cref="DriftCategory.DatabaseMissing"/> item.
    /// </summary>
    public static EnvironmentDrift CompareEnvironments(
        string leftName, IReadOnlyList<Manifest> left, string rightName, IReadOnlyList<Manifest> right, DriftRules rules)
    {
        ArgumentNullException.ThrowIfNull(leftName);
        ArgumentNullException.ThrowIfNull(rightName);
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        ArgumentNullException.ThrowIfNull(rules);
        var ignore = IgnoreRules.Parse(rules.Ignore);
        var formats = new ConfigFormats(rules.Formats);
        var envTally = new Tally(ignore);

        var hostPairs = new List<HostPair>();
        var leftRoles = GroupHosts(left);
        var rightRoles = GroupHosts(right);
        foreach (var role in leftRoles.Keys.Union(rightRoles.Keys).Order(StringComparer.Ordinal))
        {
            var l = leftRoles.GetValueOrDefault(role);
            var r = rightRoles.GetValueOrDefault(role);
            if (!envTally.Include(DriftFamily.Host, role)) continue;
            if (l is null || r is null)
            {
                envTally.Add(new DriftItem(DriftCategory.HostMissing, role, Targets(l), Targets(r), DriftSeverity.High));
                continue;
            }
            envTally.Match(DriftFamily.Host);
            foreach (var (lm, rm) in RoundRobin(l, r))
            {
                hostPairs.Add(new HostPair(role, lm.Target, rm.Target, Compare(lm, rm, ignore, formats)));
            }
        }

        var dbPairs = new List<DatabasePair>();
        var leftDbs = GroupDatabases(left);
        var rightDbs = GroupDatabases(right);
        foreach (var name in leftDbs.Keys.Union(rightDbs.Keys).Order(StringComparer.Ordinal))
        {
            var l = leftDbs.GetValueOrDefault(name);
            var r = rightDbs.GetValueOrDefault(name);
            if (!envTally.Include(DriftFamily.Database, name)) continue;
            if (l is null || r is null)
            {
                envTally.Add(new DriftItem(DriftCategory.DatabaseMissing, name, Targets(l), Targets(r), DriftSeverity.High));
                continue;
            }
            envTally.Match(DriftFamily.Database);
            foreach (var (lm, rm) in RoundRobin(l, r))
            {
                dbPairs.Add(new DatabasePair(name, lm.Target, rm.Target, Compare(lm, rm, ignore, formats)));
            }
        }

        var families = DriftMath.Sum(
            hostPairs.Select(p => p.Drift.Families)
                .Concat(dbPairs.Select(p => p.Drift.Families))
                .Append(envTally.Figures()));
        return new EnvironmentDrift(leftName, rightName, hostPairs, dbPairs, envTally.Items, families);
    }

    /// <summary>The database name of a database manifest's target "ENV/DB".</summary>
    public static string DatabaseName(Manifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var slash = manifest.Target.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? manifest.Target : manifest.Target[(slash + 1)..];
    }

    private static string Describe(ManifestKind kind) => kind switch
    {
        ManifestKind.Host => "a host",
        ManifestKind.Directory => "a directory",
        _ => "a database",
    };

    private static string? Targets(List<Manifest>? manifests) =>
        manifests is null ? null : string.Join(", ", manifests.Select(m => m.Target));

    private static Dictionary<string, List<Manifest>> GroupHosts(IEnumerable<Manifest> manifests) =>
        Group(manifests.Where(m => m.Kind == ManifestKind.Host), m => string.IsNullOrWhiteSpace(m.Role) ? DefaultRole : m.Role);

    /// <summary>Databases by name, and directories (paired the same way) as "directory NAME".</summary>
    private static Dictionary<string, List<Manifest>> GroupDatabases(IEnumerable<Manifest> manifests) =>
        Group(manifests.Where(m => m.Kind is ManifestKind.Database or ManifestKind.Directory),
            m => m.Kind == ManifestKind.Directory ? $"directory {DatabaseName(m)}" : DatabaseName(m));

    private static Dictionary<string, List<Manifest>> Group(IEnumerable<Manifest> manifests, Func<Manifest, string> key) =>
        manifests.GroupBy(key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(m => m.Target, StringComparer.Ordinal).ToList(), StringComparer.Ordinal);

    /// <summary>Every member of the larger list, in order, with a member of the smaller one taken in turn.</summary>
    private static IEnumerable<(Manifest Left, Manifest Right)> RoundRobin(List<Manifest> left, List<Manifest> right)
    {
        var count = Math.Max(left.Count, right.Count);
        for (var i = 0; i < count; i++) yield return (left[i % left.Count], right[i % right.Count]);
    }

    // ---- os ----------------------------------------------------------------------------------------------------

    private static void CompareOs(Tally tally, OsInfo? left, OsInfo? right)
    {
        if (left is null && right is null) return;
        Field("id", left?.Id, right?.Id, DriftSeverity.High);
        Field("version", left?.VersionId, right?.VersionId, DriftSeverity.High);
        Field("kernel", left?.Kernel, right?.Kernel, DriftSeverity.Low);
        Field("arch", left?.Architecture, right?.Architecture, DriftSeverity.High);

        void Field(string key, string? l, string? r, DriftSeverity severity)
        {
            if (!tally.Include(DriftFamily.Os, key)) return;
            if (string.Equals(l, r, StringComparison.Ordinal)) tally.Match(DriftFamily.Os);
            else tally.Add(new DriftItem(DriftCategory.Os, key, l, r, severity));
        }
    }

    // ---- packages ----------------------------------------------------------------------------------------------

    /// <summary>Packages are keyed by name. A name installed for several architectures compares as the set of
    /// "version:arch"; a single one compares by version (an architecture difference shows as os arch).</summary>
    private static void ComparePackages(Tally tally, IReadOnlyList<PackageInfo> left, IReadOnlyList<PackageInfo> right)
    {
        var l = PackageVersions(left);
        var r = PackageVersions(right);
        foreach (var name in UnionKeys(l, r))
        {
            if (!tally.Include(DriftFamily.Package, name)) continue;
            var lv = l.GetValueOrDefault(name);
            var rv = r.GetValueOrDefault(name);
            if (string.Equals(lv, rv, StringComparison.Ordinal)) tally.Match(DriftFamily.Package);
            else if (lv is null || rv is null) tally.Add(new DriftItem(DriftCategory.PackageMissing, name, lv, rv, DriftSeverity.High));
            else tally.Add(new DriftItem(DriftCategory.PackageVersion, name, lv, rv, DriftSeverity.Medium));
        }
    }

    private static Dictionary<string, string> PackageVersions(IReadOnlyList<PackageInfo> packages)
    {
        var result = new Dictionary<string, string>(packages.Count, StringComparer.Ordinal);
        List<string>? multi = null;
        foreach (var p in packages)
        {
            if (result.TryAdd(p.Name, p.Version)) continue;
            (multi ??= []).Add(p.Name);
        }
        if (multi is not null)
        {
            foreach (var name in multi.Distinct(StringComparer.Ordinal))
            {
                result[name] = string.Join(", ", packages.Where(p => p.Name == name)
                    .Select(p => $"{p.Version}:{p.Architecture}").Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
            }
        }
        return result;
    }

    // ---- files -------------------------------------------------------------------------------------------------

    /// <summary>Files are keyed by path. A record with an empty SHA-256 is a tracked file that does not exist.
    /// A path that differs in content and in metadata yields two items but counts once. Content that differs is
    /// compared by its values (<see cref="ConfigValues"/>): the same values are a config-cosmetic item, which still
    /// counts as matching.</summary>
    private static void CompareFiles(Tally tally, Manifest leftManifest, Manifest rightManifest, ConfigFormats formats)
    {
        var l = ByKey(leftManifest.Files.Where(f => !string.IsNullOrEmpty(f.Sha256)), f => f.Path);
        var r = ByKey(rightManifest.Files.Where(f => !string.IsNullOrEmpty(f.Sha256)), f => f.Path);
        foreach (var path in UnionKeys(l, r))
        {
            if (!tally.Include(DriftFamily.File, path)) continue;
            var lf = l.GetValueOrDefault(path);
            var rf = r.GetValueOrDefault(path);
            if (lf is null || rf is null)
            {
                tally.Add(new DriftItem(DriftCategory.ConfigMissing, path, ShortSha(lf), ShortSha(rf), DriftSeverity.High));
                continue;
            }

            var equal = true;
            var contentDiffers = !string.Equals(lf.Sha256, rf.Sha256, StringComparison.OrdinalIgnoreCase)
                || (lf.Content is not null && rf.Content is not null && !string.Equals(lf.Content, rf.Content, StringComparison.Ordinal));
            if (contentDiffers)
            {
                string? diff = null;
                if (lf.Content is not null && rf.Content is not null && !string.Equals(lf.Content, rf.Content, StringComparison.Ordinal))
                {
                    diff = UnifiedDiff.Create(lf.Content, rf.Content, $"{leftManifest.Target}:{path}", $"{rightManifest.Target}:{path}");
                }
                var values = ConfigValues.Compare(path, lf, rf, formats);
                if (values.Cosmetic)
                {
                    tally.Add(new DriftItem(DriftCategory.ConfigCosmetic, path, ShortSha(lf), ShortSha(rf), DriftSeverity.Info, diff, values.Changes, values.Note));
                }
                else
                {
                    equal = false;
                    tally.Add(new DriftItem(DriftCategory.ConfigContent, path, ShortSha(lf), ShortSha(rf), DriftSeverity.High, diff,
                        values.Format == ConfigFormat.Bytes ? null : values.Changes, values.Note));
                }
            }

            var lm = Meta(lf);
            var rm = Meta(rf);
            if (!string.Equals(lm, rm, StringComparison.Ordinal))
            {
                equal = false;
                tally.Add(new DriftItem(DriftCategory.ConfigMeta, path, lm, rm, DriftSeverity.Medium));
            }
            if (equal) tally.Match(DriftFamily.File);
        }
    }

    private static string? ShortSha(ConfigFileInfo? file) =>
        file is null ? null : "sha256:" + (file.Sha256.Length > 12 ? file.Sha256[..12] : file.Sha256).ToLowerInvariant();

    private static string Meta(ConfigFileInfo file) => $"{file.Owner}:{file.Group} {file.Mode}";

    // ---- services and ports ------------------------------------------------------------------------------------

    private static void CompareServices(Tally tally, IReadOnlyList<ServiceInfo> left, IReadOnlyList<ServiceInfo> right)
    {
        var l = ByKey(left, s => s.Name);
        var r = ByKey(right, s => s.Name);
        foreach (var name in UnionKeys(l, r))
        {
            var key = "service:" + name;
            if (!tally.Include(DriftFamily.Service, key, name)) continue;
            var ls = State(l.GetValueOrDefault(name));
            var rs = State(r.GetValueOrDefault(name));
            if (string.Equals(ls, rs, StringComparison.Ordinal)) tally.Match(DriftFamily.Service);
            else tally.Add(new DriftItem(DriftCategory.ServiceState, key, ls, rs, DriftSeverity.High));
        }

        static string? State(ServiceInfo? s) => s is null ? null : s.Running ? "running" : "stopped";
    }

    /// <summary>Ports are keyed by protocol and number ("tcp/8080"), never by address: two hosts have different
    /// addresses. "tcp6"/"udp6" count as "tcp"/"udp". The display value lists the addresses.</summary>
    private static void ComparePorts(Tally tally, IReadOnlyList<ListeningPort> left, IReadOnlyList<ListeningPort> right)
    {
        var l = PortAddresses(left);
        var r = PortAddresses(right);
        foreach (var key in UnionKeys(l, r))
        {
            if (!tally.Include(DriftFamily.Port, key)) continue;
            var la = l.GetValueOrDefault(key);
            var ra = r.GetValueOrDefault(key);
            if (la is not null && ra is not null) tally.Match(DriftFamily.Port);
            else tally.Add(new DriftItem(DriftCategory.Port, key, la, ra, DriftSeverity.Medium));
        }
    }

    private static Dictionary<string, string> PortAddresses(IReadOnlyList<ListeningPort> ports) =>
        ports.GroupBy(p => $"{NormalizeProtocol(p.Protocol)}/{p.Port.ToString(CultureInfo.InvariantCulture)}", StringComparer.Ordinal)
            .ToDictionary(
                g => g.Key,
                g => "listening on " + string.Join(", ", g.Select(p => p.Address).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)),
                StringComparer.Ordinal);

    private static string NormalizeProtocol(string protocol)
    {
        var p = protocol.Trim().ToLowerInvariant();
        return p.EndsWith('6') ? p[..^1] : p;
    }

    // ---- databases ---------------------------------------------------------------------------------------------

    private static void CompareDatabases(Tally tally, DatabaseInfo? left, DatabaseInfo? right)
    {
        if (left is null && right is null) return;
        CompareSettings(tally, left, right);
        CompareSchemaObjects(tally, left?.Schema.Objects ?? [], right?.Schema.Objects ?? []);
        CompareMigrations(tally, left?.Schema.Migrations ?? [], right?.Schema.Migrations ?? []);
    }

    /// <summary>Settings hold only values that differ from the server default, so a setting on one side only is
    /// shown as "(default)" on the other. The server version is compared as the setting "server_version".</summary>
    private static void CompareSettings(Tally tally, DatabaseInfo? left, DatabaseInfo? right)
    {
        const string versionKey = "server_version";
        if (tally.Include(DriftFamily.Setting, versionKey))
        {
            var lv = left?.ServerVersion;
            var rv = right?.ServerVersion;
            if (string.Equals(lv, rv, StringComparison.Ordinal)) tally.Match(DriftFamily.Setting);
            else
            {
                var severity = lv is null || rv is null || Major(lv) != Major(rv) ? DriftSeverity.High : DriftSeverity.Low;
                tally.Add(new DriftItem(DriftCategory.DbSetting, versionKey, lv, rv, severity));
            }
        }

        var l = left?.Settings ?? new Dictionary<string, string>();
        var r = right?.Settings ?? new Dictionary<string, string>();
        foreach (var name in l.Keys.Union(r.Keys, StringComparer.Ordinal).Where(k => k != versionKey).Order(StringComparer.Ordinal))
        {
            if (!tally.Include(DriftFamily.Setting, name)) continue;
            var lv = SettingValue(left, l, name);
            var rv = SettingValue(right, r, name);
            if (string.Equals(lv, rv, StringComparison.Ordinal)) tally.Match(DriftFamily.Setting);
            else tally.Add(new DriftItem(DriftCategory.DbSetting, name, lv, rv, DriftSeverity.Medium));
        }

        static string Major(string version)
        {
            var end = version.IndexOfAny(['.', ' ']);
            return end < 0 ? version : version[..end];
        }

        static string? SettingValue(DatabaseInfo? db, IReadOnlyDictionary<string, string> settings, string name) =>
            db is null ? null : settings.TryGetValue(name, out var value) ? value : "(default)";
    }

    /// <summary>Schema objects are keyed "kind:name" (e.g. "index:mailbox_owner_idx"); ignore rules match the key or the name.</summary>
    private static void CompareSchemaObjects(Tally tally, IReadOnlyList<SchemaObject> left, IReadOnlyList<SchemaObject> right)
    {
        var l = Definitions(left);
        var r = Definitions(right);
        foreach (var key in UnionKeys(l, r))
        {
            var (ld, ln) = l.GetValueOrDefault(key);
            var (rd, rn) = r.GetValueOrDefault(key);
            if (!tally.Include(DriftFamily.Schema, key, ln ?? rn)) continue;
            if (string.Equals(ld, rd, StringComparison.Ordinal)) tally.Match(DriftFamily.Schema);
            else tally.Add(new DriftItem(DriftCategory.SchemaObject, key, ld, rd, DriftSeverity.High));
        }

        static Dictionary<string, (string? Definition, string? Name)> Definitions(IReadOnlyList<SchemaObject> objects) =>
            objects.GroupBy(o => $"{o.Kind}:{o.Name}", StringComparer.Ordinal).ToDictionary(
                g => g.Key,
                g => ((string?)string.Join("\n", g.Select(o => o.Definition).Order(StringComparer.Ordinal)), (string?)g.First().Name),
                StringComparer.Ordinal);
    }

    /// <summary>Migration history rows are keyed by version; description, checksum and success must all agree.</summary>
    private static void CompareMigrations(Tally tally, IReadOnlyList<MigrationRecord> left, IReadOnlyList<MigrationRecord> right)
    {
        var l = Rows(left);
        var r = Rows(right);
        foreach (var version in UnionKeys(l, r))
        {
            if (!tally.Include(DriftFamily.Migration, version)) continue;
            var lv = l.GetValueOrDefault(version);
            var rv = r.GetValueOrDefault(version);
            if (string.Equals(lv, rv, StringComparison.Ordinal)) tally.Match(DriftFamily.Migration);
            else tally.Add(new DriftItem(DriftCategory.Migration, version, lv, rv, DriftSeverity.High));
        }

        static Dictionary<string, string> Rows(IReadOnlyList<MigrationRecord> rows) =>
            rows.GroupBy(m => m.Version, StringComparer.Ordinal).ToDictionary(
                g => g.Key,
                g => string.Join("; ", g.Select(m => $"{m.Description} ({m.Checksum ?? "no checksum"}, {(m.Success ? "applied" : "failed")})")),
                StringComparer.Ordinal);
    }

    // ---- directories -------------------------------------------------------------------------------------------

    /// <summary>
    /// An LDAP directory is compared as a database is: version, modules, overlays and cn=config settings as
    /// <see cref="DriftCategory.DbSetting"/> (a module or overlay on one side only is high: ppolicy missing is a policy
    /// missing), schema names as <see cref="DriftCategory.SchemaObject"/> ("objectClass: NAME", and "schema: digest" when
    /// the names agree and a definition does not), and entry counts as info: prod holds more people than staging.
    /// </summary>
    private static void CompareDirectories(Tally tally, DirectoryServerInfo? left, DirectoryServerInfo? right)
    {
        if (left is null && right is null) return;
        void Setting(string key, string? l, string? r, DriftSeverity severity)
        {
            if (!tally.Include(DriftFamily.Setting, key)) return;
            if (string.Equals(l, r, StringComparison.Ordinal)) tally.Match(DriftFamily.Setting);
            else tally.Add(new DriftItem(DriftCategory.DbSetting, key, l, r, severity));
        }
        Setting("server_version", left?.ServerVersion, right?.ServerVersion, DriftSeverity.Medium);
        void Present(string prefix, IReadOnlyList<string>? l, IReadOnlyList<string>? r)
        {
            foreach (var name in (l ?? []).Union(r ?? [], StringComparer.Ordinal).Order(StringComparer.Ordinal))
            {
                Setting($"{prefix}: {name}", l?.Contains(name) == true ? "loaded" : null, r?.Contains(name) == true ? "loaded" : null, DriftSeverity.High);
            }
        }
        Present("module", left?.Modules, right?.Modules);
        Present("overlay", left?.Overlays, right?.Overlays);
        var ls = left?.Settings ?? new Dictionary<string, string>();
        var rs = right?.Settings ?? new Dictionary<string, string>();
        foreach (var key in ls.Keys.Union(rs.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            Setting(key, left is null ? null : ls.GetValueOrDefault(key, "(default)"), right is null ? null : rs.GetValueOrDefault(key, "(default)"), DriftSeverity.Medium);
        }
        var lc = left?.EntryCounts ?? new Dictionary<string, long>();
        var rc = right?.EntryCounts ?? new Dictionary<string, long>();
        foreach (var key in lc.Keys.Union(rc.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            Setting($"entries: {key}", lc.TryGetValue(key, out var l) ? l.ToString(CultureInfo.InvariantCulture) : null,
                rc.TryGetValue(key, out var r) ? r.ToString(CultureInfo.InvariantCulture) : null, DriftSeverity.Info);
        }

        var schemaLeft = SchemaNames(left);
        var schemaRight = SchemaNames(right);
        foreach (var key in schemaLeft.Union(schemaRight, StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            if (!tally.Include(DriftFamily.Schema, key, key[(key.IndexOf(' ', StringComparison.Ordinal) + 1)..])) continue;
            var inLeft = schemaLeft.Contains(key);
            var inRight = schemaRight.Contains(key);
            if (inLeft == inRight) tally.Match(DriftFamily.Schema);
            else tally.Add(new DriftItem(DriftCategory.SchemaObject, key, inLeft ? "defined" : null, inRight ? "defined" : null, DriftSeverity.High));
        }
        if (left is not null && right is not null && schemaLeft.SetEquals(schemaRight) && tally.Include(DriftFamily.Schema, "schema: digest"))
        {
            if (left.Schema.Digest == right.Schema.Digest) tally.Match(DriftFamily.Schema);
            else tally.Add(new DriftItem(DriftCategory.SchemaObject, "schema: digest", left.Schema.Digest, right.Schema.Digest, DriftSeverity.High));
        }

        static HashSet<string> SchemaNames(DirectoryServerInfo? d) => d is null ? new HashSet<string>(StringComparer.Ordinal)
            : d.Schema.AttributeTypes.Select(a => $"attributeType: {a}").Concat(d.Schema.ObjectClasses.Select(o => $"objectClass: {o}")).ToHashSet(StringComparer.Ordinal);
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private static Dictionary<string, T> ByKey<T>(IEnumerable<T> items, Func<T, string> key)
    {
        var result = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var item in items) result.TryAdd(key(item), item);
        return result;
    }

    private static IEnumerable<string> UnionKeys<TL, TR>(Dictionary<string, TL> left, Dictionary<string, TR> right) =>
        left.Keys.Union(right.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal);

    /// <summary>Collects items and per-family counts while comparing.</summary>
    private sealed class Tally(IgnoreRules ignore)
    {
        private readonly int[] _compared = new int[DriftMath.FamilyCount];
        private readonly int[] _matching = new int[DriftMath.FamilyCount];
        private readonly int[] _ignored = new int[DriftMath.FamilyCount];

        public List<DriftItem> Items { get; } = [];

        /// <summary>Counts the key as compared unless an ignore rule removes it.</summary>
        public bool Include(DriftFamily family, string key, string? name = null)
        {
            if (ignore.IsIgnored(family, key, name))
            {
                _ignored[(int)family]++;
                return false;
            }
            _compared[(int)family]++;
            return true;
        }

        public void Match(DriftFamily family) => _matching[(int)family]++;

        public void Add(DriftItem item) => Items.Add(item);

        public IReadOnlyList<FamilyFigures> Figures() =>
            Enumerable.Range(0, DriftMath.FamilyCount)
                .Select(i => new FamilyFigures((DriftFamily)i, _compared[i], _matching[i], _ignored[i]))
                .ToList();
    }
}
