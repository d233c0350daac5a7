using Npgsql;
using Stageproof.Application.Reports;
using Stageproof.Core.Configuration;
using Stageproof.Core.Patches;
using Stageproof.Core.Stage;
using Stageproof.Testing;
using Stageproof.Testing.Fakes;
using Xunit.Abstractions;

namespace Stageproof.Application.Tests.Staging;

/// <summary>
/// What a release's migration does to a stage, on FAKE hosts (<see cref="FakeEstate"/>) against a real PostgreSQL: the
/// rollback point's real dump and restore, the real down scripts in a transaction, the real row counts and continuity
/// queries. The release is a key of the fake hosts' configuration; on each restart a FAKE release acts on the real
/// database as acme-mail does at start: 1.1 runs its migration V2 (and records it in schema_history), 1.0 refuses a
/// schema newer than itself. Each declared way back of a migration (a set's <c>way_back</c>), and a migration that
/// deletes rows, cuts values or fails at its second statement. That real packages run such migrations, and that the stage finds them in acme-mail's
/// own history and restores the database, the lab proves (LabStageTests, the schema-breaking update of the gauntlet).
/// </summary>
public sealed class StageMigrationFakeTests : IClassFixture<PostgresFixture>, IDisposable
{
    private const string Conf = "# acme-mail\nrelease = 1.0\nsession.lifetime = 60\n";
    private const string Acknowledged = "restore from the rollback point's dump; mail received since the change is lost";

    /// <summary>V2__add_message_folders: a column and an index, harmless to 1.1, refused by 1.0 once recorded.</summary>
    private const string Folders = """
        ALTER TABLE messages ADD COLUMN folder text NOT NULL DEFAULT 'inbox';
        CREATE INDEX messages_owner_folder_idx ON messages (owner_id, folder);
        """;

    /// <summary>The down script that takes V2 back, and nothing else.</summary>
    private const string Down = """
        DROP INDEX messages_owner_folder_idx;
        ALTER TABLE messages DROP COLUMN folder;
        DELETE FROM schema_history WHERE description = 'add message folders';
        """;

    private readonly PostgresFixture _pg;
    private readonly FakeStaging _fake;
    private readonly string _prodDb;
    private readonly string _stagingDb;
    private readonly Lock _release = new();

    /// <summary>1.1's migration V2: its description as schema_history records it, and its SQL.</summary>
    private (string Description, string Sql) _migration = ("add message folders", Folders);

    public StageMigrationFakeTests(PostgresFixture pg, ITestOutputHelper output)
    {
        _pg = pg;
        _fake = new FakeStaging(output, Conf);
        var suffix = Guid.NewGuid().ToString("N")[..8];
        _prodDb = "wb_prod_" + suffix;
        _stagingDb = "wb_staging_" + suffix;
    }

    public void Dispose() => _fake.Dispose();

    /// <summary>prod's and staging's mail databases (the same 20,000 messages and schema V1), and the release on every
    /// staging host, acting on staging's database at each restart.</summary>
    private async Task<StageproofConfig> EstateAsync(string? extraCheck = null)
    {
        _pg.EnsureAvailable();
        foreach (var name in (string[])[_prodDb, _stagingDb])
        {
            await _pg.CreateDatabaseAsync(name);
            await _pg.ExecuteAsync("""
                CREATE TABLE schema_history (version integer PRIMARY KEY, description text NOT NULL, checksum text NOT NULL,
                    installed_on timestamptz NOT NULL, success boolean NOT NULL);
                INSERT INTO schema_history VALUES (1, 'initial schema', 'v1', '2026-01-01T00:00:00Z', true);
                CREATE TABLE messages (id integer PRIMARY KEY, owner_id integer NOT NULL, body text NOT NULL);
                INSERT INTO messages SELECT g, g % 50, 'message ' || g FROM generate_series(1, 20000) g;
                """, name);
        }
        var config = _fake.Config(prodDatabase: _pg.ConnectionStringFor(_prodDb), stagingDatabase: _pg.ConnectionStringFor(_stagingDb), extraCheck: extraCheck);
        foreach (var host in FakeStaging.Staging)
        {
            _fake[host].Commanded = Release;
        }
        return config;
    }

    /// <summary>FAKE release: what acme-mail does with its database when it starts.</summary>
    private void Release(FakeHost host, string command)
    {
        if (!command.Contains("restart", StringComparison.Ordinal))
        {
            return;
        }
        lock (_release) // both staging hosts share the database: one migrates, the other finds it done
        {
            using var db = new NpgsqlConnection(_pg.ConnectionStringFor(_stagingDb));
            db.Open();
            using var newest = new NpgsqlCommand("SELECT max(version) FROM schema_history", db);
            var version = (int)newest.ExecuteScalar()!;
            if (host.Conf.Contains("release = 1.1\n", StringComparison.Ordinal))
            {
                if (version < 2)
                {
                    using var migrate = new NpgsqlCommand($"BEGIN;\n{_migration.Sql}\nINSERT INTO schema_history VALUES (2, @description, 'v2', now(), true);\nCOMMIT;", db);
                    migrate.Parameters.AddWithValue("description", _migration.Description);
                    try
                    {
                        migrate.ExecuteNonQuery();
                    }
                    catch (PostgresException)
                    {
                        host.Running = false; // "migration V2 failed and was rolled back": refusing to start
                    }
                }
            }
            else if (version > 1)
            {
                host.Running = false; // "database schema is newer than this release"
            }
        }
    }

    /// <summary>acme-mail 1.1 as a set: the release key, a restart and, when given, the way back of its migration (a down
    /// script beside the set when given), frozen from its file as <c>stageproof patch freeze</c> does.</summary>
    private FrozenPatchSet Freeze(string id, string? wayBack = null, string? downSql = null)
    {
        var dir = Path.Combine(_fake.Dir, "sets", id);
        Directory.CreateDirectory(Path.Combine(dir, "sql"));
        if (downSql is not null)
        {
            File.WriteAllText(Path.Combine(dir, "sql", "folders_down.sql"), downSql);
        }
        File.WriteAllText(Path.Combine(dir, "set.yaml"), $$"""
            id: {{id}}
            title: acme-mail 1.1
            reason: the migrations' tests
            severity: high
            author: alice
            files:
              - { path: {{FakeHost.ConfPath}}, set: { release: "1.1" } }
            commands:
              post: ["service acme-mail restart"]
            """ + (wayBack is null ? "" : $"\nway_back:\n  - {wayBack}\n"));
        return PatchSetFreezer.Freeze(Path.Combine(dir, "set.yaml"));
    }

    private async Task<long> StagingScalarAsync(string sql)
    {
        await using var db = new NpgsqlConnection(_pg.ConnectionStringFor(_stagingDb));
        await db.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, db);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Staging's database as the point left it: V1 only, no folder column, every message.</summary>
    private async Task AssertDatabaseAsFoundAsync()
    {
        Assert.Equal(1L, await StagingScalarAsync("SELECT max(version) FROM schema_history"));
        Assert.Equal(0L, await StagingScalarAsync("SELECT count(*) FROM information_schema.columns WHERE table_name = 'messages' AND column_name = 'folder'"));
        Assert.Equal(20000L, await StagingScalarAsync("SELECT count(*) FROM messages"));
    }

    [SkippableFact]
    public async Task A_migration_declared_irreversible_passes_with_the_acknowledged_restore_rehearsed_and_the_rollback_story_recorded()
    {
        var config = await EstateAsync();
        var set = Freeze("WAYBACK-IRREVERSIBLE", $"{{ migration: \"V*__add_message_folders\", how: irreversible, acknowledged: \"{Acknowledged}\" }}");

        var (result, _) = await _fake.StageAsync(config, set);

        Assert.True(result.Verdict == StageVerdict.Pass, string.Join("\n", result.Reasons));
        var rehearsal = result.Rehearsal!;
        Assert.True(rehearsal.DatabaseRestoreNeeded);
        Assert.True(rehearsal.SuitePassedAfterRollback);
        var migration = Assert.Single(rehearsal.Migrations);
        Assert.Equal("V2__add_message_folders", migration.Name);
        Assert.Equal(WayBackHow.Irreversible, migration.How);
        var story = Assert.Single(rehearsal.Story);
        Assert.Contains("irreversible, rehearsed with the rollback point's dump restored; acknowledged: " + Acknowledged, story, StringComparison.Ordinal);
        var step = result.Steps.Single(s => s.Name == StageSteps.Rehearsal);
        Assert.Equal(StepStatus.Passed, step.Status);
        Assert.Contains("with the database restored, as the set declares", step.Summary, StringComparison.Ordinal);
        var report = StageHtml.Render(result);
        Assert.Contains("ACKNOWLEDGED DATA-LOSS RISK", report, StringComparison.Ordinal);
        Assert.Contains("<h3>Rollback story</h3>", report, StringComparison.Ordinal);
        // A PASS ends applied again: 1.1 on the migrated database, the service up.
        Assert.Equal(2L, await StagingScalarAsync("SELECT max(version) FROM schema_history"));
        Assert.All(FakeStaging.Staging, h => Assert.True(_fake[h].Running && _fake[h].Conf.Contains("release = 1.1\n", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public async Task A_migration_declared_compatible_that_the_old_release_refuses_fails_naming_the_disagreement()
    {
        var config = await EstateAsync();
        var set = Freeze("WAYBACK-COMPATIBLE", "{ migration: \"V*__add_message_folders\", how: compatible }");

        var (result, _) = await _fake.StageAsync(config, set);

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        Assert.Contains(result.Reasons, r => r.Step == StageSteps.Rehearsal && r.Subject.Contains("add_message_folders", StringComparison.Ordinal)
            && r.Evidence.StartsWith("declared compatible but the old release fails on the new schema: ", StringComparison.Ordinal));
        // Not the discovered verdict: the declaration is what the rehearsal contradicted.
        Assert.DoesNotContain(result.Reasons, r => r.Evidence.Contains("only works with a database restore", StringComparison.Ordinal));
        // Staging stays rolled back, its database restored to tell "restore needed" from "broken": as found.
        _fake.AssertStagingAsFound();
        await AssertDatabaseAsFoundAsync();
    }

    [SkippableFact]
    public async Task A_down_script_that_also_deletes_rows_fails_the_rehearsal_with_the_table_and_its_numbers()
    {
        var config = await EstateAsync();
        // A way back that takes the schema back and, on its way, every tenth message with it.
        var set = Freeze("WAYBACK-LOSSY", "{ migration: \"V*__add_message_folders\", how: down, down: sql/folders_down.sql }",
            Down + "DELETE FROM messages WHERE id % 10 = 0;\n");

        var (result, _) = await _fake.StageAsync(config, set);

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        Assert.Contains(result.Reasons, r => r.Step == StageSteps.Rehearsal && r.Subject == "data mail public.messages"
            && r.Evidence.StartsWith("after the rollback: mail public.messages: 20000 row(s) at the rollback point, 18000 now: 2000 lost (10%)", StringComparison.Ordinal));
        var note = Assert.Single(result.Rehearsal!.Notes);
        Assert.EndsWith("staging was then restored from the rollback point's dump", note, StringComparison.Ordinal);
        // Staging is left as it was: 1.0, and the lost messages back from the point's dump.
        _fake.AssertStagingAsFound();
        await AssertDatabaseAsFoundAsync();
    }

    [SkippableFact]
    public async Task A_migration_declared_with_a_down_script_passes_the_rehearsal_runs_it_and_a_production_rollback_takes_it_instead_of_a_restore()
    {
        var config = await EstateAsync();
        var set = Freeze("WAYBACK-DOWN", "{ migration: \"V*__add_message_folders\", how: down, down: sql/folders_down.sql }", Down);

        var (result, _) = await _fake.StageAsync(config, set);

        Assert.True(result.Verdict == StageVerdict.Pass, string.Join("\n", result.Reasons));
        var rehearsal = result.Rehearsal!;
        Assert.False(rehearsal.DatabaseRestoreNeeded);
        var ran = Assert.Single(rehearsal.DownScripts);
        Assert.StartsWith("sql/folders_down.sql for V", ran, StringComparison.Ordinal);
        var story = Assert.Single(rehearsal.Story);
        Assert.Contains("undone by its down script sql/folders_down.sql, rehearsed: it ran, the schema is back at the rollback point's", story, StringComparison.Ordinal);

        // Staging ends patched; the ordinary rollback (database: auto) now takes the declared way back, not a restore.
        var rollback = await _fake.RollbackAsync(config);

        Assert.True(rollback.Succeeded, string.Join("; ", rollback.Hosts.Select(h => $"{h.Host}: {h.Status} {h.Message}")));
        var restore = Assert.Single(rollback.Restores);
        Assert.False(restore.Restored);
        Assert.Single(restore.DownScripts);
        Assert.Null(restore.DownFailed);
        _fake.AssertStagingAsFound();
        await AssertDatabaseAsFoundAsync();
    }

    [SkippableFact]
    public async Task A_migration_that_deletes_rows_fails_at_compare_with_the_table_and_its_numbers_and_staging_gets_them_back()
    {
        // Meant to move old messages to an archive table, it only deletes them.
        _migration = ("archive old messages", "DELETE FROM messages WHERE id % 10 = 0;");
        var config = await EstateAsync();

        var (result, _) = await _fake.StageAsync(config, Freeze("DELETES-DATA"));

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        // The seed's 20,000 messages less every tenth: the numbers, not only the table.
        Assert.Contains(result.Reasons, r => r.Step == StageSteps.Compare && r.Subject == "data mail public.messages"
            && r.Evidence.Contains("20000 row(s) at the rollback point, 18000 now: 2000 lost (10%)", StringComparison.Ordinal));
        _fake.AssertStagingAsFound();
        await AssertDatabaseAsFoundAsync();
    }

    [SkippableFact]
    public async Task A_migration_that_cuts_values_but_keeps_every_row_fails_only_at_the_suite_s_continuity_measure()
    {
        // Meant to move long bodies to compressed storage, it only cuts them.
        _migration = ("compact message bodies", "UPDATE messages SET body = left(body, 7) WHERE length(body) > 7;");
        var config = await EstateAsync("- { name: mail-content, type: sql, database: mail, " +
            "query: \"SELECT count(*) AS messages, sum(length(body)) AS body_bytes FROM messages\", continuity: true }");

        var (result, _) = await _fake.StageAsync(config, Freeze("TRUNCATES-BODIES"));

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        // Every row kept, so no table lost rows: only the suite's continuity measure of the bodies sees it, with its numbers.
        Assert.DoesNotContain(result.Reasons, r => r.Subject.StartsWith("data mail public.", StringComparison.Ordinal));
        Assert.Contains(result.Reasons, r => r.Subject == "data mail-content" && r.Evidence.Contains("mail-content (mail) body_bytes: ", StringComparison.Ordinal)
            && r.Evidence.Contains(" at the rollback point, ", StringComparison.Ordinal) && r.Evidence.Contains(" (at most 0%)", StringComparison.Ordinal));
        _fake.AssertStagingAsFound();
        await AssertDatabaseAsFoundAsync();
        Assert.Equal(0L, await StagingScalarAsync("SELECT count(*) FROM messages WHERE body <> 'message ' || id"));
    }

    [SkippableFact]
    public async Task A_migration_that_fails_at_its_second_statement_fails_the_stage_on_the_service_and_leaves_nothing_half_applied()
    {
        // Its first statement succeeds; its second fails on any seeded database (many messages share an owner): the
        // release rolls the whole migration back (a real PostgreSQL error, 23505) and refuses to start.
        _migration = ("add folders and unique owner", """
            ALTER TABLE messages ADD COLUMN folder text NOT NULL DEFAULT 'inbox';
            CREATE UNIQUE INDEX messages_owner_key ON messages (owner_id);
            """);
        var config = await EstateAsync();

        var (result, _) = await _fake.StageAsync(config, Freeze("FAILS-HALFWAY"));

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        // The service that came up before the change is down after it, on each host, and the drift says it stopped.
        Assert.All(FakeStaging.Staging, host => Assert.Contains(result.Reasons, r => r.Step == StageSteps.Compare && r.Subject == $"up on {host}"
            && r.Evidence.StartsWith("passed before the change, fails after: service acme-mail is not running", StringComparison.Ordinal)));
        Assert.Contains(result.Reasons, r => r.Step == StageSteps.Drift && r.Evidence.Contains("running → stopped", StringComparison.Ordinal));
        _fake.AssertStagingAsFound();
        await AssertDatabaseAsFoundAsync();
    }
}
