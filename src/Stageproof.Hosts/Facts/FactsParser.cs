using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Stageproof.Core.Configuration;
using Stageproof.Core.Manifests;

namespace Stageproof.Hosts.Facts;

/// <summary>
/// Turns the output of <see cref="FactsScript"/> into a <see cref="Manifest"/>. Pure: no I/O, so it can be
/// tested and benchmarked on canned output. Each section also has its own parser.
/// </summary>
public static class FactsParser
{
    /// <summary>Parses the whole script output.</summary>
    /// <exception cref="FormatException">The output does not start with the script's header line.</exception>
    public static Manifest Parse(string output, HostConfig host, DriftRules rules, string? environment = null,
        DateTimeOffset collectedAt = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(rules);

        var sections = Split(output);
        if (!sections.ContainsKey("stageproof-facts"))
        {
            throw new FormatException($"the facts output does not start with '{FactsScript.Header}'");
        }
        string Section(string name) => sections.TryGetValue(name, out var s) ? s : "";

        var os = ParseOsRelease(Section("os-release"));
        os.TryGetValue("ID", out var id);
        os.TryGetValue("VERSION_ID", out var versionId);
        os.TryGetValue("PRETTY_NAME", out var pretty);

        var services = sections.TryGetValue("services systemd", out var sd) ? ParseSystemdUnits(sd)
            : sections.TryGetValue("services sysv", out var sysv) ? ParseSysvStatuses(sysv)
            : [];

        var ports = new List<ListeningPort>();
        ports.AddRange(ParseProcNetTcp(Section("tcp"), ipv6: false));
        ports.AddRange(ParseProcNetTcp(Section("tcp6"), ipv6: true));

        return new Manifest
        {
            Kind = ManifestKind.Host,
            Target = host.Name,
            Environment = environment,
            Role = host.Role,
            CollectedAt = collectedAt,
            Os = new OsInfo(id ?? "", versionId ?? "", pretty ?? "", FirstLine(Section("kernel")), FirstLine(Section("arch"))),
            Packages = ParsePackages(Section("packages")),
            PendingUpgrades = ParseAptSimulation(Section("upgrades")),
            Files = ParseFiles(Section("files"), rules.MaxContentBytes, rules.SecretKeys),
            Services = services,
            Ports = FilterPorts(ports, host.Address),
        };
    }

    /// <summary>Splits the output into sections by their "@@name" lines; file headers stay inside "files".</summary>
    public static Dictionary<string, string> Split(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        string? current = null;
        var start = 0;
        var pos = 0;
        while (pos < output.Length)
        {
            var eol = output.IndexOf('\n', pos);
            var next = eol < 0 ? output.Length : eol + 1;
            if (output.Length - pos > 2 && output[pos] == '@' && output[pos + 1] == '@' &&
                !output.AsSpan(pos).StartsWith("@@file\t", StringComparison.Ordinal))
            {
                if (current is not null)
                {
                    result[current] = output[start..pos];
                }
                var name = output.AsSpan(pos + 2, (eol < 0 ? output.Length : eol) - pos - 2).TrimEnd('\r').ToString();
                current = name.StartsWith("stageproof-facts", StringComparison.Ordinal) ? "stageproof-facts" : name;
                start = next;
            }
            pos = next;
        }
        if (current is not null)
        {
            result[current] = output[start..];
        }
        return result;
    }

    /// <summary>KEY=value lines of os-release, with shell quoting removed.</summary>
    public static Dictionary<string, string> ParseOsRelease(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in Lines(text))
        {
            var line = raw.Trim();
            var eq = line.IndexOf('=');
            if (line.Length == 0 || line[0] == '#' || eq <= 0)
            {
                continue;
            }
            var value = line[(eq + 1)..];
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0])
            {
                var quote = value[0];
                value = value[1..^1];
                if (quote == '"')
                {
                    var sb = new StringBuilder(value.Length);
                    for (var i = 0; i < value.Length; i++)
                    {
                        if (value[i] == '\\' && i + 1 < value.Length && value[i + 1] is '"' or '\\' or '$' or '`')
                        {
                            i++;
                        }
                        sb.Append(value[i]);
                    }
                    value = sb.ToString();
                }
            }
            result[line[..eq]] = value;
        }
        return result;
    }

    /// <summary>dpkg-query lines "name TAB version TAB arch TAB status"; keeps installed packages only
    /// (status flag 'i', or triggers awaited/pending: the package's files are in place).</summary>
    public static List<PackageInfo> ParsePackages(string text)
    {
        var result = new List<PackageInfo>();
        foreach (var line in Lines(text))
        {
            var parts = line.Split('\t');
            if (parts.Length < 4 || parts[0].Length == 0)
            {
                continue;
            }
            var status = parts[3];
            if (status.Length < 2 || status[1] is not ('i' or 'W' or 't'))
            {
                continue;
            }
            result.Add(new PackageInfo(parts[0], parts[1], parts[2]));
        }
        return result;
    }

    /// <summary>"Inst name [current] (candidate origin[, origin...] [arch])" lines of <c>apt-get -s</c>.
    /// Security is set when an origin names a security archive.</summary>
    public static List<PendingUpgrade> ParseAptSimulation(string text)
    {
        var result = new List<PendingUpgrade>();
        foreach (var line in Lines(text))
        {
            if (!line.StartsWith("Inst ", StringComparison.Ordinal))
            {
                continue;
            }
            var rest = line.AsSpan(5).TrimStart();
            var sp = rest.IndexOf(' ');
            if (sp <= 0)
            {
                continue;
            }
            var name = rest[..sp].ToString();
            rest = rest[(sp + 1)..].TrimStart();
            string? current = null;
            if (rest.Length > 0 && rest[0] == '[')
            {
                var close = rest.IndexOf(']');
                if (close < 0)
                {
                    continue;
                }
                current = rest[1..close].ToString();
                rest = rest[(close + 1)..].TrimStart();
            }
            if (rest.Length == 0 || rest[0] != '(')
            {
                continue;
            }
            var end = rest.IndexOf(')');
            var inner = (end < 0 ? rest[1..] : rest[1..end]).Trim();
            // Drop the trailing " [arch]".
            if (inner.Length > 0 && inner[^1] == ']')
            {
                var open = inner.LastIndexOf('[');
                if (open >= 0)
                {
                    inner = inner[..open].TrimEnd();
                }
            }
            var vsp = inner.IndexOf(' ');
            var candidate = (vsp < 0 ? inner : inner[..vsp]).ToString();
            var origin = vsp < 0 ? "" : inner[(vsp + 1)..].Trim().ToString();
            result.Add(new PendingUpgrade(name, current, candidate, origin,
                origin.Contains("security", StringComparison.OrdinalIgnoreCase)));
        }
        return result;
    }

    /// <summary>The files section: a "@@file" header per file, then its content in base64 when it was sent.
    /// Content is kept when it is at most <paramref name="maxContentBytes"/>, has no NUL and is valid UTF-8;
    /// secrets are masked. A file matched by two patterns appears once.</summary>
    public static List<ConfigFileInfo> ParseFiles(string text, int maxContentBytes, IReadOnlyList<string> secretKeys)
    {
        var result = new List<ConfigFileInfo>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string[]? header = null;
        var b64 = new StringBuilder();

        void Flush()
        {
            if (header is null)
            {
                return;
            }
            // header: "@@file", owner, group, mode, size, sha256, path (path may hold tabs: it is the rest).
            var size = long.TryParse(header[4], NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : -1;
            // stat %a prints "644" or "4755"; keep four octal digits.
            var mode = header[3].All(char.IsAsciiDigit) ? header[3].PadLeft(4, '0') : header[3];
            string? content = null;
            if (b64.Length > 0 || (size == 0 && header[5].Length > 0))
            {
                content = DecodeText(b64, maxContentBytes);
                if (content is not null)
                {
                    content = SecretMasker.Apply(content, secretKeys, header[6]);
                }
            }
            if (seen.Add(header[6]))
            {
                result.Add(new ConfigFileInfo(header[6], header[1], header[2], mode, header[5], size, content));
            }
            header = null;
            b64.Clear();
        }

        foreach (var line in Lines(text))
        {
            if (line.StartsWith("@@file\t", StringComparison.Ordinal))
            {
                Flush();
                var parts = line.Split('\t', 7);
                header = parts.Length == 7 ? parts : null;
            }
            else if (header is not null)
            {
                b64.Append(line.AsSpan().Trim());
            }
        }
        Flush();
        return result;
    }

    private static string? DecodeText(StringBuilder b64, int maxContentBytes)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(b64.ToString());
        }
        catch (FormatException)
        {
            return null;
        }
        if (bytes.Length > maxContentBytes || Array.IndexOf(bytes, (byte)0) >= 0)
        {
            return null;
        }
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>Lines of <c>systemctl list-units --type=service --all --no-legend --plain</c>:
    /// "UNIT LOAD ACTIVE SUB DESCRIPTION". Running means SUB is "running". ".service" is dropped from the name.</summary>
    public static List<ServiceInfo> ParseSystemdUnits(string text)
    {
        var result = new List<ServiceInfo>();
        foreach (var line in Lines(text))
        {
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            var i = parts.Length > 0 && parts[0] is "●" or "*" or "○" ? 1 : 0;
            if (parts.Length < i + 4 || !parts[i].EndsWith(".service", StringComparison.Ordinal))
            {
                continue;
            }
            result.Add(new ServiceInfo(parts[i][..^".service".Length], parts[i + 3] == "running", "systemd"));
        }
        return result;
    }

    /// <summary>"name TAB exit status" lines from running each /etc/init.d script's "status"; 0 is running.</summary>
    public static List<ServiceInfo> ParseSysvStatuses(string text)
    {
        var result = new List<ServiceInfo>();
        foreach (var line in Lines(text))
        {
            var tab = line.LastIndexOf('\t');
            if (tab <= 0)
            {
                continue;
            }
            result.Add(new ServiceInfo(line[..tab], line.AsSpan(tab + 1).Trim().SequenceEqual("0"), "sysv"));
        }
        return result;
    }

    /// <summary>Listening sockets (state 0A) of /proc/net/tcp or tcp6. Addresses are in the kernel's byte
    /// order, taken to be little-endian (every platform Stageproof targets).</summary>
    public static List<ListeningPort> ParseProcNetTcp(string text, bool ipv6)
    {
        var result = new List<ListeningPort>();
        foreach (var line in Lines(text))
        {
            var parts = line.Split((char[]?)null, 5, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 4 || parts[3] != "0A")
            {
                continue;
            }
            var colon = parts[1].IndexOf(':');
            if (colon < 0 || !int.TryParse(parts[1].AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var port))
            {
                continue;
            }
            var address = DecodeAddress(parts[1].AsSpan(0, colon));
            if (address is null)
            {
                continue;
            }
            result.Add(new ListeningPort(ipv6 ? "tcp6" : "tcp", address.ToString(), port));
        }
        return result;
    }

    /// <summary>Decodes a /proc/net/tcp address: 8 hex digits (IPv4) or 32 (IPv6), each 32-bit word little-endian.</summary>
    public static IPAddress? DecodeAddress(ReadOnlySpan<char> hex)
    {
        if (hex.Length is not (8 or 32))
        {
            return null;
        }
        var bytes = new byte[hex.Length / 2];
        for (var w = 0; w < hex.Length / 8; w++)
        {
            if (!uint.TryParse(hex.Slice(w * 8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var word))
            {
                return null;
            }
            bytes[w * 4] = (byte)word;
            bytes[w * 4 + 1] = (byte)(word >> 8);
            bytes[w * 4 + 2] = (byte)(word >> 16);
            bytes[w * 4 + 3] = (byte)(word >> 24);
        }
        return new IPAddress(bytes);
    }

    /// <summary>
    /// Keeps the sockets that belong to the host at <paramref name="hostAddress"/>: bound to that address, to a
    /// wildcard, or — only when the host's address is not loopback — to loopback. Lab hosts share one network
    /// namespace, each on its own 127.x address, so this keeps one host's ports off another's manifest.
    /// Without an address that parses as IP (a local host, a DNS name) every listening socket is kept.
    /// </summary>
    public static List<ListeningPort> FilterPorts(IEnumerable<ListeningPort> ports, string? hostAddress)
    {
        ArgumentNullException.ThrowIfNull(ports);
        if (hostAddress is null || !IPAddress.TryParse(hostAddress, out var own))
        {
            return ports.ToList();
        }
        own = Unmap(own);
        var ownIsLoopback = IPAddress.IsLoopback(own);
        return ports.Where(p =>
        {
            if (!IPAddress.TryParse(p.Address, out var a))
            {
                return false;
            }
            a = Unmap(a);
            return a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any) || a.Equals(own) ||
                   (!ownIsLoopback && IPAddress.IsLoopback(a));
        }).ToList();
    }

    private static IPAddress Unmap(IPAddress a) =>
        a.AddressFamily == AddressFamily.InterNetworkV6 && a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private static string FirstLine(string text)
    {
        foreach (var line in Lines(text))
        {
            var t = line.Trim();
            if (t.Length > 0)
            {
                return t;
            }
        }
        return "";
    }

    private static IEnumerable<string> Lines(string text)
    {
        var pos = 0;
        while (pos < text.Length)
        {
            var eol = text.IndexOf('\n', pos);
            var end = eol < 0 ? text.Length : eol;
            var line = text.Substring(pos, end > pos && text[end - 1] == '\r' ? end - pos - 1 : end - pos);
            yield return line;
            pos = end + 1;
        }
    }
}
