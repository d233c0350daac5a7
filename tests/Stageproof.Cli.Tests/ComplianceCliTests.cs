using System.Text.Json;
using Stageproof.Application.Reports;
using Stageproof.Core;
using Stageproof.Core.Compliance;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Data;

namespace Stageproof.Cli.Tests;

public class ComplianceCliTests
{
    private const string Config = "hosts:\n  web-1: { transport: local }\n  web-2: { transport: local }\nenvironments:\n  prod: { hosts: [web-1] }\n  staging: { hosts: [web-2] }\n";
    private const string Digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private const string Hostile = "<script>alert('x')</script>&\"";

    [Fact]
    public async Task Json_on_an_empty_state_is_one_document_with_every_environment_and_host()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", Config);
        var run = await CliRun.InAsync(scratch.Dir, "--json", "compliance");
        Assert.True(run.ExitCode == ExitCodes.Ok, run.ToString());
        var json = run.Json;
        Assert.Equal(JsonValueKind.Array, json.GetProperty("lifecycle").ValueKind);
        Assert.True(json.GetProperty("compliant").GetBoolean());
        var totals = json.GetProperty("totals");
        Assert.Equal(2, totals.GetProperty("hosts").GetInt32());
        Assert.Equal(0, totals.GetProperty("owed").GetInt32());
        Assert.Equal(0, totals.GetProperty("securityUpdates").GetInt32());
        var envs = json.GetProperty("environments").EnumerateArray().ToList();
        Assert.Equal(["prod", "staging"], envs.Select(e => e.GetProperty("environment").GetString()));
        var host = envs[0].GetProperty("hosts").EnumerateArray().Single();
        Assert.Equal("web-1", host.GetProperty("host").GetString());
        Assert.Equal(0, host.GetProperty("applied").GetArrayLength());
        Assert.Equal(0, host.GetProperty("owed").GetArrayLength());
        Assert.Equal(0, host.GetProperty("security").GetArrayLength());
        Assert.Equal("no-manifest", host.GetProperty("drift").GetProperty("status").GetString());

        var only = await CliRun.InAsync(scratch.Dir, "--json", "compliance", "--env", "staging");
        Assert.Equal(["staging"], only.Json.GetProperty("environments").EnumerateArray().Select(e => e.GetProperty("environment").GetString()));

        var log = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.Contains(log.Json.EnumerateArray(), e => e.GetProperty("action").GetString() == "compliance.report");
    }

    [Fact]
    public async Task An_unknown_environment_is_bad_input()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", Config);
        var run = await CliRun.InAsync(scratch.Dir, "compliance", "--env", "nope");
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Contains("nope", run.Stderr);
    }

    [Fact]
    public async Task Html_is_written_self_contained_with_stored_strings_escaped()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", Config);
        var state = Path.Combine(scratch.Dir, ".stageproof");
        await using (var store = await SqliteStateStore.OpenAsync(state, TimeProvider.System))
        {
            await store.SavePatchRunAsync(new PatchRun
            {
                Id = "run-1",
                Kind = RunKind.Apply,
                PatchDigest = Digest,
                PatchId = Hostile,
                Environment = "prod",
                Actor = "alice",
                StartedAt = DateTimeOffset.UtcNow.AddHours(-1),
                FinishedAt = DateTimeOffset.UtcNow,
                Hosts = [new HostRunRecord { Host = "web-1", Status = HostRunStatus.Applied, FinishedAt = DateTimeOffset.UtcNow }],
            });
        }
        var file = Path.Combine(scratch.Dir, "compliance.html");
        var run = await CliRun.InAsync(scratch.Dir, "compliance", "--html", file);
        Assert.True(run.ExitCode == ExitCodes.Ok, run.ToString());
        Assert.Contains("web-1", run.Stdout);
        var html = await File.ReadAllTextAsync(file);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Contains("Content-Security-Policy", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("src=\"http", html);
        Assert.DoesNotContain("href=\"http", html);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;", html);
        Assert.Contains(Digest[..12], html);
    }

    [Fact]
    public void Html_marks_an_emergency_back_fill_and_escapes_it()
    {
        var config = new StageproofConfig
        {
            SourceFile = "/x/stageproof.yaml",
            Hosts = new Dictionary<string, HostConfig> { ["q<1>"] = new() { Name = "q<1>" }, ["p1"] = new() { Name = "p1" } },
            Environments = new Dictionary<string, EnvironmentConfig>
            {
                ["qa"] = new() { Name = "qa", Hosts = ["q<1>"] },
                ["prod"] = new() { Name = "prod", Hosts = ["p1"] },
            },
            Lifecycle = new LifecycleConfig { Stages = [new() { Environment = "qa" }, new() { Environment = "prod" }] },
        };
        var report = ComplianceReport.Build(new ComplianceInput
        {
            Config = config,
            Rollouts =
            [
                new Rollout
                {
                    Id = "ro<&>", Environment = "prod", PatchDigest = Digest, PatchId = Hostile, Actor = "carol", Lane = Lane.Emergency,
                    Policy = new RolloutPolicy(), Batches = [], Hosts = [], Status = RolloutStatus.Succeeded,
                    CreatedAt = new DateTimeOffset(2025, 3, 1, 0, 0, 0, TimeSpan.Zero),
                },
            ],
            Now = new DateTimeOffset(2025, 3, 2, 0, 0, 0, TimeSpan.Zero),
        });
        Assert.False(report.Compliant);
        var html = ComplianceHtml.Render(report);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("q<1>", html);
        Assert.Contains("q&lt;1&gt;", html);
        Assert.Contains("emergency back-fill: rolled out to prod by rollout ro&lt;&amp;&gt; on 2025-03-01, not yet proven in qa", html);
    }
}
