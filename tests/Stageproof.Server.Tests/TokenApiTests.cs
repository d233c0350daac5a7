using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Stageproof.Server.Tests;

/// <summary>
/// Tokens made and revoked through the API: a new token authenticates its user at once and a revoked one nobody; a
/// viewer cannot make one for somebody else; no token reaches beyond its user, nor beyond the token its maker presented;
/// wrong fields are named. Every step lands in the audit log with who did it.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class TokenApiTests(ServerEstate estate) : IClassFixture<ServerEstate>
{
    private static readonly Uri Tokens = new("/api/v1/tokens", UriKind.Relative);

    private HttpClient Presenting(string token)
    {
        var client = new HttpClient { BaseAddress = estate.BaseAddress, Timeout = TestLoopback.RequestLiveness };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static async Task<string> DetailAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}, expected {(int)status}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString()!;
    }

    [Fact]
    public async Task A_created_token_works_at_once_and_a_revoked_one_is_refused()
    {
        using var bob = estate.Client("bob");
        using var created = await bob.PostAsJsonAsync(Tokens, new { environments = new[] { "staging" }, expires = "12h" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var answer = await created.Content.ReadFromJsonAsync<JsonElement>();
        var secret = answer.GetProperty("token").GetString()!;
        var id = answer.GetProperty("id").GetString()!;
        Assert.StartsWith($"spt_{id}_", secret, StringComparison.Ordinal);
        Assert.Equal("bob", answer.GetProperty("user").GetString());

        using (var fresh = Presenting(secret))
        {
            var me = await fresh.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/me", UriKind.Relative));
            Assert.Equal("bob", me.GetProperty("name").GetString());
            Assert.Equal(["staging"], me.GetProperty("environments").EnumerateArray().Select(e => e.GetString()).ToList());
            // Scoped to staging: prod is not the new token's to read, although it is bob's.
            using var prod = await fresh.GetAsync(new Uri("/api/v1/environments/prod", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Forbidden, prod.StatusCode);
        }
        // The listing shows it, never its secret.
        var listed = await bob.GetStringAsync(Tokens);
        Assert.Contains(id, listed, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, listed, StringComparison.Ordinal);

        // vera may not revoke bob's token; bob may.
        using (var vera = estate.Client("vera"))
        using (var refused = await vera.DeleteAsync(new Uri($"/api/v1/tokens/{id}", UriKind.Relative)))
        {
            Assert.Contains("only an admin may revoke a token for another user", await DetailAsync(refused, HttpStatusCode.Forbidden), StringComparison.Ordinal);
        }
        using (var revoked = await bob.DeleteAsync(new Uri($"/api/v1/tokens/{id}", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
            var summary = await revoked.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("bob", summary.GetProperty("revokedBy").GetString());
            Assert.False(summary.GetProperty("usable").GetBoolean());
        }
        using (var stale = Presenting(secret))
        using (var answerNow = await stale.GetAsync(new Uri("/api/v1/me", UriKind.Relative)))
        {
            Assert.Contains($"token {id} of bob is revoked", await DetailAsync(answerNow, HttpStatusCode.Unauthorized), StringComparison.Ordinal);
        }

        using var admin = estate.Client("admin");
        var audit = (await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/audit", UriKind.Relative))).EnumerateArray().ToList();
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "token.create" && e.GetProperty("actor").GetString() == "bob"
                                    && e.GetProperty("outcome").GetString()!.StartsWith($"token {id}, scoped to", StringComparison.Ordinal));
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "token.revoke" && e.GetProperty("actor").GetString() == "bob");
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "token.refused" && e.GetProperty("actor").GetString() == "vera");
    }

    [Fact]
    public async Task No_token_is_made_for_someone_else_by_a_non_admin_nor_wider_than_its_user()
    {
        using var vera = estate.Client("vera");
        var before = (await estate.Client("admin").GetFromJsonAsync<JsonElement>(Tokens)).GetArrayLength();
        using (var forBob = await vera.PostAsJsonAsync(Tokens, new { user = "bob" }))
        {
            Assert.Contains("only an admin may create a token for another user (vera is viewer)", await DetailAsync(forBob, HttpStatusCode.Forbidden), StringComparison.Ordinal);
        }
        using (var wider = await vera.PostAsJsonAsync(Tokens, new { role = "operator" }))
        {
            Assert.StartsWith("role: operator is beyond vera, who may act as viewer", await DetailAsync(wider, HttpStatusCode.UnprocessableEntity), StringComparison.Ordinal);
        }
        // sam approves for staging only: prod is beyond him.
        using (var sam = estate.Client("sam"))
        using (var prod = await sam.PostAsJsonAsync(Tokens, new { environments = new[] { "prod" } }))
        {
            Assert.StartsWith("environments: prod is beyond sam", await DetailAsync(prod, HttpStatusCode.UnprocessableEntity), StringComparison.Ordinal);
        }
        // carol presenting her staging token cannot mint herself a prod one, though carol covers prod.
        using (var scoped = estate.Client("carol@staging"))
        using (var prod = await scoped.PostAsJsonAsync(Tokens, new { environments = new[] { "prod" } }))
        {
            Assert.StartsWith("environments: prod is beyond carol", await DetailAsync(prod, HttpStatusCode.UnprocessableEntity), StringComparison.Ordinal);
        }
        foreach (var (body, says) in new (object Body, string Says)[]
                 {
                     (new { expires = "forever" }, "expires: 'forever' is not a duration"),
                     (new { role = "root" }, "role: 'root' is not viewer, operator, approver or admin"),
                     (new { environments = new[] { "moon" } }, "environments: "),
                 })
        {
            using var bad = await vera.PostAsJsonAsync(Tokens, body);
            Assert.StartsWith(says, await DetailAsync(bad, HttpStatusCode.UnprocessableEntity), StringComparison.Ordinal);
        }
        using (var unknown = await vera.DeleteAsync(new Uri("/api/v1/tokens/ffffffffffff", UriKind.Relative)))
        {
            Assert.Contains("no token", await DetailAsync(unknown, HttpStatusCode.NotFound), StringComparison.Ordinal);
        }
        // Nothing was made.
        Assert.Equal(before, (await estate.Client("admin").GetFromJsonAsync<JsonElement>(Tokens)).GetArrayLength());

        // An admin makes one for vera, narrower than her.
        using var admin = estate.Client("admin");
        using var made = await admin.PostAsJsonAsync(Tokens, new { user = "vera", environments = new[] { "staging" }, expires = "never" });
        Assert.Equal(HttpStatusCode.Created, made.StatusCode);
        var token = await made.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("vera", token.GetProperty("user").GetString());
        Assert.False(token.TryGetProperty("expiresAt", out _), "a token that never expires has no expiry");
    }
}
