using System.Text.Json;
using Npgsql;
using Stageproof.Testing;

namespace AcmeMail.Tests;

[Collection("postgres")]
public sealed class ServiceTests(PgFixture pg)
{
    private static void Need()
    {
        Requires.Root();
        Requires.Executable($"{PgServer.Bin}/initdb");
    }

    private async Task<MailFiles> SeededAsync() => new(pg.Server, await pg.Server.CreateSeededDatabaseAsync());

    [SkippableFact]
    public async Task Seed_creates_50_users_and_20000_messages_once()
    {
        Need();
        using var files = new MailFiles(pg.Server, await pg.Server.CreateDatabaseAsync());
        Assert.Equal(0, await files.RunCliAsync("--seed"));
        Assert.Equal(0, await files.RunCliAsync("--seed")); // idempotent
        var settings = AppSettings.Load(files.Paths);
        await using var conn = new NpgsqlConnection(settings.DbConnection);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM messages),
                   (SELECT min(name) || '..' || max(name) FROM users),
                   (SELECT count(DISTINCT subject) FROM messages)
            """, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        Assert.Equal(50, r.GetInt64(0));
        Assert.Equal(20_000, r.GetInt64(1));
        Assert.Equal("user01..user50", r.GetString(2));
        Assert.True(r.GetInt64(3) > 1000, "subjects should vary");
    }

    [SkippableFact]
    public async Task Health_reports_version_and_database()
    {
        Need();
        using var files = await SeededAsync();
        await using var host = await MailHost.StartAsync(files, new MailAppOptions { Version = "9.9" });
        var (status, body) = await host.GetAsync("/health", null);
        Assert.Equal(200, status);
        using var doc = JsonDocument.Parse(body);
        Assert.Equal("ok", doc.RootElement.GetProperty("status").GetString());
        Assert.Equal("9.9", doc.RootElement.GetProperty("version").GetString());
        Assert.Equal("ok", doc.RootElement.GetProperty("db").GetString());
        Assert.Matches(@" INFO GET /health 200 \d+ms", await files.WaitForLogLineAsync("GET /health"));
        Assert.Contains($"listening on http://{files.ListenAddress}:", files.ReadLog(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Login_checks_the_password_in_postgresql()
    {
        Need();
        using var files = await SeededAsync();
        await using var host = await MailHost.StartAsync(files);
        var token = await host.LoginAsync("user07", "password-07");
        Assert.Matches("^[0-9a-f]{64}$", token);

        using var wrong = await host.Http.PostAsync("/login", Json("""{"user":"user07","password":"password-08"}"""));
        Assert.Equal(401, (int)wrong.StatusCode);
        using var nobody = await host.Http.PostAsync("/login", Json("""{"user":"nobody","password":"x"}"""));
        Assert.Equal(401, (int)nobody.StatusCode);
        using var empty = await host.Http.PostAsync("/login", Json("""{"user":"user07"}"""));
        Assert.Equal(400, (int)empty.StatusCode);

        await using var conn = new NpgsqlConnection(AppSettings.Load(files.Paths).DbConnection);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT extract(epoch FROM expires_at - now())::int FROM sessions WHERE token = @t", conn);
        cmd.Parameters.AddWithValue("t", token);
        var seconds = (int)(await cmd.ExecuteScalarAsync())!;
        Assert.InRange(seconds, 59 * 60, 60 * 60);
    }

    [SkippableFact]
    public async Task Mailbox_returns_the_latest_20_messages_and_needs_a_token()
    {
        Need();
        using var files = await SeededAsync();
        await using var host = await MailHost.StartAsync(files);
        var token = await host.LoginAsync("user03", "password-03");

        var (status, body) = await host.GetAsync("/mailbox/user03", token);
        Assert.Equal(200, status);
        using var doc = JsonDocument.Parse(body);
        var items = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(20, items.Count);
        var times = items.Select(i => i.GetProperty("sent_at").GetDateTime()).ToList();
        Assert.Equal(times.OrderDescending(), times);
        Assert.All(items, i => Assert.False(string.IsNullOrEmpty(i.GetProperty("subject").GetString())));
        Assert.All(items, i => Assert.Contains("@", i.GetProperty("sender").GetString(), StringComparison.Ordinal));

        Assert.Equal(401, (await host.GetAsync("/mailbox/user03", null)).Status);
        Assert.Equal(401, (await host.GetAsync("/mailbox/user03", new string('0', 64))).Status);
    }

    [SkippableTheory]
    [InlineData(false, 200)] // release 1.0: the bug
    [InlineData(true, 403)]  // release 1.1: the fix
    public async Task Mailbox_with_another_users_token(bool enforceOwner, int expected)
    {
        Need();
        using var files = await SeededAsync();
        await using var host = await MailHost.StartAsync(files, new MailAppOptions { EnforceMailboxOwner = enforceOwner });
        var token = await host.LoginAsync("user01", "password-01");

        Assert.Equal(200, (await host.GetAsync("/mailbox/user01", token)).Status);
        var (status, body) = await host.GetAsync("/mailbox/user02", token);
        Assert.Equal(expected, status);
        if (expected == 200)
        {
            Assert.Contains("Hi User02", await FirstBodyOfAsync(files, "user02"), StringComparison.Ordinal);
            Assert.Equal(20, JsonDocument.Parse(body).RootElement.GetArrayLength());
        }
        Assert.Equal(expected, (await host.GetAsync("/search?q=invoice&user=user02", token)).Status);
    }

    [SkippableFact]
    public async Task Search_finds_a_seeded_word_through_the_indexer()
    {
        Need();
        using var files = await SeededAsync();
        await using var host = await MailHost.StartAsync(files);
        var indexed = await files.WaitForLogLineAsync("indexer: indexed");
        Assert.Matches(@" INFO indexer: indexed 20000 messages$", indexed);
        var token = await host.LoginAsync("user05", "password-05");

        var (status, body) = await host.GetAsync("/search?q=kubernetes&user=user05", token);
        Assert.Equal(200, status);
        var hits = JsonDocument.Parse(body).RootElement.EnumerateArray().ToList();
        Assert.InRange(hits.Count, 1, 20);
        Assert.All(hits, h => Assert.True(h.GetProperty("rank").GetSingle() > 0));

        // The hits are user05's messages that mention the word (PostgreSQL full-text search, not LIKE on subjects only).
        await using var conn = new NpgsqlConnection(AppSettings.Load(files.Paths).DbConnection);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT count(*) FROM messages m JOIN users u ON u.id = m.owner_id
            WHERE u.name = 'user05' AND (m.subject || ' ' || m.body) ILIKE '%kubernetes%'
            """, conn);
        var expected = (long)(await cmd.ExecuteScalarAsync())!;
        Assert.Equal(Math.Min(expected, 20), hits.Count);

        Assert.Equal(200, (await host.GetAsync("/search?q=kubernetes", token)).Status); // user defaults to the token's owner
        Assert.Equal(400, (await host.GetAsync("/search?user=user05", token)).Status);
        Assert.Equal(401, (await host.GetAsync("/search?q=kubernetes&user=user05", null)).Status);

        // New mail becomes searchable once the indexer has run.
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO messages (owner_id, sender, subject, body) SELECT id, 'zed@example.com', 'Xylophone lessons', 'Bring the xylophone.'
            FROM users WHERE name = 'user05'
            """, conn))
        {
            await insert.ExecuteNonQueryAsync();
        }
        await files.WaitForLogLineAsync("indexer: indexed 1 messages");
        var (_, found) = await host.GetAsync("/search?q=xylophone", token);
        Assert.Contains("Xylophone lessons", found, StringComparison.Ordinal);
    }

    private static StringContent Json(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    private static async Task<string> FirstBodyOfAsync(MailFiles files, string user)
    {
        await using var conn = new NpgsqlConnection(AppSettings.Load(files.Paths).DbConnection);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT body FROM messages m JOIN users u ON u.id = m.owner_id WHERE u.name = @u LIMIT 1", conn);
        cmd.Parameters.AddWithValue("u", user);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }
}

/// <summary>Needs its own PostgreSQL: it stops it.</summary>
public sealed class DatabaseOutageTests
{
    [SkippableFact]
    public async Task Indexer_logs_error_and_health_reports_503_when_the_database_goes_away()
    {
        Requires.Root();
        Requires.Executable($"{PgServer.Bin}/initdb");
        await using var pg = await PgServer.StartAsync();
        var db = await pg.CreateDatabaseAsync();
        using var files = new MailFiles(pg, db);
        await using var host = await MailHost.StartAsync(files);
        Assert.Matches(@"^\S+Z INFO indexer: indexed 0 messages$", await files.WaitForLogLineAsync("INFO indexer: indexed"));

        await pg.StopAsync();

        var error = await files.WaitForLogLineAsync("ERROR indexer:");
        Assert.Matches(@"^\S+Z ERROR indexer: cannot index messages: ", error);
        var (status, body) = await host.GetAsync("/health", null);
        Assert.Equal(503, status);
        Assert.Contains("\"db\":\"error\"", body, StringComparison.Ordinal);

        // And it recovers when the database is back.
        await pg.StartAgainAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await host.GetAsync("/health", null)).Status != 200)
        {
            Assert.True(DateTime.UtcNow < deadline, "health did not recover");
            await Task.Delay(100);
        }
    }
}
