using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Stageproof.Core.Validation;

/// <summary>
/// Validators for every name, address, version and path that may end up in a command line. Each
/// <c>IsValidX</c> has an <c>XError</c> companion that returns null when the value is valid, otherwise
/// a message that quotes the offending value (control characters escaped so that the message stays on one line).
/// </summary>
public static partial class Names
{
    private const int MaxPathLength = 4096;

    public static bool IsValidHostName(string? value) => HostNameError(value) is null;

    /// <summary>Host names: a letter or digit, then up to 62 letters, digits, '.', '_' or '-'.</summary>
    public static string? HostNameError(string? value) =>
        value is not null && HostNameRegex().IsMatch(value) ? null
            : $"host name {Show(value)} is not valid (a letter or digit, then up to 62 letters, digits, '.', '_' or '-')";

    public static bool IsValidAddress(string? value) => AddressError(value) is null;

    /// <summary>Addresses: a dotted IPv4 address, an IPv6 address, or a DNS host name (RFC 1123 labels).</summary>
    public static string? AddressError(string? value)
    {
        var message = $"address {Show(value)} is not valid (expected an IP address or a DNS host name)";
        if (string.IsNullOrEmpty(value) || value.Length > 253)
        {
            return message;
        }
        if (value.Contains(':', StringComparison.Ordinal))
        {
            // IPv6 only; scope ids ("%eth0") are refused because they reach ssh as they are.
            return value.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.')
                && IPAddress.TryParse(value, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6
                ? null : message;
        }
        if (Ipv4Regex().IsMatch(value))
        {
            return value.Split('.').All(part => int.Parse(part, CultureInfo.InvariantCulture) <= 255) ? null : message;
        }
        var name = value.EndsWith('.') ? value[..^1] : value;
        var labels = name.Split('.');
        if (labels.Any(label => !DnsLabelRegex().IsMatch(label)))
        {
            return message;
        }
        // An all-numeric last label is a mistyped IPv4 address ("10.0.0.256"), not a DNS name.
        return labels[^1].All(char.IsAsciiDigit) ? message : null;
    }

    public static bool IsValidUserName(string? value) => UserNameError(value) is null;

    /// <summary>POSIX login names: lower-case letter or '_', then letters, digits, '_' or '-', at most 32 characters.</summary>
    public static string? UserNameError(string? value) =>
        value is not null && UserNameRegex().IsMatch(value) ? null
            : $"user name {Show(value)} is not valid (a lower-case letter or '_', then up to 31 lower-case letters, digits, '_' or '-')";

    public static bool IsValidPackageName(string? value) => PackageNameError(value) is null;

    /// <summary>Debian package names: lower-case letters, digits, '+', '-', '.'; at least two characters, starting alphanumeric.</summary>
    public static string? PackageNameError(string? value) =>
        value is not null && value.Length <= 128 && PackageNameRegex().IsMatch(value) ? null
            : $"package name {Show(value)} is not valid (Debian policy: ^[a-z0-9][a-z0-9+.-]+$)";

    public static bool IsValidPackageVersion(string? value) => PackageVersionError(value) is null;

    /// <summary>
    /// Debian versions: [epoch:]upstream[-revision]. The epoch is digits; the upstream part starts with a digit
    /// and may hold '-' only when a revision follows and ':' only when an epoch precedes.
    /// </summary>
    public static string? PackageVersionError(string? value)
    {
        var message = $"package version {Show(value)} is not valid (Debian syntax: [epoch:]upstream[-revision], upstream starting with a digit)";
        if (string.IsNullOrEmpty(value) || value.Length > 256)
        {
            return message;
        }
        var rest = value;
        var hasEpoch = false;
        var colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            if (colon == 0 || !value[..colon].All(char.IsAsciiDigit))
            {
                return message;
            }
            hasEpoch = true;
            rest = value[(colon + 1)..];
        }
        var upstream = rest;
        var dash = rest.LastIndexOf('-');
        if (dash >= 0)
        {
            var revision = rest[(dash + 1)..];
            if (revision.Length == 0 || !revision.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '+' or '~'))
            {
                return message;
            }
            upstream = rest[..dash];
        }
        if (upstream.Length == 0 || !char.IsAsciiDigit(upstream[0]))
        {
            return message;
        }
        return upstream.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '+' or '~' || (c == '-' && dash >= 0) || (c == ':' && hasEpoch))
            ? null : message;
    }

    public static bool IsSafeAbsolutePath(string? value) => AbsolutePathError(value) is null;

    /// <summary>
    /// Absolute paths (shell globs allowed): start with '/', no '.' or '..' segments, no control characters
    /// (NUL, newline, tab, ...), at most 4096 characters.
    /// </summary>
    public static string? AbsolutePathError(string? value)
    {
        if (string.IsNullOrEmpty(value) || value[0] != '/')
        {
            return $"path {Show(value)} is not absolute";
        }
        if (value.Length > MaxPathLength)
        {
            return $"path {Show(value[..64])}... is longer than {MaxPathLength} characters";
        }
        if (value.Any(char.IsControl))
        {
            return $"path {Show(value)} contains a control character";
        }
        if (value.Split('/').Any(segment => segment is "." or ".."))
        {
            return $"path {Show(value)} contains a '.' or '..' segment";
        }
        return null;
    }

    public static bool IsValidIdentifier(string? value) => IdentifierError(value) is null;

    /// <summary>Names of environments, groups, databases, roles and check suites: a letter or '_', then up to 63 letters, digits, '_' or '-'.</summary>
    public static string? IdentifierError(string? value, string what = "name") =>
        value is not null && IdentifierRegex().IsMatch(value) ? null
            : $"{what} {Show(value)} is not valid (a letter or '_', then up to 63 letters, digits, '_' or '-')";

    /// <summary>The longest value <see cref="Excerpt"/> quotes whole.</summary>
    public const int MaxExcerpt = 24;

    /// <summary>A value from a file of unknown trust, for a message: quoted whole when short, else its first 8
    /// characters and its length, so an error never replays a line of someone else's file.</summary>
    public static string Excerpt(string value) =>
        value.Length <= MaxExcerpt ? value : $"{Show(value[..8])[1..^1]}… ({value.Length} characters)";

    /// <summary>Quotes a value for a message, escaping control characters so that one problem stays on one line.</summary>
    public static string Show(string? value)
    {
        if (value is null)
        {
            return "(none)";
        }
        var sb = new System.Text.StringBuilder(value.Length + 2);
        sb.Append('\'');
        foreach (var c in value)
        {
            switch (c)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\\': sb.Append("\\\\"); break;
                default:
                    if (char.IsControl(c))
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    }
                    else
                    {
                        sb.Append(c);
                    }
                    break;
            }
        }
        sb.Append('\'');
        return sb.ToString();
    }

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,62}\z")]
    private static partial Regex HostNameRegex();

    [GeneratedRegex(@"\A[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\z")]
    private static partial Regex Ipv4Regex();

    [GeneratedRegex(@"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\z")]
    private static partial Regex DnsLabelRegex();

    [GeneratedRegex(@"\A[a-z_][a-z0-9_-]{0,31}\z")]
    private static partial Regex UserNameRegex();

    [GeneratedRegex(@"\A[a-z0-9][a-z0-9+.-]+\z")]
    private static partial Regex PackageNameRegex();

    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_-]{0,63}\z")]
    private static partial Regex IdentifierRegex();
}
