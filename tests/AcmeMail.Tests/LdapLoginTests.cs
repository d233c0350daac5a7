using System.Net.Http.Json;
using Npgsql;
using Stageproof.Testing;

namespace AcmeMail.Tests;

/// <summary>
/// auth.backend = ldap: acme-mail checks a login by binding to a real slapd of the test's own as the user, and keeps the
/// user's mailbox row in the real PostgreSQL as before.
/// </summary>
[Collection("postgres")]
public sealed class LdapLoginTests(PgFixture pg, SlapdFixture slapd) : IClassFixture<SlapdFixture>
{
    private async Task<MailFiles> SeededAsync()
    {
        Requires.Root();
        Requires.Executable($"{PgServer.Bin}/initdb");
        slapd.Require();
        return new MailFiles(pg.Server, await pg.Server.CreateSeededDatabaseAsync(), $"""
            auth.backend = ldap
            auth.ldap.url = {slapd.Url}
            auth.ldap.user_dn = uid={"{user}"},{SlapdFixture.People}
            """);
    }

    private static async Task<int> StatusAsync(MailHost host, string user, string? password)
    {
        using var response = await host.Http.PostAsJsonAsync("/login", new { user, password });
        return (int)response.StatusCode;
    }

    private static async Task<long> UsersNamedAsync(MailFiles files, string name)
    {
        await using var conn = new NpgsqlConnection(AppSettings.Load(files.Paths).DbConnection);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM users WHERE name = @n", conn);
        cmd.Parameters.AddWithValue("n", name);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [SkippableFact]
    public async Task A_login_is_checked_by_the_directory_and_its_mailbox_row_made_once()
    {
        using var files = await SeededAsync();
        await using var host = await MailHost.StartAsync(files);

        var token = await host.LoginAsync("alice", SlapdFixture.Users["alice"]);
        Assert.Matches("^[0-9a-f]{64}$", token);
        Assert.NotEqual(token, await host.LoginAsync("alice", SlapdFixture.Users["alice"]));
        Assert.Equal(1, await UsersNamedAsync(files, "alice"));
        var (status, body) = await host.GetAsync("/mailbox/alice", token);
        Assert.Equal((200, "[]"), (status, body));

        Assert.Equal(401, await StatusAsync(host, "alice", SlapdFixture.Users["bob"]));
        // LDAP takes a bind with an empty password as anonymous, and that succeeds: acme-mail must refuse it itself.
        Assert.Equal(401, await StatusAsync(host, "bob", ""));
        // The database's own passwords no longer let anyone in.
        Assert.Equal(401, await StatusAsync(host, "user07", "password-07"));
        // A name cannot reach another part of the tree: it is one escaped RDN value.
        Assert.Equal(401, await StatusAsync(host, "alice,ou=people", SlapdFixture.Users["alice"]));
        Assert.Equal(0, await UsersNamedAsync(files, "bob"));
        Assert.Contains("login: refused for user bob by the directory (empty password)", files.ReadLog(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task With_the_directory_down_a_login_answers_503_and_says_why_in_the_log()
    {
        using var files = await SeededAsync();
        await using var host = await MailHost.StartAsync(files);
        Assert.Equal(200, await StatusAsync(host, "carol", SlapdFixture.Users["carol"]));
        await slapd.StopAsync();
        try
        {
            Assert.Equal(503, await StatusAsync(host, "carol", SlapdFixture.Users["carol"]));
            Assert.Contains($"WARN login: directory {slapd.Url} unavailable", await files.WaitForLogLineAsync("unavailable"), StringComparison.Ordinal);
        }
        finally
        {
            await slapd.StartAsync();
        }
        Assert.Equal(200, await StatusAsync(host, "carol", SlapdFixture.Users["carol"]));
    }
}
