using Stageproof.Core.Checks;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Checks;

/// <summary>sql, schema and db-integrity checks against a real PostgreSQL 15 started for this class.</summary>
public sealed class DatabaseChecksTests(PostgresFixture pg) : IClassFixture<PostgresFixture>, IDisposable
{
    private readonly Suites _suites = new();

    public void Dispose() => _suites.Dispose();

    private const string Schema = """
        CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL UNIQUE);
        CREATE TABLE messages (id bigint PRIMARY KEY, owner_id bigint NOT NULL, subject text);
        CREATE INDEX messages_owner ON messages (owner_id);
        INSERT INTO users VALUES (1, 'user01'), (2, 'user02');
        INSERT INTO messages VALUES (1, 1, 'hello'), (2, 2, 'hi');
        CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version text, description text, checksum int, success boolean NOT NULL);
        INSERT INTO flyway_schema_history VALUES (1, '1', 'init', 11, true), (2, '2', 'messages', 22, true);
        """;

    private async Task<string> FreshAsync(string name, string sql = Schema)
    {
        pg.EnsureAvailable();
        await pg.FreshDatabaseAsync(name, sql);
        return name;
    }

    private Task<CheckSuiteResult> RunAsync(string suite, string db, string? prodDb = null)
    {
        var databases = $"{{ mail: \"{pg.ConnectionStringFor(db)}\" }}";
        var prod = prodDb is null ? "" : $"  prod:\n    hosts: [app-1]\n    databases: {{ mail: \"{pg.ConnectionStringFor(prodDb)}\" }}\n";
        return Suites.RunAsync(_suites.Config(suite, databases: databases, extraEnvironments: prod));
    }

    [SkippableTheory]
    [InlineData("BEGIN READ WRITE; CREATE TABLE pwned (x int); COMMIT")]
    [InlineData("COMMIT; CREATE TABLE pwned (x int)")]
    [InlineData("ROLLBACK; SET default_transaction_read_only = off; CREATE TABLE pwned (x int)")]
    [InlineData("SELECT 1; CREATE TABLE pwned (x int)")]
    [InlineData("CREATE TABLE pwned (x int)")]
    [InlineData("SELECT set_config('transaction_read_only', 'off', true), (SELECT count(*) FROM users)")]
    [InlineData("SET TRANSACTION READ WRITE")]
    public async Task A_sql_check_cannot_escape_its_read_only_single_statement(string attack)
    {
        var db = await FreshAsync("sqlescape");
        var result = await RunAsync($"- {{ name: attack, type: sql, database: mail, query: \"{attack}\", expect_rows: 0 }}\n" +
                                    "- { name: after, type: sql, database: mail, query: \"SELECT to_regclass('pwned') IS NULL\", expect: \"True\" }", db);

        var attackResult = result.Results.Single(r => r.Name == "attack");
        Assert.True(attackResult.Status == CheckStatus.Failed, attackResult.Message);
        Assert.Matches("(42601|25006|25001|0A000)", attackResult.Message);
        // Nothing was created.
        Assert.True(result.Results.Single(r => r.Name == "after").Status == CheckStatus.Passed, result.Results.Single(r => r.Name == "after").Message);
    }

    [SkippableFact]
    public async Task A_sql_check_compares_the_first_value_and_row_count_and_can_never_write()
    {
        var db = await FreshAsync("sqlcheck");
        var result = await RunAsync("""
            - { name: users, type: sql, database: mail, query: "SELECT count(*) FROM users", expect: "2" }
            - { name: wrong, type: sql, database: mail, query: "SELECT count(*) FROM users", expect: "50" }
            - { name: rows, type: sql, database: mail, query: "SELECT id FROM messages", expect_rows: 3 }
            - { name: write, type: sql, database: mail, query: "DELETE FROM users RETURNING id", expect_rows: 0 }
            """, db);

        var byName = result.Results.ToDictionary(r => r.Name);
        Assert.True(byName["users"].Status == CheckStatus.Passed, byName["users"].Message);
        Assert.Equal($"test/mail", byName["users"].Target);
        Assert.Equal("query: got \"2\", expected \"50\"", byName["wrong"].Message);
        Assert.Equal("query: 2 rows, expected 3", byName["rows"].Message);
        Assert.Contains("25006", byName["write"].Message, StringComparison.Ordinal); // read-only transaction
        var remaining = await RunAsync("- { name: users, type: sql, database: mail, query: \"SELECT count(*) FROM users\", expect: \"2\" }", db);
        Assert.Equal(CheckStatus.Passed, remaining.Results[0].Status);
    }

    [SkippableFact]
    public async Task A_continuity_query_records_its_first_row_and_a_cut_column_or_a_changed_checksum_is_a_loss_while_growth_is_not()
    {
        var db = await FreshAsync("continuity");
        const string suite = """
            - { name: content, type: sql, database: mail, continuity: true,
                query: "SELECT count(*) AS messages, sum(length(subject)) AS subject_bytes, md5(string_agg(subject, ',' ORDER BY id)) AS digest FROM messages WHERE id <= 2" }
            - { name: loose, type: sql, database: mail, continuity: { max_loss: 0.5 }, query: "SELECT sum(length(subject)) AS subject_bytes FROM messages" }
            """;
        var config = _suites.Config(suite, databases: $"{{ mail: \"{pg.ConnectionStringFor(db)}\" }}");
        var checks = config.SuiteOf("test").Checks.OfType<SqlCheck>().ToDictionary(c => c.Name);
        var atPoint = (await RunAsync(suite, db)).Results.ToDictionary(r => r.Name);
        Assert.Equal(new Dictionary<string, string?> { ["messages"] = "2", ["subject_bytes"] = "7", ["digest"] = atPoint["content"].Values!["digest"] },
            atPoint["content"].Values);

        // The service keeps writing: a new row is growth, not a loss, and the rows the digest covers are unchanged.
        await pg.ExecuteAsync("INSERT INTO messages VALUES (3, 1, 'a third message')", db);
        var grown = (await RunAsync(suite, db)).Results.ToDictionary(r => r.Name);
        Assert.Empty(Core.Stage.DataContinuity.ValueLosses(checks["content"], atPoint["content"], grown["content"], []));

        // A change that keeps every row but cuts the subjects.
        await pg.ExecuteAsync("UPDATE messages SET subject = left(subject, 2)", db);
        var cut = (await RunAsync(suite, db)).Results.ToDictionary(r => r.Name);
        var losses = Core.Stage.DataContinuity.ValueLosses(checks["content"], atPoint["content"], cut["content"], []);
        Assert.Equal(["digest", "subject_bytes"], losses.Select(l => l.Column));
        Assert.Equal("content (mail) subject_bytes: 7 at the rollback point, 4 now: fell 42.86% (at most 0%)", losses[1].ToString());
        Assert.StartsWith("content (mail) digest: \"", losses[0].ToString(), StringComparison.Ordinal);
        // Within its own rule (half may go: 7 bytes then, 6 now), and declared by the set: listed, not a reason.
        Assert.Empty(Core.Stage.DataContinuity.ValueLosses(checks["loose"], atPoint["loose"], cut["loose"], []));
        Assert.All(Core.Stage.DataContinuity.ValueLosses(checks["content"], atPoint["content"], cut["content"], ["cont*"]), l => Assert.True(l.Declared));

        // The table gone: the query fails now, and that is a loss naming the failure.
        await pg.ExecuteAsync("DROP TABLE messages", db);
        var gone = (await RunAsync(suite, db)).Results.ToDictionary(r => r.Name);
        var failed = Assert.Single(Core.Stage.DataContinuity.ValueLosses(checks["content"], atPoint["content"], gone["content"], []));
        Assert.Contains("42P01", failed.ToString(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_schema_check_compares_the_fingerprint_with_another_environment_and_names_the_difference()
    {
        var prod = await FreshAsync("schemaprod");
        var staging = await FreshAsync("schemastage");
        const string suite = "- { name: schema, type: schema, database: mail, same_as: prod }";

        var same = Assert.Single((await RunAsync(suite, staging, prod)).Results);
        Assert.True(same.Status == CheckStatus.Passed, same.Message);
        Assert.Contains("same as prod", same.Message, StringComparison.Ordinal);
        Assert.Contains("2 migrations, last 2", same.Message, StringComparison.Ordinal);

        await pg.ExecuteAsync("DROP INDEX messages_owner", staging);
        var differs = Assert.Single((await RunAsync(suite, staging, prod)).Results);
        Assert.Equal(CheckStatus.Failed, differs.Status);
        Assert.Contains("differs from prod's", differs.Message, StringComparison.Ordinal);
        Assert.Contains("missing or different here: index public.messages_owner", differs.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_failed_or_missing_migration_fails_the_schema_check()
    {
        var db = await FreshAsync("migrations");
        await pg.ExecuteAsync("INSERT INTO flyway_schema_history VALUES (3, '3', 'drop fts index', 33, false), (4, '5', 'later', 55, true)", db);

        var r = Assert.Single((await RunAsync("- { name: schema, type: schema, database: mail }", db)).Results);

        Assert.Equal(CheckStatus.Failed, r.Status);
        Assert.Contains("migration 3 (drop fts index) is recorded as failed", r.Message, StringComparison.Ordinal);
        Assert.Contains("migration history has a gap: 2 is followed by 5", r.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task An_expected_digest_that_does_not_match_fails()
    {
        var db = await FreshAsync("digest");
        var r = Assert.Single((await RunAsync($"- {{ name: schema, type: schema, database: mail, expect_digest: {new string('0', 64)} }}", db)).Results);
        Assert.Equal(CheckStatus.Failed, r.Status);
        Assert.Contains("differs from the expected 000000000000", r.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Db_integrity_runs_pg_amcheck_and_fails_on_a_violated_invariant()
    {
        Requires.Executable("/usr/lib/postgresql/15/bin/pg_amcheck");
        var db = await FreshAsync("integrity");
        const string suite = """
            - name: integrity
              type: db-integrity
              database: mail
              install_missing: true
              timeout: 60s
              invariants:
                orphan-messages: SELECT m.id FROM messages m LEFT JOIN users u ON u.id = m.owner_id WHERE u.id IS NULL
            """;

        var clean = Assert.Single((await RunAsync(suite, db)).Results);
        Assert.True(clean.Status == CheckStatus.Passed, clean.Message);
        Assert.Contains("pg_amcheck found no corruption in tables and btree indexes; 1 invariant(s) hold", clean.Message, StringComparison.Ordinal);

        await pg.ExecuteAsync("INSERT INTO messages VALUES (3, 99, 'orphan')", db);
        var broken = Assert.Single((await RunAsync(suite, db)).Results);
        Assert.Equal(CheckStatus.Failed, broken.Status);
        Assert.Equal("invariant orphan-messages: 1 violating row(s), first: id=3", broken.Message);
        Assert.Equal(0, broken.Measurements["amcheck_exit"]);
    }

    [SkippableFact]
    public async Task A_replica_that_is_not_in_recovery_is_named()
    {
        var db = await FreshAsync("primaryonly");
        var databases = $"{{ mail: \"{pg.ConnectionStringFor(db)}\", mail-replica: \"{pg.ConnectionStringFor(db)}\" }}";
        var config = _suites.Config("- { name: integrity, type: db-integrity, database: mail, amcheck: false, replica: mail-replica, max_replication_lag: 5s }",
            databases: databases);

        var r = Assert.Single((await Suites.RunAsync(config)).Results);

        Assert.Equal(CheckStatus.Failed, r.Status);
        Assert.Equal("replica mail-replica is not a replica (pg_is_in_recovery() is false)", r.Message);
    }
}
