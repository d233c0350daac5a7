using Microsoft.Playwright;

namespace Stageproof.Cli.Tests.Reports;

/// <summary>What a page showed in Debian's headless Chromium: console and page errors, the verdict, the charts.</summary>
internal sealed record PageLook(IReadOnlyList<string> Errors, string Verdict, int Charts, long ScreenshotBytes);

internal static class Chromium
{
    public const string Executable = "/usr/bin/chromium";

    /// <summary>Opens a report file in headless Chromium, takes a full-page screenshot, and says what it saw.</summary>
    public static async Task<PageLook> LookAsync(string htmlPath, string pngPath)
    {
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Executable,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu"],
        });
        await using var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) =>
        {
            if (m.Type is "error" or "warning")
            {
                errors.Add($"{m.Type}: {m.Text}");
            }
        };
        page.PageError += (_, e) => errors.Add("page error: " + e);
        await page.GotoAsync(new Uri(Path.GetFullPath(htmlPath)).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
        var verdict = (await page.Locator("#verdict .verdict").InnerTextAsync()).Trim();
        var charts = await page.Locator("svg.chart").CountAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = pngPath, FullPage = true });
        return new PageLook(errors, verdict, charts, new FileInfo(pngPath).Length);
    }
}
