using System.DirectoryServices.Protocols;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Stageproof.Core;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Checks;
using Stageproof.Hosts.Facts;

namespace Stageproof.Hosts.Directories;

/// <summary>What changed under a directory point's bases since the point, compared entry by entry.</summary>
/// <param name="Added">DNs of the entries that exist now and did not at the point, parents first.</param>
/// <param name="Removed">DNs of the entries that existed at the point and do not now, parents first.</param>
/// <param name="Changed">Entries in both whose attributes differ, with the names of those attributes.</param>
public sealed record DirectoryChanges(IReadOnlyList<string> Added, IReadOnlyList<string> Removed, IReadOnlyList<DirectoryEntryChange> Changed)
{
    /// <summary>How many DNs of each kind <see cref="Describe"/> names before it counts the rest.</summary>
    private const int MaxPerKind = 10;

    /// <summary>Whether anything was added, removed or changed since the point.</summary>
    public bool Any => Added.Count > 0 || Removed.Count > 0 || Changed.Count > 0;

    /// <summary>
    /// Lines for a report: "added since the point: DN", "removed since the point: DN", "changed since the point: DN (mail,
    /// userPassword)", at most 10 of each kind then "… and N more …". Attribute names only, never values.
    /// </summary>
    public IReadOnlyList<string> Describe()
    {
        var lines = new List<string>();
        AppendKind(lines, "added since the point", Added);
        AppendKind(lines, "removed since the point", Removed);
        AppendKind(lines, "changed since the point", Changed.Select(c => $"{c.Dn} ({string.Join(", ", c.Attributes)})").ToList());
        return lines;
    }

    private static void AppendKind(List<string> lines, string kind, IReadOnlyList<string> items)
    {
        lines.AddRange(items.Take(MaxPerKind).Select(item => $"{kind}: {item}"));
        if (items.Count > MaxPerKind)
        {
            lines.Add($"… and {items.Count - MaxPerKind} more {kind}");
        }
    }
}

/// <summary>An entry that exists at the point and now, and the names of the attributes whose values differ.</summary>
public sealed record DirectoryEntryChange(string Dn, IReadOnlyList<string> Attributes);

/// <summary>
/// Rollback points of an OpenLDAP directory's data, taken and restored online through LDAP, bound as a DN that may read
/// and write every entry under the bases (typically the database's olcRootDN). A point is one LDIF file (0600) of every
/// entry under the bases with every user attribute, written in a canonical order so that its SHA-256 identifies the
/// content: a restore is proven by exporting again and getting the same bytes.
/// </summary>
/// <remarks>
/// Only user attributes are read ("*"): operational ones (entryUUID, createTimestamp, modifiersName…) are the server's to
/// keep, so a restored entry gets new ones. Values are compared as bytes, so binary and hashed values survive untouched.
/// A restore is not atomic: LDAP has no transaction across entries. What it replaces is exported beside the point first.
/// </remarks>
public sealed class LdapRollbackPoint(TimeProvider? timeProvider = null)
{
    /// <summary>The export's name inside the point's directory.</summary>
    public const string ExportFileName = "directory.ldif";

    /// <summary>A page of a subtree search: small enough for any server's size limit, large enough to be quick.</summary>
    private const int PageSize = 500;

    private const UnixFileMode PrivateFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>How long one LDAP operation (a bind, a page of a search, one write) may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Exports every entry under <paramref name="source"/>'s bases (subtree, every user attribute, userPassword included)
    /// into <c>directory/directory.ldif</c>. The directory is created 0700 when absent and the file 0600 before anything
    /// is written into it: it holds password hashes.
    /// </summary>
    /// <param name="name">The directory's name in the environment; errors name it.</param>
    /// <exception cref="InfrastructureException">The server is unreachable, refuses the bind or a search.</exception>
    public Task<DirectoryPoint> CreateAsync(string name, DirectorySource source, string directory, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var where = Where(name, source);
        return OnOwnThread(() =>
        {
            CreatePrivateDirectory(directory);
            List<LdifEntry> entries;
            using (var session = Open(where, source))
            {
                entries = session.Export(source.Bases, ct);
            }
            var content = LdapLdif.Write(entries);
            WritePrivateFile(Path.Combine(directory, ExportFileName), content);
            return new DirectoryPoint
            {
                Name = name, Directory = Path.GetFullPath(directory), Bases = [.. source.Bases], Entries = entries.Count, Digest = Sha256(content),
            };
        }, ct);
    }

    /// <summary>What changed under the point's bases since the point: DNs added, DNs removed, DNs changed with the names of the attributes that differ.</summary>
    /// <exception cref="InfrastructureException">The export was changed or removed, or the server failed.</exception>
    public Task<DirectoryChanges> ChangesSinceAsync(DirectoryPoint point, DirectorySource source, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(point);
        ArgumentNullException.ThrowIfNull(source);
        var where = Where(point.Name, source);
        return OnOwnThread(() =>
        {
            var (_, atPoint) = ReadPoint(point, where, "the changes since the point cannot be told");
            using var session = Open(where, source);
            return TreeDifference.Between(atPoint, session.Export(point.Bases, ct)).ToChanges();
        }, ct);
    }

    /// <summary>
    /// Restores the entries under the point's bases to the point, online: (1) the current entries are exported to
    /// <c>aside-yyyyMMddTHHmmssZ.ldif</c> (0600) beside the point, (2) entries added since are deleted, deepest first,
    /// (3) entries removed since are added back, parents first, (4) changed entries get the point's attributes in one
    /// modify each, (5) the directory is exported again and must equal the point. Nothing is touched when the point's
    /// export does not match its digest.
    /// </summary>
    /// <exception cref="InfrastructureException">The export was changed or removed, the server refused an operation (its
    /// DN named), or the directory still differs from the point after the restore; past step 1 the aside file is named.</exception>
    public Task RestoreAsync(DirectoryPoint point, DirectorySource source, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(point);
        ArgumentNullException.ThrowIfNull(source);
        var where = Where(point.Name, source);
        return OnOwnThread(() =>
        {
            var (pointContent, atPoint) = ReadPoint(point, where, "nothing was restored");
            using var session = Open(where, source);
            var before = session.Export(point.Bases, ct);

            // 1. What the restore replaces is kept, so an operator can take back a write made after the point.
            var aside = AsidePath(point.Directory);
            WritePrivateFile(aside, LdapLdif.Write(before));
            session.KeptIn = aside;

            var difference = TreeDifference.Between(atPoint, before);
            // 2. Children go before their parent: a server refuses to delete an entry that has some.
            foreach (var entry in difference.OnlyNow.AsEnumerable().Reverse())
            {
                ct.ThrowIfCancellationRequested();
                session.Send(new DeleteRequest(entry.Dn), "delete", entry.Dn);
            }
            // 3. Parents come before their children (the list is in canonical order).
            foreach (var entry in difference.OnlyAtPoint)
            {
                ct.ThrowIfCancellationRequested();
                session.Send(AddRequestFor(entry), "add", entry.Dn);
            }

            // 4. Read again: overlays such as refint change other entries when one is deleted or added.
            var current = TreeDifference.Between(atPoint, session.Export(point.Bases, ct));
            var parents = atPoint.Select(e => e.ParentKey).ToHashSet(StringComparer.Ordinal);
            foreach (var (then, now, attributes) in current.Changed)
            {
                ct.ThrowIfCancellationRequested();
                session.Modify(then, now, attributes, hasChildren: parents.Contains(then.Key));
            }

            // 5. The same writer over the same entries gives the same bytes, hence the point's digest.
            var after = session.Export(point.Bases, ct);
            if (LdapLdif.Write(after).AsSpan().SequenceEqual(pointContent))
            {
                return;
            }
            // LDAP values are sets: a server may return them in another order, which is not a difference.
            var still = TreeDifference.Between(atPoint, after).ToChanges();
            if (still.Any)
            {
                var differing = still.Added.Concat(still.Removed).Concat(still.Changed.Select(c => c.Dn)).ToList();
                throw session.Failure(
                    $"after the restore {differing.Count} entr{(differing.Count == 1 ? "y" : "ies")} still differ from the point: " +
                    $"{string.Join("; ", differing.Take(5))}{(differing.Count > 5 ? "; …" : "")}");
            }
        }, ct);
    }

    /// <summary>How errors name the directory: "NAME at URL".</summary>
    private static string Where(string name, DirectorySource source) => $"{name} at {source.Url}";

    /// <summary>System.DirectoryServices.Protocols is synchronous: each call runs on a thread of its own, not the pool's.</summary>
    private static Task<T> OnOwnThread<T>(Func<T> work, CancellationToken ct) =>
        Task.Factory.StartNew(work, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static Task OnOwnThread(Action work, CancellationToken ct) =>
        Task.Factory.StartNew(work, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private Session Open(string where, DirectorySource source)
    {
        var connection = LdapChecks.Connect(source.Url, Timeout);
        try
        {
            connection.Bind(new NetworkCredential(source.BindDn, source.Password));
            return new Session(connection, where, source.Password, Timeout);
        }
        catch (Exception e) when (e is LdapException or DirectoryOperationException)
        {
            connection.Dispose();
            throw new InfrastructureException(where, $"bind as {source.BindDn}: {Describe(e, source.Password)}", e);
        }
    }

    private static AddRequest AddRequestFor(LdifEntry entry) =>
        new(entry.Dn, entry.Attributes.Select(a =>
        {
            var attribute = new DirectoryAttribute { Name = a.Key };
            a.Value.ForEach(v => attribute.Add(v));
            return attribute;
        }).ToArray());

    /// <summary>
    /// A bound connection and how its errors read: "NAME at URL: OPERATION DN: RESULT", the password redacted and, once a
    /// restore has written it, the aside file named.
    /// </summary>
    private sealed class Session(LdapConnection connection, string where, string password, TimeSpan timeout) : IDisposable
    {
        /// <summary>The file holding the entries as they were before the restore, once written.</summary>
        public string? KeptIn { get; set; }

        /// <summary>Every entry under the bases with its user attributes, by pages, in canonical order (a base that does not exist has none).</summary>
        public List<LdifEntry> Export(IReadOnlyList<string> bases, CancellationToken ct)
        {
            var entries = new Dictionary<string, LdifEntry>(StringComparer.Ordinal); // by normalised DN: nested bases are read once
            foreach (var searchBase in bases)
            {
                var page = new PageResultRequestControl(PageSize);
                var request = new SearchRequest(searchBase, "(objectClass=*)", SearchScope.Subtree, "*");
                request.Controls.Add(page);
                while (true)
                {
                    ct.ThrowIfCancellationRequested();
                    SearchResponse response;
                    try
                    {
                        response = (SearchResponse)connection.SendRequest(request, timeout);
                    }
                    catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.NoSuchObject)
                    {
                        break;
                    }
                    catch (Exception e) when (e is LdapException or DirectoryOperationException)
                    {
                        throw Refused("search", searchBase, e);
                    }
                    foreach (SearchResultEntry result in response.Entries)
                    {
                        var entry = LdifEntry.From(result);
                        entries.TryAdd(entry.Key, entry);
                    }
                    var cookie = response.Controls.OfType<PageResultResponseControl>().FirstOrDefault()?.Cookie;
                    if (cookie is not { Length: > 0 })
                    {
                        break;
                    }
                    page.Cookie = cookie;
                }
            }
            return LdapLdif.Canonical(entries.Values);
        }

        /// <summary>
        /// One modify that gives the entry the point's attributes: Replace for each attribute whose values differ (or that
        /// only the point has), Delete for each that only the entry has now. A server that will not change the objectClass
        /// in place (a structural class) gets the entry deleted and added back, when nothing is under it.
        /// </summary>
        public void Modify(LdifEntry atPoint, LdifEntry now, IReadOnlyList<string> attributes, bool hasChildren)
        {
            var modifications = attributes.Select(name =>
            {
                var modification = new DirectoryAttributeModification { Name = name };
                if (atPoint.Attributes.TryGetValue(name, out var values))
                {
                    modification.Operation = DirectoryAttributeOperation.Replace;
                    values.ForEach(v => modification.Add(v));
                }
                else
                {
                    modification.Operation = DirectoryAttributeOperation.Delete;
                }
                return modification;
            }).ToArray();
            try
            {
                connection.SendRequest(new ModifyRequest(now.Dn, modifications), timeout);
            }
            catch (DirectoryOperationException e) when (e.Response?.ResultCode is ResultCode.ObjectClassViolation or ResultCode.ObjectClassModificationsProhibited
                && attributes.Contains("objectClass", StringComparer.OrdinalIgnoreCase))
            {
                if (hasChildren)
                {
                    throw Failure($"modify {now.Dn}: the server will not change its objectClass in place ({Describe(e, password)}) and entries are under it; " +
                        "restore it by hand from the point's export", e);
                }
                Send(new DeleteRequest(now.Dn), "delete (to add it back with the point's objectClass)", now.Dn);
                Send(AddRequestFor(atPoint), "add", atPoint.Dn);
            }
            catch (Exception e) when (e is LdapException or DirectoryOperationException)
            {
                throw Refused("modify", now.Dn, e);
            }
        }

        public void Send(DirectoryRequest request, string operation, string dn)
        {
            try
            {
                connection.SendRequest(request, timeout);
            }
            catch (Exception e) when (e is LdapException or DirectoryOperationException)
            {
                throw Refused(operation, dn, e);
            }
        }

        public InfrastructureException Failure(string message, Exception? inner = null) =>
            new(where, KeptIn is null ? message : $"{message}; the entries as they were before the restore are kept in {KeptIn}", inner);

        private InfrastructureException Refused(string operation, string dn, Exception e) => Failure($"{operation} {dn}: {Describe(e, password)}", e);

        public void Dispose() => connection.Dispose();
    }

    /// <summary>The server's result code and message (OpenLDAP's name attributes and value positions, not values), the password redacted.</summary>
    private static string Describe(Exception e, string password)
    {
        var text = e switch
        {
            LdapException l => $"{l.Message.TrimEnd('.')} ({l.ErrorCode}){(string.IsNullOrEmpty(l.ServerErrorMessage) ? "" : $": {l.ServerErrorMessage}")}",
            DirectoryOperationException { Response: { } r } =>
                $"{r.ResultCode} ({(int)r.ResultCode}){(string.IsNullOrEmpty(r.ErrorMessage) ? "" : $": {r.ErrorMessage}")}",
            _ => e.Message,
        };
        return password.Length == 0 ? text : text.Replace(password, "********", StringComparison.Ordinal);
    }

    /// <summary>The point's export, checked against its digest, and its entries.</summary>
    private static (byte[] Content, List<LdifEntry> Entries) ReadPoint(DirectoryPoint point, string where, string consequence)
    {
        var file = Path.Combine(point.Directory, ExportFileName);
        byte[]? content;
        try
        {
            content = File.ReadAllBytes(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            content = null;
        }
        if (content is null || !string.Equals(Sha256(content), point.Digest, StringComparison.OrdinalIgnoreCase))
        {
            throw new InfrastructureException(where,
                $"the export {file} was changed or removed since the point ({(content is null ? "missing or unreadable" : $"sha256 {Sha256(content)[..12]}")}, " +
                $"the point's is {point.Digest[..Math.Min(12, point.Digest.Length)]}); {consequence}");
        }
        try
        {
            return (content, LdapLdif.Read(content));
        }
        catch (InvalidDataException e)
        {
            throw new InfrastructureException(where, $"the export {file} cannot be read: {e.Message}; {consequence}", e);
        }
    }

    /// <summary>aside-yyyyMMddTHHmmssZ.ldif in the point's directory; a second restore within the same second gets "-2"….</summary>
    private string AsidePath(string directory)
    {
        var stamp = _time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var path = Path.Combine(directory, $"aside-{stamp}.ldif");
        for (var n = 2; File.Exists(path); n++)
        {
            path = Path.Combine(directory, $"aside-{stamp}-{n}.ldif");
        }
        return path;
    }

    private static void CreatePrivateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(directory);
        }
        else if (!System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.CreateDirectory(directory, PrivateDirectoryMode);
        }
    }

    /// <summary>Writes a file that is 0600 before its first byte: it holds password hashes. An existing file is narrowed too.</summary>
    private static void WritePrivateFile(string path, byte[] content)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = PrivateFileMode;
        }
        using var stream = new FileStream(path, options);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(stream.SafeFileHandle, PrivateFileMode); // a truncated existing file keeps its old mode otherwise
        }
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }

    private static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));
}

/// <summary>One entry: its DN as the server gave it and its attributes (names case-insensitive), values as bytes in the server's order.</summary>
internal sealed class LdifEntry
{
    public LdifEntry(string dn, Dictionary<string, List<byte[]>> attributes)
    {
        Dn = dn;
        Attributes = attributes;
        var rdns = DistinguishedNames.Rdns(dn);
        Key = string.Join(',', rdns);
        Depth = rdns.Count;
        ParentKey = string.Join(',', rdns.Skip(1));
    }

    public string Dn { get; }

    /// <summary>The DN lower-cased, spaces around ',', '=' and '+' trimmed: how two DNs are told the same.</summary>
    public string Key { get; }

    /// <summary>How many RDNs the DN has.</summary>
    public int Depth { get; }

    public string ParentKey { get; }

    /// <summary>Attribute name → values, the name compared case-insensitively.</summary>
    public Dictionary<string, List<byte[]>> Attributes { get; }

    public static LdifEntry From(SearchResultEntry result)
    {
        var attributes = new Dictionary<string, List<byte[]>>(StringComparer.OrdinalIgnoreCase);
        foreach (DirectoryAttribute attribute in result.Attributes.Values)
        {
            // As bytes, every value: a binary one (jpegPhoto) would not survive a round trip through string.
            attributes[attribute.Name] = attribute.GetValues(typeof(byte[])).Cast<byte[]>().ToList();
        }
        return new LdifEntry(result.DistinguishedName, attributes);
    }
}

/// <summary>DNs compared as the directory does for these purposes: case-insensitively, spaces around separators ignored.</summary>
internal static class DistinguishedNames
{
    /// <summary>The RDNs of a DN, leaf first, each normalised: "UID=Bob , ou=People" → ["uid=bob", "ou=people"].</summary>
    public static List<string> Rdns(string dn)
    {
        var rdns = new List<string>();
        foreach (var rdn in SplitUnescaped(dn, ','))
        {
            // Each attribute type and value of the RDN trimmed: "cn = Bob + sn = X" → "cn=bob+sn=x".
            var avas = SplitUnescaped(rdn, '+').Select(ava => string.Join('=', SplitUnescaped(ava, '=', limit: 2).Select(TrimUnescaped)));
            rdns.Add(string.Join('+', avas).ToLowerInvariant());
        }
        return rdns.Count == 1 && rdns[0].Length == 0 ? [] : rdns;
    }

    /// <summary>Splits at separators that are neither escaped by a backslash nor inside double quotes.</summary>
    private static List<string> SplitUnescaped(string text, char separator, int limit = int.MaxValue)
    {
        var parts = new List<string>();
        var start = 0;
        var quoted = false;
        for (var i = 0; i < text.Length && parts.Count < limit - 1; i++)
        {
            switch (text[i])
            {
                case '\\':
                    i++;
                    break;
                case '"':
                    quoted = !quoted;
                    break;
                default:
                    if (text[i] == separator && !quoted)
                    {
                        parts.Add(text[start..i]);
                        start = i + 1;
                    }
                    break;
            }
        }
        parts.Add(text[start..]);
        return parts;
    }

    /// <summary>Trims spaces, keeping a trailing one escaped by a backslash ("a\ " stays).</summary>
    private static string TrimUnescaped(string text)
    {
        var trimmed = text.TrimStart(' ');
        var end = trimmed.Length;
        while (end > 0 && trimmed[end - 1] == ' ' && !Escaped(trimmed, end - 1))
        {
            end--;
        }
        return trimmed[..end];
    }

    private static bool Escaped(string text, int index)
    {
        var backslashes = 0;
        for (var i = index - 1; i >= 0 && text[i] == '\\'; i--)
        {
            backslashes++;
        }
        return backslashes % 2 == 1;
    }
}

/// <summary>
/// RFC 2849 LDIF of entries (content records, no change records) in one canonical form: entries parents first (by the number of
/// RDNs, then ordinal by normalised DN), attributes by name, values in the server's order, unsafe values base64, no folding.
/// </summary>
internal static class LdapLdif
{
    public static List<LdifEntry> Canonical(IEnumerable<LdifEntry> entries) =>
        entries.OrderBy(e => e.Depth).ThenBy(e => e.Key, StringComparer.Ordinal).ToList();

    public static byte[] Write(IEnumerable<LdifEntry> entries)
    {
        var text = new StringBuilder("version: 1\n");
        foreach (var entry in Canonical(entries))
        {
            text.Append('\n');
            AppendLine(text, "dn", Encoding.UTF8.GetBytes(entry.Dn));
            foreach (var (name, values) in entry.Attributes.OrderBy(a => a.Key, StringComparer.OrdinalIgnoreCase))
            {
                values.ForEach(value => AppendLine(text, name, value));
            }
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static void AppendLine(StringBuilder text, string name, byte[] value)
    {
        text.Append(name);
        if (value.Length == 0)
        {
            text.Append(":\n");
        }
        else if (IsSafeString(value))
        {
            text.Append(": ").Append(Encoding.ASCII.GetString(value)).Append('\n');
        }
        else
        {
            text.Append(":: ").Append(Convert.ToBase64String(value)).Append('\n');
        }
    }

    /// <summary>
    /// RFC 2849's SAFE-STRING, narrowed: printable ASCII only (no control character, no DEL), not starting with a space, ':'
    /// or '&lt;', not ending with a space. Anything else is written base64.
    /// </summary>
    private static bool IsSafeString(byte[] value) =>
        value[0] is not ((byte)' ' or (byte)':' or (byte)'<') && value[^1] != ' ' && value.All(b => b is >= 0x20 and < 0x7F);

    /// <summary>Reads LDIF content records: comments skipped, folded lines joined, "attr:: base64" decoded.</summary>
    /// <exception cref="InvalidDataException">The text is not LDIF of entries this reader knows.</exception>
    public static List<LdifEntry> Read(byte[] content)
    {
        var entries = new List<LdifEntry>();
        string? dn = null;
        Dictionary<string, List<byte[]>> attributes = new(StringComparer.OrdinalIgnoreCase);
        foreach (var (number, line) in LogicalLines(Encoding.UTF8.GetString(content)))
        {
            if (line.Length == 0)
            {
                if (dn is not null)
                {
                    entries.Add(new LdifEntry(dn, attributes));
                    dn = null;
                    attributes = new(StringComparer.OrdinalIgnoreCase);
                }
                continue;
            }
            var (name, value) = ParseLine(line, number);
            if (dn is null)
            {
                if (entries.Count == 0 && name.Equals("version", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }
                dn = name.Equals("dn", StringComparison.OrdinalIgnoreCase)
                    ? Encoding.UTF8.GetString(value)
                    : throw new InvalidDataException($"line {number}: a record starts with {name}:, not dn:");
                continue;
            }
            if (name.Equals("changetype", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidDataException($"line {number}: change records are not read, only entries");
            }
            if (!attributes.TryGetValue(name, out var values))
            {
                attributes[name] = values = [];
            }
            values.Add(value);
        }
        if (dn is not null)
        {
            entries.Add(new LdifEntry(dn, attributes));
        }
        return entries;
    }

    /// <summary>Lines with folded continuations (a line starting with one space) joined and comments dropped; "" between records.</summary>
    private static IEnumerable<(int Number, string Line)> LogicalLines(string text)
    {
        var current = new StringBuilder();
        var start = 0;
        var inComment = false;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.StartsWith(' ') && (current.Length > 0 || inComment))
            {
                if (!inComment)
                {
                    current.Append(line, 1, line.Length - 1);
                }
                continue;
            }
            if (line.StartsWith(' '))
            {
                throw new InvalidDataException($"line {i + 1}: a continuation with no line before it");
            }
            if (current.Length > 0)
            {
                yield return (start, current.ToString());
                current.Clear();
            }
            inComment = line.StartsWith('#');
            if (inComment)
            {
                continue;
            }
            if (line.Length == 0)
            {
                yield return (i + 1, "");
                continue;
            }
            start = i + 1;
            current.Append(line);
        }
        if (current.Length > 0)
        {
            yield return (start, current.ToString());
        }
    }

    private static (string Name, byte[] Value) ParseLine(string line, int number)
    {
        var colon = line.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new InvalidDataException($"line {number}: no attribute name before ':'");
        }
        var name = line[..colon];
        var rest = line.AsSpan(colon + 1);
        if (rest.StartsWith(":"))
        {
            try
            {
                return (name, Convert.FromBase64String(rest[1..].Trim(' ').ToString()));
            }
            catch (FormatException)
            {
                throw new InvalidDataException($"line {number}: the value of {name} is not base64");
            }
        }
        return rest.StartsWith("<")
            ? throw new InvalidDataException($"line {number}: values read from a URL are not supported")
            : (name, Encoding.UTF8.GetBytes(rest.TrimStart(' ').ToString()));
    }
}

/// <summary>
/// The point's entries against the current ones, matched by normalised DN, each list in canonical order (parents first):
/// entries only now, entries only at the point, and entries in both whose attributes differ (values compared as multisets of bytes).
/// </summary>
internal sealed record TreeDifference(
    List<LdifEntry> OnlyNow, List<LdifEntry> OnlyAtPoint, List<(LdifEntry AtPoint, LdifEntry Now, IReadOnlyList<string> Attributes)> Changed)
{
    public static TreeDifference Between(IEnumerable<LdifEntry> atPoint, IEnumerable<LdifEntry> now)
    {
        var then = ByKey(atPoint);
        var current = ByKey(now);
        var changed = new List<(LdifEntry, LdifEntry, IReadOnlyList<string>)>();
        foreach (var entry in LdapLdif.Canonical(then.Values))
        {
            if (current.TryGetValue(entry.Key, out var nowEntry) && DifferingAttributes(entry, nowEntry) is { Count: > 0 } attributes)
            {
                changed.Add((entry, nowEntry, attributes));
            }
        }
        return new TreeDifference(
            LdapLdif.Canonical(current.Values.Where(e => !then.ContainsKey(e.Key))),
            LdapLdif.Canonical(then.Values.Where(e => !current.ContainsKey(e.Key))),
            changed);
    }

    public DirectoryChanges ToChanges() => new(
        OnlyNow.Select(e => e.Dn).ToList(), OnlyAtPoint.Select(e => e.Dn).ToList(),
        Changed.Select(c => new DirectoryEntryChange(c.AtPoint.Dn, c.Attributes)).ToList());

    private static Dictionary<string, LdifEntry> ByKey(IEnumerable<LdifEntry> entries)
    {
        var byKey = new Dictionary<string, LdifEntry>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            byKey.TryAdd(entry.Key, entry);
        }
        return byKey;
    }

    /// <summary>Names of the attributes (as the point has them, else as now) whose values differ or that only one side has.</summary>
    private static List<string> DifferingAttributes(LdifEntry atPoint, LdifEntry now) =>
        atPoint.Attributes.Keys.Concat(now.Attributes.Keys.Where(name => !atPoint.Attributes.ContainsKey(name)))
            .Where(name => !SameValues(atPoint.Attributes.GetValueOrDefault(name), now.Attributes.GetValueOrDefault(name)))
            .Order(StringComparer.OrdinalIgnoreCase).ToList();

    private static bool SameValues(List<byte[]>? a, List<byte[]>? b) =>
        a is not null && b is not null && a.Count == b.Count && AsSortedText(a).SequenceEqual(AsSortedText(b), StringComparer.Ordinal);

    private static IEnumerable<string> AsSortedText(List<byte[]> values) => values.Select(Convert.ToBase64String).Order(StringComparer.Ordinal);
}
