using System.Globalization;
using System.Text;
using DiffPlex;
using DiffPlex.Chunkers;
using DiffPlex.Model;

namespace Stageproof.Core.Drift;

/// <summary>
/// Unified diffs of two texts, as <c>diff -u</c> prints them: "--- left" and "+++ right" headers, "@@" hunks with
/// three lines of context, and "\ No newline at end of file" where a side lacks its final newline. DiffPlex finds the
/// changed lines; the hunks are rendered here so that line endings and the final newline are shown faithfully.
/// </summary>
internal static class UnifiedDiff
{
    public const int Context = 3;

    /// <summary>Marks a last line that has no newline, so that it differs from the same line with one.</summary>
    private const char NoNewline = '\0';

    public static string Create(string left, string right, string leftLabel, string rightLabel)
    {
        var result = Differ.Instance.CreateDiffs(left, right, ignoreWhiteSpace: false, ignoreCase: false, ExactLines.Instance);
        var sb = new StringBuilder();
        sb.Append("--- ").Append(leftLabel).Append('\n');
        sb.Append("+++ ").Append(rightLabel).Append('\n');
        foreach (var hunk in Hunks(result.DiffBlocks)) Render(sb, result, hunk);
        return sb.ToString();
    }

    /// <summary>Groups change blocks whose gap is small enough for their contexts to touch.</summary>
    private static IEnumerable<List<DiffBlock>> Hunks(IList<DiffBlock> blocks)
    {
        List<DiffBlock>? current = null;
        foreach (var block in blocks)
        {
            if (current is not null)
            {
                var previous = current[^1];
                if (block.DeleteStartA - (previous.DeleteStartA + previous.DeleteCountA) <= 2 * Context)
                {
                    current.Add(block);
                    continue;
                }
                yield return current;
            }
            current = [block];
        }
        if (current is not null) yield return current;
    }

    private static void Render(StringBuilder sb, DiffResult result, List<DiffBlock> hunk)
    {
        var a = result.PiecesOld;
        var b = result.PiecesNew;
        var first = hunk[0];
        var last = hunk[^1];
        var aStart = Math.Max(0, first.DeleteStartA - Context);
        var bStart = first.InsertStartB - (first.DeleteStartA - aStart);
        var lastEndA = last.DeleteStartA + last.DeleteCountA;
        var aEnd = Math.Min(a.Count, lastEndA + Context);
        var bEnd = last.InsertStartB + last.InsertCountB + (aEnd - lastEndA);

        sb.Append("@@ -").Append(Range(aStart, aEnd - aStart)).Append(" +").Append(Range(bStart, bEnd - bStart)).Append(" @@\n");
        var i = aStart;
        foreach (var block in hunk)
        {
            for (; i < block.DeleteStartA; i++) Line(sb, ' ', a[i]);
            for (var k = 0; k < block.DeleteCountA; k++) Line(sb, '-', a[block.DeleteStartA + k]);
            for (var k = 0; k < block.InsertCountB; k++) Line(sb, '+', b[block.InsertStartB + k]);
            i = block.DeleteStartA + block.DeleteCountA;
        }
        for (; i < aEnd; i++) Line(sb, ' ', a[i]);
    }

    /// <summary>"start,count" with a 1-based start; as in GNU diff, ",1" is omitted and an empty range starts at the line before.</summary>
    private static string Range(int start, int count) => count switch
    {
        0 => $"{start.ToString(CultureInfo.InvariantCulture)},0",
        1 => (start + 1).ToString(CultureInfo.InvariantCulture),
        _ => $"{(start + 1).ToString(CultureInfo.InvariantCulture)},{count.ToString(CultureInfo.InvariantCulture)}",
    };

    private static void Line(StringBuilder sb, char prefix, string line)
    {
        sb.Append(prefix);
        if (line.Length > 0 && line[^1] == NoNewline)
        {
            sb.Append(line, 0, line.Length - 1).Append("\n\\ No newline at end of file\n");
        }
        else
        {
            sb.Append(line).Append('\n');
        }
    }

    /// <summary>Splits on '\n' only (a '\r' stays part of its line); a last line without newline carries the marker.</summary>
    private sealed class ExactLines : IChunker
    {
        public static readonly ExactLines Instance = new();

        public IReadOnlyList<string> Chunk(string text)
        {
            if (text.Length == 0) return [];
            var lines = text.Split('\n');
            if (text[^1] == '\n') return lines[..^1];
            lines[^1] += NoNewline;
            return lines;
        }
    }
}
