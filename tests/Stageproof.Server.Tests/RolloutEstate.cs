using System.Net.Http.Json;
using System.Text.Json;
using Stageproof.Core.Manifests;
using Stageproof.Core.Rollouts;
using Stageproof.Data;

namespace Stageproof.Server.Tests;

/// <summary>
/// The server estate (on 127.0.14.1) with a second set of alice's, SLOW-1, which writes a file into the estate's directory
/// and then runs a post command that sleeps long enough to be aborted mid-way on the staging host (local transport: this machine), and console passwords for bob and vera.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RolloutEstate() : ServerEstate(TestLoopback.Url("127.0.14.1"))
{
    public const string Password = "a console password of some length";

    /// <summary>How long SLOW-1's command waits at most: an abort answered well within it stopped the rollout, not waited
    /// for it. Ten minutes, so that no load on the machine lets the rollout finish by itself while a test is still
    /// looking at it running (a minute once did, under CI's lab tests).</summary>
    public static readonly TimeSpan Sleep = TimeSpan.FromMinutes(10);

    private string SlowSet => $$"""
        id: SLOW-1
        title: a set whose command takes ten minutes
        reason: to be aborted mid-way
        severity: low
        author: alice
        files:
          - { path: {{Note}}, content: "written by SLOW-1\n", mode: "0644" }
        commands:
          post: ["i=0; while [ -e {{Note}} ] && [ $i -lt {{(int)Sleep.TotalSeconds}} ]; do sleep 1; i=$((i+1)); done"]
        """;

    public string SlowDigest { get; private set; } = "";

    /// <summary>The file SLOW-1 writes. Its post command waits only while the file is there: after a rollback removed
    /// it, the same command (a rollback runs the set's post commands again, to restart what it restarted) returns at once.</summary>
    public string Note => Path.Combine(Dir, "slow-note.txt");

    protected override async Task PrepareAsync()
    {
        var file = Path.Combine(Dir, "slow.yaml");
        await File.WriteAllTextAsync(file, SlowSet);
        var freeze = await CliAsync("--token-file", TokenFile("alice"), "--json", "patch", "freeze", file);
        SlowDigest = JsonDocument.Parse(freeze).RootElement.GetProperty("digest").GetString()!;
        var password = Path.Combine(Dir, "password");
        await File.WriteAllTextAsync(password, Password);
        File.SetUnixFileMode(password, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        foreach (var who in new[] { "bob", "vera" })
        {
            await CliAsync("user", "password", who, "--password-file", password);
        }
    }

    /// <summary>bob promotes SLOW-1 to staging through the API; returns the rollout's id once its host is in the middle of
    /// the change: its rollback point taken, its post command sleeping (as the apply run records it in the state).</summary>
    public async Task<string> PromoteSlowAsync()
    {
        using var bob = Client("bob");
        using var started = await bob.PostAsJsonAsync(new Uri($"/api/v1/patch-sets/{SlowDigest}/promotions", UriKind.Relative), new { target = "staging" });
        Assert.True(started.StatusCode == System.Net.HttpStatusCode.Accepted, await started.Content.ReadAsStringAsync());
        var id = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("rollout").GetProperty("id").GetString()!;
        await WaitForAsync(id, r => r.GetProperty("hosts")[0].GetProperty("state").GetString() == "applying", TimeSpan.FromSeconds(30));
        await using var store = await SqliteStateStore.OpenKeyedAsync(StatePath, TimeProvider.System);
        var until = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30);
        while (!(await store.ListPatchRunsAsync("staging")).Any(r => r.PatchDigest == SlowDigest && r.Hosts.Any(h => h.Step == "post-commands" && h.Status == Core.Patches.HostRunStatus.InProgress)))
        {
            Assert.True(DateTimeOffset.UtcNow < until, $"rollout {id} never reached its post command: " +
                JsonSerializer.Serialize(await store.ListPatchRunsAsync("staging"), ManifestJson.Options));
            await Task.Delay(100);
        }
        return id;
    }

    /// <summary>A rollout of SRV-1 to staging as the engine stores it before its first step, left by a process that died
    /// there (no lock held): the plan is the server's own dry run.</summary>
    public async Task<string> InterruptedRolloutAsync()
    {
        using var bob = Client("bob");
        using var dry = await bob.PostAsJsonAsync(new Uri($"/api/v1/patch-sets/{Digest}/promotions", UriKind.Relative), new { target = "staging", dryRun = true });
        var plan = (await dry.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("plan").Deserialize<Rollout>(ManifestJson.Options)!;
        await using var store = await SqliteStateStore.OpenKeyedAsync(StatePath, TimeProvider.System);
        await store.SaveRolloutAsync(plan);
        return plan.Id;
    }
}
