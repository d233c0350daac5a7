using System.Diagnostics;
using Microsoft.Playwright;
using Stageproof.Application.Reports;
using Stageproof.Core.Stage;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Cli.Tests.Reports;

/// <summary>
/// Opens the HTML report in Debian's real headless Chromium (driven by Playwright's bundled driver, no browser
/// download) from a file:// URL: no console or page errors, no request beyond the file itself, the verdict visible,
/// the charts drawn, and a full-page screenshot left under the test output's artifacts directory.
/// </summary>
public sealed class StageHtmlBrowserTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";

    [SkippableTheory]
    [InlineData("fail")]
    [InlineData("pass")]
    public async Task Report_opens_in_headless_chromium_without_errors_and_is_screenshotted(string which)
    {
        Requires.Executable(Chromium);
        var result = which == "fail" ? StageSamples.Fail() : StageSamples.Pass();
        var artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        var htmlPath = Path.Combine(artifacts, $"stage-report-{which}.html");
        var pngPath = Path.Combine(artifacts, $"stage-report-{which}.png");
        File.Delete(pngPath);
        await File.WriteAllTextAsync(htmlPath, StageHtml.Render(result));

        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var watch = Stopwatch.StartNew();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu"],
        });
        await using var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var consoleErrors = new List<string>();
        var pageErrors = new List<string>();
        var requests = new List<string>();
        var dialogs = new List<string>();
        page.Console += (_, m) =>
        {
            if (m.Type is "error" or "warning")
            {
                consoleErrors.Add($"{m.Type}: {m.Text}");
            }
        };
        page.PageError += (_, e) => pageErrors.Add(e);
        page.Request += (_, r) => requests.Add(r.Url);
        page.Dialog += (_, d) => dialogs.Add(d.Message);
        var fileUrl = new Uri(htmlPath).AbsoluteUri;
        var response = await page.GotoAsync(fileUrl, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
        Assert.NotNull(response);

        var verdict = page.Locator("#verdict .verdict");
        Assert.True(await verdict.IsVisibleAsync());
        Assert.Equal(result.Verdict == StageVerdict.Pass ? "PASS" : "FAIL", (await verdict.InnerTextAsync()).Trim());
        var banner = await page.Locator("#verdict").EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");
        Assert.Equal(result.Verdict == StageVerdict.Pass ? "rgb(198, 246, 213)" : "rgb(254, 215, 215)", banner);

        var loadChecks = result.Comparisons.Count(c => c.Load is not null);
        Assert.Equal(loadChecks, await page.Locator("svg.chart.ecdf").CountAsync());
        Assert.Equal(loadChecks, await page.Locator("svg.chart.bars").CountAsync());
        Assert.Equal(2 * loadChecks + 1, await page.Locator("svg").CountAsync()); // + the fidelity meter
        Assert.True(await page.Locator("svg.chart.ecdf polyline").CountAsync() >= 2 * loadChecks);
        var box = await page.Locator("svg.chart.ecdf").First.BoundingBoxAsync();
        Assert.NotNull(box);
        Assert.True(box.Width > 300 && box.Height > 150, $"chart drawn at {box.Width}x{box.Height}");

        if (result.Verdict == StageVerdict.Fail)
        {
            foreach (var reason in result.Reasons)
            {
                Assert.True(await page.GetByText(reason.Subject, new PageGetByTextOptions { Exact = false }).First.IsVisibleAsync(), reason.Subject);
            }
            Assert.True(await page.Locator(".risk").IsVisibleAsync());
            // The hostile text is shown as text, and nothing ran.
            Assert.Contains("<script>alert('pwned')</script>", await page.Locator("#logs").InnerTextAsync(), StringComparison.Ordinal);
            Assert.Equal(0, await page.Locator("script").CountAsync());
        }

        await page.ScreenshotAsync(new PageScreenshotOptions { Path = pngPath, FullPage = true });
        // The first load check's charts alone, for a closer look.
        await page.Locator("article.load").First.ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(artifacts, $"stage-report-{which}-load.png") });
        watch.Stop();

        Assert.Empty(consoleErrors);
        Assert.Empty(pageErrors);
        Assert.Empty(dialogs);
        Assert.All(requests, u => Assert.Equal(fileUrl, u));
        var size = new FileInfo(pngPath).Length;
        Assert.True(size > 10 * 1024, $"screenshot {pngPath} is only {size} bytes");
        var line = $"stage report ({which}) screenshot: {pngPath} ({size / 1024} KB; browser part {watch.ElapsedMilliseconds} ms)";
        output.WriteLine(line);
        Console.WriteLine(line);
    }
}
