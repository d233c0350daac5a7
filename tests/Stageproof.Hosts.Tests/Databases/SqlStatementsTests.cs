using Stageproof.Hosts.Databases;

namespace Stageproof.Hosts.Tests.Databases;

public sealed class SqlStatementsTests
{
    [Fact]
    public void Statement_starts_skip_semicolons_inside_quotes_comments_and_dollar_quotes()
    {
        const string sql = "SELECT 'a;b';\n-- c; d\nSELECT \"x;y\" /* e; /* f; */ g; */ FROM t;\n" +
            "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\nSELECT E'it\\'s;';\n;  \n";
        var starts = SqlStatements.Starts(sql);
        Assert.Equal(4, starts.Count);
        Assert.Equal(0, starts[0]);
        Assert.StartsWith("\n-- c; d\nSELECT \"x;y\"", sql[starts[1]..], StringComparison.Ordinal);
        Assert.StartsWith("\nCREATE FUNCTION", sql[starts[2]..], StringComparison.Ordinal);
        Assert.StartsWith("\nSELECT E'it", sql[starts[3]..], StringComparison.Ordinal);
    }

    [Fact]
    public void A_script_without_a_final_semicolon_counts_its_last_statement()
    {
        Assert.Equal([0, 9], SqlStatements.Starts("SELECT 1; SELECT 2"));
        Assert.Empty(SqlStatements.Starts("  -- nothing\n"));
    }
}
