using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Stageproof.Core;
using Xunit.Abstractions;

namespace Stageproof.Server.Tests;

/// <summary>
/// Aborting and resuming rollouts through the server: a real rollout of SLOW-1 onto the staging host, running in the
/// server's background, is stopped mid-way by bob (not by vera, a viewer) and ends aborted and rolled back well before
/// its command would have finished; a rollout left behind by a dead process is resumed to success; what has ended can
/// be neither aborted nor resumed (409, as the CLI refuses it). The CLI does the same through --server.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class RolloutControlApiTests(RolloutEstate estate, ITestOutputHelper output) : IClassFixture<RolloutEstate>
{
    private static Uri Path(string id, string verb) => new($"/api/v1/rollouts/{id}/{verb}", UriKind.Relative);

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}, expected {(int)status}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement;
    }

    [Fact]
    public async Task A_running_rollout_is_aborted_mid_way_and_ends_rolled_back_and_cannot_be_resumed()
    {
        var id = await estate.PromoteSlowAsync();
        using var bob = estate.Client("bob");
        using var vera = estate.Client("vera");

        // vera reads staging but may not promote there, so she may not stop a rollout either.
        using (var refused = await vera.PostAsJsonAsync(Path(id, "abort"), new { comment = "looks slow" }))
        {
            var problem = await ProblemAsync(refused, HttpStatusCode.Forbidden);
            Assert.Equal("role", problem.GetProperty("rule").GetString());
            Assert.Contains("vera (viewer", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        // It is running here: there is nothing to resume.
        using (var running = await bob.PostAsync(Path(id, "resume"), null))
        {
            Assert.Equal("one-rollout-per-environment", (await ProblemAsync(running, HttpStatusCode.Conflict)).GetProperty("rule").GetString());
        }
        // Nor may another set be promoted to staging while it runs: refused by the same rule, and audited as refused.
        using (var second = await bob.PostAsJsonAsync(new Uri($"/api/v1/patch-sets/{estate.Digest}/promotions", UriKind.Relative), new { target = "staging" }))
        {
            var problem = await ProblemAsync(second, HttpStatusCode.Conflict);
            Assert.Equal("one-rollout-per-environment", problem.GetProperty("rule").GetString());
            Assert.Contains($"rollout {id} holds staging", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using (var aborted = await bob.PostAsJsonAsync(Path(id, "abort"), new { comment = "wrong window" }))
        {
            Assert.Equal(HttpStatusCode.Accepted, aborted.StatusCode);
            Assert.Equal($"/api/v1/rollouts/{id}", aborted.Headers.Location!.OriginalString);
            var answer = await aborted.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Contains("stopped where it stood; rolling back", answer.GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Equal("bob", answer.GetProperty("rollout").GetProperty("abortRequestedBy").GetString());
        }
        // Ended well before its command would have: the command was stopped, not waited for.
        var done = await estate.WaitForAsync(id, r => r.GetProperty("status").GetString() != "running", RolloutEstate.Sleep / 2);
        Assert.True(done.GetProperty("status").GetString() == "aborted", done.ToString());
        output.WriteLine(done.ToString());
        Assert.Equal("aborted by bob", done.GetProperty("message").GetString());
        Assert.Equal("rolledBack", done.GetProperty("hosts")[0].GetProperty("state").GetString());
        // The host is as it was before: the file the set had written is gone again.
        Assert.Equal("rolled back, matches its manifest from before the change", done.GetProperty("hosts")[0].GetProperty("message").GetString());
        Assert.False(File.Exists(estate.Note));

        // Ended: neither verb applies any more, through the API as through the CLI (exit 1, the same rule).
        foreach (var verb in new[] { "abort", "resume" })
        {
            using var again = await bob.PostAsync(Path(id, verb), null);
            var problem = await ProblemAsync(again, HttpStatusCode.Conflict);
            Assert.Equal("rollout-finished", problem.GetProperty("rule").GetString());
            Assert.Contains("already ended: aborted and rolled back", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        var (code, _, stderr) = await estate.CliRawAsync("--token-file", estate.TokenFile("bob"), "rollout", "resume", id);
        Assert.True(code == ExitCodes.Finding, stderr);
        Assert.Contains("refused by rule rollout-finished", stderr, StringComparison.Ordinal);

        using var admin = estate.Client("admin");
        var audit = (await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/audit", UriKind.Relative))).EnumerateArray().ToList();
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "rollout.abort" && e.GetProperty("actor").GetString() == "bob"
                                    && e.GetProperty("reason").GetString() == "wrong window");
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "refused" && e.GetProperty("actor").GetString() == "vera");
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "promote.refused" && e.GetProperty("actor").GetString() == "bob"
            && e.GetProperty("outcome").GetString()!.StartsWith($"refused by rule one-rollout-per-environment: rollout {id} holds staging", StringComparison.Ordinal));
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "rollout.finish" && e.GetProperty("outcome").GetString()!.StartsWith(id + ": aborted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_rollout_left_by_a_dead_process_is_resumed_to_its_end_in_the_background()
    {
        var id = await estate.InterruptedRolloutAsync();
        using var bob = estate.Client("bob");
        using var notFound = await bob.PostAsync(Path("ro-nobody-made-this", "resume"), null);
        Assert.Contains("no rollout", (await ProblemAsync(notFound, HttpStatusCode.NotFound)).GetProperty("detail").GetString(), StringComparison.Ordinal);

        using (var resumed = await bob.PostAsync(Path(id, "resume"), null))
        {
            Assert.Equal(HttpStatusCode.Accepted, resumed.StatusCode);
            Assert.Contains("resuming where its hosts are", (await resumed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("message").GetString(), StringComparison.Ordinal);
        }
        var done = await estate.WaitForAsync(id, r => r.GetProperty("status").GetString() != "running", TimeSpan.FromSeconds(90));
        Assert.True(done.GetProperty("status").GetString() == "succeeded", done.ToString());
        Assert.Equal("verified", done.GetProperty("hosts")[0].GetProperty("state").GetString());

        using var admin = estate.Client("admin");
        var audit = (await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/audit", UriKind.Relative))).EnumerateArray();
        Assert.Contains(audit, e => e.GetProperty("action").GetString() == "rollout.resume" && e.GetProperty("actor").GetString() == "bob"
                                    && e.GetProperty("outcome").GetString()!.StartsWith(id + " resumed by bob", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_cli_aborts_through_the_server_and_follows_the_rollback_to_its_end()
    {
        var id = await estate.PromoteSlowAsync();
        var url = estate.BaseAddress.GetLeftPart(UriPartial.Authority);

        var (refused, _, why) = await estate.CliRawAsync("--server", url, "--token-file", estate.TokenFile("vera"), "rollout", "abort", id);
        Assert.True(refused == ExitCodes.Finding, why);
        Assert.Contains("refused by rule role: vera (viewer", why, StringComparison.Ordinal);

        var (code, stdout, stderr) = await estate.CliRawAsync("--server", url, "--token-file", estate.TokenFile("bob"), "rollout", "abort", id[..^2], "--reason", "from the terminal");
        Assert.True(code == ExitCodes.Ok, stdout + stderr);
        Assert.Contains("stopped where it stood", stderr, StringComparison.Ordinal);
        Assert.Contains("aborted and rolled back", stdout, StringComparison.Ordinal);
        var done = await estate.WaitForAsync(id, _ => true, TimeSpan.FromSeconds(5));
        Assert.Equal("aborted", done.GetProperty("status").GetString());
        Assert.False(File.Exists(estate.Note));

        var (again, _, finished) = await estate.CliRawAsync("--server", url, "--token-file", estate.TokenFile("bob"), "rollout", "resume", id);
        Assert.True(again == ExitCodes.Finding, finished);
        Assert.Contains("refused by rule rollout-finished", finished, StringComparison.Ordinal);
    }
}
