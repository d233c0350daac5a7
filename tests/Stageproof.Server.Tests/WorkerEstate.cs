using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Stageproof.Cli;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.State;
using Stageproof.Data;
using Stageproof.Testing;

namespace Stageproof.Server.Tests;

/// <summary>
/// Durable rollouts as a user runs them: a real PostgreSQL holding Quartz's job store and the state (a database of its
/// own, <c>state: postgres://…</c>, built through the real CLI),
/// and <c>stageproof serve</c> and <c>stageproof worker</c> as child processes of the test (each killed in the test's
/// finally). Six hosts on this machine, each a tiny root of its own (<c>transport: chroot</c>: with one shared
/// filesystem, as <c>transport: local</c> hosts have, the first host patched would leave the others "already applied");
/// SLEEPY-1 writes a file and its post command sleeps, so each host takes a while.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class WorkerEstate : IAsyncLifetime
{
    /// <summary>How long SLEEPY-1's post command sleeps on each host.</summary>
    public const int HostSeconds = 1;
    /// <summary>The cluster's check-in interval in these tests (a dead worker is noticed within about twice this).</summary>
    public const int CheckinSeconds = 2;
    /// <summary>The environment lock's heartbeat in these tests: a dead worker's lock is free to take over after three.</summary>
    public const int HeartbeatSeconds = 1;
    /// <summary>A job finding its environment held looks again this often, at most <see cref="LockAttempts"/> times.</summary>
    public const int LockRetrySeconds = 1;
    public const int LockAttempts = 4;

    /// <summary>The state's database on <see cref="Postgres"/>, beside the job store's.</summary>
    public const string StateDatabase = "stageproof_state";

    public PostgresFixture Postgres { get; } = new();
    public string Dir { get; } = ScratchDirectory.Create("stageproof-workers-");
    public string ConfigPath => Path.Combine(Dir, "stageproof.yaml");
    /// <summary>The state, as <c>--state</c> names it: a PostgreSQL database.</summary>
    public string State => $"postgres://postgres@{Postgres.Address}:{Postgres.Port}/{StateDatabase}";
    public string AuditKeyPath => Path.Combine(Dir, "audit.key");
    public string Digest { get; private set; } = "";
    public Dictionary<string, string> Tokens { get; } = new(StringComparer.Ordinal);

    private static readonly string Set = $$"""
        id: SLEEPY-1
        title: a set whose post command takes a while on every host
        reason: the workers' tests
        severity: low
        author: alice
        files:
          - { path: /etc/sleepy.conf, content: "patched = yes\n", mode: "0644" }
        commands:
          post: ["sleep {{HostSeconds}}"]
        """;

    private readonly List<TinyRoot> _roots = [];

    public static readonly IReadOnlyList<string> HostNames = [.. Enumerable.Range(1, 6).Select(i => $"stage-{i}")];

    /// <summary>The configuration: <c>staging</c> of six hosts (canary, then batches of two), with a maintenance window of
    /// ten minutes from <paramref name="windowCron"/> (UTC) when given.</summary>
    public string Config(string? windowCron = null) => $$"""
        hosts:
        {{string.Concat(HostNames.Select((h, i) => $"  {h}: {{ transport: chroot, root: {_roots[i].Path} }}\n"))}}
        environments:
          staging: { hosts: [stage-1, stage-2, stage-3, stage-4, stage-5, stage-6] }
        lifecycle:
          stages:
            - environment: staging
              rollout: { canary: 1, batch: 2 }
        {{(windowCron is null ? "" : $"      window: {{ cron: \"{windowCron}\", duration: 10m, time_zone: UTC }}\n")}}
        state: {{State}}
        audit_key_file: audit.key
        jobs:
          store: postgres://postgres@{{Postgres.Address}}:{{Postgres.Port}}/{{PostgresFixture.DatabaseName}}
          password_file: jobs.password
          checkin: {{CheckinSeconds}}s
          lock_heartbeat: {{HeartbeatSeconds}}s
          lock_retry: {{LockRetrySeconds}}s
          lock_attempts: {{LockAttempts}}
          error_retry: {{LockRetrySeconds}}s
        """;

    public async Task InitializeAsync()
    {
        await Postgres.InitializeAsync();
        if (Postgres.UnavailableReason is not null)
        {
            return;
        }
        foreach (var _ in HostNames)
        {
            _roots.Add(await TinyRoot.PatchableHostAsync());
        }
        await Postgres.CreateDatabaseAsync(StateDatabase);
        // The test server trusts loopback connections; the password is read all the same, from a file of the user's alone.
        var password = Path.Combine(Dir, "jobs.password");
        await File.WriteAllTextAsync(password, "unused-with-trust-auth\n");
        File.SetUnixFileMode(password, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await File.WriteAllTextAsync(ConfigPath, Config());
        await File.WriteAllTextAsync(Path.Combine(Dir, "set.yaml"), Set);
        await CliAsync("user", "add", ServerEstate.Admin, "--role", "admin");
        Tokens["admin"] = await TokenAsync(ServerEstate.Admin);
        await CliAsync("user", "add", "alice", "--role", "approver");
        await CliAsync("user", "add", "bob", "--role", "operator");
        Tokens["alice"] = await TokenAsync("alice");
        Tokens["bob"] = await TokenAsync("bob");
        var aliceToken = Path.Combine(Dir, "alice.token");
        await File.WriteAllTextAsync(aliceToken, Tokens["alice"]);
        File.SetUnixFileMode(aliceToken, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var freeze = await CliAsync("--token-file", aliceToken, "--json", "patch", "freeze", Path.Combine(Dir, "set.yaml"));
        Digest = JsonDocument.Parse(freeze).RootElement.GetProperty("digest").GetString()!;
    }

    public async Task DisposeAsync()
    {
        await Postgres.DisposeAsync();
        foreach (var root in _roots)
        {
            root.Dispose();
        }
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Runs the real CLI in this process; a failure fails the test with its output.</summary>
    public Task<string> CliAsync(params string[] args) => EstateCli.OkAsync(ConfigPath, State, args);

    public Task<(int Code, string Stdout, string Stderr)> CliRawAsync(params string[] args) => EstateCli.RawAsync(ConfigPath, State, args);

    /// <summary>The state, opened as the CLI opens it (sealed under the estate's audit key).</summary>
    public Task<IStateStore> OpenStateAsync() =>
        StateStores.OpenAsync(StateLocation.Parse(State, "--state", Dir), new StateSettings { AuditKeyFile = AuditKeyPath }, TimeProvider.System);

    private async Task<string> TokenAsync(string user) =>
        JsonDocument.Parse(await CliAsync("--json", "token", "create", user, "--expires", "90d")).RootElement.GetProperty("token").GetString()!;

    /// <summary>Returns every host to unpatched (SLEEPY-1's file gone), as a fresh estate would be.</summary>
    public void ResetHosts()
    {
        foreach (var root in _roots)
        {
            File.Delete(Path.Combine(root.Path, "etc/sleepy.conf"));
        }
    }

    /// <summary>Whether SLEEPY-1's file is on <paramref name="host"/>.</summary>
    public bool Patched(string host) => File.Exists(Path.Combine(_roots[HostNames.ToList().IndexOf(host)].Path, "etc/sleepy.conf"));

    /// <summary><c>stageproof worker</c> as a child process.</summary>
    public StageproofProcess StartWorker(string name) => StageproofProcess.Start(name, Dir, ["--config", ConfigPath, "--state", State, "worker"]);

    /// <summary><c>stageproof serve</c> as a child process on <paramref name="address"/> (mapped into the caller's loopback
    /// range); returns once it answers.</summary>
    public async Task<(StageproofProcess Process, Uri Address)> StartServerAsync(string address)
    {
        var server = StageproofProcess.Start("serve", Dir, ["--config", ConfigPath, "--state", State, "serve", "--urls", TestLoopback.Url(address)]);
        try
        {
            var line = await server.WaitForLineAsync(l => l.StartsWith("Stageproof serves ", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            return (server, new Uri(Regex.Match(line, @"http://[0-9.]+:[0-9]+").Value));
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    public HttpClient Client(Uri server, string who)
    {
        var client = new HttpClient { BaseAddress = server, Timeout = TestLoopback.RequestLiveness };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Tokens[who]);
        return client;
    }

    /// <summary>bob promotes SLEEPY-1 to <paramref name="target"/> through the API; the 202's rollout.</summary>
    public async Task<JsonElement> PromoteAsync(Uri server, string target)
    {
        using var bob = Client(server, "bob");
        using var answer = await bob.PostAsJsonAsync(new Uri($"/api/v1/patch-sets/{Digest}/promotions", UriKind.Relative), new { target });
        var body = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.StatusCode == System.Net.HttpStatusCode.Accepted, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("rollout");
    }
}
