using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Stageproof.Server.Tests;

/// <summary>The console's forms as a forger would send them: without the antiforgery token a logged-in browser holds,
/// or to an open redirect. Nothing is approved, promoted, aborted, resumed or revoked, and nobody is sent elsewhere.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class ConsoleFormTests(ConsoleEstate estate) : IClassFixture<ConsoleEstate>
{
    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    /// <summary>A client with carol's console session (logged in through the real form), and the page's form token.</summary>
    private async Task<(HttpClient Client, string Token)> CarolAsync(string returnUrl = "/")
    {
        var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true }) { BaseAddress = estate.BaseAddress, Timeout = TestLoopback.RequestLiveness };
        var login = await client.GetStringAsync(new Uri("/login", UriKind.Relative));
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = AntiforgeryField().Match(login).Groups[1].Value,
            ["user"] = "carol", ["password"] = ConsoleEstate.Password, ["returnUrl"] = returnUrl,
        });
        using var answer = await client.PostAsync(new Uri("/login", UriKind.Relative), form);
        Assert.Equal(HttpStatusCode.Redirect, answer.StatusCode);
        // A path of this site is followed; anything that would leave it goes home instead.
        Assert.Equal(returnUrl is "/" or "/approvals" ? returnUrl : "/", answer.Headers.Location!.OriginalString);
        var page = await client.GetStringAsync(new Uri($"/patch-sets/{estate.Digest}", UriKind.Relative));
        return (client, AntiforgeryField().Match(page).Groups[1].Value);
    }

    private async Task<int> ApprovalsAsync()
    {
        using var admin = estate.Client("admin");
        return (await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/approvals", UriKind.Relative))).GetArrayLength();
    }

    [Fact]
    public async Task An_approver_sees_the_rollback_story_of_the_staging_pass_beside_the_approve_form()
    {
        var (client, _) = await CarolAsync();
        using (client)
        {
            var set = await client.GetStringAsync(new Uri($"/patch-sets/{estate.Digest}", UriKind.Relative));
            Assert.Contains("<ul id=\"rollback-story\">", set, StringComparison.Ordinal);
            Assert.Contains(System.Net.WebUtility.HtmlEncode(ConsoleEstate.RollbackStory), set, StringComparison.Ordinal);
            var queue = await client.GetStringAsync(new Uri("/approvals", UriKind.Relative));
            Assert.Contains(ConsoleEstate.StageRunId, queue, StringComparison.Ordinal);
            Assert.Contains(System.Net.WebUtility.HtmlEncode(ConsoleEstate.RollbackStory), queue, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_form_posted_without_its_antiforgery_token_changes_nothing()
    {
        var before = await ApprovalsAsync();
        var (client, token) = await CarolAsync();
        using (client)
        {
            Assert.NotEmpty(token);
            var carolsToken = estate.Tokens["carol"].Split('_')[1];
            foreach (var (path, id) in new[]
                     {
                         ("/console/approve", ""), ("/console/promote", ""), ("/console/rollouts/abort", ConsoleEstate.RolloutId),
                         ("/console/rollouts/resume", ConsoleEstate.RolloutId), ("/console/tokens/revoke", carolsToken),
                     })
            {
                using var forged = new FormUrlEncodedContent(new Dictionary<string, string>
                {
                    ["digest"] = estate.Digest, ["environment"] = "prod", ["target"] = "staging", ["confirm"] = "yes", ["id"] = id,
                });
                using var answer = await client.PostAsync(new Uri(path, UriKind.Relative), forged);
                Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
                Assert.Contains("anti-forgery", await answer.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
            }
        }
        Assert.Equal(before, await ApprovalsAsync());
        using var admin = estate.Client("admin");
        var rollouts = await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/rollouts?environment=staging", UriKind.Relative));
        Assert.DoesNotContain(rollouts.EnumerateArray(), r => r.GetProperty("actor").GetString() == "carol");
        // The rollout was neither aborted nor resumed, and carol's token still works.
        var rollout = await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/rollouts/{ConsoleEstate.RolloutId}", UriKind.Relative));
        Assert.Equal("running", rollout.GetProperty("status").GetString());
        Assert.False(rollout.TryGetProperty("abortRequestedBy", out _), rollout.ToString());
        using var carol = estate.Client("carol");
        Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync(new Uri("/api/v1/me", UriKind.Relative))).StatusCode);
        var audit = await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/audit", UriKind.Relative));
        Assert.DoesNotContain(audit.EnumerateArray(), e => e.GetProperty("action").GetString() is "rollout.abort" or "rollout.resume" or "token.revoke"
                                                           && e.GetProperty("actor").GetString() == "carol");
    }

    [Fact]
    public async Task The_tokens_page_makes_no_token_for_a_form_without_its_antiforgery_token()
    {
        using var admin = estate.Client("admin");
        async Task<int> CarolsTokensAsync() =>
            (await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/tokens", UriKind.Relative))).EnumerateArray().Count(t => t.GetProperty("user").GetString() == "carol");
        var before = await CarolsTokensAsync();
        var (client, _) = await CarolAsync();
        using (client)
        {
            using var forged = new FormUrlEncodedContent(new Dictionary<string, string> { ["_handler"] = "token-create", ["Form.Expires"] = "never" });
            using var answer = await client.PostAsync(new Uri("/tokens", UriKind.Relative), forged);
            Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
            // Refused by the framework before the page runs: no secret in the answer.
            Assert.DoesNotContain("spt_", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.Equal(before, await CarolsTokensAsync());
    }

    [Fact]
    public async Task Logging_in_never_redirects_to_another_site()
    {
        foreach (var target in new[] { "/approvals", "https://evil.example/", "//evil.example/", "/\\evil.example/" })
        {
            var (client, _) = await CarolAsync(target);
            client.Dispose();
        }
    }
}
