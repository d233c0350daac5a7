using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Stageproof.Hosts.Transports;

/// <summary>One public key recorded for a host in a known_hosts file.</summary>
public sealed record KnownHostKey(string KeyType, byte[] Blob, string FileName, int Line, bool Revoked = false)
{
    /// <summary>The fingerprint as <c>ssh-keygen -lf</c> prints it: <c>SHA256:</c> and unpadded base64.</summary>
    public string Fingerprint => KnownHosts.Fingerprint(Blob);

    public bool Matches(ReadOnlySpan<byte> blob) => blob.SequenceEqual(Blob);
}

/// <summary>
/// An OpenSSH known_hosts file: plain names, <c>[host]:port</c>, comma lists, wildcards and negations,
/// hashed <c>|1|salt|hash</c> entries and <c>@revoked</c> markers. A missing file knows no hosts.
/// </summary>
public sealed class KnownHosts
{
    // Appends from many transports (AcceptNew over a fan-out) must not interleave within one file.
    private static readonly ConcurrentDictionary<string, object> AppendLocks = new(StringComparer.Ordinal);

    private readonly List<Entry> _entries;

    private KnownHosts(string path, List<Entry> entries)
    {
        Path = path;
        _entries = entries;
    }

    /// <summary>The file this was read from (and appends go to).</summary>
    public string Path { get; }

    public static KnownHosts Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var entries = new List<Entry>();
        if (!File.Exists(path))
        {
            return new KnownHosts(path, entries);
        }
        var lineNumber = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            if (TryParseLine(raw, path, lineNumber) is { } entry)
            {
                entries.Add(entry);
            }
        }
        return new KnownHosts(path, entries);
    }

    /// <summary>The keys recorded for a host at a port (port 22 is written as the bare name, others as [host]:port).</summary>
    public IReadOnlyList<KnownHostKey> Lookup(string host, int port)
    {
        var name = HostPattern(host, port);
        return _entries.Where(e => e.MatchesHost(name)).Select(e => e.Key).ToList();
    }

    /// <summary>
    /// Records a key for a host at the end of the file (creating the file and its folder if needed) and in this
    /// instance, unless the file already holds it. The blob is the SSH wire form of the public key; its type is read
    /// from the blob.
    /// </summary>
    public KnownHostKey Append(string host, int port, byte[] blob)
    {
        ArgumentNullException.ThrowIfNull(blob);
        var keyType = KeyTypeOf(blob);
        var pattern = HostPattern(host, port);
        var line = $"{pattern} {keyType} {Convert.ToBase64String(blob)}";
        var full = System.IO.Path.GetFullPath(Path);
        lock (AppendLocks.GetOrAdd(full, _ => new object()))
        {
            if (System.IO.Path.GetDirectoryName(full) is { Length: > 0 } dir)
            {
                Directory.CreateDirectory(dir);
            }
            // Another transport may have recorded the same key since this instance was loaded.
            if (!Load(full).Lookup(host, port).Any(k => !k.Revoked && k.Matches(blob)))
            {
                var needsNewline = File.Exists(full) && EndsWithoutNewline(full);
                File.AppendAllText(full, (needsNewline ? "\n" : "") + line + "\n");
            }
        }
        var key = new KnownHostKey(keyType, blob, Path, _entries.Count == 0 ? 1 : _entries.Max(e => e.Key.Line) + 1);
        _entries.Add(new Entry([new HostMatcher(pattern, false, null, null)], key));
        return key;
    }

    /// <summary><c>host</c> for port 22, <c>[host]:port</c> otherwise, as OpenSSH writes and looks up names.</summary>
    public static string HostPattern(string host, int port) => port == 22 ? host : $"[{host}]:{port}";

    /// <summary>SHA256 fingerprint of a key blob, in the form <c>ssh-keygen -lf</c> prints.</summary>
    public static string Fingerprint(ReadOnlySpan<byte> blob) =>
        "SHA256:" + Convert.ToBase64String(SHA256.HashData(blob)).TrimEnd('=');

    /// <summary>The key type named at the start of an SSH public key blob (e.g. ssh-ed25519).</summary>
    public static string KeyTypeOf(ReadOnlySpan<byte> blob)
    {
        if (blob.Length < 4)
        {
            throw new FormatException("public key blob is too short");
        }
        var length = BinaryPrimitives.ReadUInt32BigEndian(blob);
        if (length == 0 || length > blob.Length - 4)
        {
            throw new FormatException("public key blob has an invalid type length");
        }
        return Encoding.ASCII.GetString(blob.Slice(4, (int)length));
    }

    private static bool EndsWithoutNewline(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (stream.Length == 0)
        {
            return false;
        }
        stream.Seek(-1, SeekOrigin.End);
        return stream.ReadByte() != '\n';
    }

    private static Entry? TryParseLine(string raw, string file, int lineNumber)
    {
        var line = raw.Trim();
        if (line.Length == 0 || line[0] == '#')
        {
            return null;
        }
        var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        var revoked = false;
        var index = 0;
        if (fields[0].StartsWith('@'))
        {
            switch (fields[0])
            {
                case "@revoked":
                    revoked = true;
                    break;
                default:
                    // @cert-authority lines vouch for certificates, which Stageproof does not use.
                    return null;
            }
            index = 1;
        }
        if (fields.Length < index + 3)
        {
            return null;
        }
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(fields[index + 2]);
            if (KeyTypeOf(blob) != fields[index + 1])
            {
                return null;
            }
        }
        catch (FormatException)
        {
            return null;
        }
        var matchers = new List<HostMatcher>();
        foreach (var part in fields[index].Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (HostMatcher.Parse(part) is { } matcher)
            {
                matchers.Add(matcher);
            }
        }
        return matchers.Count == 0 ? null : new Entry(matchers, new KnownHostKey(fields[index + 1], blob, file, lineNumber, revoked));
    }

    private sealed record Entry(IReadOnlyList<HostMatcher> Hosts, KnownHostKey Key)
    {
        // OpenSSH semantics: a matching negated pattern excludes the line whatever else matches.
        public bool MatchesHost(string name)
        {
            var matched = false;
            foreach (var h in Hosts)
            {
                if (h.Matches(name))
                {
                    if (h.Negated)
                    {
                        return false;
                    }
                    matched = true;
                }
            }
            return matched;
        }
    }

    private sealed record HostMatcher(string Pattern, bool Negated, byte[]? Salt, byte[]? Hash)
    {
        public static HostMatcher? Parse(string text)
        {
            if (text.StartsWith("|1|", StringComparison.Ordinal))
            {
                var parts = text.Split('|');
                if (parts.Length != 4)
                {
                    return null;
                }
                try
                {
                    return new HostMatcher(text, false, Convert.FromBase64String(parts[2]), Convert.FromBase64String(parts[3]));
                }
                catch (FormatException)
                {
                    return null;
                }
            }
            return text.StartsWith('!') ? new HostMatcher(text[1..], true, null, null) : new HostMatcher(text, false, null, null);
        }

        public bool Matches(string name)
        {
            if (Salt is not null && Hash is not null)
            {
                var computed = HMACSHA1.HashData(Salt, Encoding.UTF8.GetBytes(name));
                return CryptographicOperations.FixedTimeEquals(computed, Hash);
            }
            return Wildcard(Pattern.ToLowerInvariant(), name.ToLowerInvariant());
        }

        private static bool Wildcard(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
        {
            while (true)
            {
                if (pattern.IsEmpty)
                {
                    return text.IsEmpty;
                }
                if (pattern[0] == '*')
                {
                    for (var i = 0; i <= text.Length; i++)
                    {
                        if (Wildcard(pattern[1..], text[i..]))
                        {
                            return true;
                        }
                    }
                    return false;
                }
                if (text.IsEmpty || (pattern[0] != '?' && pattern[0] != text[0]))
                {
                    return false;
                }
                pattern = pattern[1..];
                text = text[1..];
            }
        }
    }
}
