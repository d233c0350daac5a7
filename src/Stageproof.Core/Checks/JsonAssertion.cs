using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Stageproof.Core.Checks;

/// <summary>
/// A small JSON-path-ish assertion: <c>$.a.b[0].c OP VALUE</c> where OP is ==, != , &lt;, &lt;=, &gt;, &gt;= or
/// <c>exists</c>, and VALUE a JSON literal ("text", 12, true, null). Paths use .name and [index] only.
/// </summary>
public sealed partial record JsonAssertion(string Text, IReadOnlyList<object> Path, string Operator, JsonElement? Value)
{
    [GeneratedRegex(@"^\s*(\$(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*)\s*(==|!=|<=|>=|<|>|exists)\s*(.*?)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex Syntax();

    [GeneratedRegex(@"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]", RegexOptions.CultureInvariant)]
    private static partial Regex Segment();

    /// <summary>Parses an assertion, or returns the reason it does not parse.</summary>
    public static (JsonAssertion? Assertion, string? Error) Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var m = Syntax().Match(text);
        if (!m.Success)
        {
            return (null, $"'{text}' is not an assertion like '$.status == \"ok\"' (path $.name or $.list[0], operator ==, !=, <, <=, >, >= or exists)");
        }
        var path = new List<object>();
        foreach (Match s in Segment().Matches(m.Groups[1].Value))
        {
            path.Add(s.Groups[1].Success ? s.Groups[1].Value : int.Parse(s.Groups[2].Value, CultureInfo.InvariantCulture));
        }
        var op = m.Groups[2].Value;
        var literal = m.Groups[3].Value;
        if (op == "exists")
        {
            return literal.Length == 0 ? (new JsonAssertion(text, path, op, null), null) : (null, $"'{text}': exists takes no value");
        }
        try
        {
            using var doc = JsonDocument.Parse(literal);
            var value = doc.RootElement.Clone();
            if (op is "<" or "<=" or ">" or ">=" && value.ValueKind != JsonValueKind.Number)
            {
                return (null, $"'{text}': {op} needs a number");
            }
            return (new JsonAssertion(text, path, op, value), null);
        }
        catch (JsonException)
        {
            return (null, $"'{text}': the value {literal} is not a JSON literal (strings need double quotes)");
        }
    }

    /// <summary>Evaluates against a JSON document; the message names what was found.</summary>
    public (bool Holds, string Found) Evaluate(JsonElement root)
    {
        var current = root;
        foreach (var step in Path)
        {
            if (step is string name && current.ValueKind == JsonValueKind.Object && current.TryGetProperty(name, out var child))
            {
                current = child;
            }
            else if (step is int index && current.ValueKind == JsonValueKind.Array && index < current.GetArrayLength())
            {
                current = current[index];
            }
            else
            {
                return (false, "no such path");
            }
        }
        var found = current.GetRawText();
        if (Operator == "exists")
        {
            return (true, found);
        }
        var expected = Value!.Value;
        return Operator switch
        {
            "==" => (JsonEquals(current, expected), found),
            "!=" => (!JsonEquals(current, expected), found),
            _ when current.ValueKind != JsonValueKind.Number => (false, found),
            _ => (Compare(current.GetDouble(), expected.GetDouble()), found),
        };
    }

    private bool Compare(double a, double b) => Operator switch
    {
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        ">=" => a >= b,
        _ => false,
    };

    private static bool JsonEquals(JsonElement a, JsonElement b) =>
        a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number ? a.GetDouble() == b.GetDouble() : JsonElement.DeepEquals(a, b);

    public override string ToString() => Text;
}
