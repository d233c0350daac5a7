using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.ConfigFiles;

/// <summary>A value as its format gives it, and the key as the file spells it.</summary>
public sealed record ParsedValue(string Display, string Value);

/// <summary>A file's effective values: identity key (case-folded where the format ignores case) → value.</summary>
public sealed class ParsedValues : Dictionary<string, ParsedValue>
{
    public ParsedValues() : base(StringComparer.Ordinal)
    {
    }
}

/// <summary>The values of a file, or why it is not of the format (with its line).</summary>
public sealed record ParseResult(ParsedValues? Values, string? Error);

/// <summary>
/// Reads a config file's effective values by its format's own rules. Strict on purpose: a line the format does not
/// know makes the whole file "not this format", so that a guessed format can never hide a change as cosmetic.
/// The rules of each format are listed in the README ("Config files compared by value").
/// </summary>
public static partial class ConfigParser
{
    /// <summary>Shown in place of a value for a key given without one (my.cnf's <c>skip-name-resolve</c>).</summary>
    public const string NoValue = "(no value)";

    public static ParseResult Parse(ConfigFormat format, string content)
    {
        ArgumentNullException.ThrowIfNull(content);
        return format switch
        {
            ConfigFormat.Ini => Ini(content),
            ConfigFormat.Shell => Shell(content),
            ConfigFormat.Sshd => Sshd(content),
            ConfigFormat.Systemd => Systemd(content),
            ConfigFormat.Yaml => Yaml(content),
            ConfigFormat.Json => Json(content),
            ConfigFormat.Nginx => Nginx(content),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "bytes are not parsed"),
        };
    }

    // ---- ini: [section], key = value / key: value, '#' and ';' comment lines, a later duplicate wins ------------------

    private static ParseResult Ini(string content)
    {
        var values = new ParsedValues();
        string? section = null;
        foreach (var (number, raw) in Lines(content))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }
            if (line[0] == '[')
            {
                if (line.Length < 3 || line[^1] != ']')
                {
                    return NotFormat(number, raw, "ini");
                }
                section = line[1..^1].Trim();
                continue;
            }
            if (line.StartsWith("!include", StringComparison.Ordinal))
            {
                // my.cnf's !include and !includedir: the directive itself is the value; the files it names are
                // compared on their own when tracked.
                Set(values, Sectioned(section, line), line, NoValue);
                continue;
            }
            var at = line.AsSpan().IndexOfAny('=', ':');
            if (at > 0)
            {
                var key = line[..at].TrimEnd();
                if (!IniKey().IsMatch(key))
                {
                    return NotFormat(number, raw, "ini");
                }
                var name = Sectioned(section, key);
                Set(values, name, name, line[(at + 1)..].Trim());
                continue;
            }
            if (IniKey().IsMatch(line))
            {
                var name = Sectioned(section, line);
                Set(values, name, name, NoValue);
                continue;
            }
            return NotFormat(number, raw, "ini");
        }
        return new ParseResult(values, null);
    }

    private static string Sectioned(string? section, string key) => section is null ? key : $"[{section}] {key}";

    [GeneratedRegex(@"^[^\s=:\[\]#;]+$")]
    private static partial Regex IniKey();

    // ---- shell: [export] KEY=value, quotes and backslashes as sh reads them, a later assignment wins ---------------

    private static ParseResult Shell(string content)
    {
        var values = new ParsedValues();
        foreach (var (number, raw) in Lines(content))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            if (line.StartsWith("export", StringComparison.Ordinal) && line.Length > 6 && line[6] is ' ' or '\t')
            {
                line = line[7..].TrimStart();
            }
            var m = ShellAssignment().Match(line);
            if (!m.Success || ShellWord(line[m.Length..]) is not { } value)
            {
                return NotFormat(number, raw, "shell");
            }
            Set(values, m.Groups[1].Value, m.Groups[1].Value, value);
        }
        return new ParseResult(values, null);
    }

    [GeneratedRegex(@"^([A-Za-z_][A-Za-z0-9_]*)=")]
    private static partial Regex ShellAssignment();

    /// <summary>The word after '=' with its quotes removed, or null when more follows it than a comment.</summary>
    private static string? ShellWord(string text)
    {
        var sb = new StringBuilder();
        var i = 0;
        while (i < text.Length && text[i] is not (' ' or '\t'))
        {
            var c = text[i];
            if (c == '\'')
            {
                var close = text.IndexOf('\'', i + 1);
                if (close < 0)
                {
                    return null;
                }
                sb.Append(text, i + 1, close - i - 1);
                i = close + 1;
            }
            else if (c == '"')
            {
                i++;
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\' or '$' or '`')
                    {
                        i++;
                    }
                    sb.Append(text[i]);
                    i++;
                }
                if (i >= text.Length)
                {
                    return null;
                }
                i++;
            }
            else if (c == '\\' && i + 1 < text.Length)
            {
                sb.Append(text[i + 1]);
                i += 2;
            }
            else
            {
                sb.Append(c);
                i++;
            }
        }
        var rest = text[i..].Trim();
        return rest.Length == 0 || rest[0] == '#' ? sb.ToString() : null;
    }

    // ---- sshd: Keyword value, keywords case-insensitive, the first value wins, Match/Host blocks are sections ----------

    /// <summary>Keywords every occurrence of which counts (sshd_config(5) and ssh_config(5) say they accumulate).</summary>
    private static readonly HashSet<string> SshAccumulating = new(StringComparer.Ordinal)
    {
        "acceptenv", "allowgroups", "allowusers", "denygroups", "denyusers", "hostkey", "hostcertificate", "include",
        "listenaddress", "port", "setenv", "permitopen", "permitlisten", "sendenv", "identityfile", "certificatefile",
        "localforward", "remoteforward", "dynamicforward",
    };

    private static ParseResult Sshd(string content)
    {
        var values = new ParsedValues();
        string? block = null;
        foreach (var (number, raw) in Lines(content))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var m = SshKeyword().Match(line);
            if (!m.Success || SshArguments(line[m.Length..]) is not { } args)
            {
                return NotFormat(number, raw, "sshd");
            }
            var keyword = m.Groups[1].Value;
            var lower = keyword.ToLowerInvariant();
            var value = string.Join(' ', args);
            if (lower is "match" or "host")
            {
                block = $"{char.ToUpperInvariant(lower[0])}{lower[1..]} {value}";
                continue;
            }
            if (lower == "subsystem" && args.Count > 0)
            {
                // One per subsystem name: "Subsystem sftp ..." and "Subsystem x ..." are different settings.
                lower += " " + args[0];
                keyword += " " + args[0];
                value = string.Join(' ', args.Skip(1));
            }
            if (lower == "include")
            {
                // The first value wins, so what an included file can still set depends on what was set before the
                // Include: that is part of its value (moving it past a setting is a change, moving it past a comment is not).
                var before = values.Where(v => v.Key.StartsWith(block is null ? "" : $"[{block}] ", StringComparison.Ordinal) && !v.Key.EndsWith("include", StringComparison.Ordinal))
                    .Select(v => v.Value.Display).Order(StringComparer.OrdinalIgnoreCase).ToList();
                value += before.Count == 0 ? "" : $" (after {string.Join(", ", before)})";
            }
            var key = Sectioned(block, lower);
            var display = Sectioned(block, keyword);
            if (SshAccumulating.Contains(lower))
            {
                values[key] = values.TryGetValue(key, out var earlier) ? earlier with { Value = earlier.Value + " | " + value } : new ParsedValue(display, value);
            }
            else
            {
                values.TryAdd(key, new ParsedValue(display, value));
            }
        }
        return new ParseResult(values, null);
    }

    [GeneratedRegex(@"^([A-Za-z][A-Za-z0-9]*)(\s*=\s*|\s+|$)")]
    private static partial Regex SshKeyword();

    /// <summary>Whitespace-separated arguments, double quotes grouping; null for an unterminated quote.</summary>
    private static List<string>? SshArguments(string text)
    {
        var args = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] is ' ' or '\t')
            {
                i++;
                continue;
            }
            if (text[i] == '"')
            {
                var close = text.IndexOf('"', i + 1);
                if (close < 0)
                {
                    return null;
                }
                args.Add(text[(i + 1)..close]);
                i = close + 1;
                continue;
            }
            var start = i;
            while (i < text.Length && text[i] is not (' ' or '\t'))
            {
                i++;
            }
            args.Add(text[start..i]);
        }
        return args;
    }

    // ---- systemd: [Section], Key=Value, '\' continues a line, repeated keys accumulate, an empty value resets --------

    private static ParseResult Systemd(string content)
    {
        var lists = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        string? section = null;
        var pending = new StringBuilder();
        var startLine = 0;
        foreach (var (number, raw) in Lines(content))
        {
            var piece = raw.Trim();
            if (pending.Length == 0 && (piece.Length == 0 || piece[0] is '#' or ';'))
            {
                continue;
            }
            if (pending.Length == 0)
            {
                startLine = number;
            }
            if (piece.EndsWith('\\'))
            {
                pending.Append(piece.AsSpan(0, piece.Length - 1).TrimEnd()).Append(' ');
                continue;
            }
            var line = pending.Append(piece).ToString().Trim();
            pending.Clear();
            if (line[0] == '[')
            {
                if (line.Length < 3 || line[^1] != ']')
                {
                    return NotFormat(startLine, raw, "systemd");
                }
                section = line[1..^1];
                continue;
            }
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            var key = eq > 0 ? line[..eq].TrimEnd() : "";
            if (section is null || !SystemdKey().IsMatch(key))
            {
                return NotFormat(startLine, raw, "systemd");
            }
            var name = Sectioned(section, key);
            var value = line[(eq + 1)..].Trim();
            if (!lists.TryGetValue(name, out var list))
            {
                lists[name] = list = [];
            }
            if (value.Length == 0)
            {
                list.Clear();
            }
            else
            {
                list.Add(value);
            }
        }
        if (pending.Length > 0)
        {
            return new ParseResult(null, "its last line ends in a continuation '\\'");
        }
        var values = new ParsedValues();
        foreach (var (name, list) in lists)
        {
            values[name] = new ParsedValue(name, string.Join(" | ", list));
        }
        return new ParseResult(values, null);
    }

    [GeneratedRegex(@"^[A-Za-z0-9_-]+$")]
    private static partial Regex SystemdKey();

    // ---- yaml: mapping keys as paths (a.b, list[0]); key order and quoting of strings are cosmetic ------------------

    private static ParseResult Yaml(string content)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(content));
        }
        catch (YamlException e)
        {
            // Duplicate keys land here too: YAML forbids them and YamlDotNet refuses them.
            return new ParseResult(null, $"line {e.Start.Line.ToString(CultureInfo.InvariantCulture)}: {FirstLine(e.Message)}");
        }
        catch (ArgumentException e)
        {
            return new ParseResult(null, FirstLine(e.Message));
        }
        var values = new ParsedValues();
        var several = stream.Documents.Count > 1;
        for (var d = 0; d < stream.Documents.Count; d++)
        {
            var prefix = several ? $"[document {(d + 1).ToString(CultureInfo.InvariantCulture)}]" : "";
            if (WalkYaml(stream.Documents[d].RootNode, prefix, values) is { } error)
            {
                return new ParseResult(null, error);
            }
        }
        return new ParseResult(values, null);
    }

    private static string? WalkYaml(YamlNode node, string path, ParsedValues values)
    {
        switch (node)
        {
            case YamlMappingNode { Children.Count: 0 }:
                Set(values, Root(path), Root(path), "{}");
                return null;
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    if (key is not YamlScalarNode { Value: { } name })
                    {
                        return $"line {key.Start.Line.ToString(CultureInfo.InvariantCulture)}: a key that is not a plain value";
                    }
                    if (WalkYaml(value, Child(path, name), values) is { } error)
                    {
                        return error;
                    }
                }
                return null;
            case YamlSequenceNode { Children.Count: 0 }:
                Set(values, Root(path), Root(path), "[]");
                return null;
            case YamlSequenceNode sequence:
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    if (WalkYaml(sequence.Children[i], $"{path}[{i.ToString(CultureInfo.InvariantCulture)}]", values) is { } error)
                    {
                        return error;
                    }
                }
                return null;
            case YamlScalarNode scalar:
                Set(values, Root(path), Root(path), YamlScalar(scalar));
                return null;
            default:
                return $"line {node.Start.Line.ToString(CultureInfo.InvariantCulture)}: an alias or node YAML readers resolve differently";
        }
    }

    /// <summary>A plain scalar as written; a quoted one too, unless unquoted it would read as a number, a boolean or
    /// null — then the quotes are what make it a string, and are kept.</summary>
    private static string YamlScalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        var plain = scalar.Style is ScalarStyle.Plain or ScalarStyle.Any;
        if (plain)
        {
            return text.Length == 0 || text is "~" or "null" or "Null" or "NULL" ? "null" : text;
        }
        return YamlTyped().IsMatch(text) || text.Length == 0 ? $"\"{text}\"" : text;
    }

    [GeneratedRegex(@"^(~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|[-+]?(\d[\d_]*)?\.?\d+([eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$")]
    private static partial Regex YamlTyped();

    // ---- json: object keys as paths; key order and whitespace are cosmetic; a later duplicate key wins --------------

    private static ParseResult Json(string content)
    {
        try
        {
            using var document = JsonDocument.Parse(content, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var values = new ParsedValues();
            WalkJson(document.RootElement, "", values);
            return new ParseResult(values, null);
        }
        catch (JsonException e)
        {
            return new ParseResult(null, $"line {((e.LineNumber ?? 0) + 1).ToString(CultureInfo.InvariantCulture)}: not valid JSON");
        }
    }

    private static void WalkJson(JsonElement element, string path, ParsedValues values)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var any = false;
                foreach (var property in element.EnumerateObject())
                {
                    any = true;
                    WalkJson(property.Value, Child(path, property.Name), values);
                }
                if (!any)
                {
                    Set(values, Root(path), Root(path), "{}");
                }
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    WalkJson(item, $"{path}[{i.ToString(CultureInfo.InvariantCulture)}]", values);
                    i++;
                }
                if (i == 0)
                {
                    Set(values, Root(path), Root(path), "[]");
                }
                break;
            case JsonValueKind.String:
                Set(values, Root(path), Root(path), JsonSerializer.Serialize(element.GetString()));
                break;
            default:
                Set(values, Root(path), Root(path), element.GetRawText());
                break;
        }
    }

    // ---- shared -----------------------------------------------------------------------------------------------------

    private static string Child(string path, string name)
    {
        var part = PathSafe().IsMatch(name) ? name : "[" + JsonSerializer.Serialize(name) + "]";
        return path.Length == 0 ? part : part[0] == '[' ? path + part : $"{path}.{part}";
    }

    private static string Root(string path) => path.Length == 0 ? "(document)" : path;

    [GeneratedRegex(@"^[A-Za-z0-9_\-]+$")]
    private static partial Regex PathSafe();

    private static void Set(ParsedValues values, string key, string display, string value) => values[key] = new ParsedValue(display, value);

    private static ParseResult NotFormat(int number, string raw, string format) =>
        new(null, $"line {number.ToString(CultureInfo.InvariantCulture)} ('{Excerpt(raw.Trim())}') is not {format}");

    private static string Excerpt(string text) => text.Length <= 40 ? text : text[..40] + "…";

    private static string FirstLine(string text)
    {
        var end = text.IndexOf('\n', StringComparison.Ordinal);
        return end < 0 ? text : text[..end];
    }

    private static IEnumerable<(int Number, string Line)> Lines(string content)
    {
        var number = 0;
        foreach (var line in content.Split('\n'))
        {
            number++;
            yield return (number, line.TrimEnd('\r'));
        }
    }
}
