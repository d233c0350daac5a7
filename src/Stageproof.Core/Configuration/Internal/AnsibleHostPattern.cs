using System.Globalization;
using System.Text.RegularExpressions;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>
/// Host names as Ansible's inventory plugins read them (ansible.parsing.utils.addresses.parse_address and
/// expand_hostname_range): an optional <c>:port</c> (IPv6 only inside brackets), then ranges such as
/// <c>web[01:50]</c>, <c>mail[:5]</c>, <c>db-[a:f]</c>, <c>node[1:10:3]</c>, several in one name.
/// </summary>
internal static partial class AnsibleHostPattern
{
    /// <summary>More hosts than this from one pattern is a typo, not an estate.</summary>
    public const int MaxHosts = 10_000;

    private const int MaxRanges = 8;
    private const int MaxPatternLength = 1024;

    /// <summary>Splits off a port as parse_address does. A pattern it does not recognise is kept whole (Ansible does too).</summary>
    public static (string Pattern, int? Port) SplitPort(string pattern)
    {
        if (pattern.Length > MaxPatternLength)
        {
            return (pattern, null); // no host name is this long; it is refused later, without running a regex over it
        }
        int? port = null;
        var address = pattern;
        foreach (var regex in new[] { BracketedHostPort(), HostPort() })
        {
            var m = regex.Match(address);
            if (m.Success && int.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var p))
            {
                (address, port) = (m.Groups[1].Value, p);
            }
        }
        var recognised = Ipv4().IsMatch(address) || Ipv6().IsMatch(address) || HostName().IsMatch(address);
        return recognised ? (address, port) : (pattern, null);
    }

    /// <summary>The names a pattern stands for, or the reason Ansible refuses it.</summary>
    public static (List<string> Names, string? Error) Expand(string pattern)
    {
        // Each range is a level of recursion: a line of a file that is no inventory must not be able to exhaust the stack.
        if (pattern.Count(c => c == '[') > MaxRanges)
        {
            return ([], $"more than {MaxRanges} ranges in one host name");
        }
        var names = new List<string>();
        var error = Expand(pattern, names);
        return (names, error);
    }

    private static string? Expand(string line, List<string> into)
    {
        var open = line.IndexOf('[', StringComparison.Ordinal);
        if (open < 0)
        {
            into.Add(line);
            return null;
        }
        // Python: line.replace('[', '|', 1).replace(']', '|', 1).split('|') must give exactly three parts.
        var replaced = line.Remove(open, 1).Insert(open, "|");
        var close = replaced.IndexOf(']', StringComparison.Ordinal);
        if (close < 0)
        {
            return "a host range needs '[' and ']'";
        }
        replaced = replaced.Remove(close, 1).Insert(close, "|");
        var parts = replaced.Split('|');
        if (parts.Length != 3)
        {
            return "a host name may not contain '|'";
        }
        var (head, range, tail) = (parts[0], parts[1], parts[2]);
        var bounds = range.Split(':');
        if (bounds.Length is not (2 or 3))
        {
            return "host range must be begin:end or begin:end:step";
        }
        var begin = bounds[0].Length == 0 ? "0" : bounds[0];
        var end = bounds[1];
        if (end.Length == 0)
        {
            return "host range must specify end value";
        }
        var step = 1;
        if (bounds.Length == 3 && (!int.TryParse(bounds[2], NumberStyles.None, CultureInfo.InvariantCulture, out step) || step < 1))
        {
            return $"host range step '{bounds[2]}' is not a positive whole number";
        }
        var width = 0;
        if (begin[0] == '0' && begin.Length > 1)
        {
            if (begin.Length != end.Length)
            {
                return "host range must specify equal-length begin and end formats";
            }
            width = begin.Length;
        }
        var sequence = new List<string>();
        const string letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        if (begin.Length == 1 && end.Length == 1 && letters.Contains(begin[0], StringComparison.Ordinal) && letters.Contains(end[0], StringComparison.Ordinal))
        {
            var (from, to) = (letters.IndexOf(begin[0], StringComparison.Ordinal), letters.IndexOf(end[0], StringComparison.Ordinal));
            if (from > to)
            {
                return "host range must have begin <= end";
            }
            for (var i = from; i <= to; i += step)
            {
                sequence.Add(letters[i].ToString());
            }
        }
        else if (long.TryParse(begin, NumberStyles.None, CultureInfo.InvariantCulture, out var a)
                 && long.TryParse(end, NumberStyles.None, CultureInfo.InvariantCulture, out var b))
        {
            if ((b - a) / step >= MaxHosts)
            {
                return $"host range expands to more than {MaxHosts} hosts";
            }
            for (var i = a; i <= b; i += step)
            {
                sequence.Add(i.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0'));
            }
        }
        else
        {
            return $"host range [{range}] is neither numbers nor single letters";
        }
        foreach (var item in sequence)
        {
            if (Expand(head + item + tail, into) is { } error)
            {
                return error;
            }
            if (into.Count > MaxHosts)
            {
                return $"host range expands to more than {MaxHosts} hosts";
            }
        }
        return null;
    }

    private const string NumericRange = @"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
    private const string HexRange = @"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
    private const string AlphaRange = @"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";
    private const string V6 = "(?:[0-9a-f]{1,4}|" + HexRange + ")";
    private const string V4 = "(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|" + NumericRange + ")";
    private const string Label = @"(?:[\w]|" + AlphaRange + @")(?:[\w_-]|" + AlphaRange + @")*(?<![_-])";

    [GeneratedRegex(@"\A\[(.+)\]:([0-9]+)\z")]
    private static partial Regex BracketedHostPort();

    [GeneratedRegex(@"\A((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)\z")]
    private static partial Regex HostPort();

    [GeneratedRegex(@"\A(?:" + V4 + @"\.){3}" + V4 + @"\z", RegexOptions.IgnoreCase)]
    private static partial Regex Ipv4();

    // As in Python, where "^a|b|c$" anchors every alternative at the start (re.match) but only the last at the end.
    [GeneratedRegex(@"\A(?:" +
        "(?:" + V6 + ":){7}" + V6 + "|" +
        "(?:" + V6 + ":){1,6}:|" +
        "(?:" + V6 + ":)(?::" + V6 + "){1,6}|" +
        "(?:" + V6 + ":){2}(?::" + V6 + "){1,5}|" +
        "(?:" + V6 + ":){3}(?::" + V6 + "){1,4}|" +
        "(?:" + V6 + ":){4}(?::" + V6 + "){1,3}|" +
        "(?:" + V6 + ":){5}(?::" + V6 + "){1,2}|" +
        "(?:" + V6 + ":){6}(?::" + V6 + ")|" +
        ":(?::" + V6 + "){1,6}|" +
        V6 + "?::|" +
        "(?:0:){6}(?:" + V6 + @"\.){3}" + V6 + "|" +
        "::(?:ffff:)?(?:" + V6 + @"\.){3}" + V6 + "|" +
        "(?:0:){5}ffff:(?:" + V6 + @"\.){3}" + V6 + @"\z)", RegexOptions.IgnoreCase)]
    private static partial Regex Ipv6();

    [GeneratedRegex(@"\A" + Label + @"(?:\." + Label + @")*\z", RegexOptions.IgnoreCase)]
    private static partial Regex HostName();
}
