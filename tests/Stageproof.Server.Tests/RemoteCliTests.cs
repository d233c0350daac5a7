using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Stageproof.Core;

namespace Stageproof.Server.Tests;

/// <summary>
/// A state of its own served on 127.0.11.1, and a scratch credentials file (STAGEPROOF_CREDENTIALS) for
/// <c>stageproof login</c>, so the tests never read or write the real ~/.config/stageproof.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RemoteEstate : IAsyncLifetime
{
    public ServerEstate Estate { get; } = new(TestLoopback.Url("127.0.11.1"));
    public string CredentialsDir { get; } = Path.Combine(Directory.CreateTempSubdirectory("stageproof-credentials-").FullName, "config", "stageproof");
    public string CredentialsFile => Path.Combine(CredentialsDir, "credentials.json");
    private string? _before;

    /// <summary>The server's base URL as the CLI names it (no trailing slash).</summary>
    public string Url => Estate.BaseAddress.GetLeftPart(UriPartial.Authority);

    public async Task InitializeAsync()
    {
        // A token in the environment would be presented instead of the stored one: the login tests would prove nothing.
        Assert.True(Environment.GetEnvironmentVariable("STAGEPROOF_TOKEN") is null, "unset STAGEPROOF_TOKEN to run these tests");
        Assert.True(Environment.GetEnvironmentVariable("STAGEPROOF_SERVER") is null, "unset STAGEPROOF_SERVER to run these tests");
        _before = Environment.GetEnvironmentVariable("STAGEPROOF_CREDENTIALS");
        Environment.SetEnvironmentVariable("STAGEPROOF_CREDENTIALS", CredentialsFile);
        await Estate.InitializeAsync();
    }

    /// <summary>The CLI run through the server, presenting <paramref name="who"/>'s token (null: no token given).</summary>
    public Task<(int Code, string Stdout, string Stderr)> RemoteAsync(string? who, params string[] args) =>
        Estate.CliRawAsync(who is null ? ["--server", Url, .. args] : ["--server", Url, "--token-file", Estate.TokenFile(who), .. args]);

    public async Task DisposeAsync()
    {
        Environment.SetEnvironmentVariable("STAGEPROOF_CREDENTIALS", _before);
        await Estate.DisposeAsync();
        Directory.Delete(Path.GetDirectoryName(Path.GetDirectoryName(CredentialsDir))!, recursive: true);
    }
}

/// <summary>The CLI as a client of a real server: <c>--server URL</c> with a token runs verbs through the API as the
/// token's user, with the output of the local verbs; what cannot run there is refused, never run on a local state.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class RemoteCliTests(RemoteEstate remote) : IClassFixture<RemoteEstate>
{
    private ServerEstate Estate => remote.Estate;

    [Fact]
    public async Task An_admin_manages_users_through_the_server_and_carol_is_refused_as_locally()
    {
        var (code, stdout, stderr) = await remote.RemoteAsync("admin", "user", "add", "frank", "--role", "operator", "--env", "staging");
        Assert.True(code == ExitCodes.Ok, stderr);
        Assert.Contains("frank: operator on staging", stdout, StringComparison.Ordinal);

        (code, _, stderr) = await remote.RemoteAsync("carol", "user", "remove", "frank");
        Assert.Equal(ExitCodes.Finding, code);
        Assert.Contains("refused by rule role: only an admin manages users (carol is approver)", stderr, StringComparison.Ordinal);

        (code, stdout, stderr) = await remote.RemoteAsync("admin", "--json", "user", "list");
        Assert.True(code == ExitCodes.Ok, stderr);
        Assert.Contains(JsonDocument.Parse(stdout).RootElement.EnumerateArray(), u => u.GetProperty("name").GetString() == "frank");

        (code, stdout, stderr) = await remote.RemoteAsync("admin", "user", "remove", "frank");
        Assert.True(code == ExitCodes.Ok, stderr);
        (code, _, stderr) = await remote.RemoteAsync("admin", "user", "remove", "frank");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("there is no user 'frank'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Vera_makes_herself_a_token_through_the_server_and_revokes_it_and_compliance_reads_as_locally()
    {
        var (code, stdout, stderr) = await remote.RemoteAsync("vera", "--json", "token", "create", "vera", "--expires", "1h");
        Assert.True(code == ExitCodes.Ok, stderr);
        var made = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("vera", made.GetProperty("user").GetString());
        var secret = made.GetProperty("token").GetString()!;
        using (var fresh = Estate.Client(null))
        {
            fresh.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", secret);
            Assert.Equal("vera", (await fresh.GetFromJsonAsync<JsonElement>(new Uri("/api/v1/me", UriKind.Relative))).GetProperty("name").GetString());
        }

        // vera may not make one for bob: the server's refusal, worded and exiting as a local one.
        (code, _, stderr) = await remote.RemoteAsync("vera", "token", "create", "bob");
        Assert.Equal(ExitCodes.Finding, code);
        Assert.Contains("refused by rule role", stderr, StringComparison.Ordinal);

        (code, stdout, stderr) = await remote.RemoteAsync("vera", "token", "revoke", made.GetProperty("id").GetString()!);
        Assert.True(code == ExitCodes.Ok, stderr);
        Assert.Contains($"Token {made.GetProperty("id").GetString()} of vera: revoked", stdout, StringComparison.Ordinal);
        using (var revoked = Estate.Client(null))
        {
            revoked.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", secret);
            using var answer = await revoked.GetAsync(new Uri("/api/v1/me", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
        }

        // Compliance through the server is the local report of the same state.
        var (remoteCode, remoteJson, remoteErr) = await remote.RemoteAsync("admin", "--json", "compliance");
        var (localCode, localJson, localErr) = await Estate.CliRawAsync("--token-file", Estate.TokenFile("admin"), "--json", "compliance");
        Assert.True(remoteCode == localCode, remoteErr + localErr);
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(Without(localJson, "generatedAt"), Without(remoteJson, "generatedAt")), $"local:\n{localJson}\nremote:\n{remoteJson}");
    }

    /// <summary>The document without a top-level property (the time it was made differs between two runs).</summary>
    private static System.Text.Json.Nodes.JsonNode Without(string json, string property)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        node.Remove(property);
        return node;
    }

    [Fact]
    public async Task Carol_approves_through_the_server_and_the_approval_records_her_token()
    {
        var (code, stdout, stderr) = await remote.RemoteAsync("carol", "approve", Estate.Digest[..12], "--env", "prod", "--comment", "read it through the API");

        Assert.True(code == ExitCodes.Ok, stderr);
        Assert.Contains($"carol approved SRV-1 ({Estate.Digest[..12]}) for prod", stdout);
        using var admin = Estate.Client("admin");
        var approvals = await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/approvals?patch={Estate.Digest}&environment=prod", UriKind.Relative));
        var carols = approvals.EnumerateArray().Single(a => a.GetProperty("approver").GetString() == "carol");
        Assert.StartsWith("token:", carols.GetProperty("authenticatedBy").GetString());
        Assert.Equal("read it through the API", carols.GetProperty("comment").GetString());
    }

    [Fact]
    public async Task The_author_is_refused_by_four_eyes_in_the_same_words_as_locally()
    {
        var (code, _, stderr) = await remote.RemoteAsync("alice", "approve", Estate.Digest, "--env", "prod");
        var (localCode, _, localStderr) = await Estate.CliRawAsync("--token-file", Estate.TokenFile("alice"), "approve", Estate.Digest, "--env", "prod");

        Assert.Equal(ExitCodes.Finding, code);
        Assert.Contains("refused by rule four-eyes", stderr);
        Assert.Equal(ExitCodes.Finding, localCode);
        Assert.Equal(localStderr.Trim(), stderr.Trim());
    }

    [Fact]
    public async Task Lists_through_the_server_print_the_same_json_as_the_local_verbs()
    {
        foreach (var verb in new[] { new[] { "patch", "list" }, ["patch", "show", Estate.Digest[..10]], ["user", "list"], ["rollout", "list", "--env", "prod"] })
        {
            var (code, stdout, stderr) = await remote.RemoteAsync("admin", ["--json", .. verb]);
            var local = await Estate.CliAsync(["--json", .. verb]);

            Assert.True(code == ExitCodes.Ok, $"{string.Join(' ', verb)}: {stderr}");
            Assert.Equal(local, stdout);
        }
        var (tableCode, table, _) = await remote.RemoteAsync("admin", "patch", "list");
        Assert.Equal(ExitCodes.Ok, tableCode);
        Assert.Equal(await Estate.CliAsync("patch", "list"), table);
    }

    [Fact]
    public async Task The_audit_chain_verifies_through_the_server()
    {
        var (code, stdout, stderr) = await remote.RemoteAsync("admin", "--json", "audit", "verify");

        Assert.True(code == ExitCodes.Ok, stderr);
        var result = JsonDocument.Parse(stdout).RootElement;
        Assert.True(result.GetProperty("ok").GetBoolean());
        Assert.True(result.GetProperty("events").GetInt32() > 0);
    }

    [Fact]
    public async Task Webhook_deliveries_are_listed_through_the_server_in_the_local_shape()
    {
        var (code, stdout, stderr) = await remote.RemoteAsync("admin", "--json", "webhook", "deliveries", "--limit", "5");

        Assert.True(code == ExitCodes.Ok, stderr);
        var deliveries = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(JsonValueKind.Array, deliveries.ValueKind);
        Assert.All(deliveries.EnumerateArray(), d => Assert.Equal("chat", d.GetProperty("webhook").GetString()));
        var (bad, _, why) = await remote.RemoteAsync("admin", "webhook", "deliveries", "--limit", "0");
        Assert.Equal(ExitCodes.BadInput, bad);
        Assert.Contains("--limit must be from 1 to 10000", why);
    }

    [Fact]
    public async Task Bob_promotes_through_the_server_refused_as_locally_then_follows_a_real_rollout_to_its_end()
    {
        // Not ready for prod (no PASS in staging, no approval): a refusal by rule, exit 1, as a local promote.
        var (refusedCode, _, refusedErr) = await remote.RemoteAsync("bob", "promote", Estate.Digest[..12], "--to", "prod");
        Assert.Equal(ExitCodes.Finding, refusedCode);
        Assert.Contains("refused by rule previous-stage-pass", refusedErr);
        var (waitCode, _, waitErr) = await remote.RemoteAsync("bob", "promote", Estate.Digest[..12], "--to", "staging", "--wait");
        Assert.Equal(ExitCodes.BadInput, waitCode);
        Assert.Contains("--wait does not run through --server", waitErr);

        var (code, stdout, stderr) = await remote.RemoteAsync("bob", "--json", "promote", Estate.Digest[..12], "--to", "staging");
        Assert.True(code == ExitCodes.Ok, stderr);
        Assert.Contains("is rolling out to staging", stderr);
        var rollout = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("succeeded", rollout.GetProperty("status").GetString());
        Assert.Equal("bob", rollout.GetProperty("actor").GetString());
        Assert.Equal("verified", rollout.GetProperty("hosts")[0].GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_verb_that_does_not_run_through_the_server_is_refused_and_changes_nothing()
    {
        var before = await Estate.CliAsync("--json", "patch", "list");
        var set = Path.Combine(Estate.Dir, "other.yaml");
        await File.WriteAllTextAsync(set, "id: SRV-2\ntitle: t\nreason: r\nseverity: low\nauthor: alice\ncommands:\n  post: [\"true\"]\n");

        var (code, stdout, stderr) = await remote.RemoteAsync("alice", "patch", "freeze", set);

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("", stdout);
        Assert.Equal("error: patch freeze does not run through --server yet; run it where the state is (or without --server and STAGEPROOF_SERVER)", stderr.Trim());
        Assert.Equal(before, await Estate.CliAsync("--json", "patch", "list"));
    }

    [Fact]
    public async Task A_token_the_server_refuses_is_bad_input_with_the_servers_reason()
    {
        using var forged = Estate.Client("forged");
        using var answer = await forged.GetAsync(new Uri("/api/v1/me", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
        var reason = (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString()!;

        var (code, stdout, stderr) = await remote.RemoteAsync("forged", "patch", "list");

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("", stdout);
        Assert.Equal($"error: {remote.Url} refused the token from --token-file {Path.Combine(Estate.Dir, "forged.token")}: {reason}", stderr.Trim());
    }

    [Fact]
    public async Task A_server_that_is_not_listening_is_an_infrastructure_error_naming_its_url()
    {
        var url = TestLoopback.Url("127.0.11.2", FreePort(IPAddress.Parse(TestLoopback.Map("127.0.11.2"))));

        var (code, stdout, stderr) = await Estate.CliRawAsync("--server", url, "--token-file", Estate.TokenFile("carol"), "audit", "log");

        Assert.Equal(ExitCodes.Infrastructure, code);
        Assert.Equal("", stdout);
        Assert.StartsWith($"error: {url}: ", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task A_server_url_that_is_not_http_is_bad_input()
    {
        var (code, _, stderr) = await Estate.CliRawAsync("--server", "ftp://127.0.11.1/", "--token-file", Estate.TokenFile("carol"), "patch", "list");

        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--server: 'ftp://127.0.11.1/' is not an http:// or https:// URL", stderr);
    }

    [Fact]
    public async Task Login_keeps_the_token_private_later_commands_use_it_and_logout_forgets_it()
    {
        var (refused, _, why) = await remote.RemoteAsync("forged", "login");
        Assert.Equal(ExitCodes.BadInput, refused);
        Assert.Contains("refused the token", why);
        Assert.False(File.Exists(remote.CredentialsFile));

        var (code, stdout, stderr) = await remote.RemoteAsync("carol", "login");

        Assert.True(code == ExitCodes.Ok, stderr);
        Assert.Contains($"Logged in to {remote.Url} as carol", stdout);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(remote.CredentialsFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(remote.CredentialsDir));

        // No token given: the stored one is presented, and the server answers as carol (she sees her own tokens only).
        var (listed, tokens, listErr) = await remote.RemoteAsync(null, "--json", "token", "list");
        Assert.True(listed == ExitCodes.Ok, listErr);
        var owners = JsonDocument.Parse(tokens).RootElement.EnumerateArray().Select(t => t.GetProperty("user").GetString()).Distinct().ToList();
        Assert.Equal(["carol"], owners);

        var (out1, said, _) = await remote.RemoteAsync(null, "logout");
        Assert.Equal(ExitCodes.Ok, out1);
        Assert.Contains($"Logged out of {remote.Url}", said);
        Assert.DoesNotContain(Estate.Tokens["carol"], await File.ReadAllTextAsync(remote.CredentialsFile));

        var (after, _, afterErr) = await remote.RemoteAsync(null, "patch", "list");
        Assert.Equal(ExitCodes.BadInput, after);
        Assert.Equal($"error: not logged in to {remote.Url} (stageproof login --server {remote.Url})", afterErr.Trim());
    }

    /// <summary>A port nothing listens on: bound, read, released.</summary>
    private static int FreePort(IPAddress address)
    {
        using var listener = new TcpListener(address, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
