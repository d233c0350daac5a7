using System.Security.Cryptography;
using Npgsql;
using Stageproof.Testing;

namespace AcmeMail.Tests;

[Collection("postgres")]
public sealed class MigrationTests(PgFixture pg)
{
    private static void Need()
    {
        Requires.Root();
        Requires.Executable($"{PgServer.Bin}/initdb");
    }

    [SkippableFact]
    public async Task Migrations_are_applied_in_order_and_recorded_with_sha256_checksums()
    {
        Need();
        var db = await pg.Server.CreateDatabaseAsync();
        using var files = new MailFiles(pg.Server, db);
        await File.WriteAllTextAsync(Path.Combine(files.Migrations, "V2__add_folders.sql"), "ALTER TABLE messages ADD COLUMN folder text NOT NULL DEFAULT 'inbox';\n");
        await File.WriteAllTextAsync(Path.Combine(files.Migrations, "V10__add_flags.sql"), "ALTER TABLE messages ADD COLUMN flagged boolean NOT NULL DEFAULT false;\n");

        Assert.Equal(0, await files.RunCliAsync("--migrate"));

        await using var store = MailStore.Create(AppSettings.Load(files.Paths));
        var history = await Migrator.ReadHistoryAsync(store, CancellationToken.None);
        Assert.Equal([1, 2, 10], history.Select(h => h.Version));
        Assert.Equal(["initial schema", "add folders", "add flags"], history.Select(h => h.Description));
        Assert.All(history, h => Assert.True(h.Success));
        foreach (var h in history)
        {
            var file = Directory.GetFiles(files.Migrations, $"V{h.Version}__*.sql").Single();
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(file))), h.Checksum);
        }
        // The schema V1 promises, pgcrypto included (created by the unprivileged owner: a trusted extension).
        await using var conn = new NpgsqlConnection(pg.Server.ConnectionString(db));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'),
                   (SELECT count(*) FROM pg_indexes WHERE indexname = 'messages_search_vector_idx' AND indexdef LIKE '%USING gin%'),
                   (SELECT count(*) FROM information_schema.columns WHERE table_name = 'messages' AND column_name IN ('search_vector', 'folder', 'flagged'))
            """, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        Assert.Equal((1L, 1L, 3L), (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2)));
        await r.DisposeAsync();

        // A second start applies nothing.
        Assert.Equal(0, await files.RunCliAsync("--migrate"));
        Assert.Contains("schema is up to date (3 applied)", files.ReadLog(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task An_applied_migration_that_was_edited_refuses_the_start()
    {
        Need();
        var db = await pg.Server.CreateDatabaseAsync();
        using var files = new MailFiles(pg.Server, db);
        Assert.Equal(0, await files.RunCliAsync("--migrate"));

        var v1 = Directory.GetFiles(files.Migrations, "V1__*.sql").Single();
        await File.AppendAllTextAsync(v1, "\n-- a harmless-looking edit\n");

        Assert.Equal(1, await files.RunCliAsync());
        var line = await files.WaitForLogLineAsync("refusing to start");
        Assert.Contains(" ERROR refusing to start: migration V1 (initial schema) was changed after it was applied", line, StringComparison.Ordinal);
        Assert.DoesNotContain("listening on", files.ReadLog(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_failing_migration_is_rolled_back_and_not_recorded()
    {
        Need();
        var db = await pg.Server.CreateDatabaseAsync();
        using var files = new MailFiles(pg.Server, db);
        await File.WriteAllTextAsync(Path.Combine(files.Migrations, "V2__broken.sql"),
            "CREATE TABLE half_done (id int);\nALTER TABLE no_such_table ADD COLUMN x int;\n");
        Assert.Equal(1, await files.RunCliAsync("--migrate"));
        Assert.Contains("migration V2 (broken) failed and was rolled back: 42P01", files.ReadLog(), StringComparison.Ordinal);

        await using (var store = MailStore.Create(AppSettings.Load(files.Paths)))
        {
            Assert.Equal([1], (await Migrator.ReadHistoryAsync(store, CancellationToken.None)).Select(h => h.Version));
        }
        await using var conn = new NpgsqlConnection(pg.Server.ConnectionString(db));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT to_regclass('half_done') IS NULL", conn);
        Assert.True((bool)(await cmd.ExecuteScalarAsync())!);
    }

    [SkippableFact]
    public async Task Hosts_starting_at_once_apply_each_migration_once()
    {
        Need();
        var db = await pg.Server.CreateDatabaseAsync();
        using var files = new MailFiles(pg.Server, db);
        using var log = new AppLog(files.Paths.Log, LogLevelName.Info);
        var settings = AppSettings.Load(files.Paths);
        var stores = Enumerable.Range(0, 4).Select(_ => MailStore.Create(settings)).ToList();
        try
        {
            var applied = await Task.WhenAll(stores.Select(s => Task.Run(() => new Migrator(s, files.Migrations, log).MigrateAsync(CancellationToken.None))));
            Assert.Equal(1, applied.Sum());
        }
        finally
        {
            foreach (var s in stores)
            {
                await s.DisposeAsync();
            }
        }
    }
}
