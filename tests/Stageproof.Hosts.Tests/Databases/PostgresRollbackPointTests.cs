using System.Text.Json;
using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Databases;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Hosts.Tests.Databases;

/// <summary>Database rollback points against a real PostgreSQL 15 started for this class.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PostgresRollbackPointTests(PostgresFixture pg, ITestOutputHelper output) : IClassFixture<PostgresFixture>, IDisposable
{
    private readonly string _store = Directory.CreateTempSubdirectory("stageproof-rbp-").FullName;
    private readonly PostgresRollbackPoint _points = new(PostgresFixture.BinDir);

    public void Dispose() => Directory.Delete(_store, recursive: true);

    private static async Task<T> ScalarAsync<T>(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        var value = await cmd.ExecuteScalarAsync();
        return (T)(value is DBNull ? null : value)!;
    }

    private const string Schema = """
        CREATE TABLE mailboxes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner text NOT NULL, quota_mb integer NOT NULL DEFAULT 100);
        CREATE TABLE domains (name text PRIMARY KEY);
        INSERT INTO mailboxes (owner) SELECT 'user' || g FROM generate_series(1, 50) g;
        INSERT INTO domains VALUES ('example.org');
        """;

    [SkippableFact]
    public async Task Rollback_point_reports_the_writes_a_restore_discards_and_restores_schema_and_data()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("rbp_main", Schema);

        var point = await _points.CreateAsync(cs, Path.Combine(_store, "p1"), CancellationToken.None);
        Assert.Equal("rbp_main", point.Database);
        Assert.True(File.Exists(point.DumpPath));
        // A copy of the database's data: readable by the state's owner only, whatever the umask.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(point.DumpPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(_store, "p1")));
        Assert.Equal(64, point.SchemaDigest.Length);
        var mailboxes = Assert.Single(point.Tables, t => t.Table == "public.mailboxes");
        Assert.Equal(50, mailboxes.Rows);
        Assert.False(await _points.SchemaChangedSinceAsync(point, cs));

        var sidecar = await File.ReadAllTextAsync(Path.Combine(_store, "p1", PostgresRollbackPoint.SidecarFile));
        output.WriteLine(sidecar);
        using (var doc = JsonDocument.Parse(sidecar))
        {
            Assert.Equal("rbp_main", doc.RootElement.GetProperty("database").GetString());
            Assert.Equal(point.SchemaDigest, doc.RootElement.GetProperty("schema_digest").GetString());
            Assert.Equal(2, doc.RootElement.GetProperty("tables").GetArrayLength());
        }
        var loaded = await PostgresRollbackPoint.LoadAsync(Path.Combine(_store, "p1"), CancellationToken.None);
        Assert.Equal(point.SchemaDigest, loaded.SchemaDigest);
        Assert.Equal(point.Tables, loaded.Tables);

        // The change: a migration that drops a column; then the application writes rows.
        var migration = new PatchMigration("rbp_main",
        [
            PostgresMigratorTests.Script("V1__drop_quota.sql", "ALTER TABLE mailboxes DROP COLUMN quota_mb;"),
        ]);
        await new PostgresMigrator().ApplyAsync(cs, migration, new string('a', 64), "tester", CancellationToken.None);
        await pg.ExecuteAsync("INSERT INTO mailboxes (owner) SELECT 'new' || g FROM generate_series(1, 7) g", "rbp_main");
        await pg.ExecuteAsync("UPDATE domains SET name = 'example.com'", "rbp_main");
        await pg.ExecuteAsync("DELETE FROM mailboxes WHERE owner = 'user1'", "rbp_main");

        Assert.True(await _points.SchemaChangedSinceAsync(point, cs));
        var writes = await _points.WritesSinceAsync(loaded, cs);
        foreach (var w in writes)
        {
            output.WriteLine($"{w.Table}: written {w.Written}, removed {w.Removed}, created={w.CreatedSincePoint}, exact={w.Exact}");
        }
        // Counted row by row: 7 rows inserted, user1 deleted; the domain's update is a new row version replacing the old.
        Assert.Contains(new TableWrites("public.mailboxes", 7, 1, false, false, true), writes);
        Assert.Contains(new TableWrites("public.domains", 1, 1, false, false, true), writes);
        Assert.Contains(new TableWrites("public.stageproof_schema_history", 1, 0, true, false, true), writes);

        // A session left open on the database does not block the restore.
        await using var lingering = new NpgsqlConnection(cs);
        await lingering.OpenAsync();

        var result = await _points.RestoreAsync(loaded, cs, CancellationToken.None);
        output.WriteLine($"restore took {result.Elapsed.TotalMilliseconds:0} ms, {result.SessionsTerminated} session(s) terminated");
        Assert.Equal(point.SchemaDigest, result.SchemaDigest);
        Assert.True(result.SessionsTerminated >= 1);
        Assert.False(await _points.SchemaChangedSinceAsync(point, cs));
        Assert.Equal(50L, await ScalarAsync<long>(cs, "SELECT count(*) FROM mailboxes"));
        Assert.Equal(100, await ScalarAsync<int>(cs, "SELECT quota_mb FROM mailboxes WHERE owner = 'user1'"));
        Assert.Equal("example.org", await ScalarAsync<string>(cs, "SELECT name FROM domains"));
        Assert.Null(await ScalarAsync<object?>(cs, "SELECT to_regclass('public.stageproof_schema_history')::text"));
        // Analyzed: the planner has column statistics at once, not when autovacuum gets round to it.
        Assert.True(await ScalarAsync<long>(cs, "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'mailboxes'") > 0,
            "the restored table has no planner statistics");
        // Identity continues after the restored rows.
        await pg.ExecuteAsync("INSERT INTO mailboxes (owner) VALUES ('after')", "rbp_main");
        Assert.Equal(51L, await ScalarAsync<long>(cs, "SELECT id FROM mailboxes WHERE owner = 'after'"));
    }

    [SkippableFact]
    public async Task Rows_lost_since_the_point_are_named_with_their_numbers_and_rows_added_or_declared_pass()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("rbp_rows", Schema + "CREATE TABLE archive (id bigint);\nINSERT INTO archive SELECT generate_series(1, 8);\n");
        var point = await _points.CreateAsync(cs, Path.Combine(_store, "rows"), CancellationToken.None);

        // What a bad migration and a busy service do meanwhile: rows deleted, a table dropped, rows added.
        await pg.ExecuteAsync("DELETE FROM mailboxes WHERE id % 10 = 0; DROP TABLE domains; INSERT INTO archive SELECT generate_series(9, 20); DELETE FROM archive WHERE id <= 2;", "rbp_rows");

        var rows = await _points.RowsSinceAsync(point, cs);
        var losses = Stageproof.Core.Stage.DataContinuity.Losses("rbp_rows", rows, ["arch*"]);
        Assert.Equal(
            ["rbp_rows public.domains: 1 row(s) at the rollback point, the table is gone: 1 lost (100%)",
             "rbp_rows public.mailboxes: 50 row(s) at the rollback point, 45 now: 5 lost (10%)"],
            losses.Select(l => l.ToString()));
        Assert.All(losses, l => Assert.False(l.Declared));
        // archive: 8 at the point, 18 now: two deleted but more added, no net loss, nothing to say.
        Assert.Equal((8L, 18L), rows.Where(r => r.Table == "public.archive").Select(r => (r.AtPoint!.Value, r.Now!.Value)).Single());

        await pg.ExecuteAsync("DELETE FROM archive", "rbp_rows");
        var declared = Assert.Single(Stageproof.Core.Stage.DataContinuity.Losses("rbp_rows", await _points.RowsSinceAsync(point, cs), ["arch*"]),
            l => l.Table == "public.archive");
        Assert.True(declared.Declared);
        Assert.EndsWith("(declared by the set's data_loss)", declared.ToString(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_migration_that_only_deletes_data_still_changes_what_a_rollback_must_restore()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("rbp_history", Schema + """
            CREATE TABLE schema_history (version text PRIMARY KEY, description text NOT NULL, checksum text, success boolean NOT NULL);
            INSERT INTO schema_history VALUES ('1', 'initial schema', 'abc', true);
            """);
        var point = await _points.CreateAsync(cs, Path.Combine(_store, "history"), CancellationToken.None);
        Assert.NotNull(point.MigrationsDigest);
        Assert.False(await _points.SchemaChangedSinceAsync(point, cs));

        // Every schema object as it was, but the migration is recorded: the release before it refuses this database.
        await pg.ExecuteAsync("DELETE FROM mailboxes WHERE id % 10 = 0; INSERT INTO schema_history VALUES ('2', 'archive old mailboxes', 'def', true);", "rbp_history");
        Assert.True(await _points.SchemaChangedSinceAsync(point, cs));

        // A point taken before the history was recorded is judged by its schema alone, as it was.
        Assert.False(await _points.SchemaChangedSinceAsync(point with { MigrationsDigest = null }, cs));
    }

    [SkippableFact]
    public async Task A_point_knows_the_migrations_added_since_and_a_declared_down_script_takes_the_database_back_or_changes_nothing()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("rbp_way_back", Schema + """
            CREATE TABLE schema_history (version integer PRIMARY KEY, description text NOT NULL, checksum text NOT NULL, success boolean NOT NULL);
            INSERT INTO schema_history VALUES (1, 'initial_schema', 'abc', true);
            """);
        var point = await _points.CreateAsync(cs, Path.Combine(_store, "way-back"), CancellationToken.None);
        Assert.Equal(["1"], point.Migrations!.Select(m => m.Version));
        Assert.Empty((await _points.MigrationsSinceAsync(point, cs))!);

        await pg.ExecuteAsync("""
            ALTER TABLE mailboxes ADD COLUMN folder text NOT NULL DEFAULT 'inbox';
            CREATE INDEX mailboxes_owner_folder_idx ON mailboxes (owner, folder);
            INSERT INTO schema_history VALUES (2, 'add_mailbox_folders', 'def', true);
            """, "rbp_way_back");
        var added = WayBacks.Of("mail", (await _points.MigrationsSinceAsync(point, cs))!, null);
        Assert.Equal(["V2__add_mailbox_folders"], added.Select(a => a.Name));
        // Read back from the sidecar, as a rollback reads it.
        var loaded = await PostgresRollbackPoint.LoadAsync(point.Directory, CancellationToken.None);
        Assert.Single((await _points.MigrationsSinceAsync(loaded, cs))!);
        Assert.Null(await _points.MigrationsSinceAsync(point with { Migrations = null }, cs));

        // A down script that fails half way commits nothing of itself.
        var error = await PostgresRollbackPoint.RunDownScriptAsync(cs,
            "DROP INDEX mailboxes_owner_folder_idx; ALTER TABLE mailboxes DROP COLUMN no_such_column;", CancellationToken.None);
        Assert.NotNull(error);
        Assert.Contains("no_such_column", error, StringComparison.Ordinal);
        Assert.Equal(1L, await ScalarAsync<long>(cs, "SELECT count(*) FROM pg_indexes WHERE indexname = 'mailboxes_owner_folder_idx'"));

        Assert.Null(await PostgresRollbackPoint.RunDownScriptAsync(cs, """
            DROP INDEX mailboxes_owner_folder_idx;
            ALTER TABLE mailboxes DROP COLUMN folder;
            DELETE FROM schema_history WHERE version = 2;
            """, CancellationToken.None));
        Assert.False(await _points.SchemaChangedSinceAsync(point, cs));
        Assert.Equal(50L, await ScalarAsync<long>(cs, "SELECT count(*) FROM mailboxes"));
    }

    [SkippableFact]
    public async Task A_damaged_archive_is_refused_before_the_database_is_dropped()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("rbp_damaged", Schema);
        var point = await _points.CreateAsync(cs, Path.Combine(_store, "p2"), CancellationToken.None);
        await File.AppendAllTextAsync(point.DumpPath, "tampered");

        var e = await Assert.ThrowsAsync<InputException>(() => _points.RestoreAsync(point, cs, CancellationToken.None));
        Assert.Contains("altered", e.Message, StringComparison.Ordinal);
        Assert.Equal(50L, await ScalarAsync<long>(cs, "SELECT count(*) FROM mailboxes"));

        var other = await Assert.ThrowsAsync<InputException>(() => _points.RestoreAsync(point, pg.ConnectionStringFor("postgres"), CancellationToken.None));
        Assert.Contains("rbp_damaged", other.Message, StringComparison.Ordinal);
    }
    [SkippableFact]
    public async Task A_template_clone_point_restores_schema_and_data_even_with_sessions_connected()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("rbp_clone", Schema);
        await pg.ExecuteAsync("DROP DATABASE IF EXISTS rbp_clone_point WITH (FORCE)", "postgres");
        var clones = new PostgresTemplateRollbackPoint();

        // A session on the database does not prevent taking the point (it is terminated).
        await using (var open = new NpgsqlConnection(cs))
        {
            await open.OpenAsync();
            var point = await clones.CreateAsync(cs, "rbp_clone_point", CancellationToken.None);
            Assert.Equal("postgres", point.Owner);
            await Assert.ThrowsAsync<InputException>(() => clones.CreateAsync(cs, "rbp_clone_point", CancellationToken.None));

            await new PostgresMigrator().ApplyAsync(cs, new PatchMigration("rbp_clone",
                [PostgresMigratorTests.Script("V1__drop_quota.sql", "ALTER TABLE mailboxes DROP COLUMN quota_mb;")]),
                new string('b', 64), "tester", CancellationToken.None);
            await pg.ExecuteAsync("INSERT INTO mailboxes (owner) VALUES ('x'), ('y')", "rbp_clone");
            var writes = await _points.WritesSinceAsync(point.Tables, cs);
            Assert.Contains(new TableWrites("public.mailboxes", 2, 0, false, false, false), writes);

            await using var lingering = new NpgsqlConnection(cs);
            await lingering.OpenAsync();
            var result = await clones.RestoreAsync(point, cs, CancellationToken.None);
            output.WriteLine($"clone restore took {result.Elapsed.TotalMilliseconds:0} ms");
            Assert.Equal(point.SchemaDigest, result.SchemaDigest);
            Assert.Equal(50L, await ScalarAsync<long>(cs, "SELECT count(*) FROM mailboxes"));
            Assert.Equal(100, await ScalarAsync<int>(cs, "SELECT quota_mb FROM mailboxes WHERE owner = 'user1'"));

            await clones.DropAsync(point, cs, CancellationToken.None);
            Assert.Null(await ScalarAsync<object?>(pg.ConnectionStringFor("postgres"), "SELECT datname::text FROM pg_database WHERE datname = 'rbp_clone_point'"));
        }
    }
    [SkippableFact]
    public async Task Writes_of_a_session_left_open_and_idle_are_counted_exactly_without_waiting_for_its_statistics()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("rbp_open", Schema);
        var point = await _points.CreateAsync(cs, Path.Combine(_store, "p3"), CancellationToken.None);

        // Like an application's pooled connection: it writes twice in quick succession and stays idle, open.
        await using var app = new NpgsqlConnection(cs);
        await app.OpenAsync();
        foreach (var sql in new[] { "INSERT INTO mailboxes (owner) VALUES ('a')", "UPDATE mailboxes SET quota_mb = 5 WHERE id <= 3" })
        {
            await using var cmd = new NpgsqlCommand(sql, app);
            await cmd.ExecuteNonQueryAsync();
        }

        // Its statistics may still be pending in that session (PostgreSQL holds them up to 10 s): the row count does not
        // depend on them. 1 insert and 3 updated rows written; the 3 old versions replaced.
        var writes = await _points.WritesSinceAsync(point, cs);
        Assert.Equal([new TableWrites("public.mailboxes", 4, 3, false, false, true)], writes);

        // Read from the statistics (as for a point taken without a snapshot xmin), after their settle wait: the same.
        var fromStatistics = await _points.WritesSinceAsync(point with { SnapshotXmin = null }, cs);
        Assert.Equal([new TableWrites("public.mailboxes", 4, 3, false, false, false)], fromStatistics);

        // A transaction still open is not counted by either: its rows are not committed.
        await using var open = await app.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand("INSERT INTO mailboxes (owner) VALUES ('uncommitted')", app, open))
        {
            await insert.ExecuteNonQueryAsync();
        }
        Assert.Equal([new TableWrites("public.mailboxes", 4, 3, false, false, true)], await _points.WritesSinceAsync(point, cs));
    }

    [Fact]
    public void The_password_goes_to_the_tools_environment_never_to_their_arguments()
    {
        var csb = new NpgsqlConnectionStringBuilder("Host=db.example;Port=5433;Username=app;Password=s3cr3t;Database=mail;SSL Mode=Require");
        var (args, env) = PostgresConnections.LibpqFor(csb);
        Assert.DoesNotContain(args, a => a.Contains("s3cr3t", StringComparison.Ordinal));
        Assert.Equal(["--host=db.example", "--port=5433", "--username=app", "--no-password"], args);
        Assert.Equal("s3cr3t", env["PGPASSWORD"]);
        Assert.Equal("require", env["PGSSLMODE"]);
        Assert.Throws<InputException>(() => PostgresConnections.SafeDatabaseName(new NpgsqlConnectionStringBuilder("Database=\"host=evil\"")));
    }
    [SkippableFact]
    public async Task A_restore_that_cannot_be_proven_puts_the_database_back_as_it_was()
    {
        pg.EnsureAvailable();
        var cs = await pg.FreshDatabaseAsync("rbp_putback", Schema);
        var point = await _points.CreateAsync(cs, Path.Combine(_store, "p4"), CancellationToken.None);
        await pg.ExecuteAsync("INSERT INTO mailboxes (owner) VALUES ('written after')", "rbp_putback");

        // A point whose recorded fingerprint the restored database cannot match.
        var wrong = point with { SchemaDigest = new string('0', 64) };
        var e = await Assert.ThrowsAsync<InfrastructureException>(() => _points.RestoreAsync(wrong, cs, CancellationToken.None));
        output.WriteLine(e.Message);
        Assert.Contains("put back", e.Message, StringComparison.Ordinal);
        Assert.Equal(51L, await ScalarAsync<long>(cs, "SELECT count(*) FROM mailboxes"));
        Assert.Null(await ScalarAsync<object?>(pg.ConnectionStringFor("postgres"),
            $"SELECT datname::text FROM pg_database WHERE datname = '{PostgresRollbackPoint.AsideName("rbp_putback")}'"));

        // The real point still restores afterwards.
        await _points.RestoreAsync(point, cs, CancellationToken.None);
        Assert.Equal(50L, await ScalarAsync<long>(cs, "SELECT count(*) FROM mailboxes"));
    }
    [SkippableFact]
    public async Task Dump_and_restore_authenticate_with_a_password_kept_out_of_the_tools_arguments()
    {
        pg.EnsureAvailable();
        const string password = "pw s3cret;'x";
        await pg.ExecuteAsync("DROP DATABASE IF EXISTS rbp_pw WITH (FORCE)", "postgres");
        await pg.ExecuteAsync("DROP ROLE IF EXISTS pwuser; CREATE ROLE pwuser LOGIN CREATEDB PASSWORD 'pw s3cret;''x'", "postgres");
        await pg.ExecuteAsync("CREATE DATABASE rbp_pw OWNER pwuser", "postgres");
        // This role must authenticate with its password (first matching pg_hba line wins).
        var hba = Path.Combine(pg.DataDirectory, "pg_hba.conf");
        var original = await File.ReadAllTextAsync(hba);
        await File.WriteAllTextAsync(hba, "host all pwuser 0.0.0.0/0 scram-sha-256\n" + original);
        await pg.ExecuteAsync("SELECT pg_reload_conf()", "postgres");
        try
        {
            var cs = new NpgsqlConnectionStringBuilder(pg.ConnectionStringFor("rbp_pw")) { Username = "pwuser", Password = password }.ConnectionString;
            var wrong = new NpgsqlConnectionStringBuilder(cs) { Password = "not-it-" + password }.ConnectionString;
            var denied = await Assert.ThrowsAsync<InfrastructureException>(() => _points.CreateAsync(wrong, Path.Combine(_store, "pw0"), CancellationToken.None));
            Assert.DoesNotContain(password, denied.Message, StringComparison.Ordinal);

            await using (var conn = new NpgsqlConnection(cs))
            {
                await conn.OpenAsync();
                await using var cmd = new NpgsqlCommand(Schema, conn);
                await cmd.ExecuteNonQueryAsync();
            }
            var point = await _points.CreateAsync(cs, Path.Combine(_store, "pw"), CancellationToken.None);
            Assert.DoesNotContain(password, await File.ReadAllTextAsync(Path.Combine(_store, "pw", PostgresRollbackPoint.SidecarFile)), StringComparison.Ordinal);
            await using (var conn = new NpgsqlConnection(cs))
            {
                await conn.OpenAsync();
                await using var cmd = new NpgsqlCommand("DROP TABLE domains", conn);
                await cmd.ExecuteNonQueryAsync();
            }
            await _points.RestoreAsync(point, cs, CancellationToken.None);
            Assert.Equal("example.org", await ScalarAsync<string>(cs, "SELECT name FROM domains"));
            Assert.Equal("pwuser", await ScalarAsync<string>(pg.ConnectionStringFor("postgres"),
                "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'rbp_pw'"));
        }
        finally
        {
            await File.WriteAllTextAsync(hba, original);
            await pg.ExecuteAsync("SELECT pg_reload_conf()", "postgres");
        }
    }
}
