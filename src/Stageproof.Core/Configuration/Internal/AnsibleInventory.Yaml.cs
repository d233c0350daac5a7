using System.Globalization;
using System.Text.RegularExpressions;
using Stageproof.Core.Validation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>The YAML form as Ansible's yaml inventory plugin reads it, and the group_vars/ and host_vars/ files.</summary>
internal sealed partial class AnsibleInventory
{
    private static readonly string[] GroupSections = ["vars", "children", "hosts"];

    /// <summary>Reads the YAML form; false when the text is not a YAML inventory at all (Ansible then tries INI).</summary>
    private bool ReadYaml(string text)
    {
        var walker = new YamlWalker(_file, _problems);
        var root = walker.ParseDocument(text);
        if (root is null || YamlWalker.IsNull(root) || root is not YamlMappingNode mapping)
        {
            return false;
        }
        if (mapping.Children.Count == 0)
        {
            return false; // Ansible: "Parsed empty YAML file"
        }
        if (mapping.Children.Keys.Any(k => k is YamlScalarNode { Value: "plugin" }))
        {
            walker.Report(mapping, "plugin", "this is the configuration of an Ansible inventory plugin; Stageproof reads INI and YAML inventories (write the plugin's output with ansible-inventory --list -y)");
            return true;
        }
        foreach (var (name, keyNode, value, path) in walker.Entries(mapping, ""))
        {
            ReadYamlGroup(walker, name, walker.At(keyNode, path), value, path);
        }
        return true;
    }

    private InventoryGroup? ReadYamlGroup(YamlWalker walker, string name, Where at, YamlNode node, string path)
    {
        if (!YamlWalker.IsNull(node) && node is not YamlMappingNode)
        {
            _warnings.Add(at, $"skipping '{Names.Excerpt(name)}': not a valid group definition (a mapping of vars, children and hosts), as Ansible skips it");
            return null;
        }
        CheckGroupName(name, at);
        var group = Group(name, at);
        if (node is not YamlMappingNode mapping)
        {
            return group;
        }
        foreach (var (key, keyNode, value, keyPath) in walker.Entries(mapping, path))
        {
            if (!GroupSections.Contains(key))
            {
                var suggestion = YamlWalker.Suggest(key, GroupSections);
                _warnings.Add(walker.At(keyNode, keyPath), $"skipping unexpected key '{Names.Excerpt(key)}' in group '{name}' as Ansible does; only vars, children and hosts are read"
                    + (suggestion is null ? "" : $" (did you mean '{suggestion}'?)"));
                continue;
            }
            // A bare name is allowed for one child or host ("hosts: web1"); a list is not, as in Ansible.
            var entries = value switch
            {
                YamlScalarNode { Value: { Length: > 0 } single } when !YamlWalker.IsNull(value) =>
                    [(single, (YamlNode)value, (YamlNode)new YamlScalarNode(), $"{keyPath}.{single}")],
                YamlMappingNode m => walker.Entries(m, keyPath).Select(e => (e.Name, e.KeyNode, e.Value, e.Path)).ToList(),
                _ when YamlWalker.IsNull(value) => [],
                _ => null as List<(string, YamlNode, YamlNode, string)>,
            };
            if (entries is null)
            {
                walker.Report(value, keyPath, $"invalid '{key}' entry for group '{name}': expected a mapping, got {YamlWalker.Describe(value)} (Ansible refuses it too)");
                continue;
            }
            foreach (var (entry, entryKey, entryValue, entryPath) in entries)
            {
                var entryAt = walker.At(entryKey, entryPath);
                switch (key)
                {
                    case "vars":
                        SetGroupVar(group, entry, ToValue(walker, entryValue, entryPath), walker.At(entryValue.Start.Line > 0 ? entryValue : entryKey, entryPath));
                        break;
                    case "children":
                        if (ReadYamlGroup(walker, entry, entryAt, entryValue, entryPath) is { } child)
                        {
                            AddChild(group, child, entryAt);
                        }
                        break;
                    default:
                        ReadYamlHost(walker, group, entry, entryAt, entryValue, entryPath);
                        break;
                }
            }
        }
        return group;
    }

    private void ReadYamlHost(YamlWalker walker, InventoryGroup group, string pattern, Where at, YamlNode node, string path)
    {
        var (hostPattern, port) = AnsibleHostPattern.SplitPort(pattern);
        var (names, error) = AnsibleHostPattern.Expand(hostPattern);
        if (error is not null)
        {
            _problems.Add(at, $"host pattern {Names.Show(pattern)}: {error}");
            return;
        }
        if (!YamlWalker.IsNull(node) && node is not YamlMappingNode)
        {
            walker.Report(node, path, $"expected the host's variables as a mapping, got {YamlWalker.Describe(node)}");
            return;
        }
        foreach (var name in names)
        {
            var host = AddHost(name, at.WithKey(name), group, port);
            if (host is null || node is not YamlMappingNode vars)
            {
                continue;
            }
            foreach (var (key, _, value, keyPath) in walker.Entries(vars, path))
            {
                host.Vars[key] = new InventoryVar(ToValue(walker, value, keyPath), walker.At(value, keyPath));
            }
        }
    }

    /// <summary>A YAML node as the value Ansible's loader (PyYAML, YAML 1.1) gives it.</summary>
    private static object? ToValue(YamlWalker walker, YamlNode node, string path) => node switch
    {
        YamlMappingNode mapping => walker.Entries(mapping, path).ToDictionary(e => e.Name, e => ToValue(walker, e.Value, e.Path), StringComparer.Ordinal),
        YamlSequenceNode sequence => sequence.Children.Select((c, i) => ToValue(walker, c, $"{path}[{i}]")).ToList(),
        YamlScalarNode { Tag.IsEmpty: false } s when s.Tag.Value == "!vault" => new VaultedValue(),
        YamlScalarNode { Tag.IsEmpty: false } s when s.Tag.Value == "tag:yaml.org,2002:str" => s.Value ?? "",
        YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } s => PlainScalar(s.Value ?? ""),
        YamlScalarNode s => s.Value ?? "",
        _ => null,
    };

    /// <summary>YAML 1.1's implicit types, as PyYAML resolves them: null, bool (yes/no/on/off too), int (0x, 0o-less
    /// octal 0755, 0b, underscores), float.</summary>
    internal static object? PlainScalar(string value)
    {
        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "yes" or "Yes" or "YES" or "true" or "True" or "TRUE" or "on" or "On" or "ON":
                return true;
            case "no" or "No" or "NO" or "false" or "False" or "FALSE" or "off" or "Off" or "OFF":
                return false;
        }
        if (YamlIntRegex().IsMatch(value))
        {
            var text = value.Replace("_", "", StringComparison.Ordinal);
            var negative = text.StartsWith('-');
            text = text.TrimStart('+', '-');
            try
            {
                long number = text.StartsWith("0b", StringComparison.Ordinal) ? Convert.ToInt64(text[2..], 2)
                    : text.StartsWith("0x", StringComparison.Ordinal) ? Convert.ToInt64(text[2..], 16)
                    : text.Length > 1 && text[0] == '0' ? Convert.ToInt64(text, 8)
                    : long.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
                return negative ? -number : number;
            }
            catch (Exception e) when (e is OverflowException or FormatException or ArgumentException)
            {
                return value;
            }
        }
        if (YamlFloatRegex().IsMatch(value))
        {
            return double.Parse(value.Replace("_", "", StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        if (YamlSpecialFloatRegex().IsMatch(value))
        {
            return value.Contains("nan", StringComparison.OrdinalIgnoreCase) ? double.NaN
                : value.StartsWith('-') ? double.NegativeInfinity : double.PositiveInfinity;
        }
        if (YamlSexagesimalRegex().IsMatch(value))
        {
            // YAML 1.1's base 60: 1:30 is 90, -1:30:00 is -5400, 1:30.5 is 90.5.
            var negative = value.StartsWith('-');
            var parts = value.TrimStart('+', '-').Replace("_", "", StringComparison.Ordinal).Split(':');
            var isFloat = parts[^1].Contains('.', StringComparison.Ordinal);
            var total = 0.0;
            foreach (var part in parts)
            {
                total = total * 60 + double.Parse(part, NumberStyles.Float, CultureInfo.InvariantCulture);
            }
            total = negative ? -total : total;
            return isFloat ? total : (long)total;
        }
        if (YamlDateRegex().Match(value) is { Success: true } date)
        {
            // PyYAML makes a date (or datetime); Ansible prints it in ISO form.
            var text = $"{date.Groups["y"].Value}-{date.Groups["m"].Value.PadLeft(2, '0')}-{date.Groups["d"].Value.PadLeft(2, '0')}";
            if (date.Groups["h"].Success)
            {
                text += $"T{date.Groups["h"].Value.PadLeft(2, '0')}:{date.Groups["min"].Value}:{date.Groups["s"].Value}";
                if (date.Groups["f"].Success && date.Groups["f"].Value.TrimEnd('0').Length > 0)
                {
                    text += "." + date.Groups["f"].Value.PadRight(6, '0')[..6];
                }
                if (date.Groups["tz"].Success)
                {
                    var tz = date.Groups["tz"].Value.Trim();
                    text += tz == "Z" ? "+00:00"
                        : $"{tz[0]}{date.Groups["tzh"].Value.PadLeft(2, '0')}:{(date.Groups["tzm"].Success ? date.Groups["tzm"].Value : "00")}";
                }
            }
            return text;
        }
        return value;
    }

    // ---- group_vars/ and host_vars/ ---------------------------------------------------------------------

    private static readonly string[] VarsExtensions = ["", ".yml", ".yaml", ".json"];

    /// <summary>Ansible's host_group_vars plugin: for each group and host, group_vars/NAME or host_vars/NAME next to
    /// the inventory — a file NAME, NAME.yml, NAME.yaml or NAME.json (the first found), or a folder NAME whose files
    /// are read in name order, subfolders included.</summary>
    private void LoadVarsFiles(string directory)
    {
        foreach (var (sub, entities) in new (string, IEnumerable<(string Name, Dictionary<string, InventoryVar> Into)>)[]
                 {
                     ("group_vars", _groups.Values.Select(g => (g.Name, g.FileVars))),
                     ("host_vars", _hosts.Values.Select(h => (h.Name, h.FileVars))),
                 })
        {
            var folder = Path.Combine(directory, sub);
            if (!Directory.Exists(folder))
            {
                if (System.IO.File.Exists(folder))
                {
                    _warnings.Add(new Where(folder, 0, 0, "(file)"), $"{sub} is not a folder; skipped, as Ansible skips it");
                }
                continue;
            }
            foreach (var (name, into) in entities)
            {
                List<string> files;
                try
                {
                    files = VarsFilesFor(folder, name);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _problems.Add(new Where(Path.Combine(folder, name), 0, 0, "(file)"), $"cannot list the variables of '{name}': {e.Message}");
                    continue;
                }
                foreach (var file in files)
                {
                    ReadVarsFile(file, into);
                }
            }
        }
    }

    private static List<string> VarsFilesFor(string folder, string name)
    {
        foreach (var extension in VarsExtensions)
        {
            var path = Path.Combine(folder, name + extension);
            if (Directory.Exists(path))
            {
                return FolderVarsFiles(path, 0);
            }
            if (System.IO.File.Exists(path))
            {
                return [path];
            }
        }
        return [];
    }

    private static List<string> FolderVarsFiles(string folder, int depth)
    {
        var found = new List<string>();
        if (depth > 16)
        {
            return found;
        }
        var entries = Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal);
        foreach (var entry in entries.Where(e => !e.StartsWith('.') && !e.EndsWith('~')))
        {
            var path = Path.Combine(folder, entry);
            var extension = Path.GetExtension(entry);
            if (Directory.Exists(path))
            {
                if (extension.Length == 0)
                {
                    found.AddRange(FolderVarsFiles(path, depth + 1));
                }
            }
            else if (VarsExtensions.Contains(extension))
            {
                found.Add(path);
            }
        }
        return found;
    }

    private void ReadVarsFile(string path, Dictionary<string, InventoryVar> into)
    {
        var (text, problem) = InputFiles.ReadText(path);
        var at = new Where(path, 1, 1, "(file)");
        if (text is null)
        {
            _problems.Add(at, $"cannot read this variables file: {problem}");
            return;
        }
        if (text.TrimStart().StartsWith("$ANSIBLE_VAULT;", StringComparison.Ordinal))
        {
            _problems.Add(at, "this file is encrypted with ansible-vault, and Stageproof does not decrypt vaults: "
                + "keep connection settings in a plain file, or move the secret out of the inventory's folders");
            return;
        }
        var walker = new YamlWalker(path, _problems);
        var root = walker.ParseDocument(text);
        if (root is null || YamlWalker.IsNull(root))
        {
            return; // Ansible ignores an empty file
        }
        if (walker.Mapping(root, "(document)") is not { } mapping)
        {
            return;
        }
        foreach (var (key, _, value, keyPath) in walker.Entries(mapping, ""))
        {
            into[key] = new InventoryVar(ToValue(walker, value, keyPath), walker.At(value, keyPath));
        }
    }

    [GeneratedRegex(@"\A[-+]?(?:0b[0-1_]+|0[0-7_]+|(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)\z")]
    private static partial Regex YamlIntRegex();

    [GeneratedRegex(@"\A[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?\z|\A\.[0-9_]+(?:[eE][-+][0-9]+)?\z")]
    private static partial Regex YamlFloatRegex();

    [GeneratedRegex(@"\A(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\z")]
    private static partial Regex YamlSpecialFloatRegex();

    [GeneratedRegex(@"\A[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\z")]
    private static partial Regex YamlSexagesimalRegex();

    [GeneratedRegex(@"\A(?<y>[0-9]{4})-(?<m>[0-9]{1,2})-(?<d>[0-9]{1,2})(?:(?:[Tt]|[ \t]+)(?<h>[0-9]{1,2}):(?<min>[0-9]{2}):(?<s>[0-9]{2})(?:\.(?<f>[0-9]*))?(?<tz>[ \t]*(?:Z|[-+](?<tzh>[0-9]{1,2})(?::(?<tzm>[0-9]{2}))?))?)?\z")]
    private static partial Regex YamlDateRegex();
}
