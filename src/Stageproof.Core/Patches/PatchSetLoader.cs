using System.Text.RegularExpressions;
using Stageproof.Core.Configuration.Internal;
using Stageproof.Core.Validation;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Patches;

/// <summary>A file a patch set refers to (relative to the patch set file) and where it was named.</summary>
internal sealed record PatchReference(string RelativePath, Where At);

/// <summary>A loaded (not yet frozen) patch set with the files it refers to.</summary>
internal sealed record LoadedPatchSet(string FilePath, PatchSet Set, IReadOnlyList<PatchReference> References);

/// <summary>
/// Reads a patch set YAML file. Every problem is reported with file:line:col and key; unknown keys are errors;
/// every value that may reach a host (names, versions, paths, source lines, commands) is validated here.
/// </summary>
public static partial class PatchSetLoader
{
    private const int MaxCommandTimeoutSeconds = 24 * 3600;

    private static readonly string[] TopKeys =
        ["id", "title", "ticket", "reason", "root_cause", "severity", "cves", "author", "repositories", "packages", "files", "migrations", "data_loss", "processes", "way_back", "commands", "roles"];
    private static readonly string[] PackageKeys = ["name", "version"];
    private static readonly string[] FileKeys = ["path", "owner", "group", "mode", "content", "source", "set"];
    private static readonly string[] MigrationKeys = ["database", "files"];
    private static readonly string[] WayBackKeys = ["migration", "how", "down", "acknowledged"];
    private static readonly string[] CommandsKeys = ["pre", "post"];
    private static readonly string[] CommandKeys = ["run", "timeout"];

    /// <summary>Loads and validates a patch set file (referenced files are not read; see <see cref="PatchSetFreezer"/>).</summary>
    /// <exception cref="InputException">Every problem found, located.</exception>
    public static PatchSet Load(string path) => LoadWithReferences(path).Set;

    internal static LoadedPatchSet LoadWithReferences(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        var (text, problem) = InputFiles.ReadText(full);
        if (text is null)
        {
            throw new InputException($"{path}: cannot read the patch set: {problem}");
        }
        return Parse(path, text);
    }

    internal static LoadedPatchSet Parse(string file, string text)
    {
        var problems = new ProblemList();
        var walker = new YamlWalker(file, problems);
        var root = walker.ParseDocument(text);
        if (root is null)
        {
            if (problems.Count == 0)
            {
                problems.Add(new Where(file, 0, 0, "(document)"), "the patch set is empty");
            }
            problems.ThrowIfAny();
            throw new InvalidOperationException("unreachable");
        }
        var mapping = walker.Mapping(root, "(document)");
        if (mapping is null)
        {
            problems.ThrowIfAny();
        }
        var reader = new Reader(walker);
        var set = reader.Read(mapping!, root);
        problems.ThrowIfAny();
        return new LoadedPatchSet(Path.GetFullPath(file), set!, reader.References);
    }

    private sealed class Reader(YamlWalker w)
    {
        public List<PatchReference> References { get; } = [];

        public PatchSet? Read(YamlMappingNode map, YamlNode root)
        {
            string? id = null, title = null, ticket = null, reason = null, rootCause = null, author = null;
            PatchSeverity? severity = null;
            var cves = new List<string>();
            var repositories = new List<string>();
            var packages = new List<PatchPackage>();
            var files = new List<PatchFile>();
            var migrations = new List<PatchMigration>();
            List<string>? dataLoss = null;
            List<string>? processes = null;
            List<string>? roles = null;
            List<PatchWayBack>? wayBack = null;
            var commands = new PatchCommands();
            var seen = new HashSet<string>(StringComparer.Ordinal);

            foreach (var (name, _, value, path) in w.Entries(map, "", TopKeys))
            {
                seen.Add(name);
                switch (name)
                {
                    case "id":
                        id = Check(value, path, w.RequiredString(value, path), v => Names.IdentifierError(v, "patch set id"));
                        break;
                    case "title":
                        title = Line(value, path, w.RequiredString(value, path));
                        break;
                    case "ticket":
                        ticket = Line(value, path, w.String(value, path));
                        break;
                    case "reason":
                        reason = Text(value, path, w.RequiredString(value, path));
                        break;
                    case "root_cause":
                        rootCause = Text(value, path, w.String(value, path));
                        break;
                    case "author":
                        author = Line(value, path, w.RequiredString(value, path));
                        break;
                    case "severity":
                        severity = Severity(value, path);
                        break;
                    case "cves":
                        foreach (var (cve, node, itemPath) in w.StringList(value, path) ?? [])
                        {
                            if (CveRegex().IsMatch(cve))
                            {
                                cves.Add(cve);
                            }
                            else
                            {
                                w.Report(node, itemPath, $"{Names.Show(cve)} is not a CVE id (CVE-YYYY-NNNN, four or more digits)");
                            }
                        }
                        break;
                    case "repositories":
                        foreach (var (line, node, itemPath) in w.StringList(value, path) ?? [])
                        {
                            if (RepositoryError(line) is { } error)
                            {
                                w.Report(node, itemPath, error);
                            }
                            else
                            {
                                repositories.Add(line.Trim());
                            }
                        }
                        break;
                    case "packages":
                        packages = Packages(value, path);
                        break;
                    case "files":
                        files = Files(value, path);
                        break;
                    case "migrations":
                        migrations = Migrations(value, path);
                        break;
                    case "data_loss":
                        dataLoss = [];
                        foreach (var (table, node, itemPath) in w.StringList(value, path) ?? [])
                        {
                            if (TableGlob().IsMatch(table))
                            {
                                dataLoss.Add(table);
                            }
                            else
                            {
                                w.Report(node, itemPath, $"{Names.Show(table)} is not a table or a glob of tables ('archive_*', 'public.sessions')");
                            }
                        }
                        break;
                    case "processes":
                        processes = [];
                        foreach (var (glob, node, itemPath) in w.StringList(value, path) ?? [])
                        {
                            if (glob.Length is > 0 and <= 256 && !glob.Any(char.IsControl))
                            {
                                processes.Add(glob);
                            }
                            else
                            {
                                w.Report(node, itemPath, $"{Names.Show(glob)} is not a process name or command line glob ('nginx', '/usr/bin/worker *')");
                            }
                        }
                        break;
                    case "roles":
                        roles = [];
                        foreach (var (role, node, itemPath) in w.StringList(value, path) ?? [])
                        {
                            if (Names.IdentifierError(role, "role") is { } error)
                            {
                                w.Report(node, itemPath, error);
                            }
                            else if (!roles.Contains(role))
                            {
                                roles.Add(role);
                            }
                        }
                        if (roles.Count == 0 && value is YamlSequenceNode { Children.Count: 0 })
                        {
                            w.Report(value, path, "give the host roles the set is for ([app, proxy]), or leave roles out to patch every host");
                        }
                        break;
                    case "way_back":
                        wayBack = WayBack(value, path);
                        break;
                    case "commands":
                        commands = Commands(value, path);
                        break;
                }
            }

            foreach (var required in new[] { "id", "title", "reason", "severity", "author" })
            {
                if (!seen.Contains(required))
                {
                    w.Report(root, required, "a value is required");
                }
            }
            if (packages.Count == 0 && files.Count == 0 && migrations.Count == 0 && commands.Pre.Count == 0 && commands.Post.Count == 0)
            {
                w.Report(root, "(document)", "the patch set changes nothing: give packages, files, migrations or commands");
            }
            if (id is null || title is null || reason is null || severity is null || author is null)
            {
                return null;
            }
            return new PatchSet
            {
                Id = id,
                Title = title,
                Ticket = ticket,
                Reason = reason,
                RootCause = rootCause,
                Severity = severity.Value,
                Cves = cves,
                Author = author,
                Repositories = repositories,
                Packages = packages,
                Files = files,
                Migrations = migrations,
                DataLoss = dataLoss is { Count: > 0 } ? dataLoss : null,
                Processes = processes is { Count: > 0 } ? processes : null,
                WayBack = wayBack is { Count: > 0 } ? wayBack : null,
                Roles = roles is { Count: > 0 } ? roles : null,
                Commands = commands,
            };
        }

        private PatchSeverity? Severity(YamlNode node, string path)
        {
            var text = w.RequiredString(node, path);
            if (text is null)
            {
                return null;
            }
            switch (text)
            {
                case "low": return PatchSeverity.Low;
                case "medium": return PatchSeverity.Medium;
                case "high": return PatchSeverity.High;
                case "critical": return PatchSeverity.Critical;
            }
            w.Report(node, path, $"severity {Names.Show(text)} is not one of low, medium, high, critical");
            return null;
        }

        private List<PatchPackage> Packages(YamlNode node, string path)
        {
            var result = new List<PatchPackage>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (item, itemPath) in Items(node, path))
            {
                var map = w.Mapping(item, itemPath);
                if (map is null)
                {
                    continue;
                }
                string? name = null, version = null;
                foreach (var (key, _, value, keyPath) in w.Entries(map, itemPath, PackageKeys))
                {
                    if (key == "name")
                    {
                        name = Check(value, keyPath, w.RequiredString(value, keyPath), Names.PackageNameError);
                    }
                    else
                    {
                        version = Check(value, keyPath, w.RequiredString(value, keyPath), Names.PackageVersionError);
                    }
                }
                Require(map, itemPath, PackageKeys);
                if (name is not null && !names.Add(name))
                {
                    w.Report(item, itemPath, $"package '{name}' is listed twice");
                    continue;
                }
                if (name is not null && version is not null)
                {
                    result.Add(new PatchPackage(name, version));
                }
            }
            return result;
        }

        private List<PatchFile> Files(YamlNode node, string path)
        {
            var result = new List<PatchFile>();
            var paths = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (item, itemPath) in Items(node, path))
            {
                var map = w.Mapping(item, itemPath);
                if (map is null)
                {
                    continue;
                }
                string? target = null, owner = null, group = null, mode = null, content = null, source = null;
                SortedDictionary<string, string>? edits = null;
                var kinds = new List<string>();
                var ok = true;
                foreach (var (key, _, value, keyPath) in w.Entries(map, itemPath, FileKeys))
                {
                    switch (key)
                    {
                        case "path":
                            target = Check(value, keyPath, w.RequiredString(value, keyPath), v =>
                                Names.AbsolutePathError(v) ?? (v.IndexOfAny(['*', '?', '[']) >= 0 ? $"path {Names.Show(v)} must name one file (no glob characters)" : null));
                            ok &= target is not null;
                            break;
                        case "owner":
                            owner = Check(value, keyPath, w.RequiredString(value, keyPath), Names.UserNameError);
                            ok &= owner is not null;
                            break;
                        case "group":
                            group = Check(value, keyPath, w.RequiredString(value, keyPath), v => Names.UserNameError(v)?.Replace("user name", "group name", StringComparison.Ordinal));
                            ok &= group is not null;
                            break;
                        case "mode":
                            mode = Check(value, keyPath, w.RequiredString(value, keyPath), v =>
                                ModeRegex().IsMatch(v) ? null : $"mode {Names.Show(v)} is not octal (3 or 4 digits 0-7, e.g. \"0644\")");
                            ok &= mode is not null;
                            break;
                        case "content":
                            kinds.Add(key);
                            content = w.String(value, keyPath) ?? "";
                            if (content.Contains('\0', StringComparison.Ordinal))
                            {
                                w.Report(value, keyPath, "content contains a NUL character");
                                ok = false;
                            }
                            break;
                        case "source":
                            kinds.Add(key);
                            source = Check(value, keyPath, w.RequiredString(value, keyPath), RelativePathError);
                            if (source is null)
                            {
                                ok = false;
                            }
                            else
                            {
                                References.Add(new PatchReference(source, w.At(value, keyPath)));
                            }
                            break;
                        case "set":
                            kinds.Add(key);
                            edits = Edits(value, keyPath);
                            ok &= edits is not null;
                            break;
                    }
                }
                Require(map, itemPath, ["path"]);
                if (kinds.Count != 1)
                {
                    w.Report(item, itemPath, kinds.Count == 0
                        ? "give one of content (whole file), source (a file beside the patch set) or set (key = value edits)"
                        : $"give only one of content, source or set (got {string.Join(", ", kinds)})");
                    ok = false;
                }
                if (target is not null && !paths.Add(target))
                {
                    w.Report(item, itemPath, $"file '{target}' is listed twice");
                    ok = false;
                }
                if (ok && target is not null)
                {
                    result.Add(new PatchFile { Path = target, Owner = owner, Group = group, Mode = mode, Content = content, Source = source, Set = edits });
                }
            }
            return result;
        }

        private SortedDictionary<string, string>? Edits(YamlNode node, string path)
        {
            var map = w.Mapping(node, path);
            if (map is null)
            {
                return null;
            }
            var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
            var ok = true;
            foreach (var (key, keyNode, value, keyPath) in w.Entries(map, path))
            {
                if (key.Any(char.IsControl) || key.Contains('=', StringComparison.Ordinal) || key.Trim() != key)
                {
                    w.Report(keyNode, keyPath, $"key {Names.Show(key)} must be one line without '=' or surrounding spaces");
                    ok = false;
                    continue;
                }
                var text = w.String(value, keyPath) ?? "";
                if (text.Any(char.IsControl))
                {
                    w.Report(value, keyPath, $"value {Names.Show(text)} must be one line without control characters");
                    ok = false;
                    continue;
                }
                result[key] = text;
            }
            if (ok && result.Count == 0)
            {
                w.Report(node, path, "set needs at least one key: value");
                return null;
            }
            return ok ? result : null;
        }

        private List<PatchMigration> Migrations(YamlNode node, string path)
        {
            var result = new List<PatchMigration>();
            var databases = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (item, itemPath) in Items(node, path))
            {
                var map = w.Mapping(item, itemPath);
                if (map is null)
                {
                    continue;
                }
                string? database = null;
                var scripts = new List<PatchMigrationScript>();
                var ok = true;
                foreach (var (key, _, value, keyPath) in w.Entries(map, itemPath, MigrationKeys))
                {
                    if (key == "database")
                    {
                        database = Check(value, keyPath, w.RequiredString(value, keyPath), v => Names.IdentifierError(v, "database name"));
                        continue;
                    }
                    var list = w.StringList(value, keyPath);
                    if (list is null)
                    {
                        ok = false;
                        continue;
                    }
                    var seenFiles = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var (file, fileNode, filePath) in list)
                    {
                        if (RelativePathError(file) is { } error)
                        {
                            w.Report(fileNode, filePath, error);
                            ok = false;
                        }
                        else if (!seenFiles.Add(file))
                        {
                            w.Report(fileNode, filePath, $"'{file}' is listed twice");
                            ok = false;
                        }
                        else
                        {
                            scripts.Add(new PatchMigrationScript { File = file });
                            References.Add(new PatchReference(file, w.At(fileNode, filePath)));
                        }
                    }
                    if (list.Count == 0)
                    {
                        w.Report(value, keyPath, "give at least one SQL file");
                        ok = false;
                    }
                }
                Require(map, itemPath, MigrationKeys);
                if (database is not null && !databases.Add(database))
                {
                    w.Report(item, itemPath, $"database '{database}' has two migration lists; put its files in one ordered list");
                    ok = false;
                }
                if (ok && database is not null && scripts.Count > 0)
                {
                    result.Add(new PatchMigration(database, scripts));
                }
            }
            return result;
        }

        private List<PatchWayBack> WayBack(YamlNode node, string path)
        {
            var result = new List<PatchWayBack>();
            var globs = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (item, itemPath) in Items(node, path))
            {
                var map = w.Mapping(item, itemPath);
                if (map is null)
                {
                    continue;
                }
                string? migration = null, down = null, acknowledged = null;
                WayBackHow? how = null;
                YamlNode? downNode = null, acknowledgedNode = null;
                var ok = true;
                foreach (var (key, _, value, keyPath) in w.Entries(map, itemPath, WayBackKeys))
                {
                    switch (key)
                    {
                        case "migration":
                            migration = Check(value, keyPath, w.RequiredString(value, keyPath), v => v.Length is > 0 and <= 256 && !v.Any(char.IsControl) && v.Trim() == v
                                ? null : $"{Names.Show(v)} is not a migration name or glob as the migration history records it ('V5__add_message_folders', 'V6__*')");
                            ok &= migration is not null;
                            break;
                        case "how":
                            var text = w.RequiredString(value, keyPath);
                            how = text switch
                            {
                                "down" => WayBackHow.Down,
                                "compatible" => WayBackHow.Compatible,
                                "irreversible" => WayBackHow.Irreversible,
                                _ => null,
                            };
                            if (text is not null && how is null)
                            {
                                w.Report(value, keyPath, $"how {Names.Show(text)} is not one of down (a down script), compatible (the old release runs on the new schema), " +
                                                         "irreversible (only a database restore undoes it)");
                            }
                            ok &= how is not null;
                            break;
                        case "down":
                            downNode = value;
                            down = Check(value, keyPath, w.RequiredString(value, keyPath), RelativePathError);
                            ok &= down is not null;
                            break;
                        case "acknowledged":
                            acknowledgedNode = value;
                            acknowledged = Text(value, keyPath, w.RequiredString(value, keyPath));
                            if (acknowledged is { } a && a.Trim().Length == 0)
                            {
                                w.Report(value, keyPath, "say what the restore costs (which data written since the change is lost)");
                                acknowledged = null;
                            }
                            ok &= acknowledged is not null;
                            break;
                    }
                }
                Require(map, itemPath, ["migration", "how"]);
                if (how == WayBackHow.Down && downNode is null)
                {
                    w.Report(map, $"{itemPath}.down", "how: down needs the down script (down: a SQL file beside the patch set)");
                    ok = false;
                }
                if (how is not null and not WayBackHow.Down && downNode is not null)
                {
                    w.Report(downNode, $"{itemPath}.down", $"a down script only goes with how: down (this one says {how.Value.ToString().ToLowerInvariant()})");
                    ok = false;
                }
                if (how == WayBackHow.Irreversible && acknowledgedNode is null)
                {
                    w.Report(map, $"{itemPath}.acknowledged", "how: irreversible needs acknowledged: what restoring the rollback point's dump costs, in your words");
                    ok = false;
                }
                if (how is not null and not WayBackHow.Irreversible && acknowledgedNode is not null)
                {
                    w.Report(acknowledgedNode, $"{itemPath}.acknowledged", $"acknowledged only goes with how: irreversible (this one says {how.Value.ToString().ToLowerInvariant()})");
                    ok = false;
                }
                if (migration is not null && !globs.Add(migration))
                {
                    w.Report(item, itemPath, $"migration '{migration}' is declared twice");
                    ok = false;
                }
                if (ok && migration is not null && how is not null)
                {
                    if (down is not null)
                    {
                        References.Add(new PatchReference(down, w.At(downNode!, $"{itemPath}.down")));
                    }
                    result.Add(new PatchWayBack { Migration = migration, How = how.Value, Down = down, Acknowledged = acknowledged });
                }
            }
            return result;
        }

        private PatchCommands Commands(YamlNode node, string path)
        {
            var map = w.Mapping(node, path);
            if (map is null)
            {
                return new PatchCommands();
            }
            var pre = new List<PatchCommand>();
            var post = new List<PatchCommand>();
            foreach (var (key, _, value, keyPath) in w.Entries(map, path, CommandsKeys))
            {
                var target = key == "pre" ? pre : post;
                foreach (var (item, itemPath) in Items(value, keyPath))
                {
                    if (item is YamlMappingNode commandMap)
                    {
                        string? run = null;
                        int? timeout = null;
                        foreach (var (ck, _, cv, cPath) in w.Entries(commandMap, itemPath, CommandKeys))
                        {
                            if (ck == "run")
                            {
                                run = Check(cv, cPath, w.RequiredString(cv, cPath), CommandError);
                            }
                            else if (w.Seconds(cv, cPath, MaxCommandTimeoutSeconds) is { } span)
                            {
                                timeout = (int)Math.Ceiling(span.TotalSeconds);
                            }
                        }
                        Require(commandMap, itemPath, ["run"]);
                        if (run is not null)
                        {
                            target.Add(new PatchCommand(run, timeout));
                        }
                    }
                    else if (Check(item, itemPath, w.RequiredString(item, itemPath), CommandError) is { } run)
                    {
                        target.Add(new PatchCommand(run));
                    }
                }
            }
            return new PatchCommands { Pre = pre, Post = post };
        }

        private IEnumerable<(YamlNode Item, string Path)> Items(YamlNode node, string path)
        {
            if (YamlWalker.IsNull(node))
            {
                yield break;
            }
            if (node is not YamlSequenceNode sequence)
            {
                w.Report(node, path, $"expected a list ('- ...' lines), got {YamlWalker.Describe(node)}");
                yield break;
            }
            var index = 0;
            foreach (var item in sequence.Children)
            {
                yield return (item, $"{path}[{index++}]");
            }
        }

        private void Require(YamlMappingNode map, string path, IEnumerable<string> keys)
        {
            foreach (var key in keys)
            {
                if (!map.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == key))
                {
                    w.Report(map, $"{path}.{key}", "a value is required");
                }
            }
        }

        private string? Check(YamlNode node, string path, string? value, Func<string, string?> error)
        {
            if (value is null)
            {
                return null;
            }
            if (error(value) is { } message)
            {
                w.Report(node, path, message);
                return null;
            }
            return value;
        }

        private string? Line(YamlNode node, string path, string? value) =>
            Check(node, path, value, v => v.Any(char.IsControl) ? $"{Names.Show(v)} must be one line without control characters" : null);

        private string? Text(YamlNode node, string path, string? value) =>
            Check(node, path, value, v => v.Any(c => char.IsControl(c) && c is not '\n' and not '\t')
                ? $"{Names.Show(v)} contains a control character" : null);
    }

    /// <summary>Commands are operator-authored shell text and kept as written, but must be one line without NUL or other control characters.</summary>
    internal static string? CommandError(string value) =>
        value.Any(c => char.IsControl(c) && c != '\t') ? $"command {Names.Show(value)} must be one line (no newline, NUL or other control characters)"
        : value.Trim().Length == 0 ? "command is empty" : null;

    /// <summary>A path relative to the patch set file: not absolute, no '.' or '..' segments, no control characters.</summary>
    internal static string? RelativePathError(string value)
    {
        if (value.Length == 0 || value.Length > 1024 || value.Any(char.IsControl))
        {
            return $"file {Names.Show(value)} is not a valid relative path";
        }
        if (Path.IsPathRooted(value) || value.StartsWith('~'))
        {
            return $"file {Names.Show(value)} must be relative to the patch set file";
        }
        if (value.Split('/', '\\').Any(segment => segment is "." or ".." or ""))
        {
            return $"file {Names.Show(value)} must stay beside the patch set file (no '.', '..' or empty segments)";
        }
        return null;
    }

    /// <summary>One-line apt source: <c>deb [opts] URI suite [components...]</c> (deb-src too).</summary>
    internal static string? RepositoryError(string value)
    {
        if (value.Any(char.IsControl))
        {
            return $"repository {Names.Show(value)} must be one line without control characters";
        }
        return RepositoryRegex().IsMatch(value.Trim()) ? null
            : $"repository {Names.Show(value)} is not an apt source line (deb [options] URI suite [components])";
    }

    [GeneratedRegex(@"\A[A-Za-z0-9_*?\[\]-]+(\.[A-Za-z0-9_*?\[\]-]+)?\z")]
    private static partial Regex TableGlob();

    [GeneratedRegex(@"\ACVE-[0-9]{4}-[0-9]{4,}\z")]
    private static partial Regex CveRegex();

    [GeneratedRegex(@"\A[0-7]{3,4}\z")]
    private static partial Regex ModeRegex();

    [GeneratedRegex(@"\Adeb(-src)? +(\[[A-Za-z0-9_.,=/: +-]*\] +)?[a-z][a-z0-9+.-]*:[^\s'""`$;|&<>\\]+ +[A-Za-z0-9_./~+-]+( +[A-Za-z0-9_./~+-]+)*\z")]
    private static partial Regex RepositoryRegex();
}
