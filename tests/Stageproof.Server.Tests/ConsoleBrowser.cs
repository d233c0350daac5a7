using Microsoft.Playwright;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Server.Tests;

/// <summary>Debian's real headless Chromium driven by Playwright, logged in to the console through its login form,
/// recording every console error, page error and request that leaves the server.</summary>
internal static class ConsoleBrowser
{
    public const string Chromium = "/usr/bin/chromium";

    /// <summary>How long any page action may take before the test calls the page stuck.</summary>
    public const float LivenessMs = 120_000;

    /// <summary>One browser's page in a context of its own (its own cookies and storage), on the shared browser.</summary>
    public sealed class Session(IBrowserContext context, IPage page, List<string> problems) : IAsyncDisposable
    {
        public IPage Page { get; } = page;
        public List<string> Problems { get; } = problems;

        public async ValueTask DisposeAsync() => await context.CloseAsync();
    }

    /// <summary>
    /// One Playwright driver and one Chromium for the whole test run, started by the first session and ended when the
    /// test process exits; every session is a fresh context of it, as isolated as a fresh browser for what these tests
    /// see (cookies, storage, cache). A driver and a browser cost about 2 CPU-seconds to start here, and these tests
    /// open about a dozen sessions.
    /// </summary>
    private static readonly Lazy<Task<IBrowser>> s_browser = new(LaunchAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    private static async Task<IBrowser> LaunchAsync()
    {
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium, Headless = true, Args = ["--headless", "--no-sandbox", "--disable-gpu"],
        });
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            // Ends Chromium and the driver with the test process, whichever test was last; a driver already gone has
            // taken its browser with it, and an exception here would only turn a finished run into a crashed one.
            try
            {
                browser.CloseAsync().Wait(TimeSpan.FromSeconds(10));
            }
            catch (Exception e) when (e is AggregateException or PlaywrightException or ObjectDisposedException)
            {
            }
            playwright.Dispose();
        };
        return browser;
    }

    /// <summary>
    /// Waits until the page's URL matches <paramref name="glob"/> (<c>**</c> any text, <c>*</c> any text without a slash),
    /// committed, not loaded: the page's elements are then awaited by the next step (with <see cref="LivenessMs"/>); on a
    /// busy machine the load event of a page holding a live event stream has been seen not to come within minutes although
    /// the page was on screen. Playwright's own WaitForURL, when the URL already matches, waits for the
    /// load event instead, whatever WaitUntil says (Commit has no load state), and the click before it often waits for the
    /// navigation to commit: an approval's answer page was on screen while the wait for its load timed out after two
    /// minutes, twice on a busy machine.
    /// </summary>
    public static Task ArrivedAsync(IPage page, string glob)
    {
        var pattern = new System.Text.RegularExpressions.Regex("^" + string.Concat(System.Text.RegularExpressions.Regex.Split(glob, @"(\*\*|\*)")
            .Select(part => part switch { "**" => ".*", "*" => "[^/]*", _ => System.Text.RegularExpressions.Regex.Escape(part) })) + "$");
        return ArrivedAsync(page, pattern.IsMatch);
    }

    /// <summary>As <see cref="ArrivedAsync(IPage, string)"/>, for a URL test. Polls the page's URL (updated as each
    /// navigation commits) rather than waiting for a navigation event: one that commits between reading the URL and
    /// subscribing is never seen, and a sign-in page that moves on at once (a refresh after 0 s) lost that race about
    /// one run in four here (a two-minute timeout each time; never since it polls).</summary>
    public static async Task ArrivedAsync(IPage page, Func<string, bool> at)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!at(page.Url))
        {
            if (waited.Elapsed.TotalMilliseconds > LivenessMs)
            {
                throw new TimeoutException($"the page stayed at {page.Url} for {LivenessMs / 1000:0} s");
            }
            await Task.Delay(50);
        }
    }

    /// <summary>How a test opens a page: until it is committed (see <see cref="ArrivedAsync(IPage, string)"/>).</summary>
    public static readonly PageGotoOptions Visit = new() { WaitUntil = WaitUntilState.Commit, Timeout = LivenessMs };

    /// <summary>A fresh browser context of the shared headless browser on one page, every wait bounded by <see cref="LivenessMs"/>, recording console
    /// errors and warnings, page errors and any request to a site other than <paramref name="sites"/> as problems.</summary>
    public static async Task<Session> OpenAsync(params Uri[] sites)
    {
        Requires.Executable(Chromium);
        var browser = await s_browser.Value;
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        // Bounds for a stuck page, not a measure of speed: on a machine busy with a build and the lab, a password check,
        // a page's first render and a click's navigation to a sign-in provider have taken longer than Playwright's
        // default 30 s.
        context.SetDefaultTimeout(LivenessMs);
        context.SetDefaultNavigationTimeout(LivenessMs);
        var page = await context.NewPageAsync();
        var problems = new List<string>();
        page.Console += (_, m) =>
        {
            if (m.Type is "error" or "warning")
            {
                problems.Add($"console {m.Type}: {m.Text} ({m.Location})");
            }
        };
        page.PageError += (_, e) => problems.Add("page error: " + e);
        var origins = sites.Select(s => s.GetLeftPart(UriPartial.Authority)).ToArray();
        page.Request += (_, r) =>
        {
            if (!origins.Any(o => r.Url.StartsWith(o, StringComparison.Ordinal)))
            {
                problems.Add("request elsewhere: " + r.Url);
            }
        };
        return new Session(context, page, problems);
    }

    /// <summary>A browser logged in as <paramref name="who"/> (from /approvals, which sends it to the login form first).</summary>
    public static async Task<Session> LogInAsync(Uri baseAddress, string who, string password)
    {
        var session = await OpenAsync(baseAddress);
        var page = session.Page;
        await page.GotoAsync(new Uri(baseAddress, "/approvals").ToString(), Visit);
        Assert.EndsWith("/login?ReturnUrl=%2Fapprovals", page.Url, StringComparison.Ordinal);
        await page.FillAsync("#user", who);
        await page.FillAsync("#password", password);
        await page.ClickAsync("#login");
        await ArrivedAsync(page, u => !u.Contains("/login", StringComparison.Ordinal));
        return session;
    }

    /// <summary>A full-page screenshot under the test output's artifacts directory.</summary>
    public static async Task ScreenshotAsync(IPage page, string name, ITestOutputHelper output, string prefix = "console")
    {
        var artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        var path = Path.Combine(artifacts, $"{prefix}-{name}.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        Assert.True(new FileInfo(path).Length > 5 * 1024, $"{path} is nearly empty");
        output.WriteLine($"screenshot: {path}");
    }
}
