using Stageproof.Core.Drift;

namespace Stageproof.Core.Tests.Drift;

/// <summary>Expected outputs were produced by GNU <c>diff -u</c> on the same texts.</summary>
public class UnifiedDiffTests
{
    private static string Body(string left, string right) =>
        string.Join('\n', UnifiedDiff.Create(left, right, "l", "r").Split('\n').Skip(2));

    [Fact]
    public void Distant_changes_make_separate_hunks_with_three_lines_of_context()
    {
        var a = string.Concat(Enumerable.Range(1, 20).Select(i => $"line {i}\n"));
        var b = a.Replace("line 2\n", "line two\n", StringComparison.Ordinal)
            .Replace("line 15\n", "", StringComparison.Ordinal)
            .Replace("line 20\n", "line 20\nline 21", StringComparison.Ordinal);

        Assert.Equal("""
            @@ -1,5 +1,5 @@
             line 1
            -line 2
            +line two
             line 3
             line 4
             line 5
            @@ -12,9 +12,9 @@
             line 12
             line 13
             line 14
            -line 15
             line 16
             line 17
             line 18
             line 19
             line 20
            +line 21
            \ No newline at end of file

            """, Body(a, b));
    }

    [Fact]
    public void A_missing_final_newline_is_shown()
    {
        Assert.Equal("""
            @@ -1,2 +1,2 @@
             x
            -y
            \ No newline at end of file
            +y

            """, Body("x\ny", "x\ny\n"));
    }

    [Fact]
    public void An_empty_side_has_an_empty_range()
    {
        Assert.Equal("""
            @@ -0,0 +1,2 @@
            +x
            +y
            \ No newline at end of file

            """, Body("", "x\ny"));
    }

    [Fact]
    public void Headers_name_both_sides()
    {
        var lines = UnifiedDiff.Create("a\n", "b\n", "prod-app-1:/etc/x", "stage-app-1:/etc/x").Split('\n');

        Assert.Equal(["--- prod-app-1:/etc/x", "+++ stage-app-1:/etc/x", "@@ -1 +1 @@", "-a", "+b", ""], lines);
    }
}
