using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Stageproof.Cli;
using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Server.Tests;

/// <summary>
/// A state built through the real CLI (users, tokens, a frozen set written by alice) and a real server over it on a
/// loopback port: the people of the authorization matrix, each with the token they would present.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class ServerEstate : IAsyncLifetime
{
    /// <summary>The estate's configuration; approvals are announced to <see cref="Receiver"/>.</summary>
    protected virtual string Config => $$"""
        hosts:
          stage-1: { transport: local }
          prod-1: { transport: local }
        environments:
          staging: { hosts: [stage-1] }
          prod: { hosts: [prod-1] }
        lifecycle:
          stages:
            - environment: staging
            - environment: prod
              approvals: 1
        webhooks:
          - name: chat
            url: {{Receiver.Url}}
            events: [approval.given, approval.refused]
            secret_file: hook.secret
        """;

    private const string Set = """
        id: SRV-1
        title: a set alice wrote
        reason: the server's tests
        severity: low
        author: alice
        commands:
          post: ["true"]
        """;

    public static readonly string Admin = Environment.UserName;

    /// <summary>Who is in the matrix: name, role, environments ("" for all). alice, an approver, wrote the set.</summary>
    public static readonly IReadOnlyList<(string Name, string Role, string Environments)> People =
    [
        ("alice", "approver", ""), ("bob", "operator", ""), ("carol", "approver", ""), ("vera", "viewer", ""), ("sam", "approver", "staging"),
    ];

    /// <summary>The estate the server's tests share, served on 127.0.9.1.</summary>
    public ServerEstate() : this(TestLoopback.Url("127.0.9.1"))
    {
    }

    /// <summary>An estate of its own served on <paramref name="urls"/> (a loopback address, port 0).</summary>
    internal ServerEstate(string urls) => _urls = urls;

    private readonly string _urls;

    public string Dir { get; } = ScratchDirectory.Create("stageproof-server-");
    /// <summary>Where the server's webhooks go (always answers 200).</summary>
    public WebhookReceiver Receiver { get; } = new();
    public const string WebhookSecret = "server-webhook-secret";
    public string ConfigPath => Path.Combine(Dir, "stageproof.yaml");
    public string StatePath => Path.Combine(Dir, ".stageproof");
    public Dictionary<string, string> Tokens { get; } = new(StringComparer.Ordinal);
    public string Digest { get; private set; } = "";
    public Uri BaseAddress { get; private set; } = null!;
    private WebApplication? _app;

    public virtual async Task InitializeAsync()
    {
        var secret = Path.Combine(Dir, "hook.secret");
        await File.WriteAllTextAsync(secret, WebhookSecret);
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await File.WriteAllTextAsync(ConfigPath, Config);
        await File.WriteAllTextAsync(Path.Combine(Dir, "set.yaml"), Set);
        await CliAsync("user", "add", Admin, "--role", "admin");
        Tokens["admin"] = await TokenAsync(Admin, "90d");
        foreach (var (name, role, envs) in People)
        {
            await CliAsync(envs.Length == 0 ? ["user", "add", name, "--role", role] : ["user", "add", name, "--role", role, "--env", envs]);
            Tokens[name] = await TokenAsync(name, "90d");
        }
        // carol's own token, scoped to staging: it acts as an approver of staging only, whatever carol may do.
        var scoped = JsonDocument.Parse(await CliAsync("--json", "token", "create", "carol", "--env", "staging")).RootElement;
        Tokens["carol@staging"] = scoped.GetProperty("token").GetString()!;
        // Tokens that authenticate nobody: one that expires before the server is asked, one revoked.
        Tokens["expired"] = await TokenAsync("carol", "1s");
        Tokens["revoked"] = await TokenAsync("carol", "90d");
        var list = JsonDocument.Parse(await CliAsync("--json", "token", "list")).RootElement;
        var revokedId = Tokens["revoked"].Split('_')[1];
        Assert.Contains(list.EnumerateArray(), t => t.GetProperty("id").GetString() == revokedId);
        await CliAsync("token", "revoke", revokedId);
        Tokens["forged"] = "spt_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        Tokens["garbage"] = "not-a-token";

        var freeze = await CliAsync("--token-file", TokenFile("alice"), "--json", "patch", "freeze", Path.Combine(Dir, "set.yaml"));
        Digest = JsonDocument.Parse(freeze).RootElement.GetProperty("digest").GetString()!;

        await PrepareAsync();

        // The server's clock runs a minute ahead, so the 1-second token is past its expiry whatever the test's pace.
        var options = new ServerOptions { Urls = _urls, ConfigPath = ConfigPath, StateDirectory = StatePath };
        _app = await StageproofServer.BuildAsync(options, new AheadClock(TimeSpan.FromMinutes(1)), CancellationToken.None);
        await _app.StartAsync();
        BaseAddress = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
    }

    /// <summary>More state for a derived estate, written before the server starts.</summary>
    protected virtual Task PrepareAsync() => Task.CompletedTask;

    /// <summary>A client presenting <paramref name="who"/>'s token (null: anonymous).</summary>
    public HttpClient Client(string? who)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TestLoopback.RequestLiveness };
        if (who is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Tokens[who]);
        }
        return client;
    }

    /// <summary>Polls the rollout (as admin) until <paramref name="done"/> holds; fails after <paramref name="limit"/>.</summary>
    public async Task<JsonElement> WaitForAsync(string id, Func<JsonElement, bool> done, TimeSpan limit)
    {
        using var admin = Client("admin");
        var until = DateTimeOffset.UtcNow + limit;
        JsonElement rollout;
        do
        {
            rollout = await admin.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/rollouts/{id}", UriKind.Relative));
            if (done(rollout))
            {
                return rollout;
            }
            await Task.Delay(200);
        }
        while (DateTimeOffset.UtcNow < until);
        Assert.Fail($"rollout {id} did not get there within {limit}: {rollout}");
        return rollout;
    }

    /// <summary>One sample of the server's /metrics (read as bob).</summary>
    public async Task<double> MetricAsync(string name)
    {
        using var client = Client("bob");
        var text = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        var line = text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return double.Parse(line[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public string TokenFile(string who)
    {
        var path = Path.Combine(Dir, who + ".token");
        File.WriteAllText(path, Tokens[who]);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    /// <summary>Runs the real CLI on this estate's configuration and state; a failure fails the test with its output.</summary>
    public Task<string> CliAsync(params string[] args) => EstateCli.OkAsync(ConfigPath, StatePath, args);

    /// <summary>Runs the real CLI and returns its exit code and output, whatever they are.</summary>
    public Task<(int Code, string Stdout, string Stderr)> CliRawAsync(params string[] args) => EstateCli.RawAsync(ConfigPath, StatePath, args);

    private async Task<string> TokenAsync(string user, string expires)
    {
        var json = JsonDocument.Parse(await CliAsync("--json", "token", "create", user, "--expires", expires)).RootElement;
        return json.GetProperty("token").GetString()!;
    }

    public virtual async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        await Receiver.DisposeAsync();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class AheadClock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + offset;
    }
}
