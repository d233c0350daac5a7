using DiffPlex.Renderer;

namespace Stageproof.Core.Drift;

/// <summary>Unified diffs of two texts ("--- left", "+++ right", "@@" hunks with three lines of context).</summary>
internal static class UnifiedDiff
{
    private static readonly UnidiffRenderer Renderer = new(differ: null, contextLines: 3);

    public static string Create(string left, string right, string leftLabel, string rightLabel) =>
        Renderer.Generate(left, right, leftLabel, rightLabel, ignoreWhitespace: false, ignoreCase: false);
}
