using MySqlConnector;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Databases;
using Stageproof.Testing;
using Stageproof.Testing.Fakes;

namespace Stageproof.Hosts.Tests.Databases;

/// <summary>The engine contract, and what is MariaDB's own, against a private MariaDB server started for this class.</summary>
public sealed class MariaDbEngineTests(MariaDbFixture db) : DatabaseEngineContract, IClassFixture<MariaDbFixture>
{
    protected override void EnsureAvailable() => db.EnsureAvailable();

    protected override async Task<string> FreshAsync(string name)
    {
        await db.DropDatabaseAsync(name);
        await db.CreateDatabaseAsync(name);
        return db.EndpointFor(name);
    }

    protected override Task ExecAsync(string name, string sql) => db.ExecuteAsync(sql, name);

    protected override async Task<long> CountAsync(string name, string table) =>
        Convert.ToInt64(await db.ScalarAsync($"SELECT COUNT(*) FROM `{table}`", name), System.Globalization.CultureInfo.InvariantCulture);

    [SkippableFact]
    public async Task Settings_leave_out_the_instance_identity_and_the_fingerprint_ignores_the_database_name()
    {
        db.EnsureAvailable();
        await FreshAsync("ident_a");
        await FreshAsync("ident_b");
        const string schema = """
            CREATE TABLE users (id int PRIMARY KEY, name varchar(40) NOT NULL UNIQUE);
            CREATE TABLE messages (id int PRIMARY KEY, owner_id int NOT NULL, CONSTRAINT owner_fk FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
                                   CONSTRAINT id_positive CHECK (id > 0));
            CREATE VIEW named AS SELECT m.id, u.name FROM messages m JOIN users u ON u.id = m.owner_id;
            CREATE TRIGGER users_upper BEFORE INSERT ON users FOR EACH ROW SET NEW.name = UPPER(NEW.name);
            CREATE FUNCTION twice(x int) RETURNS int DETERMINISTIC RETURN x * 2;
            CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM messages WHERE id < 0;
            """;
        await db.ExecuteAsync(schema, "ident_a");
        await db.ExecuteAsync(schema, "ident_b");
        var facts = new Stageproof.Hosts.Facts.MariaDbFactsCollector();

        var a = (await facts.CollectAsync("prod", "mail", db.ConnectionStringFor("ident_a"), CancellationToken.None)).Database!;
        var b = (await facts.CollectAsync("staging", "mail", db.ConnectionStringFor("ident_b"), CancellationToken.None)).Database!;

        Assert.Contains("MariaDB", a.ServerVersion, StringComparison.Ordinal);
        Assert.Equal("33554432", a.Settings["innodb_buffer_pool_size"]); // given on the fixture's command line
        foreach (var identity in new[] { "server_id", "hostname", "pid_file", "datadir", "port", "socket", "bind_address", "log_error", "gtid_current_pos", "timestamp" })
        {
            Assert.False(a.Settings.ContainsKey(identity), identity);
        }
        Assert.Equal(a.Schema.Digest, b.Schema.Digest);
        foreach (var (kind, name) in new[] { ("constraint", "messages.owner_fk"), ("constraint", "messages.id_positive"), ("view", "named"),
                     ("trigger", "users.users_upper"), ("routine", "function twice"), ("event", "nightly"), ("index", "users.name") })
        {
            Assert.Contains(a.Schema.Objects, o => o.Kind == kind && o.Name == name);
        }
        Assert.DoesNotContain(a.Schema.Objects, o => o.Definition.Contains("ident_a", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task A_script_failing_after_ddl_is_recorded_as_failed_and_refused_until_repaired()
    {
        db.EnsureAvailable();
        var endpoint = await FreshAsync("half_applied");
        var migrator = new MariaDbMigrator();
        var sql = "CREATE TABLE folders (id int PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);";
        var script = new PatchMigrationScript { File = "V1__folders.sql", Sql = sql, Sha256 = PatchSetFreezer.Sha256(sql) };
        var migration = new PatchMigration("half_applied", [script]);

        var failed = await Assert.ThrowsAsync<MigrationFailedException>(() =>
            migrator.ApplyAsync(db.ConnectionStringFor("half_applied"), migration, new string('0', 64), "tester", CancellationToken.None));

        Assert.False(failed.RolledBackEntirely);
        Assert.Contains("NOT rolled back entirely", failed.Message, StringComparison.Ordinal);
        Assert.Equal(1L, Convert.ToInt64(await db.ScalarAsync("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'half_applied' AND TABLE_NAME = 'folders'"),
            System.Globalization.CultureInfo.InvariantCulture));
        var refused = await Assert.ThrowsAsync<Core.InputException>(() => migrator.PlanAsync(db.ConnectionStringFor("half_applied"), migration, CancellationToken.None));
        Assert.Contains("is recorded as failed", refused.Message, StringComparison.Ordinal);
        Assert.StartsWith("mariadb:", endpoint, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_first_statement_that_fails_leaves_nothing_and_no_history_row()
    {
        db.EnsureAvailable();
        await FreshAsync("first_fails");
        var sql = "INSERT INTO no_such_table VALUES (1);";
        var script = new PatchMigrationScript { File = "V1__bad.sql", Sql = sql, Sha256 = PatchSetFreezer.Sha256(sql) };

        var failed = await Assert.ThrowsAsync<MigrationFailedException>(() => new MariaDbMigrator().ApplyAsync(
            db.ConnectionStringFor("first_fails"), new PatchMigration("first_fails", [script]), new string('0', 64), "tester", CancellationToken.None));

        Assert.True(failed.RolledBackEntirely);
        Assert.Equal(0L, Convert.ToInt64(await db.ScalarAsync("SELECT COUNT(*) FROM stageproof_schema_history", "first_fails"),
            System.Globalization.CultureInfo.InvariantCulture));
    }

    [SkippableFact]
    public async Task A_restore_brings_back_views_triggers_routines_and_foreign_keys()
    {
        db.EnsureAvailable();
        await FreshAsync("restore_objects");
        await db.ExecuteAsync("""
            CREATE TABLE users (id int PRIMARY KEY, name varchar(40) NOT NULL);
            CREATE TABLE messages (id int PRIMARY KEY, owner_id int NOT NULL, CONSTRAINT owner_fk FOREIGN KEY (owner_id) REFERENCES users (id));
            CREATE VIEW named AS SELECT m.id, u.name FROM messages m JOIN users u ON u.id = m.owner_id;
            CREATE TRIGGER users_upper BEFORE INSERT ON users FOR EACH ROW SET NEW.name = UPPER(NEW.name);
            CREATE FUNCTION twice(x int) RETURNS int DETERMINISTIC RETURN x * 2;
            INSERT INTO users VALUES (1, 'alice'); INSERT INTO messages VALUES (1, 1);
            """, "restore_objects");
        var points = new MariaDbRollbackPoint();
        using var dir = new TempDirectory();
        var point = await points.CreateAsync(db.ConnectionStringFor("restore_objects"), dir.Path, CancellationToken.None);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(point.DumpPath));
        }
        await db.ExecuteAsync("DROP VIEW named; DROP TRIGGER users_upper; DROP FUNCTION twice; DELETE FROM messages; INSERT INTO users VALUES (2, 'bob');", "restore_objects");
        var changes = await points.RowChangesSinceAsync(point, db.ConnectionStringFor("restore_objects"), CancellationToken.None);
        Assert.Contains(changes, c => c is { Table: "messages", AtPoint: 1, Now: 0 });
        Assert.Contains(changes, c => c is { Table: "users", AtPoint: 1, Now: 2 });

        await points.RestoreAsync(point, db.ConnectionStringFor("restore_objects"), CancellationToken.None);

        Assert.Equal("ALICE", await db.ScalarAsync("SELECT name FROM named WHERE id = 1", "restore_objects"));
        Assert.Equal(4L, Convert.ToInt64(await db.ScalarAsync("SELECT twice(2)", "restore_objects"), System.Globalization.CultureInfo.InvariantCulture));
        await db.ExecuteAsync("INSERT INTO users VALUES (3, 'carol')", "restore_objects");
        Assert.Equal("CAROL", await db.ScalarAsync("SELECT name FROM users WHERE id = 3", "restore_objects"));
        await Assert.ThrowsAsync<MySqlException>(() => db.ExecuteAsync("INSERT INTO messages VALUES (9, 99)", "restore_objects"));
        // Neither the restored copy nor the aside database is left behind.
        Assert.Equal(0L, Convert.ToInt64(await db.ScalarAsync("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'restore_objects_sp_%'"),
            System.Globalization.CultureInfo.InvariantCulture));
    }

    [SkippableFact]
    public async Task Apply_migrates_behind_a_mariadb_dump_and_rollback_restores_the_database()
    {
        db.EnsureAvailable();
        var endpoint = await FreshAsync("apply_rb");
        await db.ExecuteAsync("CREATE TABLE mailboxes (id int PRIMARY KEY, owner varchar(20) NOT NULL); INSERT INTO mailboxes VALUES (1, 'alice'), (2, 'bob');", "apply_rb");
        using var dir = new TempDirectory();
        var estate = new FakeEstate();
        estate.Add("prod-app-1", "# acme-mail\n", (FakeHost.Package, "1.0-1"));
        var hosts = new[] { new Core.Configuration.HostConfig { Name = "prod-app-1" } };
        var databases = new Dictionary<string, string> { ["mail"] = endpoint };
        var sql = "ALTER TABLE mailboxes ADD COLUMN quota_mb int NOT NULL DEFAULT 100;\nDELETE FROM mailboxes WHERE id = 2;";
        var frozen = PatchSetFreezer.FromSet(new PatchSet
        {
            Id = "DB-1", Title = "quota", Reason = "quotas", Severity = PatchSeverity.Low, Author = "alice",
            Migrations = [new PatchMigration("mail", [new PatchMigrationScript { File = "V2__quota.sql", Sql = sql, Sha256 = PatchSetFreezer.Sha256(sql) }])],
        });
        await using var store = await Stageproof.Data.SqliteStateStore.OpenAsync(dir.Path, TimeProvider.System);
        await store.SavePatchSetAsync(frozen);
        var stored = (await store.FindPatchSetAsync(frozen.Digest))!;
        var engine = new PatchEngine(store, estate, new EngineDatabasePatcher(), TimeProvider.System, dir.Path, TimeSpan.FromSeconds(30));

        var run = await engine.ApplyAsync(new ApplyRequest { PatchSet = stored, Environment = "prod", Hosts = hosts, Actor = "bob", Databases = databases },
            null, CancellationToken.None);
        Assert.Equal(["V2__quota.sql"], run.Databases.Single().Applied);
        Assert.Equal(1L, Convert.ToInt64(await db.ScalarAsync("SELECT COUNT(*) FROM mailboxes", "apply_rb"), System.Globalization.CultureInfo.InvariantCulture));
        var point = (await store.FindRollbackPointAsync(run.RollbackPoint!))!;

        var back = await engine.RollbackAsync(new RollbackRequest { Point = point, PatchSet = frozen.Set, Hosts = hosts, Actor = "bob", Databases = databases },
            null, CancellationToken.None);

        var restore = back.Restores.Single();
        Assert.True(restore.Restored, restore.Why);
        Assert.Contains(restore.Discarded, d => d.StartsWith("mailboxes: 1 row(s) now, 2 at the point", StringComparison.Ordinal));
        Assert.Equal(2L, Convert.ToInt64(await db.ScalarAsync("SELECT COUNT(*) FROM mailboxes", "apply_rb"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0L, Convert.ToInt64(await db.ScalarAsync(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'apply_rb' AND COLUMN_NAME = 'quota_mb'"), System.Globalization.CultureInfo.InvariantCulture));
    }

    private sealed class TempDirectory : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(Directory.CreateTempSubdirectory("stageproof-mariadb-point-").FullName, "point");

        public void Dispose() => Directory.Delete(System.IO.Path.GetDirectoryName(Path)!, recursive: true);
    }
}
