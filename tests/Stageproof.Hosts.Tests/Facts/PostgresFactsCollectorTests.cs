using System.Diagnostics;
using Stageproof.Core;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Facts;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Hosts.Tests.Facts;

/// <summary>Database facts against a real PostgreSQL 15 started for this class.</summary>
public sealed class PostgresFactsCollectorTests(PostgresFixture pg, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS public.mailboxes (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            owner text NOT NULL,
            quota_mb integer NOT NULL DEFAULT 100 CHECK (quota_mb > 0));
        CREATE TABLE IF NOT EXISTS public.messages (
            id bigserial PRIMARY KEY,
            mailbox_id bigint NOT NULL REFERENCES public.mailboxes(id),
            subject varchar(200),
            body text NOT NULL,
            received timestamptz NOT NULL DEFAULT now());
        CREATE OR REPLACE VIEW public.inbox AS SELECT id, subject FROM public.messages;
        """;

    private readonly PostgresFactsCollector _collector = new();

    private async Task<Manifest> CollectAsync(string? database = null)
    {
        var sw = Stopwatch.StartNew();
        var m = await _collector.CollectAsync("test", database ?? PostgresFixture.DatabaseName, pg.ConnectionStringFor(database ?? PostgresFixture.DatabaseName), CancellationToken.None);
        output.WriteLine($"database facts took {sw.ElapsedMilliseconds} ms");
        return m;
    }

    private async Task<string> FreshDatabaseAsync(string name, string sql)
    {
        await pg.FreshDatabaseAsync(name, sql);
        return name;
    }

    [SkippableFact]
    public async Task Fingerprint_is_stable_and_names_objects_precisely()
    {
        pg.EnsureAvailable();
        var db = await FreshDatabaseAsync("stable", Schema);

        var a = await CollectAsync(db);
        var b = await CollectAsync(db);

        Assert.Equal(ManifestKind.Database, a.Kind);
        Assert.Equal("test/stable", a.Target);
        Assert.StartsWith("15", a.Database!.ServerVersion, StringComparison.Ordinal);
        Assert.Equal(a.Database.Schema.Digest, b.Database!.Schema.Digest);
        Assert.Equal(ManifestJson.Digest(a), ManifestJson.Digest(b));
        var objects = a.Database.Schema.Objects;
        Assert.Contains(new SchemaObject("column", "public.messages.body", "text not null"), objects);
        Assert.Contains(new SchemaObject("column", "public.messages.subject", "character varying(200)"), objects);
        Assert.Contains(new SchemaObject("column", "public.mailboxes.quota_mb", "integer not null default 100"), objects);
        Assert.Contains(objects, o => o is { Kind: "column", Name: "public.mailboxes.id" } && o.Definition.Contains("identity", StringComparison.Ordinal));
        Assert.Contains(objects, o => o is { Kind: "table", Name: "public.messages", Definition: "table" });
        Assert.Contains(objects, o => o is { Kind: "constraint", Name: "public.messages.messages_mailbox_id_fkey" } &&
                                      o.Definition.Contains("REFERENCES mailboxes(id)", StringComparison.Ordinal));
        Assert.Contains(objects, o => o is { Kind: "index", Name: "public.messages_pkey" });
        Assert.Contains(objects, o => o is { Kind: "view", Name: "public.inbox" });
        Assert.Contains(objects, o => o is { Kind: "sequence", Name: "public.messages_id_seq" });
        Assert.Contains(objects, o => o is { Kind: "extension", Name: "plpgsql" });
        Assert.DoesNotContain(objects, o => o.Name.StartsWith("pg_catalog.", StringComparison.Ordinal));
        Assert.Equal(PostgresFactsCollector.Digest(objects), a.Database.Schema.Digest);
    }

    [SkippableFact]
    public async Task Adding_an_index_changes_the_digest_and_lists_the_index()
    {
        pg.EnsureAvailable();
        var db = await FreshDatabaseAsync("indexed", Schema);
        var before = await CollectAsync(db);

        await pg.ExecuteAsync("CREATE INDEX messages_received_idx ON public.messages (received DESC)", db);
        var after = await CollectAsync(db);

        Assert.NotEqual(before.Database!.Schema.Digest, after.Database!.Schema.Digest);
        var added = Assert.Single(after.Database.Schema.Objects.Except(before.Database.Schema.Objects));
        Assert.Equal("index", added.Kind);
        Assert.Equal("public.messages_received_idx", added.Name);
        Assert.Contains("(received DESC)", added.Definition, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Two_databases_with_the_same_schema_have_the_same_fingerprint()
    {
        pg.EnsureAvailable();
        var a = await CollectAsync(await FreshDatabaseAsync("twin_a", Schema));
        var b = await CollectAsync(await FreshDatabaseAsync("twin_b", Schema + "INSERT INTO public.mailboxes (owner) VALUES ('bob');"));

        Assert.Equal(a.Database!.Schema.Digest, b.Database!.Schema.Digest);
    }

    [SkippableFact]
    public async Task A_non_default_setting_appears_and_instance_identity_does_not()
    {
        pg.EnsureAvailable();
        await pg.ExecuteAsync("ALTER SYSTEM SET work_mem = '24MB'", "postgres");
        await pg.ExecuteAsync("SELECT pg_reload_conf()", "postgres");
        try
        {
            // The reload is asynchronous: poll until the new value is visible.
            Manifest m;
            var waited = Stopwatch.StartNew();
            do
            {
                m = await CollectAsync();
            }
            while (m.Database!.Settings.GetValueOrDefault("work_mem") != "24MB" && waited.Elapsed < TimeSpan.FromSeconds(10));

            Assert.Equal("24MB", m.Database.Settings["work_mem"]);
            Assert.DoesNotContain("port", m.Database.Settings.Keys);
            Assert.DoesNotContain("listen_addresses", m.Database.Settings.Keys);
            Assert.DoesNotContain("unix_socket_directories", m.Database.Settings.Keys);
            Assert.DoesNotContain("data_directory", m.Database.Settings.Keys);
            output.WriteLine(string.Join(", ", m.Database.Settings.Select(kv => $"{kv.Key}={kv.Value}")));
        }
        finally
        {
            await pg.ExecuteAsync("ALTER SYSTEM RESET work_mem", "postgres");
            await pg.ExecuteAsync("SELECT pg_reload_conf()", "postgres");
        }
    }

    [SkippableFact]
    public async Task Flyway_style_schema_history_rows_become_migrations()
    {
        pg.EnsureAvailable();
        var db = await FreshDatabaseAsync("flyway", """
            CREATE TABLE schema_history (installed_rank int PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
                type varchar(20), script varchar(1000) NOT NULL, checksum int, success boolean NOT NULL);
            INSERT INTO schema_history VALUES
                (1, '1', 'create mailboxes', 'SQL', 'V1__create_mailboxes.sql', 12345, true),
                (2, '2', 'add quota', 'SQL', 'V2__add_quota.sql', -77, false),
                (3, NULL, 'views', 'SQL', 'R__views.sql', 9, true);
            """);

        var m = await CollectAsync(db);

        Assert.Equal(
            [
                new MigrationRecord("1", "create mailboxes", "12345", true),
                new MigrationRecord("2", "add quota", "-77", false),
                new MigrationRecord("R:R__views.sql", "views", "9", true),
            ],
            m.Database!.Schema.Migrations);
    }

    [SkippableFact]
    public async Task A_version_only_schema_migrations_table_is_read_too()
    {
        pg.EnsureAvailable();
        var db = await FreshDatabaseAsync("rails", """
            CREATE TABLE schema_migrations (version varchar PRIMARY KEY);
            INSERT INTO schema_migrations VALUES ('20260101120000'), ('20260102120000');
            """);

        var m = await CollectAsync(db);

        Assert.Equal(
            [new MigrationRecord("20260101120000", "", null, true), new MigrationRecord("20260102120000", "", null, true)],
            m.Database!.Schema.Migrations);
    }

    [SkippableFact]
    public async Task An_unreachable_database_is_an_infrastructure_error_without_the_password()
    {
        pg.EnsureAvailable();
        // Same address, a port nothing listens on.
        var cs = $"Host={pg.Address};Port=1;Database=mail;Username=acme;Password=sup3r-s3cret;Timeout=5";

        var e = await Assert.ThrowsAsync<InfrastructureException>(() => _collector.CollectAsync("prod", "mail", cs, CancellationToken.None));

        Assert.Equal("prod/mail", e.Host);
        Assert.DoesNotContain("sup3r-s3cret", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sup3r-s3cret", e.ToString(), StringComparison.Ordinal);
        output.WriteLine(e.Message);
    }

    [SkippableFact]
    public async Task A_refused_login_is_an_infrastructure_error_naming_the_database()
    {
        pg.EnsureAvailable();
        var cs = pg.ConnectionStringFor("no_such_database");

        var e = await Assert.ThrowsAsync<InfrastructureException>(() => _collector.CollectAsync("prod", "mail", cs, CancellationToken.None));

        Assert.Contains("no_such_database", e.Message, StringComparison.Ordinal);
    }
}
