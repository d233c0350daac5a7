using System.Text.Json;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Stageproof.Server.Tests;

/// <summary>
/// Single sign-on in Debian's real headless Chromium, through the real test provider: pat, in patch-approvers, signs in
/// and works the approvals queue as an approver, known as oidc:pat; nora, in no mapped group, is refused with a page
/// that says why, and no user is made for her. Requests go to the server and the provider only; a screenshot of each
/// screen under the test output's artifacts directory.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class OidcBrowserTests(OidcEstate estate, ITestOutputHelper output) : IClassFixture<OidcEstate>
{
    /// <summary>A browser that asked for the approvals queue, was sent to the login page, chose single sign-on and signed in
    /// at the provider as <paramref name="person"/>: left wherever the server sent it.</summary>
    private async Task<ConsoleBrowser.Session> SignInAsync(string person)
    {
        var session = await ConsoleBrowser.OpenAsync(estate.BaseAddress, estate.Provider.Authority);
        var page = session.Page;
        var (server, provider) = (estate.BaseAddress.GetLeftPart(UriPartial.Authority), estate.Provider.Authority.GetLeftPart(UriPartial.Authority));
        await page.GotoAsync(new Uri(estate.BaseAddress, "/approvals").ToString(), ConsoleBrowser.Visit);
        Assert.EndsWith("/login?ReturnUrl=%2Fapprovals", page.Url, StringComparison.Ordinal);
        await page.ClickAsync("#sso");
        await ConsoleBrowser.ArrivedAsync(page, u => u.StartsWith(provider, StringComparison.Ordinal));
        Assert.Equal("Test identity provider", await page.TitleAsync());
        await page.FillAsync("#person", person);
        await page.ClickAsync("#idp-sign-in");
        // Back at the server: waited for until the page commits, not until it loads, for the landing page moves on at once.
        await ConsoleBrowser.ArrivedAsync(page, u => u.StartsWith(server, StringComparison.Ordinal));
        return session;
    }

    private Task ScreenshotAsync(IPage page, string name) => ConsoleBrowser.ScreenshotAsync(page, name, output, "oidc");

    [SkippableFact]
    public async Task Pat_in_patch_approvers_signs_in_and_approves_from_the_queue_as_an_approver_known_by_oidc()
    {
        estate.Provider.People["pat"] = ["patch-approvers", "staff"];
        await using var pat = await SignInAsync("pat");
        var page = pat.Page;
        // The landing page moves on to the queue by itself (a refresh of this site, so the session cookie goes along).
        await ConsoleBrowser.ArrivedAsync(page, "**/approvals");
        await page.Locator("#queue").WaitForAsync(new LocatorWaitForOptions { Timeout = ConsoleBrowser.LivenessMs });
        Assert.Contains("pat (approver)", await page.InnerTextAsync("#me"), StringComparison.Ordinal);
        var row = page.Locator("#queue tr[data-set='SRV-1'][data-environment='prod']");
        Assert.Contains("0 of 1", await row.InnerTextAsync(), StringComparison.Ordinal);
        await ScreenshotAsync(page, "approvals-queue");

        await row.Locator("input[name=comment]").FillAsync("approved through single sign-on");
        await row.Locator("button[data-approve='prod']").ClickAsync();
        await ConsoleBrowser.ArrivedAsync(page, $"**/patch-sets/{estate.Digest}");
        Assert.Contains("pat approved SRV-1 for prod", await page.InnerTextAsync(".notice.ok"), StringComparison.Ordinal);
        Assert.Contains("oidc:pat", await page.InnerTextAsync("table:has(th:text('approver'))"), StringComparison.Ordinal);
        await ScreenshotAsync(page, "approved");

        // The audit page shows the sign-in and its proof.
        await page.GotoAsync(new Uri(estate.BaseAddress, "/audit").ToString(), ConsoleBrowser.Visit);
        Assert.Contains("oidc:pat", await page.InnerTextAsync("main"), StringComparison.Ordinal);
        var audit = JsonDocument.Parse(await estate.CliAsync("--json", "audit", "log")).RootElement.EnumerateArray()
            .Where(e => e.GetProperty("actor").GetString() == "pat").ToList();
        Assert.Equal(["user.add", "login", "approve"], audit.Select(e => e.GetProperty("action").GetString()).Where(a => !a!.StartsWith("webhook.", StringComparison.Ordinal)));
        Assert.StartsWith("oidc:pat (approver on *", audit[1].GetProperty("outcome").GetString(), StringComparison.Ordinal);
        Assert.Empty(pat.Problems);
    }

    [SkippableFact]
    public async Task Nora_in_no_mapped_group_is_refused_with_the_reason_and_nothing_is_created()
    {
        estate.Provider.People["nora"] = ["staff", "interns"];
        await using var nora = await SignInAsync("nora");
        var page = nora.Page;
        Assert.Equal("Single sign-on refused", (await page.InnerTextAsync("h1")).Trim());
        Assert.Contains("nora has no Stageproof role: none of your 'groups' values (staff, interns) is mapped to one",
            await page.InnerTextAsync("#sso-outcome"), StringComparison.Ordinal);
        await ScreenshotAsync(page, "refused");

        // Not signed in: the console still asks for a login.
        await page.GotoAsync(new Uri(estate.BaseAddress, "/approvals").ToString(), ConsoleBrowser.Visit);
        Assert.Contains("/login", page.Url, StringComparison.Ordinal);
        var users = JsonDocument.Parse(await estate.CliAsync("--json", "user", "list")).RootElement.EnumerateArray();
        Assert.DoesNotContain(users, u => u.GetProperty("name").GetString() == "nora");
        var audit = JsonDocument.Parse(await estate.CliAsync("--json", "audit", "log")).RootElement.EnumerateArray()
            .Where(e => e.GetProperty("actor").GetString() == "nora").ToList();
        var refusal = Assert.Single(audit);
        Assert.Equal("login.refused", refusal.GetProperty("action").GetString());
        // The one error the browser reports is the refusal's own status.
        var problem = Assert.Single(nora.Problems);
        Assert.StartsWith($"console error: Failed to load resource: the server responded with a status of 403 (Forbidden) ({estate.BaseAddress}signin-oidc?", problem, StringComparison.Ordinal);
    }
}
