namespace Stageproof.Hosts.Databases;

/// <summary>
/// Finds where each statement of a SQL script starts, the way PostgreSQL's lexer sees it (quotes, quoted
/// identifiers, E'' escapes, dollar quoting, line and nested block comments), so that an error position
/// reported within one statement can be given as a line and column of the script. The migrator sends exactly
/// these pieces as one batch, so a wrong split could only ever surface as a syntax error, never as a silently
/// different script.
/// </summary>
internal static class SqlStatements
{
    /// <summary>Start offsets of the non-empty statements (each starts right after the previous ';').</summary>
    public static IReadOnlyList<int> Starts(string sql) => Split(sql).Select(r => r.Start).ToList();

    /// <summary>The non-empty statements as (start, length), the terminating ';' excluded.</summary>
    public static IReadOnlyList<(int Start, int Length)> Split(string sql)
    {
        var starts = new List<(int, int)>();
        var start = 0;
        var hasContent = false;
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (c == '-' && i + 1 < sql.Length && sql[i + 1] == '-')
            {
                var end = sql.IndexOf('\n', i);
                i = end < 0 ? sql.Length : end + 1;
                continue;
            }
            if (c == '/' && i + 1 < sql.Length && sql[i + 1] == '*')
            {
                var depth = 1;
                i += 2;
                while (i < sql.Length && depth > 0)
                {
                    if (sql[i] == '/' && i + 1 < sql.Length && sql[i + 1] == '*')
                    {
                        depth++;
                        i += 2;
                    }
                    else if (sql[i] == '*' && i + 1 < sql.Length && sql[i + 1] == '/')
                    {
                        depth--;
                        i += 2;
                    }
                    else
                    {
                        i++;
                    }
                }
                continue;
            }
            if (c == ';')
            {
                if (hasContent)
                {
                    starts.Add((start, i - start));
                }
                start = i + 1;
                hasContent = false;
                i++;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }
            hasContent = true;
            if (c == '\'' || c == '"')
            {
                var backslashEscapes = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e');
                i++;
                while (i < sql.Length)
                {
                    if (backslashEscapes && sql[i] == '\\')
                    {
                        i += 2;
                        continue;
                    }
                    if (sql[i] == c)
                    {
                        if (i + 1 < sql.Length && sql[i + 1] == c)
                        {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i++;
                }
                i++;
                continue;
            }
            if (c == '$' && (i == 0 || !IsIdentChar(sql[i - 1])))
            {
                var close = sql.IndexOf('$', i + 1);
                if (close > 0 && sql.AsSpan(i + 1, close - i - 1).ToString().All(ch => IsIdentChar(ch) && !char.IsDigit(sql[i + 1])))
                {
                    var tag = sql[i..(close + 1)];
                    var end = sql.IndexOf(tag, close + 1, StringComparison.Ordinal);
                    i = end < 0 ? sql.Length : end + tag.Length;
                    continue;
                }
            }
            i++;
        }
        if (hasContent)
        {
            starts.Add((start, sql.Length - start));
        }
        return starts;
    }

    private static bool IsIdentChar(char c) => char.IsLetterOrDigit(c) || c == '_';
}
