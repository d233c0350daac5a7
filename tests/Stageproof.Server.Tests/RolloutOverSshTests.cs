using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Server.Tests;

/// <summary>
/// A server on 127.0.21.1 whose staging host is a real sshd (this machine, 127.0.2.x) with a check suite, keeping a
/// host's connection open for 60 s after a use. NOTE-1 writes a file into the estate's directory; the suite's command
/// check looks for it there.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SshRolloutEstate() : SshServerEstate(TestLoopback.Url("127.0.21.1"))
{
    public string Note => Path.Combine(Dir, "note.txt");

    public string NoteDigest { get; private set; } = "";

    protected override string Config => $$"""
        hosts:
          stage-1: {{StageHost}}
          prod-1: { transport: local }
        environments:
          staging: { hosts: [stage-1], checks: written }
          prod: { hosts: [prod-1] }
        checks:
          written:
            - { name: note, type: command, run: ["test", "-f", "{{Note}}"] }
        lifecycle:
          stages:
            - environment: staging
              rollout: { settle: 0s }
            - environment: prod
              approvals: 1
        ssh:
          keep_open: 60
        """;

    private string NoteSet => $$"""
        id: NOTE-1
        title: a set that writes one file
        reason: a rollout over ssh through the server
        severity: low
        author: alice
        files:
          - { path: {{Note}}, content: "written by NOTE-1\n", mode: "0644" }
        """;

    protected override async Task PrepareAsync()
    {
        var file = Path.Combine(Dir, "note.yaml");
        await File.WriteAllTextAsync(file, NoteSet);
        var freeze = await CliAsync("--token-file", TokenFile("alice"), "--json", "patch", "freeze", file);
        NoteDigest = JsonDocument.Parse(freeze).RootElement.GetProperty("digest").GetString()!;
    }
}

/// <summary>
/// A rollout in the server's background reaches its host over the server's kept connections: its apply and its batch's
/// checks, and the verb after it, log in to the host once between them.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RolloutOverSshTests(SshRolloutEstate estate) : IClassFixture<SshRolloutEstate>
{
    [SkippableFact]
    public async Task A_rollout_through_the_server_logs_in_to_its_host_once_for_its_apply_its_checks_and_the_facts_after_it()
    {
        estate.Sshd.Require();
        var logins = estate.Sshd.AcceptedLogins;
        var opened = await estate.MetricAsync("stageproof_ssh_connections_opened_total");
        var reused = await estate.MetricAsync("stageproof_ssh_connections_reused_total");

        using var bob = estate.Client("bob");
        using var started = await bob.PostAsJsonAsync(new Uri($"/api/v1/patch-sets/{estate.NoteDigest}/promotions", UriKind.Relative), new { target = "staging" });
        Assert.True(started.StatusCode == HttpStatusCode.Accepted, await started.Content.ReadAsStringAsync());
        var id = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("rollout").GetProperty("id").GetString()!;
        var rollout = await estate.WaitForAsync(id, r => r.GetProperty("status").GetString() != "running", TimeSpan.FromMinutes(2));
        Assert.True(rollout.GetProperty("status").GetString() == "succeeded", rollout.ToString());
        Assert.Equal("verified", rollout.GetProperty("hosts")[0].GetProperty("state").GetString());
        Assert.Equal("written by NOTE-1\n", await File.ReadAllTextAsync(estate.Note));

        // The apply and the check ran over one connection: one login, and at least one reuse (each step used to open its own).
        Assert.Equal(opened + 1, await estate.MetricAsync("stageproof_ssh_connections_opened_total"));
        Assert.True(await estate.MetricAsync("stageproof_ssh_connections_reused_total") > reused, "the rollout's steps did not share a connection");
        Assert.Equal(logins + 1, await estate.Sshd.AcceptedLoginsAsync(logins + 1));

        // The next verb on the host finds the connection open: no login at all.
        using var facts = await bob.PostAsJsonAsync(new Uri("/api/v1/facts", UriKind.Relative), new { targets = new[] { "stage-1" } });
        Assert.True(facts.StatusCode == HttpStatusCode.OK, await facts.Content.ReadAsStringAsync());
        Assert.Equal(opened + 1, await estate.MetricAsync("stageproof_ssh_connections_opened_total"));
        Assert.Equal(logins + 1, estate.Sshd.AcceptedLogins);
    }
}
