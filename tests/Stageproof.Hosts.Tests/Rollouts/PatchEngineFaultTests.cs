using Microsoft.Data.Sqlite;
using Stageproof.Core.Configuration;
using Stageproof.Core.Patches;
using Stageproof.Data;
using Stageproof.Hosts.Apply;

namespace Stageproof.Hosts.Tests.Rollouts;

/// <summary>The apply engine's fault paths on three FAKE hosts (<see cref="FakeEstate"/>) with the real SQLite state.</summary>
public sealed class PatchEngineFaultTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "stageproof-apply-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly FakeEstate _estate = new();
    private static readonly HostConfig[] Hosts = Enumerable.Range(1, 3).Select(i => new HostConfig { Name = $"prod-app-{i}" }).ToArray();
    private const string Conf = "# acme-mail\nsession.lifetime = 60\n";

    public PatchEngineFaultTests()
    {
        foreach (var host in Hosts)
        {
            _estate.Add(host.Name, Conf, (FakeHost.Package, "1.0-1"));
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<PatchRun> ApplyAsync()
    {
        await using var store = await SqliteStateStore.OpenAsync(_dir, TimeProvider.System);
        var frozen = PatchSetFreezer.FromSet(new PatchSet
        {
            Id = "FAULT-1", Title = "session lifetime 5", Reason = "shorter sessions", Severity = PatchSeverity.Low, Author = "alice",
            Packages = [new PatchPackage(FakeHost.Package, "1.1-1")],
            Files = [new PatchFile { Path = FakeHost.ConfPath, Set = new Dictionary<string, string> { ["session.lifetime"] = "5" } }],
            Commands = new PatchCommands { Post = [new PatchCommand("service acme-mail restart")] },
        });
        await store.SavePatchSetAsync(frozen);
        var stored = (await store.FindPatchSetAsync(frozen.Digest))!;
        var engine = new PatchEngine(store, _estate, new PostgresDatabasePatcher(), TimeProvider.System, _dir, TimeSpan.FromSeconds(30));
        return await engine.ApplyAsync(new ApplyRequest
        {
            PatchSet = stored, Environment = "prod", Hosts = Hosts, Actor = "bob", Rules = new DriftRules { Track = [FakeHost.ConfPath] },
        }, null, CancellationToken.None);
    }

    [Fact]
    public async Task A_rollback_point_that_cannot_be_saved_leaves_the_host_as_it_was_without_a_restore_and_stops_the_run()
    {
        _estate["prod-app-2"].Failing["stageproof-save-files"] = 1;

        var run = await ApplyAsync();

        Assert.Equal([HostRunStatus.Applied, HostRunStatus.FailedNeedsAttention, HostRunStatus.NotStarted], run.Hosts.Select(h => h.Status));
        var failed = run.Hosts[1];
        Assert.Contains("failed at rollback-point", failed.Message, StringComparison.Ordinal);
        Assert.Contains("nothing was changed on the host", failed.Message, StringComparison.Ordinal);
        // Nothing was restored from a point that was never saved, and nothing was changed.
        Assert.DoesNotContain("stageproof-purge-list", _estate["prod-app-2"].Log);
        Assert.DoesNotContain("stageproof-restore", _estate["prod-app-2"].Log);
        Assert.DoesNotContain("stageproof-edit-file", _estate["prod-app-2"].Log);
        Assert.Equal(Conf, _estate["prod-app-2"].Conf);
        Assert.Equal("1.0-1", _estate["prod-app-2"].Packages[FakeHost.Package]);
        Assert.Empty(_estate["prod-app-3"].Log);
        Assert.Contains("session.lifetime = 5\n", _estate["prod-app-1"].Conf, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_post_command_that_fails_rolls_the_host_back_to_its_packages_and_files_and_restarts_it_there()
    {
        _estate["prod-app-1"].Failing["stageproof-post"] = 1;

        var run = await ApplyAsync();

        Assert.Equal([HostRunStatus.RolledBack, HostRunStatus.NotStarted, HostRunStatus.NotStarted], run.Hosts.Select(h => h.Status));
        Assert.Contains("failed at post-commands", run.Hosts[0].Message, StringComparison.Ordinal);
        var host = _estate["prod-app-1"];
        Assert.Equal(Conf, host.Conf);
        Assert.Equal("1.0-1", host.Packages[FakeHost.Package]);
        // After the failed restart: the kept package and saved files restored, the set's post command run again on
        // them, and the host compared with its manifest from before the change.
        var log = host.Log;
        var restore = log.IndexOf("stageproof-restore");
        Assert.True(restore > log.IndexOf("stageproof-post"), string.Join(", ", log));
        Assert.Equal("stageproof-post", log[restore + 1]);
        Assert.Equal("stageproof-facts", log[^1]);
        Assert.Equal(1, host.Restarts); // the failed restart never ran; the rollback's did
        Assert.True(host.Running);
        Assert.Empty(_estate["prod-app-2"].Log);
    }
}
