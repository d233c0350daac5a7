using System.Globalization;
using System.Text;

namespace Stageproof.Core.ConfigFiles;

/// <summary>
/// nginx's configuration syntax: <c>directive args;</c> and <c>directive args { … }</c> blocks, <c>#</c> comments,
/// quotes and backslashes as nginx reads them. A value's key is its block path — <c>http &gt; server (listen 80) &gt;
/// location /api &gt; proxy_read_timeout</c>, a server known by its <c>server_name</c> — so reordering independent directives or blocks is cosmetic, while every
/// order nginx acts on is kept: a directive given twice accumulates in order, <c>allow</c>/<c>deny</c> and the rewrite
/// module's <c>rewrite</c>/<c>return</c>/<c>set</c>/<c>break</c> are one ordered list each, and the order of sibling
/// <c>server</c> blocks (the first is a port's default) and of regex locations (the first match wins) is a value of
/// its own.
/// </summary>
public static partial class ConfigParser
{
    private sealed record NginxNode(string Name, IReadOnlyList<string> Args, int Line, List<NginxNode>? Children);

    /// <summary>Directives nginx runs in the order written, sharing one list per block.</summary>
    private static readonly Dictionary<string, string> NginxOrdered = new(StringComparer.Ordinal)
    {
        ["allow"] = "allow/deny", ["deny"] = "allow/deny",
        ["rewrite"] = "rewrite/return/set/break", ["return"] = "rewrite/return/set/break",
        ["set"] = "rewrite/return/set/break", ["break"] = "rewrite/return/set/break",
    };

    private static ParseResult Nginx(string content)
    {
        var root = new List<NginxNode>();
        var error = NginxParse(content, root);
        if (error is not null)
        {
            return new ParseResult(null, error);
        }
        var values = new ParsedValues();
        NginxWalk(root, "", values);
        return new ParseResult(values, null);
    }

    /// <summary>Reads the directives into a tree; returns why the text is not nginx's syntax (with the line), or null.</summary>
    private static string? NginxParse(string content, List<NginxNode> root)
    {
        var lines = content.Split('\n');
        var stack = new Stack<List<NginxNode>>();
        var current = root;
        var words = new List<string>();
        var startLine = 0;
        var line = 1;
        var i = 0;
        string NotNginx(int at) =>
            $"line {at.ToString(CultureInfo.InvariantCulture)} ('{Excerpt(lines[Math.Min(at, lines.Length) - 1].Trim())}') is not nginx";
        while (i < content.Length)
        {
            var c = content[i];
            if (c == '\n')
            {
                line++;
                i++;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }
            if (c == '#')
            {
                while (i < content.Length && content[i] != '\n')
                {
                    i++;
                }
                continue;
            }
            if (c is ';' or '{')
            {
                if (words.Count == 0)
                {
                    return NotNginx(line);
                }
                var node = new NginxNode(words[0], words.Skip(1).ToList(), startLine, c == '{' ? [] : null);
                current.Add(node);
                words.Clear();
                if (c == '{')
                {
                    stack.Push(current);
                    current = node.Children!;
                }
                i++;
                continue;
            }
            if (c == '}')
            {
                if (words.Count > 0 || stack.Count == 0)
                {
                    return NotNginx(line);
                }
                current = stack.Pop();
                i++;
                continue;
            }
            if (words.Count == 0)
            {
                startLine = line;
            }
            var word = new StringBuilder();
            if (c is '"' or '\'')
            {
                var quote = c;
                var opened = line;
                i++;
                while (i < content.Length && content[i] != quote)
                {
                    if (content[i] == '\\' && i + 1 < content.Length)
                    {
                        i++;
                        AppendEscaped(word, content[i]);
                    }
                    else
                    {
                        word.Append(content[i]);
                    }
                    line += content[i] == '\n' ? 1 : 0;
                    i++;
                }
                if (i >= content.Length)
                {
                    return NotNginx(opened);
                }
                i++;
            }
            else
            {
                while (i < content.Length && !char.IsWhiteSpace(content[i]) && content[i] is not (';' or '{' or '}' or '"' or '\''))
                {
                    if (content[i] == '$' && i + 1 < content.Length && content[i + 1] == '{')
                    {
                        // ${name}: a variable, its braces are not a block's.
                        var close = content.IndexOf('}', i);
                        if (close < 0)
                        {
                            return NotNginx(line);
                        }
                        word.Append(content, i, close - i + 1);
                        i = close + 1;
                        continue;
                    }
                    if (content[i] == '\\' && i + 1 < content.Length)
                    {
                        // An escaped character never ends the word (\; \{ and \ stay in it).
                        i++;
                        line += content[i] == '\n' ? 1 : 0;
                        AppendEscaped(word, content[i]);
                    }
                    else
                    {
                        word.Append(content[i]);
                    }
                    i++;
                }
            }
            words.Add(word.ToString());
        }
        if (words.Count > 0)
        {
            return NotNginx(startLine);
        }
        return stack.Count > 0 ? $"a block is not closed at the end (line {line.ToString(CultureInfo.InvariantCulture)})" : null;
    }

    /// <summary>What nginx makes of a backslash and the character after it: \" \' \\ lose it, \t \r \n are control
    /// characters, any other keeps it (a regex's <c>\.</c> stays <c>\.</c>).</summary>
    private static void AppendEscaped(StringBuilder word, char next)
    {
        switch (next)
        {
            case '"' or '\'' or '\\':
                word.Append(next);
                break;
            case 't':
                word.Append('\t');
                break;
            case 'r':
                word.Append('\r');
                break;
            case 'n':
                word.Append('\n');
                break;
            default:
                word.Append('\\').Append(next);
                break;
        }
    }

    private static void NginxWalk(List<NginxNode> nodes, string path, ParsedValues values)
    {
        var labels = NginxBlockLabels(nodes);
        var servers = new List<string>();
        var regexLocations = new List<string>();
        foreach (var node in nodes)
        {
            if (node.Children is { } children)
            {
                var label = labels[node];
                if (node.Name == "server")
                {
                    servers.Add(label);
                }
                if (node.Name == "location" && node.Args.Count > 1 && node.Args[0] is "~" or "~*")
                {
                    regexLocations.Add(label);
                }
                var inner = Nested(path, label);
                // An empty block is still a setting (events { } says "defaults"); it disappearing is a change.
                Set(values, inner + " {}", inner + " {}", NoValue);
                NginxWalk(children, inner, values);
                continue;
            }
            var args = string.Join(' ', node.Args);
            if (NginxOrdered.TryGetValue(node.Name, out var list))
            {
                Accumulate(values, Nested(path, list), node.Args.Count == 0 ? node.Name : $"{node.Name} {args}");
            }
            else
            {
                Accumulate(values, Nested(path, node.Name), node.Args.Count == 0 ? NoValue : args);
            }
        }
        if (servers.Count > 1)
        {
            Set(values, Nested(path, "(server order)"), Nested(path, "(server order)"), string.Join(" | ", servers));
        }
        if (regexLocations.Count > 1)
        {
            Set(values, Nested(path, "(regex location order)"), Nested(path, "(regex location order)"), string.Join(" | ", regexLocations));
        }

        static string Nested(string path, string name) => path.Length == 0 ? name : $"{path} > {name}";

        static void Accumulate(ParsedValues values, string key, string value) =>
            values[key] = values.TryGetValue(key, out var earlier) ? earlier with { Value = earlier.Value + " | " + value } : new ParsedValue(key, value);
    }

    /// <summary>
    /// A block's name and arguments (<c>location = /health</c>, <c>upstream app</c>); a <c>server</c> also by its
    /// <c>server_name</c> (its <c>listen</c> without one), so that a changed port is a changed value of that server.
    /// Blocks that still share a label are numbered in order (#2, #3).
    /// </summary>
    private static Dictionary<NginxNode, string> NginxBlockLabels(List<NginxNode> nodes)
    {
        var labels = new Dictionary<NginxNode, string>(ReferenceEqualityComparer.Instance);
        foreach (var node in nodes.Where(n => n.Children is not null))
        {
            var label = node.Args.Count == 0 ? node.Name : $"{node.Name} {string.Join(' ', node.Args)}";
            if (node.Name == "server")
            {
                // Known by its names, as people know it; by what it listens on when it has none.
                var identity = node.Children!.Where(d => d.Children is null && d.Name == "server_name").ToList() is { Count: > 0 } names
                    ? names
                    : node.Children!.Where(d => d.Children is null && d.Name == "listen").ToList();
                label += identity.Count == 0 ? "" : $" ({string.Join("; ", identity.Select(d => $"{d.Name} {string.Join(' ', d.Args)}"))})";
            }
            labels[node] = label;
        }
        foreach (var group in labels.GroupBy(kv => kv.Value, StringComparer.Ordinal).Where(g => g.Count() > 1).ToList())
        {
            var n = 1;
            foreach (var (node, label) in group.Skip(1).ToList())
            {
                labels[node] = $"{label} #{(++n).ToString(CultureInfo.InvariantCulture)}";
            }
        }
        return labels;
    }
}
