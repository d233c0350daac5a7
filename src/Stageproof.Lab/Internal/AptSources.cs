using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>Finds a Debian archive in this machine's own apt sources (one-line .list and deb822 .sources).</summary>
internal static class AptSources
{
    private sealed record Source(string Uri, IReadOnlyList<string> Suites, IReadOnlyList<string> Components, string File);

    public static string FindDebianMirror(string suite, string etcApt = "/etc/apt")
    {
        var sources = Read(etcApt).ToList();
        var pick = sources.FirstOrDefault(s => s.Suites.Contains(suite) && s.Components.Contains("main"))
                   ?? sources.FirstOrDefault(s => s.Components.Contains("main") && !s.Suites.Any(x => x.Contains("security", StringComparison.Ordinal)));
        return pick?.Uri ?? throw new InputException(
            $"{etcApt}: no Debian archive with suite '{suite}' and component 'main' in sources.list or sources.list.d; " +
            "pass a mirror explicitly");
    }

    /// <summary>
    /// The Debian archives of this machine for <paramref name="suite"/> (the suite itself, -updates and -security), as
    /// one deb822 file for a lab host, component main only, checked with Debian's archive keyring.
    /// </summary>
    public static string UpstreamSources(string suite, string etcApt = "/etc/apt")
    {
        var wanted = new[] { suite, suite + "-updates", suite + "-security" };
        var sources = Read(etcApt).Where(s => s.Components.Contains("main") && s.Uri.StartsWith("http", StringComparison.Ordinal))
            .SelectMany(s => s.Suites.Where(wanted.Contains).Select(x => (s.Uri, Suite: x)))
            .DistinctBy(s => s.Suite).ToList();
        if (!sources.Any(s => s.Suite == suite))
        {
            throw new InputException($"{etcApt}: no Debian archive with suite '{suite}' and component 'main' in sources.list or sources.list.d; --upstream needs one");
        }
        return "# Stageproof lab --upstream: this machine's Debian archives, beside the lab repository.\n" + string.Concat(sources.Select(s =>
            $"\nTypes: deb\nURIs: {s.Uri}\nSuites: {s.Suite}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"));
    }

    private static IEnumerable<Source> Read(string etcApt)
    {
        var files = new List<string>();
        if (File.Exists(Path.Combine(etcApt, "sources.list")))
        {
            files.Add(Path.Combine(etcApt, "sources.list"));
        }
        var dir = Path.Combine(etcApt, "sources.list.d");
        if (System.IO.Directory.Exists(dir))
        {
            files.AddRange(System.IO.Directory.EnumerateFiles(dir).Where(f => f.EndsWith(".list", StringComparison.Ordinal) || f.EndsWith(".sources", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        }
        foreach (var f in files)
        {
            var sources = f.EndsWith(".sources", StringComparison.Ordinal) ? ReadDeb822(f) : ReadOneLine(f);
            foreach (var s in sources)
            {
                yield return s;
            }
        }
    }

    private static IEnumerable<Source> ReadOneLine(string file)
    {
        foreach (var raw in File.ReadAllLines(file))
        {
            var line = raw.Split('#')[0].Trim();
            if (!line.StartsWith("deb ", StringComparison.Ordinal))
            {
                continue;
            }
            var rest = line[4..].Trim();
            if (rest.StartsWith('['))
            {
                var end = rest.IndexOf(']', StringComparison.Ordinal);
                rest = end < 0 ? "" : rest[(end + 1)..].Trim();
            }
            var words = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length >= 3)
            {
                yield return new Source(words[0], [words[1]], words[2..], file);
            }
        }
    }

    private static IEnumerable<Source> ReadDeb822(string file)
    {
        var stanza = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? last = null;
        foreach (var raw in File.ReadAllLines(file).Append(""))
        {
            if (raw.StartsWith('#'))
            {
                continue;
            }
            if (raw.Trim().Length == 0)
            {
                if (stanza.Count > 0 && Build(stanza, file) is { } s)
                {
                    foreach (var one in s)
                    {
                        yield return one;
                    }
                }
                stanza.Clear();
                last = null;
                continue;
            }
            if (char.IsWhiteSpace(raw[0]) && last is not null)
            {
                stanza[last] += " " + raw.Trim();
                continue;
            }
            var colon = raw.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                last = raw[..colon].Trim();
                stanza[last] = raw[(colon + 1)..].Trim();
            }
        }
    }

    private static IEnumerable<Source>? Build(Dictionary<string, string> s, string file)
    {
        string[] W(string key) => s.TryGetValue(key, out var v) ? v.Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
        if (!W("Types").Contains("deb") || (s.TryGetValue("Enabled", out var en) && en.Equals("no", StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }
        return W("URIs").Select(u => new Source(u, W("Suites"), W("Components"), file));
    }
}
