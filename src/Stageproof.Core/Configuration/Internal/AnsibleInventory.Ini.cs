using System.Text.RegularExpressions;
using Stageproof.Core.Validation;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>The INI form, line for line as Ansible's ini inventory plugin reads it.</summary>
internal sealed partial class AnsibleInventory
{
    private sealed record Pending(int Line, string State, Where At, List<string> Parents);

    private void ReadIni(string text)
    {
        var group = _groups["ungrouped"];
        var state = "hosts";
        // Groups named before they are declared: children may be declared later; [x:vars] needs x declared somewhere.
        var pending = new Dictionary<string, Pending>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (var n = 0; n < lines.Length; n++)
        {
            var line = lines[n];
            var trimmed = line.Trim();
            var lineNo = n + 1;
            if (trimmed.Length == 0 || trimmed[0] is '#' or ';')
            {
                continue;
            }
            var indent = line.Length - line.TrimStart().Length + 1;
            var section = SectionRegex().Match(trimmed);
            if (section.Success)
            {
                var name = section.Groups[1].Value;
                state = section.Groups[2].Success ? section.Groups[2].Value : "hosts";
                var at = new Where(_file, lineNo, indent + 1, name);
                if (state is not ("hosts" or "children" or "vars"))
                {
                    _problems.Add(at.WithKey($"{name}:{state}"), $"unknown section kind ':{state}' (expected [group], [group:children] or [group:vars])");
                    state = "skip";
                    continue;
                }
                CheckGroupName(name, at);
                if (!_groups.ContainsKey(name) && state == "vars" && !pending.ContainsKey(name))
                {
                    pending[name] = new Pending(lineNo, "vars", at, []);
                }
                group = Group(name, at);
                if (state != "vars" && pending.TryGetValue(name, out var waiting))
                {
                    if (waiting.State == "children")
                    {
                        AddPendingChildren(name, pending);
                    }
                    else
                    {
                        pending.Remove(name);
                    }
                }
                continue;
            }
            if (trimmed[0] == '[' && trimmed[^1] == ']')
            {
                _problems.Add(new Where(_file, lineNo, indent, "(section)"),
                    $"invalid section entry {Names.Show(Names.Excerpt(trimmed))}: no spaces or other characters are allowed in a section name");
                state = "skip";
                continue;
            }
            switch (state)
            {
                case "hosts":
                    ReadIniHostLine(line, lineNo, group);
                    break;
                case "vars":
                    {
                        var at = new Where(_file, lineNo, indent, $"{group.Name}:vars");
                        var equals = trimmed.IndexOf('=', StringComparison.Ordinal);
                        if (equals < 0)
                        {
                            _problems.Add(at, $"expected 'key=value', got {Names.Show(Names.Excerpt(trimmed))}");
                            break;
                        }
                        var key = trimmed[..equals].Trim();
                        SetGroupVar(group, key, AnsibleIniSyntax.ParseValue(trimmed[(equals + 1)..].Trim()), at.WithKey($"{group.Name}:vars.{key}"));
                        break;
                    }
                case "children":
                    {
                        var at = new Where(_file, lineNo, indent, $"{group.Name}:children");
                        var m = GroupNameLineRegex().Match(trimmed);
                        if (!m.Success)
                        {
                            _problems.Add(at, $"expected a group name, got {Names.Show(Names.Excerpt(trimmed))}");
                            break;
                        }
                        var child = m.Groups[1].Value;
                        CheckGroupName(child, at);
                        if (_groups.TryGetValue(child, out var existing))
                        {
                            AddChild(group, existing, at);
                        }
                        else if (pending.TryGetValue(child, out var waiting))
                        {
                            waiting.Parents.Add(group.Name);
                        }
                        else
                        {
                            pending[child] = new Pending(lineNo, "children", at, [group.Name]);
                        }
                        break;
                    }
                default:
                    break;
            }
        }
        foreach (var (name, decl) in pending)
        {
            _problems.Add(decl.At, decl.State == "vars"
                ? $"section [{name}:vars] is for a group that is declared nowhere (Ansible refuses it too)"
                : $"[{decl.Parents[^1]}:children] names group '{name}', which is declared nowhere (Ansible refuses it too)");
        }
    }

    private void AddPendingChildren(string name, Dictionary<string, Pending> pending)
    {
        var decl = pending[name];
        pending.Remove(name);
        foreach (var parent in decl.Parents)
        {
            AddChild(Group(parent, decl.At), _groups[name], decl.At.WithKey($"{parent}:children"));
        }
    }

    private void ReadIniHostLine(string line, int lineNo, InventoryGroup group)
    {
        var (words, error) = AnsibleIniSyntax.Split(line);
        var first = line.Length - line.TrimStart().Length + 1;
        if (error is not null)
        {
            _problems.Add(new Where(_file, lineNo, first, group.Name), $"cannot read this host line: {error} (Ansible refuses it too)");
            return;
        }
        if (words.Count == 0)
        {
            return;
        }
        var pattern = words[0];
        var patternAt = new Where(_file, lineNo, pattern.Column, pattern.Text);
        var (hostPattern, port) = AnsibleHostPattern.SplitPort(pattern.Text);
        if (pattern.Text.Trim().EndsWith(':') && port is null)
        {
            _problems.Add(patternAt, $"host pattern {Names.Show(pattern.Text)} ends in ':', which is reserved for a port");
            return;
        }
        var (names, rangeError) = AnsibleHostPattern.Expand(hostPattern);
        if (rangeError is not null)
        {
            _problems.Add(patternAt, $"host pattern {Names.Show(pattern.Text)}: {rangeError}");
            return;
        }
        if (names.Any(h => h.Trim() == "---"))
        {
            _problems.Add(patternAt, "'---' is not a host name: is this a YAML inventory?");
            return;
        }
        var vars = new List<(string Key, object? Value, int Column)>();
        foreach (var word in words.Skip(1))
        {
            var equals = word.Text.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                _problems.Add(new Where(_file, lineNo, word.Column, pattern.Text), $"expected 'key=value' after the host name, got {Names.Show(Names.Excerpt(word.Text))}");
                return;
            }
            vars.Add((word.Text[..equals], AnsibleIniSyntax.ParseValue(word.Text[(equals + 1)..]), word.Column));
        }
        foreach (var name in names)
        {
            var host = AddHost(name, patternAt.WithKey(name), group, port);
            if (host is null)
            {
                continue;
            }
            foreach (var (key, value, column) in vars)
            {
                host.Vars[key] = new InventoryVar(value, new Where(_file, lineNo, column, $"{name}.{key}"));
            }
        }
    }

    [GeneratedRegex(@"\A\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?\z")]
    private static partial Regex SectionRegex();

    [GeneratedRegex(@"\A([^:\]\s]+)\s*(?:#.*)?\z")]
    private static partial Regex GroupNameLineRegex();
}
