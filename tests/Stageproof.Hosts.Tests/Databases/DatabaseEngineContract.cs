using Stageproof.Core;
using Stageproof.Core.Checks;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Databases;
using Stageproof.Hosts.Tests.Checks;

namespace Stageproof.Hosts.Tests.Databases;

/// <summary>
/// What every database engine must do, held against a real server through the engine seam (<see cref="DatabaseAdapters"/>,
/// <see cref="EngineDatabasePatcher"/>, the check runner): each engine's test class gives its server and its dialect's few
/// differences. The SQL here is the dialect both engines share.
/// </summary>
public abstract class DatabaseEngineContract : IDisposable
{
    private const string Digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private readonly Suites _suites = new();
    private readonly DatabaseAdapters _adapters = new();
    private readonly EngineDatabasePatcher _patcher = new();

    public void Dispose()
    {
        _suites.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Skips (fails under CI) when the engine's server is missing.</summary>
    protected abstract void EnsureAvailable();

    /// <summary>An empty database <paramref name="name"/> (dropped first if it exists); its one-string endpoint.</summary>
    protected abstract Task<string> FreshAsync(string name);

    /// <summary>Runs SQL (several statements allowed) in database <paramref name="name"/>.</summary>
    protected abstract Task ExecAsync(string name, string sql);

    protected abstract Task<long> CountAsync(string name, string table);

    private const string Items = """
        CREATE TABLE items (id int PRIMARY KEY, name varchar(50) NOT NULL);
        INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three');
        """;

    private static PatchMigrationScript Script(string file, string sql) => new() { File = file, Sql = sql, Sha256 = PatchSetFreezer.Sha256(sql) };

    private static readonly PatchMigrationScript V1 = Script("V1__mailboxes.sql", """
        CREATE TABLE mailboxes (id int PRIMARY KEY, owner varchar(50) NOT NULL);
        INSERT INTO mailboxes VALUES (1, 'alice'), (2, 'bob');
        """);

    private static readonly PatchMigrationScript V2 = Script("V2__quota.sql", "ALTER TABLE mailboxes ADD COLUMN quota_mb integer NOT NULL DEFAULT 100;");

    [SkippableFact]
    public async Task Facts_fingerprint_changes_when_a_column_or_an_index_is_added()
    {
        EnsureAvailable();
        var endpoint = await FreshAsync("contract_facts");
        await ExecAsync("contract_facts", Items);

        var before = (await _adapters.CollectFactsAsync("test", "mail", endpoint, CancellationToken.None)).Database!;
        await ExecAsync("contract_facts", "ALTER TABLE items ADD COLUMN note varchar(20)");
        var withColumn = (await _adapters.CollectFactsAsync("test", "mail", endpoint, CancellationToken.None)).Database!;
        await ExecAsync("contract_facts", "CREATE INDEX items_name ON items (name)");
        var withIndex = (await _adapters.CollectFactsAsync("test", "mail", endpoint, CancellationToken.None)).Database!;

        Assert.False(string.IsNullOrEmpty(before.ServerVersion));
        Assert.Contains(before.Schema.Objects, o => o.Kind == "table" && o.Name.EndsWith("items", StringComparison.Ordinal));
        Assert.DoesNotContain(before.Schema.Objects, o => o.Kind == "column" && o.Name.EndsWith("items.note", StringComparison.Ordinal));
        Assert.Contains(withColumn.Schema.Objects, o => o.Kind == "column" && o.Name.EndsWith("items.note", StringComparison.Ordinal));
        Assert.Contains(withIndex.Schema.Objects, o => o.Kind == "index" && o.Name.EndsWith("items_name", StringComparison.Ordinal));
        Assert.Equal(3, new[] { before.Schema.Digest, withColumn.Schema.Digest, withIndex.Schema.Digest }.Distinct().Count());
    }

    [SkippableFact]
    public async Task Migrations_apply_once_with_their_history_and_a_changed_checksum_is_refused()
    {
        EnsureAvailable();
        var endpoint = await FreshAsync("contract_migrate");
        var migration = new PatchMigration("contract_migrate", [V1, V2]);

        var plan = await _patcher.PlanAsync(endpoint, migration, CancellationToken.None);
        Assert.Equal(["V1__mailboxes.sql", "V2__quota.sql"], plan.Pending);
        Assert.Equal(["V1__mailboxes.sql", "V2__quota.sql"], await _patcher.MigrateAsync(endpoint, migration, Digest, "tester", CancellationToken.None));
        Assert.Empty(await _patcher.MigrateAsync(endpoint, migration, Digest, "tester", CancellationToken.None));
        Assert.Equal(2, await CountAsync("contract_migrate", "mailboxes"));

        // The facts read the history by the same rules on every engine.
        var facts = (await _adapters.CollectFactsAsync("test", "mail", endpoint, CancellationToken.None)).Database!;
        Assert.Equal(["V1__mailboxes.sql", "V2__quota.sql"], facts.Schema.Migrations.Select(m => m.Description));
        Assert.All(facts.Schema.Migrations, m => Assert.True(m.Success));

        var edited = new PatchMigration("contract_migrate", [V1, Script("V2__quota.sql", "ALTER TABLE mailboxes ADD COLUMN quota_mb integer NOT NULL DEFAULT 200;")]);
        var refused = await Assert.ThrowsAsync<InputException>(() => _patcher.PlanAsync(endpoint, edited, CancellationToken.None));
        Assert.Contains("V2__quota.sql was applied with checksum", refused.Message, StringComparison.Ordinal);
        Assert.Contains("an applied migration must never change", refused.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InputException>(() => _patcher.MigrateAsync(endpoint, edited, Digest, "tester", CancellationToken.None));
    }

    [SkippableFact]
    public async Task A_dump_restores_rows_and_schema_and_the_rows_changed_report_names_the_table()
    {
        EnsureAvailable();
        var endpoint = await FreshAsync("contract_restore");
        await ExecAsync("contract_restore", Items);
        var directory = Path.Combine(_suites.Directory, "point");
        var point = await _patcher.CreatePointAsync("mail", endpoint, directory, CancellationToken.None);
        Assert.False(await _patcher.SchemaChangedAsync(point, endpoint, CancellationToken.None));

        await ExecAsync("contract_restore", "INSERT INTO items VALUES (4, 'four'), (5, 'five')");
        var writes = await _patcher.WritesSinceAsync(point, endpoint, CancellationToken.None);
        Assert.Contains(writes, w => w.Contains("items", StringComparison.Ordinal));
        await ExecAsync("contract_restore", "ALTER TABLE items ADD COLUMN note varchar(20); CREATE TABLE later (id int PRIMARY KEY)");
        Assert.True(await _patcher.SchemaChangedAsync(point, endpoint, CancellationToken.None));

        await _patcher.RestoreAsync(point, endpoint, CancellationToken.None);

        Assert.Equal(3, await CountAsync("contract_restore", "items"));
        Assert.False(await _patcher.SchemaChangedAsync(point, endpoint, CancellationToken.None));
        var facts = (await _adapters.CollectFactsAsync("test", "mail", endpoint, CancellationToken.None)).Database!;
        Assert.Equal(point.SchemaDigest, facts.Schema.Digest);
        Assert.DoesNotContain(facts.Schema.Objects, o => o.Name.Contains("later", StringComparison.Ordinal));
        Assert.All(await _patcher.RowsSinceAsync(point, endpoint, CancellationToken.None), r => Assert.Equal(r.AtPoint, r.Now));
    }

    [SkippableTheory]
    [InlineData("CREATE TABLE pwned (x int)")]
    [InlineData("INSERT INTO items VALUES (9, 'nine')")]
    [InlineData("SELECT 1; CREATE TABLE pwned (x int)")]
    [InlineData("COMMIT; CREATE TABLE pwned (x int)")]
    public async Task A_sql_check_refuses_a_write(string attack)
    {
        EnsureAvailable();
        var endpoint = await FreshAsync("contract_sql");
        await ExecAsync("contract_sql", Items);
        var result = await RunAsync(endpoint,
            $"- {{ name: attack, type: sql, database: mail, query: \"{attack}\", expect_rows: 0 }}\n" +
            "- { name: after, type: sql, database: mail, query: \"SELECT count(*) FROM information_schema.tables WHERE table_name = 'pwned'\", expect: \"0\" }\n" +
            "- { name: rows, type: sql, database: mail, query: \"SELECT count(*) FROM items\", expect: \"3\" }");

        var attackResult = result.Results.Single(r => r.Name == "attack");
        Assert.True(attackResult.Status == CheckStatus.Failed, attackResult.Message);
        Assert.All(result.Results.Where(r => r.Name != "attack"), r => Assert.True(r.Status == CheckStatus.Passed, $"{r.Name}: {r.Message}"));
    }

    [SkippableFact]
    public async Task A_continuity_sql_check_records_its_first_row_by_column()
    {
        EnsureAvailable();
        var endpoint = await FreshAsync("contract_values");
        await ExecAsync("contract_values", Items);
        var result = await RunAsync(endpoint,
            "- { name: content, type: sql, database: mail, continuity: true, query: \"SELECT count(*) AS items, sum(length(name)) AS name_bytes, max(name) AS last FROM items\" }");

        var content = Assert.Single(result.Results);
        Assert.True(content.Status == CheckStatus.Passed, content.Message);
        // The numbers a stage compares at the rollback point and after the change, whatever type the engine returns them as.
        Assert.Equal(new Dictionary<string, string?> { ["items"] = "3", ["name_bytes"] = "11", ["last"] = "two" }, content.Values);
    }

    [SkippableFact]
    public async Task Schema_and_db_integrity_checks_pass_on_a_healthy_database()
    {
        EnsureAvailable();
        var endpoint = await FreshAsync("contract_healthy");
        await ExecAsync("contract_healthy", Items + "CREATE INDEX items_name ON items (name);");
        // A minute, not the default 10 s: the subject is the verdict on a healthy database, and pg_amcheck once took
        // longer than 10 s on two cores busy with three test projects (CI with -m:3 and this project at nice 5).
        var result = await RunAsync(endpoint,
            "- { name: schema, type: schema, database: mail, timeout: 60s }\n" +
            "- { name: integrity, type: db-integrity, database: mail, install_missing: true, timeout: 60s, invariants: { named: \"SELECT id FROM items WHERE name = ''\" } }");

        Assert.All(result.Results, r => Assert.True(r.Status == CheckStatus.Passed, $"{r.Name}: {r.Message}"));
    }

    private Task<CheckSuiteResult> RunAsync(string endpoint, string suite) =>
        Suites.RunAsync(_suites.Config(suite, databases: $"{{ mail: \"{endpoint}\" }}"));
}
