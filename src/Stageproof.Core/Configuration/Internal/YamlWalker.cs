using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using Stageproof.Core.Validation;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>Where a value came from: file, 1-based line and column, and its key path.</summary>
internal readonly record struct Where(string File, int Line, int Column, string Key)
{
    public static Where At(string file, YamlNode node, string key) =>
        new(file, (int)node.Start.Line, (int)node.Start.Column, key);

    public Where WithKey(string key) => this with { Key = key };
}

/// <summary>Collects every problem of a load so they can be reported together.</summary>
internal sealed class ProblemList
{
    private readonly List<InputProblem> _problems = [];
    private readonly ProblemList? _parent;
    private readonly int _max;
    private int _forwarded;
    private int _suppressed;
    private InputProblem? _summary;

    public ProblemList()
    {
    }

    private ProblemList(ProblemList parent, int max) => (_parent, _max) = (parent, max);

    /// <summary>
    /// A list for a file that may not be what it claims (an inventory): its problems go to <paramref name="parent"/>
    /// as excerpts — a key longer than <see cref="Names.MaxExcerpt"/> characters shown as its start and length, in the
    /// key and in the message — and after <paramref name="max"/> of them the rest are only counted, so /etc/shadow
    /// named as an inventory never comes back line by line.
    /// </summary>
    public static ProblemList ExcerptsInto(ProblemList parent, int max) => new(parent, max);

    public IReadOnlyList<InputProblem> All => _problems;

    public int Count => _problems.Count;

    public void Add(Where at, string message)
    {
        var problem = new InputProblem(at.File, at.Line, at.Column, at.Key, message);
        if (_parent is null)
        {
            _problems.Add(problem);
            return;
        }
        if (_forwarded < _max)
        {
            _forwarded++;
            var key = Names.Excerpt(problem.Key);
            _parent._problems.Add(key == problem.Key ? problem : problem with
            {
                Key = key,
                Message = problem.Message.Replace(Names.Show(problem.Key), key, StringComparison.Ordinal).Replace(problem.Key, key, StringComparison.Ordinal),
            });
            return;
        }
        _suppressed++;
        if (_summary is not null)
        {
            _parent._problems.Remove(_summary);
        }
        _summary = new InputProblem(problem.File, 0, 0, "(file)", $"{_suppressed} more problem(s) not shown: is this file what it is meant to be?");
        _parent._problems.Add(_summary);
    }

    public void ThrowIfAny()
    {
        if (_problems.Count > 0)
        {
            // Distinct: a group variable shared by several hosts is one problem, not one per host.
            var ordered = _problems
                .Distinct()
                .Select((p, i) => (p, i))
                .OrderBy(x => x.p.File, StringComparer.Ordinal).ThenBy(x => x.p.Line).ThenBy(x => x.p.Column).ThenBy(x => x.i)
                .Select(x => x.p)
                .ToList();
            throw new InputException(ordered);
        }
    }
}

/// <summary>
/// Typed reads over YamlDotNet's representation model. Every read that fails records a located problem
/// and returns null, so a caller can keep going and report everything at once.
/// </summary>
internal sealed class YamlWalker(string file, ProblemList problems)
{
    public string File { get; } = file;

    public ProblemList Problems { get; } = problems;

    public Where At(YamlNode node, string key) => Where.At(File, node, key);

    public void Report(YamlNode node, string key, string message) => Problems.Add(At(node, key), message);

    /// <summary>Parses YAML text into its single document's root, or records a syntax problem.</summary>
    /// <summary>Deeper than any real configuration or patch set; YamlDotNet's node model recurses per level, and a few
    /// thousand levels would overflow the stack (an uncatchable crash), so deeper documents are refused first.</summary>
    public const int MaxDepth = 64;

    public YamlNode? ParseDocument(string text)
    {
        if (TooDeep(text) is { } deep)
        {
            Problems.Add(new Where(File, (int)deep.Line, (int)deep.Column, "(document)"), $"nested deeper than {MaxDepth} levels");
            return null;
        }
        var stream = new YamlStream();
        var scanner = new Scanner(new StringReader(text));
        try
        {
            stream.Load(new Parser(scanner));
        }
        catch (YamlException ex)
        {
            var message = ex.InnerException is YamlException inner ? inner.Message : ex.Message;
            Problems.Add(new Where(File, (int)ex.Start.Line, (int)ex.Start.Column, "(syntax)"), $"YAML syntax error: {Clean(message)}");
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner fails this way on some malformed flow collections; where it stopped is the best position we have.
            var at = scanner.CurrentPosition;
            Problems.Add(new Where(File, (int)at.Line, (int)at.Column, "(syntax)"), "YAML syntax error: malformed content (an unclosed '{', '[' or quote?)");
            return null;
        }
        if (stream.Documents.Count == 0)
        {
            return null;
        }
        if (stream.Documents.Count > 1)
        {
            Report(stream.Documents[1].RootNode, "(document)", "expected one YAML document, found several ('---' separators)");
        }
        return stream.Documents[0].RootNode;
    }

    /// <summary>Where the document first nests deeper than <see cref="MaxDepth"/>, read as events (the parser keeps its
    /// own stack, so this cannot overflow); null when it does not, or when the text has a syntax error to report later.</summary>
    private static Mark? TooDeep(string text)
    {
        var parser = new Parser(new StringReader(text));
        var depth = 0;
        try
        {
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case MappingStart or SequenceStart:
                        if (++depth > MaxDepth)
                        {
                            return parser.Current.Start;
                        }
                        break;
                    case MappingEnd or SequenceEnd:
                        depth--;
                        break;
                }
            }
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException)
        {
            return null;
        }
        return null;
    }

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" }
        || node is YamlScalarNode { Value: null };

    /// <summary>The node as a mapping; a null value counts as an empty mapping.</summary>
    public YamlMappingNode? Mapping(YamlNode node, string key)
    {
        if (node is YamlMappingNode mapping)
        {
            return mapping;
        }
        if (IsNull(node))
        {
            return new YamlMappingNode();
        }
        // A whole document that is one value is a file that is not YAML at all: named by its size, never quoted.
        Report(node, key, $"expected a mapping (key: value lines), got " +
                          (key == "(document)" && node is YamlScalarNode { Value: { } whole } ? $"a text of {whole.Length} characters" : Describe(node)));
        return null;
    }

    /// <summary>
    /// The entries of a mapping with string keys. When <paramref name="known"/> is given, other keys are
    /// reported as unknown (with a suggestion) and skipped.
    /// </summary>
    public IEnumerable<(string Name, YamlNode KeyNode, YamlNode Value, string Path)> Entries(
        YamlMappingNode mapping, string path, IReadOnlyCollection<string>? known = null)
    {
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { Length: > 0 } name })
            {
                Report(keyNode, path.Length == 0 ? "(key)" : path, $"expected a plain name as key, got {Describe(keyNode)}");
                continue;
            }
            var childPath = path.Length == 0 ? name : $"{path}.{name}";
            if (known is not null && !known.Contains(name))
            {
                // A misspelt key is short; a long one is a line of a file that is no configuration, so only its start is shown.
                var suggestion = Suggest(name, known);
                var shown = Names.Excerpt(name);
                Report(keyNode, path.Length == 0 ? shown : $"{path}.{shown}", $"unknown key '{shown}'"
                    + (suggestion is null ? $" (known keys: {string.Join(", ", known)})" : $" (did you mean '{suggestion}'?)"));
                continue;
            }
            yield return (name, keyNode, value, childPath);
        }
    }

    /// <summary>A scalar as text; null for a YAML null. Mappings and sequences are problems.</summary>
    public string? String(YamlNode node, string key)
    {
        if (IsNull(node))
        {
            return null;
        }
        if (node is YamlScalarNode scalar)
        {
            return scalar.Value;
        }
        Report(node, key, $"expected a single value, got {Describe(node)}");
        return null;
    }

    /// <summary>A scalar that must be present and non-empty.</summary>
    public string? RequiredString(YamlNode node, string key)
    {
        if (IsNull(node))
        {
            Report(node, key, "a value is required");
            return null;
        }
        var value = String(node, key);
        if (value is not null && value.Trim().Length == 0)
        {
            Report(node, key, "a value is required, got an empty string");
            return null;
        }
        return value;
    }

    public int? Int(YamlNode node, string key, int min, int max)
    {
        var text = RequiredString(node, key);
        if (text is null)
        {
            return null;
        }
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }
        Report(node, key, $"expected a whole number from {min} to {max}, got '{text}'");
        return null;
    }

    public double? Number(YamlNode node, string key, double min, double max)
    {
        var text = RequiredString(node, key);
        if (text is null)
        {
            return null;
        }
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value >= min && value <= max)
        {
            return value;
        }
        Report(node, key, $"expected a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, got '{text}'");
        return null;
    }

    /// <summary>A duration in seconds: a plain number, or a number with an ms, s, m, h or d suffix. Greater than 0 unless
    /// <paramref name="allowZero"/>.</summary>
    public TimeSpan? Seconds(YamlNode node, string key, double maxSeconds, bool allowZero = false)
    {
        var text = RequiredString(node, key);
        if (text is null)
        {
            return null;
        }
        if (Durations.TryParse(text, out var duration)
            && (allowZero ? duration >= TimeSpan.Zero : duration > TimeSpan.Zero) && duration.TotalSeconds <= maxSeconds)
        {
            return duration;
        }
        Report(node, key, $"expected a duration in seconds {(allowZero ? "from 0" : "greater than 0")} and at most {MaxDuration(maxSeconds)} (e.g. 30, 30s, 2m, 4h, 7d, 500ms), got '{text}'");
        return null;
    }

    private static string MaxDuration(double seconds)
    {
        var inv = CultureInfo.InvariantCulture;
        var text = seconds.ToString(inv);
        return seconds >= 86400 && seconds % 86400 == 0 ? $"{text} ({(seconds / 86400).ToString(inv)}d)"
            : seconds >= 3600 && seconds % 3600 == 0 ? $"{text} ({(seconds / 3600).ToString(inv)}h)"
            : text;
    }

    /// <summary>
    /// A list of strings with their nodes and key paths. A single scalar is not accepted as a one-item list,
    /// because in YAML "hosts: web" is more often a typo than intent.
    /// </summary>
    public List<(string Value, YamlNode Node, string Path)>? StringList(YamlNode node, string key)
    {
        if (IsNull(node))
        {
            return [];
        }
        if (node is not YamlSequenceNode sequence)
        {
            Report(node, key, $"expected a list ([a, b] or '- a' lines), got {Describe(node)}");
            return null;
        }
        var result = new List<(string, YamlNode, string)>();
        var index = 0;
        foreach (var item in sequence.Children)
        {
            var itemKey = $"{key}[{index++}]";
            var value = RequiredString(item, itemKey);
            if (value is not null)
            {
                result.Add((value, item, itemKey));
            }
        }
        return result;
    }

    /// <summary>Converts a node into plain .NET values: dictionaries, lists, strings and nulls.</summary>
    public static object? ToPlain(YamlNode node) => node switch
    {
        YamlMappingNode mapping => PlainMapping(mapping),
        YamlSequenceNode sequence => sequence.Children.Select(ToPlain).ToList(),
        _ when IsNull(node) => null,
        YamlScalarNode scalar => scalar.Value,
        _ => node.ToString(),
    };

    private static Dictionary<string, object?> PlainMapping(YamlMappingNode mapping)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in mapping.Children)
        {
            result[key is YamlScalarNode s ? s.Value ?? "" : key.ToString()] = ToPlain(value);
        }
        return result;
    }

    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        _ when IsNull(node) => "nothing",
        // A long or multi-line value is likely a whole file that is not YAML: named by its size, never echoed.
        YamlScalarNode { Value: { } v } when v.Length > Names.MaxExcerpt || v.Contains('\n', StringComparison.Ordinal) =>
            $"a text of {v.Length} characters",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "an unsupported node",
    };

    /// <summary>The closest known name within a small edit distance, for "did you mean" hints.</summary>
    public static string? Suggest(string name, IEnumerable<string> known)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            var distance = EditDistance(name.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        var allowed = Math.Max(1, Math.Min(3, name.Length / 3));
        return bestDistance <= allowed ? best : null;
    }

    /// <summary>Optimal string alignment distance (Levenshtein plus adjacent transpositions).</summary>
    internal static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }
        return d[a.Length, b.Length];
    }

    // YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 20) - (...): "; the location is reported separately.
    private static string Clean(string message)
    {
        var marker = message.LastIndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line:", StringComparison.Ordinal) && marker >= 0 ? message[(marker + 3)..] : message;
    }
}
