using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Stageproof.Cli;
using Stageproof.Core;

namespace Stageproof.Server.Tests;

/// <summary>Input a caller gets wrong, or gets wrong on purpose: a 4xx with one clear line naming the field, in Problem
/// Details, and nothing changed in the state.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class HostileInputTests(ServerEstate estate) : IClassFixture<ServerEstate>
{
    private Uri Approvals => new($"/api/v1/patch-sets/{estate.Digest}/approvals", UriKind.Relative);

    private async Task<(int Approvals, int Events)> CountsAsync()
    {
        using var admin = estate.Client("admin");
        var approvals = await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/approvals", UriKind.Relative));
        var audit = await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/audit", UriKind.Relative));
        return (approvals.GetArrayLength(), audit.GetArrayLength());
    }

    [Fact]
    public async Task Bad_bodies_get_a_problem_naming_what_is_wrong_and_change_nothing()
    {
        var before = await CountsAsync();
        using var carol = estate.Client("carol");
        var cases = new (string What, HttpContent Body, HttpStatusCode Status, string Says)[]
        {
            ("oversized", new StringContent($"{{\"environment\":\"prod\",\"comment\":\"{new string('x', 2 * 1024 * 1024)}\"}}", Encoding.UTF8, "application/json"),
                HttpStatusCode.RequestEntityTooLarge, "larger than this server accepts"),
            ("malformed", new StringContent("{\"environment\": \"prod\",", Encoding.UTF8, "application/json"), HttpStatusCode.BadRequest, "not valid JSON"),
            ("not JSON at all", new StringContent("environment=prod", Encoding.UTF8, "application/x-www-form-urlencoded"), HttpStatusCode.UnsupportedMediaType, ""),
            ("no environment", JsonContent.Create(new { comment = "looks fine" }), HttpStatusCode.UnprocessableEntity, "environment: required"),
            ("script as environment", JsonContent.Create(new { environment = "<script>alert(1)</script>" }), HttpStatusCode.UnprocessableEntity, "environment: no environment"),
            ("long comment", JsonContent.Create(new { environment = "prod", comment = new string('y', 5000) }), HttpStatusCode.UnprocessableEntity, "comment: 5000 characters"),
        };
        foreach (var (what, body, status, says) in cases)
        {
            using (body)
            using (var response = await carol.PostAsync(Approvals, body))
            {
                Assert.True(status == response.StatusCode, $"{what}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                if (says.Length > 0)
                {
                    Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                    var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
                    Assert.True(problem.TryGetProperty("detail", out var detailed), $"{what}: {problem}");
                    var detail = detailed.GetString()!;
                    Assert.Contains(says, detail, StringComparison.Ordinal);
                    Assert.DoesNotContain("   at ", detail, StringComparison.Ordinal);
                    Assert.DoesNotContain('\n', detail);
                }
                // Whatever the answer, it says it is not to be sniffed into a page, nor framed.
                Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
                Assert.Contains("frame-ancestors 'none'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
            }
        }
        Assert.Equal(before, await CountsAsync());
    }

    [Fact]
    public async Task Path_tricks_find_nothing_and_read_nothing_outside_the_api()
    {
        using var carol = estate.Client("carol");
        foreach (var path in new[] { "/api/v1/patch-sets/..%2F..%2F.stageproof%2Fstate.db", "/api/v1/rollouts/%2e%2e%2f%2e%2e", "/api/v1/environments/..%2Fprod", "/api/v1/patch-sets/%00" })
        {
            using var response = await carol.GetAsync(new Uri(path, UriKind.Relative));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"{path}: {(int)response.StatusCode} {body}");
            Assert.DoesNotContain("SQLite", body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_openapi_document_describes_the_api_and_metrics_count_its_requests()
    {
        using var vera = estate.Client("vera");
        var openapi = await vera.GetFromJsonAsync<JsonElement>(new Uri("/openapi/v1.json", UriKind.Relative));
        var paths = openapi.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/api/v1/patch-sets/{digest}/approvals", paths);
        Assert.Contains("/api/v1/rollouts/{id}", paths);
        Assert.DoesNotContain("/healthz", paths);
        _ = await vera.GetStringAsync(new Uri("/api/v1/me", UriKind.Relative));
        var metrics = await vera.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("http_requests_received_total{code=\"200\",method=\"GET\",controller=\"\",action=\"\",endpoint=\"/api/v1/me\"}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_refuses_a_url_it_cannot_listen_on_and_serves_until_stopped()
    {
        var bad = await estate.CliRawAsync("serve", "--urls", "ftp://127.0.9.2:21");
        Assert.Equal(ExitCodes.BadInput, bad.Code);
        Assert.Contains("--urls: 'ftp://127.0.9.2:21' is not an http:// or https:// URL", bad.Stderr, StringComparison.Ordinal);

        var address = TestLoopback.Or("127.0.9.3");
        int port;
        using (var probe = new TcpListener(IPAddress.Parse(address), 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var serving = StageproofCli.RunAsync(["--config", estate.ConfigPath, "--state", estate.StatePath, "serve", "--urls", $"http://{address}:{port}"],
            TextWriter.Null, TextWriter.Null, cancellationToken: stop.Token);
        using var client = new HttpClient { BaseAddress = new Uri($"http://{address}:{port}"), Timeout = TimeSpan.FromSeconds(5) };
        var healthy = false;
        for (var attempt = 0; attempt < 100 && !healthy && !serving.IsCompleted; attempt++)
        {
            try
            {
                healthy = (await client.GetAsync(new Uri("/healthz", UriKind.Relative))).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(200);
            }
        }
        Assert.True(healthy, serving.IsCompleted ? $"serve exited {await serving}" : "serve never answered /healthz");
        await stop.CancelAsync();
        Assert.Equal(ExitCodes.Ok, await serving);
        var audit = JsonDocument.Parse(await estate.CliAsync("--json", "audit", "log")).RootElement;
        Assert.Contains(audit.EnumerateArray(), e => e.GetProperty("action").GetString() == "serve.start" && e.GetProperty("target").GetString() == $"http://{address}:{port}");
    }
}
