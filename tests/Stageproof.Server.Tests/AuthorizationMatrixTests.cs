using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Stageproof.Core.Webhooks;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Server.Tests;

/// <summary>
/// Every endpoint × every kind of caller → the status an operations engineer expects: nothing is served or done for a
/// caller who is not authenticated (no token, a garbage, forged, expired or revoked one), and what an authenticated one
/// may see or do is decided per role and environment, refusals naming their rule.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class AuthorizationMatrixTests(ServerEstate estate, ITestOutputHelper output) : IClassFixture<ServerEstate>
{
    private static readonly string[] Unauthenticated = ["anonymous", "garbage", "forged", "expired", "revoked"];
    private static readonly string[] Authenticated = ["admin", "alice", "bob", "carol", "vera", "sam", "carol@staging"];

    /// <summary>One endpoint: what each caller gets, and the body sent (JSON, or YAML text of the caller's own).</summary>
    private sealed record Row(string Method, string Path, Func<string, HttpStatusCode> Expected, object? Body = null, Func<string, string>? Yaml = null);

    private IReadOnlyList<Row> Rows()
    {
        var d = estate.Digest;
        HttpStatusCode Everyone(string _) => HttpStatusCode.OK;
        // sam approves for staging only, and carol's staging token acts on staging only: prod, and anything spanning
        // every environment, is not theirs to read.
        HttpStatusCode ProdReaders(string who) => who is "sam" or "carol@staging" ? HttpStatusCode.Forbidden : HttpStatusCode.OK;
        return
        [
            new("GET", "/api/v1/me", Everyone),
            new("GET", "/api/v1/environments", Everyone),
            new("GET", "/api/v1/environments/prod", ProdReaders),
            new("GET", "/api/v1/environments/staging", Everyone),
            new("GET", "/api/v1/patch-sets", Everyone),
            new("GET", $"/api/v1/patch-sets/{d[..12]}", Everyone),
            new("GET", "/api/v1/stage-runs", Everyone),
            new("GET", "/api/v1/approvals", Everyone),
            new("GET", "/api/v1/rollouts", Everyone),
            new("GET", "/api/v1/rollouts/ro-none", _ => HttpStatusCode.NotFound),
            new("GET", "/api/v1/audit?last=5", ProdReaders),
            new("GET", "/api/v1/audit/verify", ProdReaders),
            new("GET", "/api/v1/users", who => who == "admin" ? HttpStatusCode.OK : HttpStatusCode.Forbidden),
            new("POST", "/api/v1/users", who => who == "admin" ? HttpStatusCode.OK : HttpStatusCode.Forbidden, new { name = "matrix-viewer", role = "viewer" }),
            new("DELETE", "/api/v1/users/nobody-here", who => who == "admin" ? HttpStatusCode.NotFound : HttpStatusCode.Forbidden),
            new("GET", "/api/v1/tokens", Everyone),
            new("GET", "/api/v1/webhooks/deliveries", ProdReaders),
            new("GET", "/metrics", Everyone),
            new("GET", "/openapi/v1.json", Everyone),
            // The estate as recorded (this state has no facts yet: a drift that may be read says so, 422).
            new("GET", "/api/v1/hosts", Everyone),
            new("GET", "/api/v1/hosts/prod-1", ProdReaders),
            new("GET", "/api/v1/hosts/stage-1", Everyone),
            new("GET", "/api/v1/manifests", Everyone),
            new("GET", "/api/v1/manifests/prod", ProdReaders),
            new("GET", "/api/v1/manifests/staging", Everyone),
            new("GET", "/api/v1/drift?from=prod&to=staging", who => who is "sam" or "carol@staging" ? HttpStatusCode.Forbidden : HttpStatusCode.UnprocessableEntity),
            new("GET", "/api/v1/drift?from=stage-1&to=stage-1", _ => HttpStatusCode.UnprocessableEntity),
            // The whole estate's compliance needs a scope over all of it; one environment, a role covering it.
            new("GET", "/api/v1/compliance", ProdReaders),
            new("GET", "/api/v1/compliance?environment=staging", Everyone),
            new("GET", "/api/v1/compliance?environment=prod", ProdReaders),
            new("GET", "/api/v1/compliance/report?environment=prod", ProdReaders),
            new("GET", "/api/v1/compliance/report?environment=staging", Everyone),
            new("GET", "/api/v1/audit/export", ProdReaders),
            // Collecting facts reaches the hosts: operators and admins (this estate's hosts are this machine, transport
            // local); an unknown target is the request's fault, after the role.
            new("POST", "/api/v1/facts", who => who is "admin" or "bob" ? HttpStatusCode.OK : HttpStatusCode.Forbidden, new { targets = new[] { "stage-1" } }),
            new("POST", "/api/v1/facts", who => who is "admin" or "bob" ? HttpStatusCode.UnprocessableEntity : HttpStatusCode.Forbidden, new { targets = new[] { "nowhere" } }),
            // Freezing by upload: anyone authenticated, as 'patch freeze' (each caller a set of their own).
            new("POST", "/api/v1/patch-sets", _ => HttpStatusCode.Created,
                Yaml: who => $"id: UP-1\ntitle: uploaded by {who}\nreason: the matrix\nseverity: low\nauthor: {who}\ncommands:\n  post: [\"true\"]\n"),
            // Promoting into prod (a dry run): operators and admins get the gate's 409 (no PASS in staging yet), everyone
            // else the role's 403.
            new("POST", $"/api/v1/patch-sets/{d[..12]}/promotions",
                who => who is "admin" or "bob" ? HttpStatusCode.Conflict : HttpStatusCode.Forbidden,
                new { target = "prod", dryRun = true }),
            // Approving SRV-1 (frozen by alice) for prod: approvers and admins covering prod, never its author.
            new("POST", $"/api/v1/patch-sets/{d[..12]}/approvals",
                who => who is "admin" or "carol" ? HttpStatusCode.Created : HttpStatusCode.Forbidden,
                new { environment = "prod", comment = "read the stage report" }),
            // Aborting and resuming: whoever may promote into prod (bob, an operator, and admins) is told the rollout
            // already ended (409); everyone else the role's 403. An unknown rollout is 404 for anyone.
            new("POST", "/api/v1/rollouts/ro-none/abort", _ => HttpStatusCode.NotFound, new { comment = "stop" }),
            new("POST", "/api/v1/rollouts/ro-none/resume", _ => HttpStatusCode.NotFound),
            new("POST", $"/api/v1/rollouts/{FinishedRollout}/abort", who => who is "admin" or "bob" ? HttpStatusCode.Conflict : HttpStatusCode.Forbidden,
                new { comment = "stop" }),
            new("POST", $"/api/v1/rollouts/{FinishedRollout}/resume", who => who is "admin" or "bob" ? HttpStatusCode.Conflict : HttpStatusCode.Forbidden),
            // Tokens: anyone makes one for themselves; for bob, only bob and admins.
            new("POST", "/api/v1/tokens", _ => HttpStatusCode.Created, new { expires = "1h" }),
            new("POST", "/api/v1/tokens", who => who is "admin" or "bob" ? HttpStatusCode.Created : HttpStatusCode.Forbidden, new { user = "bob", expires = "1h" }),
            // Revoking carol's already revoked token (so the matrix changes nothing): carol, through either of her tokens, and admins.
            new("DELETE", $"/api/v1/tokens/{estate.Tokens["revoked"].Split('_')[1]}",
                who => who is "admin" or "carol" or "carol@staging" ? HttpStatusCode.OK : HttpStatusCode.Forbidden),
            new("DELETE", "/api/v1/tokens/000000000000", _ => HttpStatusCode.NotFound),
        ];
    }

    /// <summary>A rollout to prod that ended, written as the engine leaves one.</summary>
    private const string FinishedRollout = "ro-matrix-finished";

    private async Task WriteFinishedRolloutAsync()
    {
        await using var store = await Data.SqliteStateStore.OpenKeyedAsync(estate.StatePath, TimeProvider.System);
        await store.SaveRolloutAsync(new Core.Rollouts.Rollout
        {
            Id = FinishedRollout, Environment = "prod", PatchDigest = estate.Digest, PatchId = "SRV-1", Actor = "bob", Policy = new Core.Lifecycle.RolloutPolicy(),
            Batches = [new Core.Rollouts.RolloutBatch { Index = 0, Name = "canary", Hosts = ["prod-1"], State = Core.Rollouts.BatchState.Passed }],
            Hosts = [new Core.Rollouts.RolloutHost { Host = "prod-1", Batch = 0, State = Core.Rollouts.RolloutHostState.Verified }],
            Status = Core.Rollouts.RolloutStatus.Succeeded, CreatedAt = DateTimeOffset.UtcNow, FinishedAt = DateTimeOffset.UtcNow,
        });
    }

    [Fact]
    public async Task Every_endpoint_answers_each_kind_of_caller_as_its_role_and_scope_say()
    {
        await WriteFinishedRolloutAsync();
        var mismatches = new List<string>();
        foreach (var row in Rows())
        {
            foreach (var who in Unauthenticated.Concat(Authenticated))
            {
                using var client = estate.Client(who == "anonymous" ? null : who);
                using var request = new HttpRequestMessage(new HttpMethod(row.Method), row.Path);
                if (row.Body is not null)
                {
                    request.Content = JsonContent.Create(row.Body);
                }
                else if (row.Yaml is not null)
                {
                    request.Content = new StringContent(row.Yaml(who), System.Text.Encoding.UTF8, "application/yaml");
                }
                using var response = await client.SendAsync(request);
                var expected = Unauthenticated.Contains(who) ? HttpStatusCode.Unauthorized : row.Expected(who);
                var body = await response.Content.ReadAsStringAsync();
                output.WriteLine($"{row.Method} {row.Path} as {who}: {(int)response.StatusCode}");
                if (response.StatusCode != expected)
                {
                    mismatches.Add($"{row.Method} {row.Path} as {who}: {(int)response.StatusCode}, expected {(int)expected}: {body}");
                }
                if (expected is HttpStatusCode.Unauthorized)
                {
                    // Refused before anything is read: the answer carries the reason, never data.
                    Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                    Assert.DoesNotContain(estate.Digest, body, StringComparison.Ordinal);
                }
            }
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Fact]
    public async Task A_bad_token_is_refused_with_its_reason_and_health_probes_need_none()
    {
        foreach (var (who, reason) in new[]
                 {
                     ("expired", "is expired at"), ("revoked", "is revoked at"), ("forged", "is not known to this state"), ("garbage", "not a Stageproof token"),
                 })
        {
            using var client = estate.Client(who);
            using var response = await client.GetAsync(new Uri("/api/v1/me", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Contains(reason, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        using var anonymous = estate.Client(null);
        Assert.Equal("ok\n", await anonymous.GetStringAsync(new Uri("/healthz", UriKind.Relative)));
        Assert.Equal("ready\n", await anonymous.GetStringAsync(new Uri("/readyz", UriKind.Relative)));
    }

    [Fact]
    public async Task Refused_approvals_name_their_rule_and_land_in_the_audit_log_while_allowed_ones_are_counted_by_the_gate()
    {
        var path = new Uri($"/api/v1/patch-sets/{estate.Digest}/approvals", UriKind.Relative);
        foreach (var (who, env, rule, says) in new[]
                 {
                     ("alice", "prod", "four-eyes", "alice wrote SRV-1"),
                     ("bob", "prod", "role", "bob (operator"),
                     ("sam", "prod", "role", "may not approve for prod"),
                     ("carol@staging", "prod", "role", "may not approve for prod"),
                 })
        {
            using var client = estate.Client(who);
            using var response = await client.PostAsJsonAsync(path, new { environment = env });
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(rule, problem.GetProperty("rule").GetString());
            Assert.Contains(says, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using var carol = estate.Client("carol");
        using var approved = await carol.PostAsJsonAsync(path, new { environment = "prod", comment = "stage report read" });
        Assert.Equal(HttpStatusCode.Created, approved.StatusCode);
        var approval = await approved.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("carol", approval.GetProperty("approver").GetString());
        Assert.StartsWith("token:", approval.GetProperty("authenticatedBy").GetString(), StringComparison.Ordinal);

        // The approval is announced as the CLI's would be: a signed approval.given naming carol, sent by the server.
        var secret = System.Text.Encoding.UTF8.GetBytes(ServerEstate.WebhookSecret);
        bool Announced(ReceivedRequest r) => r.Header(WebhookSignature.EventHeader) == "approval.given" && r.Text.Contains("\"actor\":\"carol\"", StringComparison.Ordinal);
        for (var wait = 0; wait < 150 && !estate.Receiver.Received.Any(Announced); wait++)
        {
            await Task.Delay(200);
        }
        var announcements = estate.Receiver.Received.Where(Announced).ToList();
        Assert.NotEmpty(announcements);
        Assert.All(announcements, a => Assert.True(WebhookSignature.Verify(secret, a.Body, a.Header(WebhookSignature.SignatureHeader)), a.Text));

        // The CLI's gate, on the same state, counts carol's approval: the API's approval is a real one. (Prod still
        // waits for staging's PASS, which this estate never ran.)
        var (code, stdout, stderr) = await estate.CliRawAsync("--token-file", estate.TokenFile("bob"), "--json", "promote", estate.Digest[..12], "--to", "prod", "--dry-run");
        Assert.True(code == Core.ExitCodes.Finding, stdout + stderr);
        var rules = JsonDocument.Parse(stdout).RootElement.GetProperty("refusals").EnumerateArray().Select(r => r.GetProperty("rule").GetString()).ToList();
        Assert.Equal(["previous-stage-pass"], rules);

        using var admin = estate.Client("admin");
        var audit = await admin.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/audit", UriKind.Relative));
        var refused = audit.EnumerateArray().Where(e => e.GetProperty("action").GetString() == "approve.refused").Select(e => e.GetProperty("actor").GetString()).ToList();
        Assert.Contains("alice", refused);
        Assert.Contains("bob", refused);
        Assert.Contains("sam", refused);
    }
}
