using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Stageproof.Server.Tests;

/// <summary>
/// Promoting through the API: the gate's refusals named with the right status, a dry run's plan, and a real rollout of
/// alice's set (its post command) onto the staging host, run in the server's background and followed through the API.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class PromotionApiTests(ServerEstate estate) : IClassFixture<ServerEstate>
{
    private Uri Promotions => new($"/api/v1/patch-sets/{estate.Digest}/promotions", UriKind.Relative);

    [Fact]
    public async Task The_gate_refuses_by_name_and_an_allowed_promotion_rolls_out_in_the_background()
    {
        using var carol = estate.Client("carol");
        using (var refused = await carol.PostAsJsonAsync(Promotions, new { target = "prod" }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Contains(problem.GetProperty("refusals").EnumerateArray(), r => r.GetProperty("rule").GetString() == "role");
        }

        using var bob = estate.Client("bob");
        using (var notReady = await bob.PostAsJsonAsync(Promotions, new { target = "prod" }))
        {
            Assert.Equal(HttpStatusCode.Conflict, notReady.StatusCode);
            var rules = (await notReady.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("refusals").EnumerateArray().Select(r => r.GetProperty("rule").GetString()).ToList();
            Assert.Contains("previous-stage-pass", rules);
            Assert.Contains("approvals", rules);
        }

        using (var dry = await bob.PostAsJsonAsync(Promotions, new { target = "staging", dryRun = true }))
        {
            Assert.Equal(HttpStatusCode.OK, dry.StatusCode);
            var plan = (await dry.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("plan");
            Assert.Equal(["stage-1"], plan.GetProperty("hosts").EnumerateArray().Select(h => h.GetProperty("host").GetString()).ToList());
        }
        using var admin = estate.Client("admin");
        Assert.Empty((await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/rollouts", UriKind.Relative))).EnumerateArray());

        using var started = await bob.PostAsJsonAsync(Promotions, new { target = "staging" });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var location = started.Headers.Location!;
        var rollout = default(JsonElement);
        for (var poll = 0; poll < 300; poll++)
        {
            rollout = await bob.GetFromJsonAsync<JsonElement>(location);
            if (rollout.GetProperty("status").GetString() != "running")
            {
                break;
            }
            await Task.Delay(200);
        }
        Assert.True(rollout.GetProperty("status").GetString() == "succeeded", rollout.ToString());
        Assert.Equal("bob", rollout.GetProperty("actor").GetString());
        Assert.Equal("verified", rollout.GetProperty("hosts")[0].GetProperty("state").GetString());

        var audit = await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/audit", UriKind.Relative));
        var actions = audit.EnumerateArray().Where(e => e.GetProperty("actor").GetString() == "bob").Select(e => e.GetProperty("action").GetString()).ToList();
        Assert.Contains("promote", actions);
        Assert.Contains("rollout.start", actions);
        Assert.Contains("promote.refused", actions);
    }
}
