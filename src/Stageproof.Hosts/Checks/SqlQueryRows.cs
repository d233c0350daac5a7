using System.Data.Common;
using System.Globalization;
using Stageproof.Core.Checks;
using Outcome = Stageproof.Hosts.Checks.CheckSuiteRunner.Outcome;

namespace Stageproof.Hosts.Checks;

/// <summary>What a <c>sql</c> check reads of its query's result and how it is judged, the same on every engine.</summary>
internal sealed class SqlQueryRows
{
    /// <summary>The most rows read (and counted) of one query.</summary>
    public const int MaxRowsRead = 100_000;

    public int Rows { get; private set; }

    /// <summary>The first row's first value ("" for NULL), or null without a row.</summary>
    public string? First { get; private set; }

    /// <summary>The whole first row by column name (the position where names repeat): a continuity measure.</summary>
    public Dictionary<string, string?>? Values { get; private set; }

    /// <summary>The first row as "column=value, …" (NULL as null): how a violating row is named.</summary>
    public string FirstRow => Values is null ? "" : string.Join(", ", Values.Select(v => $"{v.Key}={v.Value ?? "null"}"));

    public static async Task<SqlQueryRows> ReadAsync(DbDataReader reader, CancellationToken ct)
    {
        var read = new SqlQueryRows();
        while (read.Rows < MaxRowsRead && await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            if (read.Rows == 0 && reader.FieldCount > 0)
            {
                read.First = Text(reader, 0) ?? "";
                read.Values = new Dictionary<string, string?>(StringComparer.Ordinal);
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    var column = reader.GetName(i) is { Length: > 0 } n && !read.Values.ContainsKey(n) ? n : $"column{i + 1}";
                    read.Values[column] = Text(reader, i);
                }
            }
            read.Rows++;
        }
        return read;
    }

    /// <summary>A value as text; bytes as UTF-8 (a MariaDB prepared statement's text columns may come back as bytes).</summary>
    public static string? Text(DbDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetValue(i) switch
    {
        byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
        var v => Convert.ToString(v, CultureInfo.InvariantCulture),
    };

    /// <summary>The check's verdict on these rows: <c>expect</c> against the first value, <c>expect_rows</c> against the count.</summary>
    public Outcome Judge(SqlCheck check)
    {
        ArgumentNullException.ThrowIfNull(check);
        var problems = new List<string>();
        if (check.Expect is { } expect && First != expect)
        {
            problems.Add(First is null ? $"no row, expected \"{expect}\"" : $"got \"{First}\", expected \"{expect}\"");
        }
        if (check.ExpectRows is { } expectRows && Rows != expectRows)
        {
            problems.Add($"{Rows} rows, expected {expectRows}");
        }
        var m = new Dictionary<string, double> { ["rows"] = Rows };
        if (double.TryParse(First, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            m["value"] = number;
        }
        return (problems.Count == 0
            ? new Outcome(CheckStatus.Passed, $"query returned {Rows} row(s)" + (First is null ? "" : $", first value \"{First}\""), m)
            : new Outcome(CheckStatus.Failed, $"query: {string.Join("; ", problems)}", m)) with { Values = Values };
    }
}
