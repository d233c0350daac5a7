using System.Net;
using System.Net.Http.Headers;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Stageproof.Server.Tests;

/// <summary>
/// Stopping a rollout and managing one's tokens in the console, in Debian's real headless Chromium: bob aborts a real
/// rollout of SLOW-1 mid-way after ticking the confirmation and watches it end aborted without reloading, while vera,
/// a viewer, is offered no button at all; bob makes himself a token, sees it once, and revokes it.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RolloutControlBrowserTests(RolloutEstate estate, ITestOutputHelper output) : IClassFixture<RolloutEstate>
{
    private static readonly LocatorWaitForOptions Long = new() { Timeout = ConsoleBrowser.LivenessMs };

    [SkippableFact]
    public async Task Bob_aborts_a_running_rollout_after_confirming_and_sees_it_end_aborted_live()
    {
        var id = await estate.PromoteSlowAsync();
        var address = new Uri(estate.BaseAddress, $"/rollouts/{id}").ToString();

        await using (var vera = await ConsoleBrowser.LogInAsync(estate.BaseAddress, "vera", RolloutEstate.Password))
        {
            await vera.Page.GotoAsync(address, ConsoleBrowser.Visit);
            Assert.Equal("running", await vera.Page.InnerTextAsync("#rollout-status"));
            Assert.Equal(0, await vera.Page.Locator("#abort, #resume").CountAsync());
            Assert.Empty(vera.Problems);
        }

        await using var bob = await ConsoleBrowser.LogInAsync(estate.BaseAddress, "bob", RolloutEstate.Password);
        var page = bob.Page;
        await page.GotoAsync(address, ConsoleBrowser.Visit);
        Assert.Equal("running", await page.InnerTextAsync("#rollout-status"));
        // It runs in this server: there is nothing to resume, only to abort.
        Assert.Equal(0, await page.Locator("#resume").CountAsync());
        var abort = page.Locator("form:has(#abort)");
        // Nothing is aborted without the confirmation ticked (the browser insists, and so does the server).
        Assert.False(await abort.Locator("input[name=confirm]").EvaluateAsync<bool>("e => e.checkValidity()"));
        await ConsoleBrowser.ScreenshotAsync(page, "rollout-abort", output);
        await abort.Locator("input[name=comment]").FillAsync("the canary is taking too long");
        await abort.Locator("input[name=confirm]").CheckAsync();
        await abort.Locator("#abort").ClickAsync();
        await ConsoleBrowser.ArrivedAsync(page, $"**/rollouts/{id}");
        Assert.Contains("stopped where it stood; rolling back", await page.InnerTextAsync(".notice.ok"), StringComparison.Ordinal);
        Assert.Contains("abort requested by bob", await page.InnerTextAsync("#abort-requested"), StringComparison.Ordinal);
        var loads = 0;
        page.Load += (_, _) => loads++;

        await page.Locator("#rollout-status", new PageLocatorOptions { HasTextString = "aborted" }).WaitForAsync(Long);
        Assert.Equal("rolledback", await page.InnerTextAsync($"tr[data-host='stage-1'] .state"));
        Assert.Equal("rolled back, matches its manifest from before the change", await page.InnerTextAsync($"tr[data-host='stage-1'] .message"));
        Assert.Equal(0, loads);
        Assert.False(File.Exists(estate.Note));
        await ConsoleBrowser.ScreenshotAsync(page, "rollout-aborted", output);

        // Ended: no button any more.
        await page.ReloadAsync();
        Assert.Equal(0, await page.Locator("#abort, #resume").CountAsync());
        Assert.Empty(bob.Problems);
    }

    [SkippableFact]
    public async Task Bob_makes_himself_a_token_sees_it_once_and_revokes_it()
    {
        await using var bob = await ConsoleBrowser.LogInAsync(estate.BaseAddress, "bob", RolloutEstate.Password);
        var page = bob.Page;
        await page.ClickAsync("nav a[href='/tokens']");
        await ConsoleBrowser.ArrivedAsync(page, "**/tokens");
        await page.FillAsync("input[name='Form.Environments']", "staging");
        await page.FillAsync("input[name='Form.Expires']", "1h");
        await page.ClickAsync("#create-token");
        await page.Locator("#token-created").WaitForAsync(Long);
        var secret = (await page.InnerTextAsync("#token-secret")).Trim();
        Assert.StartsWith("spt_", secret, StringComparison.Ordinal);
        Assert.Contains("scoped to", await page.InnerTextAsync("#token-created"), StringComparison.Ordinal);
        await ConsoleBrowser.ScreenshotAsync(page, "token-created", output);

        using var client = new HttpClient { BaseAddress = estate.BaseAddress, Timeout = TestLoopback.RequestLiveness };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri("/api/v1/me", UriKind.Relative))).StatusCode);

        // Shown once: the list has it, the secret appears nowhere on the next visit.
        var id = secret.Split('_')[1];
        await page.GotoAsync(new Uri(estate.BaseAddress, "/tokens").ToString(), ConsoleBrowser.Visit);
        Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);
        await page.ClickAsync($"button[data-revoke='{id}']");
        await ConsoleBrowser.ArrivedAsync(page, "**/tokens");
        Assert.Contains($"token {id} revoked", await page.InnerTextAsync(".notice.ok"), StringComparison.Ordinal);
        Assert.StartsWith("revoked", (await page.InnerTextAsync($"tr[data-token='{id}'] .state")).Trim(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(new Uri("/api/v1/me", UriKind.Relative))).StatusCode);
        await ConsoleBrowser.ScreenshotAsync(page, "token-revoked", output);
        Assert.Empty(bob.Problems);
    }
}
