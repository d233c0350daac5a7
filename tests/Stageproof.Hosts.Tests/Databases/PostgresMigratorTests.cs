using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Databases;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Databases;

/// <summary>Migrations against a real PostgreSQL 15 started for this class.</summary>
public sealed class PostgresMigratorTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    private const string Digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private readonly PostgresMigrator _migrator = new();

    internal static PatchMigrationScript Script(string file, string sql) => new() { File = file, Sql = sql, Sha256 = PatchSetFreezer.Sha256(sql) };

    private static async Task<T> ScalarAsync<T>(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        var value = await cmd.ExecuteScalarAsync();
        return (T)(value is DBNull ? null : value)!;
    }

    private static readonly PatchMigrationScript V1 = Script("V1__mailboxes.sql", """
        CREATE TABLE mailboxes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner text NOT NULL);
        INSERT INTO mailboxes (owner) VALUES ('alice'), ('bob');
        """);

    private static readonly PatchMigrationScript V2 = Script("V2__quota.sql", """
        ALTER TABLE mailboxes ADD COLUMN quota_mb integer NOT NULL DEFAULT 100;
        """);

    [SkippableFact]
    public async Task Applies_two_scripts_with_history_then_reapply_is_a_no_op()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("mig_apply");
        var migration = new PatchMigration("mig_apply", [V1, V2]);

        var plan = await _migrator.PlanAsync(cs, migration, CancellationToken.None);
        Assert.Empty(plan.Applied);
        Assert.Equal(["V1__mailboxes.sql", "V2__quota.sql"], plan.Pending.Select(p => p.File));
        Assert.False(await _migrator.IsAppliedAsync(cs, migration, CancellationToken.None));

        var outcome = await _migrator.ApplyAsync(cs, migration, Digest, "tester", CancellationToken.None);
        Assert.False(outcome.NoOp);
        Assert.Equal(["V1__mailboxes.sql", "V2__quota.sql"], outcome.AppliedNow.Select(a => a.Script));
        Assert.Equal([V1.Sha256, V2.Sha256], outcome.AppliedNow.Select(a => a.Checksum));

        await using (var conn = new NpgsqlConnection(cs))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "SELECT script, checksum, applied_by, patch_digest, success FROM stageproof_schema_history ORDER BY installed_rank", conn);
            await using var reader = await cmd.ExecuteReaderAsync();
            var rows = new List<(string, string, string, string, bool)>();
            while (await reader.ReadAsync())
            {
                rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4)));
            }
            Assert.Equal(
                [("V1__mailboxes.sql", V1.Sha256!, "tester", Digest, true), ("V2__quota.sql", V2.Sha256!, "tester", Digest, true)],
                rows);
        }
        Assert.Equal(100, await ScalarAsync<int>(cs, "SELECT quota_mb FROM mailboxes WHERE owner = 'bob'"));

        // The database's manifest shows Stageproof's history like any other migration table.
        var manifest = await new Stageproof.Hosts.Facts.PostgresFactsCollector().CollectAsync("test", "mig_apply", cs, CancellationToken.None);
        Assert.Equal(["V1__mailboxes.sql", "V2__quota.sql"], manifest.Database!.Schema.Migrations.Select(m => m.Description));
        Assert.Equal([V1.Sha256, V2.Sha256], manifest.Database.Schema.Migrations.Select(m => m.Checksum));

        var replan = await _migrator.PlanAsync(cs, migration, CancellationToken.None);
        Assert.True(replan.UpToDate);
        Assert.Equal(2, replan.Applied.Count);
        Assert.True(await _migrator.IsAppliedAsync(cs, migration, CancellationToken.None));

        var again = await _migrator.ApplyAsync(cs, migration, Digest, "tester", CancellationToken.None);
        Assert.True(again.NoOp);
        Assert.Equal(2L, await ScalarAsync<long>(cs, "SELECT count(*) FROM stageproof_schema_history"));
        Assert.Equal(2L, await ScalarAsync<long>(cs, "SELECT count(*) FROM mailboxes"));

        // A later patch set extends the list: only the new script is pending.
        var v3 = Script("V3__index.sql", "CREATE INDEX mailboxes_owner ON mailboxes (owner);");
        var extended = new PatchMigration("mig_apply", [V1, V2, v3]);
        Assert.Equal(["V3__index.sql"], (await _migrator.PlanAsync(cs, extended, CancellationToken.None)).Pending.Select(p => p.File));
    }

    [SkippableFact]
    public async Task A_script_edited_after_it_was_applied_is_refused_naming_the_file_and_both_checksums()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("mig_edited");
        await _migrator.ApplyAsync(cs, new PatchMigration("mig_edited", [V1, V2]), Digest, "tester", CancellationToken.None);

        var edited = Script("V2__quota.sql", "ALTER TABLE mailboxes ADD COLUMN quota_mb integer NOT NULL DEFAULT 200;\n");
        var migration = new PatchMigration("mig_edited", [V1, edited]);

        var e = await Assert.ThrowsAsync<InputException>(() => _migrator.PlanAsync(cs, migration, CancellationToken.None));
        Assert.Contains("V2__quota.sql", e.Message, StringComparison.Ordinal);
        Assert.Contains(V2.Sha256!, e.Message, StringComparison.Ordinal);
        Assert.Contains(edited.Sha256!, e.Message, StringComparison.Ordinal);
        Assert.Contains("must never change", e.Message, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.BadInput, e.ExitCode);

        var applyError = await Assert.ThrowsAsync<InputException>(() => _migrator.ApplyAsync(cs, migration, Digest, "tester", CancellationToken.None));
        Assert.Contains("V2__quota.sql", applyError.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InputException>(() => _migrator.IsAppliedAsync(cs, migration, CancellationToken.None));
        Assert.Equal(100, await ScalarAsync<int>(cs, "SELECT quota_mb FROM mailboxes WHERE owner = 'alice'"));
    }

    [SkippableFact]
    public async Task A_script_failing_halfway_leaves_nothing_of_itself_and_keeps_the_earlier_ones()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("mig_fail");
        var broken = Script("V2__broken.sql", """
            CREATE TABLE aliases (name text PRIMARY KEY);
            INSERT INTO aliases VALUES ('postmaster');
            INSERT INTO no_such_table VALUES (1);
            """);
        var v3 = Script("V3__never.sql", "CREATE TABLE never (id int);");
        var migration = new PatchMigration("mig_fail", [V1, broken, v3]);

        var e = await Assert.ThrowsAsync<MigrationFailedException>(() => _migrator.ApplyAsync(cs, migration, Digest, "tester", CancellationToken.None));
        Assert.Equal("V2__broken.sql", e.Script);
        Assert.Equal("42P01", e.SqlState);
        Assert.Contains("no_such_table", e.Error, StringComparison.Ordinal);
        Assert.Equal(3, e.Line);
        Assert.Equal(13, e.Column);
        Assert.Equal(["V1__mailboxes.sql"], e.AppliedBefore.Select(a => a.Script));
        Assert.Contains("V2__broken.sql", e.Message, StringComparison.Ordinal);
        Assert.Contains("line 3", e.Message, StringComparison.Ordinal);
        Assert.Contains("V1__mailboxes.sql", e.Message, StringComparison.Ordinal);

        Assert.Null(await ScalarAsync<object?>(cs, "SELECT to_regclass('public.aliases')::text"));
        Assert.Null(await ScalarAsync<object?>(cs, "SELECT to_regclass('public.never')::text"));
        Assert.Equal(2L, await ScalarAsync<long>(cs, "SELECT count(*) FROM mailboxes"));
        Assert.Equal(1L, await ScalarAsync<long>(cs, "SELECT count(*) FROM stageproof_schema_history"));

        var plan = await _migrator.PlanAsync(cs, migration, CancellationToken.None);
        Assert.Equal(["V1__mailboxes.sql"], plan.Applied.Select(a => a.Script));
        Assert.Equal(["V2__broken.sql", "V3__never.sql"], plan.Pending.Select(p => p.File));

        // The corrected script (a new patch set) applies from where the run stopped.
        var fixedScript = Script("V2__broken.sql", "CREATE TABLE aliases (name text PRIMARY KEY);\n");
        var outcome = await _migrator.ApplyAsync(cs, new PatchMigration("mig_fail", [V1, fixedScript, v3]), Digest, "tester", CancellationToken.None);
        Assert.Equal(["V2__broken.sql", "V3__never.sql"], outcome.AppliedNow.Select(a => a.Script));
    }

    [SkippableFact]
    public async Task A_failed_history_row_is_refused()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("mig_failedrow");
        await _migrator.ApplyAsync(cs, new PatchMigration("mig_failedrow", [V1]), Digest, "tester", CancellationToken.None);
        await pg.ExecuteAsync(
            "INSERT INTO stageproof_schema_history (script, checksum, applied_by, execution_ms, success) VALUES ('V2__quota.sql', 'x', 'someone', 5, false)",
            "mig_failedrow");

        var e = await Assert.ThrowsAsync<InputException>(() => _migrator.PlanAsync(cs, new PatchMigration("mig_failedrow", [V1, V2]), CancellationToken.None));
        Assert.Contains("V2__quota.sql", e.Message, StringComparison.Ordinal);
        Assert.Contains("recorded as failed", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Unfrozen_or_tampered_scripts_are_refused_before_connecting()
    {
        var migration = new PatchMigration("x", [new PatchMigrationScript { File = "V1.sql" }, V1 with { Sql = "DROP TABLE mailboxes;" }]);
        var e = await Assert.ThrowsAsync<InputException>(() => _migrator.PlanAsync("Host=192.0.2.1;Database=x;Timeout=1", migration, CancellationToken.None));
        Assert.Contains("V1.sql is not frozen", e.Message, StringComparison.Ordinal);
        Assert.Contains("V1__mailboxes.sql: its SQL does not match", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Concurrent_runs_are_serialised_and_apply_each_script_once()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("mig_concurrent");
        var slow = Script("V2__slow.sql", "SELECT pg_sleep(0.5); CREATE TABLE slow (id int);");
        var migration = new PatchMigration("mig_concurrent", [V1, slow]);

        var runs = await Task.WhenAll(Enumerable.Range(0, 4).Select(i =>
            Task.Run(() => _migrator.ApplyAsync(cs, migration, Digest, $"runner{i}", CancellationToken.None))));

        Assert.Single(runs, r => !r.NoOp);
        Assert.Equal(2L, await ScalarAsync<long>(cs, "SELECT count(*) FROM stageproof_schema_history"));
        Assert.Equal(2L, await ScalarAsync<long>(cs, "SELECT count(*) FROM mailboxes"));
    }
    [SkippableFact]
    public async Task A_pending_script_listed_before_an_applied_one_is_refused_as_out_of_order()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("mig_order");
        await _migrator.ApplyAsync(cs, new PatchMigration("mig_order", [V1, V2]), Digest, "tester", CancellationToken.None);

        var inserted = Script("V1_5__aliases.sql", "CREATE TABLE aliases (name text);");
        var e = await Assert.ThrowsAsync<InputException>(() =>
            _migrator.PlanAsync(cs, new PatchMigration("mig_order", [V1, inserted, V2]), CancellationToken.None));
        Assert.Contains("V1_5__aliases.sql is pending but V2__quota.sql", e.Message, StringComparison.Ordinal);
    }
}
