using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Server.Tests;

/// <summary>
/// A server on 127.0.19.1 whose staging host is a real sshd (127.0.2.x) and whose prod host is this machine
/// (<c>transport: local</c>); it keeps a host's connection open for 60 s after a use. olga operates staging only.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SshFactsEstate() : SshServerEstate(TestLoopback.Url("127.0.19.1"))
{
    protected override string Config => $$"""
        hosts:
          stage-1: {{StageHost}}
          prod-1: { transport: local }
        environments:
          staging: { hosts: [stage-1] }
          prod: { hosts: [prod-1] }
        ssh:
          keep_open: 60
        """;

    protected override async Task PrepareAsync()
    {
        await CliAsync("user", "add", "olga", "--role", "operator", "--env", "staging");
        Tokens["olga"] = JsonDocument.Parse(await CliAsync("--json", "token", "create", "olga")).RootElement.GetProperty("token").GetString()!;
    }
}

/// <summary>A server estate with a real sshd (this machine, on 127.0.2.x) for its staging host, started before the
/// server and stopped after it.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public abstract class SshServerEstate(string urls) : ServerEstate(urls)
{
    public SshdFixture Sshd { get; } = new();

    /// <summary>The sshd as a host entry of the configuration (root, its key and known_hosts).</summary>
    protected string StageHost => $"{{ address: {Sshd.Address}, port: {Sshd.Port}, user: root, identity: {Sshd.ClientKeyPath}, known_hosts: {Sshd.KnownHostsPath} }}";

    public override async Task InitializeAsync()
    {
        await ((IAsyncLifetime)Sshd).InitializeAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Sshd.DisposeAsync();
    }
}

/// <summary>
/// <c>stageproof --server URL facts</c>: the server collects with its own configuration, as the token's user, over SSH
/// connections it keeps open, so a second collection does not log in again; roles and scopes are judged first.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FactsThroughServerTests(SshFactsEstate estate) : IClassFixture<SshFactsEstate>
{
    private string Url => estate.BaseAddress.GetLeftPart(UriPartial.Authority);

    private Task<(int Code, string Stdout, string Stderr)> RemoteAsync(string who, params string[] args) =>
        estate.CliRawAsync(["--server", Url, "--token-file", estate.TokenFile(who), .. args]);

    [SkippableFact]
    public async Task Two_collections_through_the_server_log_in_to_the_host_once_and_store_manifests_as_the_caller()
    {
        estate.Sshd.Require();
        var opened = await estate.MetricAsync("stageproof_ssh_connections_opened_total");
        var reused = await estate.MetricAsync("stageproof_ssh_connections_reused_total");
        var logins = estate.Sshd.AcceptedLogins;

        var first = await RemoteAsync("bob", "--json", "facts", "staging");
        Assert.True(first.Code == ExitCodes.Ok, first.Stderr);
        var document = JsonDocument.Parse(first.Stdout).RootElement;
        Assert.Equal(0, document.GetProperty("failures").GetArrayLength());
        var manifest = document.GetProperty("manifests").EnumerateArray().Single();
        Assert.Equal("stage-1", manifest.GetProperty("manifest").GetProperty("target").GetString());
        Assert.True(manifest.GetProperty("manifest").GetProperty("packages").GetArrayLength() > 0, first.Stdout);

        var second = await RemoteAsync("bob", "facts", "stage-1");
        Assert.True(second.Code == ExitCodes.Ok, second.Stderr);
        Assert.Contains("stage-1", second.Stdout, StringComparison.Ordinal); // the local verb's table
        // Narrated as each target is done, as locally (under --json on stderr, stdout keeping one document).
        Assert.Contains("collecting through " + Url, second.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"\[1/1\] stage-1: \d+ packages, \d+ files, [0-9.]+s", second.Stdout);
        Assert.Matches(@"\[1/1\] stage-1: \d+ packages", first.Stderr);

        // One connection for both: the server opened one and used it again; the host logged one login.
        Assert.Equal(opened + 1, await estate.MetricAsync("stageproof_ssh_connections_opened_total"));
        Assert.Equal(reused + 1, await estate.MetricAsync("stageproof_ssh_connections_reused_total"));
        Assert.Equal(1, await estate.MetricAsync("stageproof_ssh_connections_idle"));
        Assert.Equal(logins + 1, await estate.Sshd.AcceptedLoginsAsync(logins + 1));

        // Stored and audited as bob, who was authenticated by his token.
        var audit = await estate.CliAsync("--json", "audit", "log", "--last", "2");
        var events = JsonDocument.Parse(audit).RootElement.EnumerateArray().ToList();
        Assert.All(events, e => Assert.Equal("bob", e.GetProperty("actor").GetString()));
        Assert.All(events, e => Assert.Equal("stage-1", e.GetProperty("target").GetString()));
    }

    [SkippableFact]
    public async Task Facts_are_refused_to_a_role_that_does_not_operate_and_beyond_the_caller_s_environments_and_nothing_is_collected()
    {
        estate.Sshd.Require();
        var logins = estate.Sshd.AcceptedLogins;
        var opened = await estate.MetricAsync("stageproof_ssh_connections_opened_total");

        var viewer = await RemoteAsync("vera", "facts", "staging");
        Assert.Equal(ExitCodes.Finding, viewer.Code);
        Assert.Contains("rule role", viewer.Stderr, StringComparison.Ordinal);
        Assert.Contains("operator or an admin", viewer.Stderr, StringComparison.Ordinal);

        var beyond = await RemoteAsync("olga", "facts", "staging", "prod");
        Assert.Equal(ExitCodes.Finding, beyond.Code);
        Assert.Contains("not on prod-1", beyond.Stderr, StringComparison.Ordinal);

        var unknown = await RemoteAsync("bob", "facts", "nowhere");
        Assert.Equal(ExitCodes.BadInput, unknown.Code);
        Assert.Contains("targets: 'nowhere' is neither an environment, a group nor a host", unknown.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", unknown.Stderr, StringComparison.Ordinal);

        // Asked for lines, a refusal is still one problem document, not a stream.
        using var vera = estate.Client("vera");
        using var lines = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/v1/facts", UriKind.Relative)) { Content = JsonContent.Create(new { targets = new[] { "staging" } }) };
        lines.Headers.Accept.Add(new System.Net.Http.Headers.MediaTypeWithQualityHeaderValue("application/x-ndjson"));
        using var refusedLines = await vera.SendAsync(lines);
        Assert.Equal(HttpStatusCode.Forbidden, refusedLines.StatusCode);
        Assert.Equal("application/problem+json", refusedLines.Content.Headers.ContentType?.MediaType);

        using var bob = estate.Client("bob");
        using var empty = await bob.PostAsJsonAsync(new Uri("/api/v1/facts", UriKind.Relative), new { targets = Array.Empty<string>() });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, empty.StatusCode);
        Assert.Contains("targets: required", await empty.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal(opened, await estate.MetricAsync("stageproof_ssh_connections_opened_total"));
        Assert.Equal(logins, estate.Sshd.AcceptedLogins);

        // Within her environments olga collects like anyone.
        var own = await RemoteAsync("olga", "--json", "facts", "staging");
        Assert.True(own.Code == ExitCodes.Ok, own.Stderr);
    }
}
