using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Stageproof.Core.Audit;

namespace Stageproof.Server.Tests;

/// <summary>
/// What the CLI reads about the estate, read through the API over a state with recorded facts: hosts with their last
/// facts, manifests, drift (the CLI's own document), compliance and its report, the audit log as a file; freezing a
/// patch set by upload; and the console's estate and compliance pages over the same state.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class EstateApiTests(FactsEstate estate) : IClassFixture<FactsEstate>
{
    private static Uri Path(string path) => new(path, UriKind.Relative);

    [Fact]
    public async Task Hosts_show_their_environments_and_last_recorded_facts_within_the_callers_scope()
    {
        using var vera = estate.Client("vera");
        var hosts = await vera.GetFromJsonAsync<JsonElement>(Path("/api/v1/hosts"));
        Assert.Equal(["prod-1", "stage-1"], hosts.EnumerateArray().Select(h => h.GetProperty("name").GetString()));
        var stage = hosts.EnumerateArray().Single(h => h.GetProperty("name").GetString() == "stage-1");
        Assert.Equal(["staging"], stage.GetProperty("environments").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("local", stage.GetProperty("transport").GetString());
        var facts = stage.GetProperty("facts");
        // The later manifest, with the package the test added on top of what this machine has.
        var manifests = await vera.GetFromJsonAsync<JsonElement>(Path("/api/v1/manifests/staging"));
        var latest = manifests.EnumerateArray().Single();
        Assert.Equal(latest.GetProperty("digest").GetString(), facts.GetProperty("digest").GetString());
        Assert.Equal(latest.GetProperty("manifest").GetProperty("packages").GetArrayLength(), facts.GetProperty("packages").GetInt32());
        Assert.Contains(latest.GetProperty("manifest").GetProperty("packages").EnumerateArray(), p => p.GetProperty("name").GetString() == FactsEstate.DriftedPackage);

        // sam covers staging only: prod's host is neither listed nor served.
        using var sam = estate.Client("sam");
        var samHosts = await sam.GetFromJsonAsync<JsonElement>(Path("/api/v1/hosts"));
        Assert.Equal(["stage-1"], samHosts.EnumerateArray().Select(h => h.GetProperty("name").GetString()));
        using var refused = await sam.GetAsync(Path("/api/v1/hosts/prod-1"));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("role", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("rule").GetString());
        using var unknown = await sam.GetAsync(Path("/api/v1/hosts/nope"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Drift_through_the_api_is_the_clis_drift_json_from_the_same_recorded_facts()
    {
        var (code, stdout, stderr) = await estate.CliRawAsync("--json", "drift", "prod", "staging", "--stored");
        Assert.True(code is 0 or 1, stdout + stderr);
        using var bob = estate.Client("bob");
        using var response = await bob.GetAsync(Path("/api/v1/drift?from=prod&to=staging"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(stdout), JsonNode.Parse(body)), $"CLI:\n{stdout}\nAPI:\n{body}");

        var drift = JsonDocument.Parse(body).RootElement;
        Assert.Equal("prod (stored)", drift.GetProperty("left").GetString());
        Assert.Equal("staging (stored)", drift.GetProperty("right").GetString());
        Assert.True(drift.GetProperty("fidelity").GetDouble() < 1);
        Assert.Contains(FactsEstate.DriftedPackage, body, StringComparison.Ordinal);

        // Audited as bob, as the CLI's comparison is audited as its actor.
        using var admin = estate.Client("admin");
        var audit = await admin.GetFromJsonAsync<JsonElement>(Path("/api/v1/audit"));
        Assert.Contains(audit.EnumerateArray(), e => e.GetProperty("action").GetString() == "drift.compare" && e.GetProperty("actor").GetString() == "bob"
            && e.GetProperty("target").GetString() == "prod (stored) vs staging (stored)");

        // Bad operands name the field; a scoped caller cannot compare what it may not read.
        foreach (var (query, says) in new[] { ("to=staging", "from: required"), ("from=prod&to=nowhere", "'nowhere' is not an environment"), ("from=prod&to=staging&minFidelity=2", "minFidelity") })
        {
            using var bad = await bob.GetAsync(Path("/api/v1/drift?" + query));
            Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
            Assert.Contains(says, (await bad.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        using var scoped = estate.Client("carol@staging");
        using var denied = await scoped.GetAsync(Path("/api/v1/drift?from=prod-1&to=stage-1"));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
    }

    [Fact]
    public async Task Compliance_is_the_clis_report_and_its_html_page()
    {
        using var admin = estate.Client("admin");
        var report = await admin.GetFromJsonAsync<JsonElement>(Path("/api/v1/compliance"));
        Assert.Equal(["staging", "prod"], report.GetProperty("lifecycle").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(2, report.GetProperty("totals").GetProperty("hosts").GetInt32());
        // Each host has a manifest now: what compliance says of it comes from the recorded facts.
        Assert.All(report.GetProperty("environments").EnumerateArray().SelectMany(e => e.GetProperty("hosts").EnumerateArray()),
            h => Assert.NotEqual("no-manifest", h.GetProperty("drift").GetProperty("status").GetString()));
        var (code, stdout, stderr) = await estate.CliRawAsync("--json", "compliance");
        Assert.True(code is 0 or 1, stdout + stderr);
        var cli = JsonDocument.Parse(stdout).RootElement;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(cli.GetProperty("totals").GetRawText()), JsonNode.Parse(report.GetProperty("totals").GetRawText())));

        using var scoped = estate.Client("carol@staging");
        using (var whole = await scoped.GetAsync(Path("/api/v1/compliance")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, whole.StatusCode);
            Assert.Contains("?environment=", (await whole.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        var staging = await scoped.GetFromJsonAsync<JsonElement>(Path("/api/v1/compliance?environment=staging"));
        Assert.Equal(["staging"], staging.GetProperty("environments").EnumerateArray().Select(e => e.GetProperty("environment").GetString()));
        using (var unknown = await admin.GetAsync(Path("/api/v1/compliance?environment=nope")))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.StatusCode);
        }

        using var html = await admin.GetAsync(Path("/api/v1/compliance/report"));
        Assert.Equal(HttpStatusCode.OK, html.StatusCode);
        Assert.Equal("text/html", html.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'none'", html.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var page = await html.Content.ReadAsStringAsync();
        Assert.Contains("stage-1", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", page, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task The_audit_export_is_the_chain_as_json_lines_that_verifies_offline()
    {
        using var admin = estate.Client("admin");
        using var response = await admin.GetAsync(Path("/api/v1/audit/export"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        Assert.EndsWith(".jsonl", response.Content.Headers.ContentDisposition?.FileNameStar ?? response.Content.Headers.ContentDisposition?.FileName, StringComparison.Ordinal);
        var text = await response.Content.ReadAsStringAsync();
        var events = await AuditExport.ReadJsonLinesAsync(new StringReader(text));
        Assert.Contains(events, e => e.Action == "facts.collect" && e.Target == "stage-1");
        // Every hash and link verifies; only whether events came after the export cannot be told from the file alone.
        var verified = AuditChain.Verify(events);
        Assert.True(verified.Problem == AuditProblem.HeadMissing, verified.Message);
        var altered = events.Select((e, i) => i == 2 ? e with { Outcome = "something else" } : e).ToList();
        Assert.Equal(AuditProblem.Altered, AuditChain.Verify(altered).Problem);
        // The same bytes as the CLI's export of the chain up to there.
        var cli = await estate.CliAsync("audit", "export");
        Assert.StartsWith(text, cli, StringComparison.Ordinal);
        // Exporting is recorded, after the export (which ends where the chain stood).
        var audit = await admin.GetFromJsonAsync<JsonElement>(Path("/api/v1/audit"));
        Assert.Contains(audit.EnumerateArray(), e => e.GetProperty("action").GetString() == "audit.export");
    }

    private const string Uploaded = """
        id: UP-7
        title: <script>alert('uploaded')</script> & more
        reason: freeze by upload
        severity: medium
        author: someone
        commands:
          post: ["true"]
        """;

    [Fact]
    public async Task A_set_frozen_by_upload_is_the_cli_freeze_with_the_caller_as_who_froze_it()
    {
        using var bob = estate.Client("bob");
        using var created = await bob.PostAsync(Path("/api/v1/patch-sets"), new StringContent(Uploaded, Encoding.UTF8, "application/yaml"));
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(created.StatusCode == HttpStatusCode.Created, body.ToString());
        var digest = body.GetProperty("digest").GetString()!;
        Assert.Equal("UP-7", body.GetProperty("id").GetString());
        Assert.Equal($"/api/v1/patch-sets/{digest}", created.Headers.Location!.OriginalString);

        // The digest is the one 'patch freeze' gives the same file.
        var file = System.IO.Path.Combine(estate.Dir, "up-7.yaml");
        await File.WriteAllTextAsync(file, Uploaded);
        var cli = JsonDocument.Parse(await estate.CliAsync("--json", "patch", "freeze", file)).RootElement;
        Assert.Equal(digest, cli.GetProperty("digest").GetString());

        // Again: 409, and bob is who froze it — he is its author for four eyes.
        using (var again = await bob.PostAsync(Path("/api/v1/patch-sets"), new StringContent(Uploaded, Encoding.UTF8, "text/plain")))
        {
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
            Assert.Contains(digest, (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        using var admin = estate.Client("admin");
        var audit = await admin.GetFromJsonAsync<JsonElement>(Path("/api/v1/audit"));
        Assert.Contains(audit.EnumerateArray(), e => e.GetProperty("action").GetString() == "patch.freeze" && e.GetProperty("actor").GetString() == "bob"
            && e.GetProperty("payloadDigest").GetString() == digest && e.GetProperty("outcome").GetString() == "stored");

        // The console shows the title as text: the script is escaped, never run.
        using var console = await CarolAsync();
        var page = await console.GetStringAsync(Path($"/patch-sets/{digest}"));
        Assert.Contains("&lt;script&gt;alert(&#x27;uploaded&#x27;)&lt;/script&gt; &amp; more", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>alert", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_uploads_are_refused_naming_what_is_wrong_and_nothing_is_frozen()
    {
        using var bob = estate.Client("bob");
        var before = (await bob.GetFromJsonAsync<JsonElement>(Path("/api/v1/patch-sets"))).GetArrayLength();

        async Task<(HttpStatusCode Status, string Detail)> PostAsync(HttpContent content, bool expectContinue = false)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, Path("/api/v1/patch-sets")) { Content = content };
            request.Headers.ExpectContinue = expectContinue;
            using var response = await bob.SendAsync(request);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            return (response.StatusCode, problem.TryGetProperty("detail", out var d) ? d.GetString() ?? "" : "");
        }

        var invalid = await PostAsync(new StringContent("id: UP-8\ntitle: t\nreason: r\nseverity: urgent\nauthor: a\ncommands:\n  post: [\"true\"]\n", Encoding.UTF8, "application/yaml"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.Status);
        Assert.Matches(@"^upload:4:\d+: severity: ", invalid.Detail);

        var referring = await PostAsync(new StringContent(
            "id: UP-9\ntitle: t\nreason: r\nseverity: low\nauthor: a\nfiles:\n  - { path: /etc/x.conf, source: x.conf }\n", Encoding.UTF8, "application/yaml"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, referring.Status);
        Assert.Contains("'x.conf', which an upload cannot carry", referring.Detail, StringComparison.Ordinal);
        Assert.StartsWith("upload:7:", referring.Detail, StringComparison.Ordinal);

        var json = await PostAsync(JsonContent.Create(new { id = "UP-10" }));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, json.Status);

        // Sent as curl sends any body over 1 MB, asking first (Expect: 100-continue): the server answers 413 before a byte
        // of it is sent. Sent straight away, the client could still be writing when the server closed the connection
        // after its 413 ("Broken pipe", seen once in the fast tier).
        var huge = await PostAsync(new StringContent("id: UP-11\ntitle: t\nreason: " + new string('r', 1100 * 1024) + "\n", Encoding.UTF8, "application/yaml"), expectContinue: true);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.Status);

        Assert.Equal(before, (await bob.GetFromJsonAsync<JsonElement>(Path("/api/v1/patch-sets"))).GetArrayLength());
    }

    [Fact]
    public async Task The_console_shows_fidelity_per_environment_the_drift_between_stages_and_compliance()
    {
        using var console = await CarolAsync();
        using var estatePage = await console.GetAsync(Path("/"));
        var page = await estatePage.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, estatePage.StatusCode);
        Assert.DoesNotContain("'unsafe-inline'", estatePage.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        // prod follows staging in the lifecycle: its fidelity against staging, then the drift itself, item by item.
        var prodRow = Regex.Match(page, "<tr data-environment=\"prod\">.*?</tr>", RegexOptions.Singleline).Value;
        Assert.Matches(@"\d+\.\d%", prodRow);
        Assert.Contains("vs staging", prodRow, StringComparison.Ordinal);
        var section = Regex.Match(page, "<section class=\"drift\" data-from=\"staging\" data-to=\"prod\">.*?</section>", RegexOptions.Singleline).Value;
        Assert.Contains(FactsEstate.DriftedPackage, section, StringComparison.Ordinal);
        Assert.Contains("2.0-1", section, StringComparison.Ordinal);

        var compliance = await console.GetStringAsync(Path("/compliance"));
        Assert.Contains("data-host=\"stage-1\"", compliance, StringComparison.Ordinal);
        Assert.Contains("/compliance/report", compliance, StringComparison.Ordinal);
        using var report = await console.GetAsync(Path("/compliance/report"));
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        Assert.Contains("COMPLIANT", await report.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();

    /// <summary>A client with carol's console session, logged in through the real form.</summary>
    private async Task<HttpClient> CarolAsync()
    {
        var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true }) { BaseAddress = estate.BaseAddress, Timeout = TestLoopback.RequestLiveness };
        var login = await client.GetStringAsync(Path("/login"));
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = AntiforgeryField().Match(login).Groups[1].Value,
            ["user"] = "carol", ["password"] = FactsEstate.Password, ["returnUrl"] = "/",
        });
        using var answer = await client.PostAsync(Path("/login"), form);
        Assert.Equal(HttpStatusCode.Redirect, answer.StatusCode);
        return client;
    }
}
