using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Stageproof.Server.Tests;

/// <summary>Users managed through the API: admins only, bad fields named, the last admin never lost, every change in
/// the audit log with the authenticated admin.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class UserApiTests(ServerEstate estate) : IClassFixture<ServerEstate>
{
    private static readonly Uri Users = new("/api/v1/users", UriKind.Relative);

    private async Task<List<string>> NamesAsync()
    {
        using var admin = estate.Client("admin");
        var users = await admin.GetFromJsonAsync<JsonElement>(Users);
        return users.EnumerateArray().Select(u => u.GetProperty("name").GetString()!).ToList();
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response) => await response.Content.ReadFromJsonAsync<JsonElement>();

    [Fact]
    public async Task An_admin_adds_changes_and_removes_a_user_and_each_change_is_audited()
    {
        using var admin = estate.Client("admin");
        using var added = await admin.PostAsJsonAsync(Users, new { name = "dave", role = "operator", environments = new[] { "staging" } });
        Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        var dave = await added.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("operator", dave.GetProperty("role").GetString());
        Assert.Equal(["staging"], dave.GetProperty("environments").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("dave", await NamesAsync());

        using var changed = await admin.PostAsJsonAsync(Users, new { name = "dave", role = "approver" });
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Equal("approver", (await changed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("role").GetString());

        using var removed = await admin.DeleteAsync(new Uri("/api/v1/users/dave", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        Assert.DoesNotContain("dave", await NamesAsync());
        using var again = await admin.DeleteAsync(new Uri("/api/v1/users/dave", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);

        var audit = await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/audit?last=50", UriKind.Relative));
        var daves = audit.EnumerateArray().Where(e => e.GetProperty("target").GetString() == "dave").ToList();
        Assert.Equal(["user.add", "user.add", "user.remove"], daves.Select(e => e.GetProperty("action").GetString()));
        Assert.All(daves, e => Assert.Equal(ServerEstate.Admin, e.GetProperty("actor").GetString()));
    }

    [Fact]
    public async Task Only_an_admin_manages_users_and_a_refusal_changes_nothing()
    {
        var before = await NamesAsync();
        foreach (var who in new[] { "carol", "bob", "vera" })
        {
            using var client = estate.Client(who);
            using var add = await client.PostAsJsonAsync(Users, new { name = "mallory", role = "admin" });
            Assert.Equal(HttpStatusCode.Forbidden, add.StatusCode);
            Assert.Equal("role", (await ProblemAsync(add)).GetProperty("rule").GetString());
            using var remove = await client.DeleteAsync(new Uri("/api/v1/users/alice", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Forbidden, remove.StatusCode);
        }
        Assert.Equal(before, await NamesAsync());
    }

    [Fact]
    public async Task The_last_admin_can_be_neither_demoted_nor_removed()
    {
        using var admin = estate.Client("admin");
        using var demoted = await admin.PostAsJsonAsync(Users, new { name = ServerEstate.Admin, role = "viewer" });
        Assert.Equal(HttpStatusCode.Forbidden, demoted.StatusCode);
        var problem = await ProblemAsync(demoted);
        Assert.Equal("last-admin", problem.GetProperty("rule").GetString());
        Assert.Contains($"{ServerEstate.Admin} is the only admin", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var removed = await admin.DeleteAsync(new Uri($"/api/v1/users/{ServerEstate.Admin}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Forbidden, removed.StatusCode);
        Assert.Equal("last-admin", (await ProblemAsync(removed)).GetProperty("rule").GetString());

        using var users = await admin.GetAsync(Users);
        var still = (await users.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Single(u => u.GetProperty("name").GetString() == ServerEstate.Admin);
        Assert.Equal("admin", still.GetProperty("role").GetString());
    }

    [Theory]
    [InlineData("""{"name":"Bad Name","role":"viewer"}""", "name: user name")]
    [InlineData("""{"name":"erin","role":"superuser"}""", "role: 'superuser' is not one of viewer, operator, approver, admin")]
    [InlineData("""{"name":"erin","role":"1"}""", "role: '1' is not one of")]
    [InlineData("""{"name":"erin","role":"viewer","environments":["moon"]}""", "environments: ")]
    public async Task A_bad_field_is_named_and_nothing_is_added(string json, string says)
    {
        using var admin = estate.Client("admin");
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await admin.PostAsync(Users, content);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains(says, (await ProblemAsync(response)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("erin", await NamesAsync());
    }
}
