using Microsoft.Playwright;
using Stageproof.Core.Rollouts;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Server.Tests;

/// <summary>
/// The web console in Debian's real headless Chromium, as its people use it: carol reads the stage report and approves
/// from the queue; alice is refused by name for her own set; bob watches a rollout's canary and batch turn verified
/// without reloading. No console errors, nothing requested from anywhere but the server, a screenshot of each screen
/// under the test output's artifacts directory.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ConsoleBrowserTests(ConsoleEstate estate, ITestOutputHelper output) : IClassFixture<ConsoleEstate>
{
    private const string Chromium = ConsoleBrowser.Chromium;

    private Task<ConsoleBrowser.Session> LogInAsync(string who, string? password = null) =>
        ConsoleBrowser.LogInAsync(estate.BaseAddress, who, password ?? ConsoleEstate.Password);

    private Task ScreenshotAsync(IPage page, string name) => ConsoleBrowser.ScreenshotAsync(page, name, output);

    [SkippableFact]
    public async Task Carol_reads_the_stage_report_from_the_queue_and_approves()
    {
        await using var carol = await LogInAsync("carol");
        var page = carol.Page;
        Assert.EndsWith("/approvals", page.Url, StringComparison.Ordinal);
        Assert.Contains("carol (approver)", await page.InnerTextAsync("#me"), StringComparison.Ordinal);
        var row = page.Locator("#queue tr[data-set='SRV-1'][data-environment='prod']");
        Assert.Contains("0 of 1", await row.InnerTextAsync(), StringComparison.Ordinal);
        await ScreenshotAsync(page, "approvals-queue");

        // The evidence is the staging PASS: its full report, the same page the CLI writes.
        await row.Locator("a.report").ClickAsync();
        await ConsoleBrowser.ArrivedAsync(page, $"**/stage-runs/{ConsoleEstate.StageRunId}/report");
        Assert.Equal("PASS", (await page.InnerTextAsync("#verdict .verdict")).Trim());
        await ScreenshotAsync(page, "stage-report");
        // Back to the queue by address, not history: a click right after GoBack could land on the page being left (the
        // approval's POST never left once in the fast tier, and the wait for its answer timed out).
        await page.GotoAsync(new Uri(estate.BaseAddress, "/approvals").ToString(), ConsoleBrowser.Visit);

        await row.Locator("input[name=comment]").FillAsync("read the staging report: load and logs clean");
        await row.Locator("button[data-approve='prod']").ClickAsync();
        await ConsoleBrowser.ArrivedAsync(page, $"**/patch-sets/{estate.Digest}");
        var notice = await page.InnerTextAsync(".notice.ok");
        Assert.Contains("carol approved SRV-1 for prod", notice, StringComparison.Ordinal);
        // Recorded with how carol was known: her console login.
        Assert.Contains("password:carol", await page.InnerTextAsync("table:has(th:text('approver'))"), StringComparison.Ordinal);
        await ScreenshotAsync(page, "approved");

        // The gate's answer for carol is shown before anything runs: prod has its approval and staging's PASS, but carol,
        // an approver, may not promote.
        var prod = await page.InnerTextAsync("#gate tr[data-environment='prod']");
        Assert.Contains("refused by rule role", prod, StringComparison.Ordinal);
        Assert.DoesNotContain("rule approvals", prod, StringComparison.Ordinal);
        Assert.Contains(ConsoleEstate.StageRunId, prod, StringComparison.Ordinal);

        // The queue no longer waits on it.
        await page.GotoAsync(new Uri(estate.BaseAddress, "/approvals").ToString(), ConsoleBrowser.Visit);
        Assert.Equal(0, await page.Locator("#queue tr[data-set='SRV-1'][data-environment='prod']").CountAsync());
        Assert.Empty(carol.Problems);
    }

    [SkippableFact]
    public async Task Alice_is_refused_by_name_when_she_approves_her_own_set()
    {
        await using var alice = await LogInAsync("alice");
        var page = alice.Page;
        await page.GotoAsync(new Uri(estate.BaseAddress, $"/patch-sets/{estate.Digest}").ToString(), ConsoleBrowser.Visit);
        await page.ClickAsync("button[data-approve='prod']");
        await ConsoleBrowser.ArrivedAsync(page, $"**/patch-sets/{estate.Digest}");
        var notice = await page.InnerTextAsync(".notice.refused");
        Assert.Contains("refused by rule four-eyes: alice wrote SRV-1", notice, StringComparison.Ordinal);
        await ScreenshotAsync(page, "four-eyes-refused");
        Assert.Empty(alice.Problems);
    }

    [SkippableFact]
    public async Task Bob_watches_the_canary_and_the_batch_turn_verified_without_reloading()
    {
        await using var bob = await LogInAsync("bob");
        var page = bob.Page;
        await page.GotoAsync(new Uri(estate.BaseAddress, $"/rollouts/{ConsoleEstate.RolloutId}").ToString(), ConsoleBrowser.Visit);
        Assert.Equal("running", await page.InnerTextAsync("#rollout-status"));
        var loads = 0;
        page.Load += (_, _) => loads++;

        // The engine's writes, step by step: canary verified, then the batch, then the rollout done.
        await estate.WriteRolloutAsync(estate.Rollout(h => h == "prod-1" ? RolloutHostState.Verified : RolloutHostState.Pending,
            b => b == 0 ? BatchState.Passed : BatchState.Pending, RolloutStatus.Running));
        await page.Locator("tr[data-host='prod-1'] .state", new PageLocatorOptions { HasTextString = "verified" }).WaitForAsync(new LocatorWaitForOptions { Timeout = ConsoleBrowser.LivenessMs });
        Assert.Equal("pending", await page.InnerTextAsync("tr[data-host='prod-2'] .state"));
        await ScreenshotAsync(page, "rollout-canary");

        await estate.WriteRolloutAsync(estate.Rollout(_ => RolloutHostState.Verified, _ => BatchState.Passed, RolloutStatus.Succeeded));
        await page.Locator("#rollout-status", new PageLocatorOptions { HasTextString = "succeeded" }).WaitForAsync(new LocatorWaitForOptions { Timeout = ConsoleBrowser.LivenessMs });
        foreach (var host in ConsoleEstate.ProdHosts)
        {
            Assert.Equal("verified", await page.InnerTextAsync($"tr[data-host='{host}'] .state"));
        }
        Assert.Equal(0, loads);
        await ScreenshotAsync(page, "rollout-done");
        Assert.Empty(bob.Problems);
    }

    [SkippableFact]
    public async Task Bob_promotes_to_staging_after_confirming_and_follows_the_real_rollout_to_its_end()
    {
        await using var bob = await LogInAsync("bob");
        var page = bob.Page;
        await page.GotoAsync(new Uri(estate.BaseAddress, $"/patch-sets/{estate.Digest}").ToString(), ConsoleBrowser.Visit);
        var staging = page.Locator("#gate tr[data-environment='staging']");
        Assert.Contains("allowed", await staging.InnerTextAsync(), StringComparison.Ordinal);
        // Nothing is promoted without the confirmation ticked (the browser insists, and so does the server).
        Assert.False(await staging.Locator("input[name=confirm]").EvaluateAsync<bool>("e => e.checkValidity()"));
        await staging.Locator("input[name=confirm]").CheckAsync();
        await staging.Locator("button[data-promote='staging']").ClickAsync();
        await ConsoleBrowser.ArrivedAsync(page, "**/rollouts/ro-*");
        Assert.Contains("is rolling out to staging", await page.InnerTextAsync(".notice.ok"), StringComparison.Ordinal);
        await page.Locator("#rollout-status", new PageLocatorOptions { HasTextString = "succeeded" }).WaitForAsync(new LocatorWaitForOptions { Timeout = ConsoleBrowser.LivenessMs });
        Assert.Equal("verified", await page.InnerTextAsync("tr[data-host='stage-1'] .state"));
        await ScreenshotAsync(page, "promoted-staging");
        Assert.Empty(bob.Problems);
    }

    [SkippableFact]
    public async Task A_wrong_password_is_refused_without_saying_whether_the_name_exists()
    {
        Requires.Executable(Chromium);
        foreach (var who in new[] { "vera", "nobody-by-this-name" })
        {
            await using var session = await ConsoleBrowser.OpenAsync(estate.BaseAddress);
            var page = session.Page;
            await page.GotoAsync(new Uri(estate.BaseAddress, "/login").ToString(), ConsoleBrowser.Visit);
            await page.FillAsync("#user", who);
            await page.FillAsync("#password", "not the password at all");
            await page.ClickAsync("#login");
            await ConsoleBrowser.ArrivedAsync(page, "**/login?returnUrl=*");
            Assert.Equal("user name or password not accepted", (await page.InnerTextAsync(".notice.refused")).Trim());
        }
    }
}
