using System.Text;
using System.Text.RegularExpressions;

namespace Stageproof.Core.Drift;

/// <summary>
/// Parsed <c>drift.ignore</c> rules, "category:pattern". The category is a <see cref="DriftFamily"/> code
/// (package, file, service, port, setting, schema, migration, os, host, database) or "upgrade" (accepted; pending
/// upgrades are not drift items, so it matches nothing). The pattern is a shell glob matched against the whole
/// key: <c>*</c> and <c>?</c> do not cross '/', <c>**</c> does, <c>[...]</c> is a character class.
/// </summary>
public sealed class IgnoreRules
{
    private static readonly string[] Categories =
        [.. Enum.GetValues<DriftFamily>().Select(f => f.Code()), "upgrade"];

    private readonly Dictionary<DriftFamily, List<Regex>> _byFamily;

    private IgnoreRules(Dictionary<DriftFamily, List<Regex>> byFamily) => _byFamily = byFamily;

    public static IgnoreRules None { get; } = new([]);

    /// <summary>Parses every rule; reports all malformed rules together.</summary>
    /// <exception cref="InputException">A rule has no ':', an empty pattern or an unknown category.</exception>
    public static IgnoreRules Parse(IReadOnlyList<string> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var byFamily = new Dictionary<DriftFamily, List<Regex>>();
        var problems = new List<string>();
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            var colon = rule.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || colon == rule.Length - 1)
            {
                problems.Add($"drift.ignore[{i}] '{rule}': expected 'category:pattern', e.g. 'package:linux-image-*'");
                continue;
            }
            var category = rule[..colon].Trim();
            var pattern = rule[(colon + 1)..].Trim();
            if (category == "upgrade") continue;
            if (!TryFamily(category, out var family))
            {
                problems.Add($"drift.ignore[{i}] '{rule}': unknown category '{category}' (known: {string.Join(", ", Categories)})");
                continue;
            }
            if (!byFamily.TryGetValue(family, out var list)) byFamily[family] = list = [];
            list.Add(Glob.ToRegex(pattern));
        }
        if (problems.Count > 0) throw new InputException(string.Join(Environment.NewLine, problems));
        return new IgnoreRules(byFamily);
    }

    /// <summary>True when a rule of <paramref name="family"/> matches the key (or, for keys with a prefix such as
    /// "service:ssh", the bare name).</summary>
    public bool IsIgnored(DriftFamily family, string key, string? name = null)
    {
        if (!_byFamily.TryGetValue(family, out var patterns)) return false;
        foreach (var regex in patterns)
        {
            if (regex.IsMatch(key) || (name is not null && regex.IsMatch(name))) return true;
        }
        return false;
    }

    private static bool TryFamily(string code, out DriftFamily family)
    {
        foreach (var f in Enum.GetValues<DriftFamily>())
        {
            if (f.Code() == code)
            {
                family = f;
                return true;
            }
        }
        family = default;
        return false;
    }
}

/// <summary>Shell-style globs turned into anchored regular expressions.</summary>
internal static class Glob
{
    public static Regex ToRegex(string pattern)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*' when i + 1 < pattern.Length && pattern[i + 1] == '*':
                    sb.Append(".*");
                    i++;
                    break;
                case '*':
                    sb.Append("[^/]*");
                    break;
                case '?':
                    sb.Append("[^/]");
                    break;
                case '[':
                    var close = ClassEnd(pattern, i);
                    if (close < 0)
                    {
                        sb.Append(@"\[");
                        break;
                    }
                    var body = pattern[(i + 1)..close];
                    var negate = body.Length > 0 && (body[0] == '!' || body[0] == '^');
                    if (negate) body = body[1..];
                    sb.Append('[').Append(negate ? "^" : "").Append(body.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("[", @"\[", StringComparison.Ordinal).Replace("]", @"\]", StringComparison.Ordinal)).Append(']');
                    i = close;
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        sb.Append('$');
        return new Regex(sb.ToString(), RegexOptions.CultureInvariant);
    }

    public static bool IsMatch(string pattern, string text) => ToRegex(pattern).IsMatch(text);

    /// <summary>Index of the ']' closing the class opened at <paramref name="open"/>; a ']' right after '[' or '[!' is literal.</summary>
    private static int ClassEnd(string pattern, int open)
    {
        var j = open + 1;
        if (j < pattern.Length && (pattern[j] == '!' || pattern[j] == '^')) j++;
        if (j < pattern.Length && pattern[j] == ']') j++;
        for (; j < pattern.Length; j++)
        {
            if (pattern[j] == ']') return j;
        }
        return -1;
    }
}
