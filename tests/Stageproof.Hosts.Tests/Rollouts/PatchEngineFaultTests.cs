using Microsoft.Data.Sqlite;
using Stageproof.Core.Configuration;
using Stageproof.Core.Patches;
using Stageproof.Data;
using Stageproof.Hosts.Apply;
using Stageproof.Testing;
using Stageproof.Testing.Fakes;

namespace Stageproof.Hosts.Tests.Rollouts;

/// <summary>The apply engine's fault paths on three FAKE hosts (<see cref="FakeEstate"/>) with the real SQLite state.</summary>
public sealed class PatchEngineFaultTests : IDisposable
{
    private readonly string _dir = ScratchDirectory.NewPath("stageproof-apply-");
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

    private async Task<PatchRun> ApplyAsync(IDatabasePatcher? databases = null)
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
        var engine = new PatchEngine(store, _estate, databases ?? new PostgresDatabasePatcher(), TimeProvider.System, _dir, TimeSpan.FromSeconds(30));
        var run = await engine.ApplyAsync(new ApplyRequest
        {
            PatchSet = stored, Environment = "prod", Hosts = Hosts, Actor = "bob", Rules = new DriftRules { Track = [FakeHost.ConfPath] },
            Databases = databases is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["mail"] = "Host=127.0.0.1;Database=mail;Username=acme" },
        }, null, CancellationToken.None);
        _point = run.RollbackPoint is { } id ? await store.FindRollbackPointAsync(id) : null;
        return run;
    }

    private RollbackPoint? _point;

    /// <summary>Commands that change a host (the set's commands, its packages, its files), by their first word.</summary>
    private static readonly string[] Changing = ["stageproof-pre", "env", "stageproof-edit-file", "stageproof-write-file", "stageproof-post"];

    /// <summary>FAKE database side: only <see cref="CreatePointAsync"/> is reached by a set without migrations.</summary>
    private abstract class DumpOnly : IDatabasePatcher
    {
        public abstract Task<DatabasePoint> CreatePointAsync(string database, string connectionString, string directory, CancellationToken cancellationToken);

        public Task<DatabaseMigrationPlan> PlanAsync(string connectionString, PatchMigration migration, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<IReadOnlyList<string>> MigrateAsync(string connectionString, PatchMigration migration, string patchDigest, string actor, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> SchemaChangedAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<IReadOnlyList<string>> WritesSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task RestoreAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<IReadOnlyList<Core.Manifests.MigrationRecord>?> MigrationsSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<IReadOnlyList<Core.Stage.TableRows>> RowsSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<string?> RunDownScriptAsync(string connectionString, string sql, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    /// <summary>
    /// FAKE database side (no database server): the environment's dump, which lasts until the first host has run the
    /// last command of its own part of the point (keeping its packages) beside it, then succeeds or fails as told. It
    /// notes how many commands that host had been sent when the dump ended.
    /// </summary>
    private sealed class DumpBesideTheHost(FakeHost host, string? failure) : DumpOnly
    {
        public int HostCommandsWhenDumped { get; private set; } = -1;

        public override async Task<DatabasePoint> CreatePointAsync(string database, string connectionString, string directory, CancellationToken cancellationToken)
        {
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (!host.Log.Contains("stageproof-keep-debs"))
            {
                if (waited.Elapsed > TimeSpan.FromSeconds(20))
                {
                    throw new Core.InfrastructureException(database, "the host's part of the rollback point did not run beside the dump");
                }
                await Task.Delay(10, cancellationToken);
            }
            HostCommandsWhenDumped = host.Log.Count;
            return failure is null
                ? new DatabasePoint { Database = database, Directory = directory, SchemaDigest = "fake" }
                : throw new Core.InfrastructureException(database, failure);
        }
    }

    /// <summary>FAKE database side (no database server): a dump is a file written into the point's directory; notes how
    /// many commands the host had been sent when each dump began, and each dump's directory.</summary>
    private sealed class DumpToDisk(FakeHost host) : DumpOnly
    {
        public List<(int HostCommands, string Directory)> Dumps { get; } = [];

        public override async Task<DatabasePoint> CreatePointAsync(string database, string connectionString, string directory, CancellationToken cancellationToken)
        {
            Dumps.Add((host.Log.Count, directory));
            Directory.CreateDirectory(directory);
            await File.WriteAllTextAsync(Path.Combine(directory, "dump.sql"), "-- fake dump\n", cancellationToken);
            return new DatabasePoint { Database = database, Directory = directory, SchemaDigest = "fake" };
        }
    }

    [Fact]
    public async Task The_database_dump_starts_with_the_run_and_one_that_no_host_needed_is_removed()
    {
        var dump = new DumpToDisk(_estate["prod-app-1"]);

        var first = await ApplyAsync(dump);

        Assert.All(first.Hosts, h => Assert.Equal(HostRunStatus.Applied, h.Status));
        // Begun before the first host was sent anything: beside its inspection, not after it.
        Assert.Equal(0, Assert.Single(dump.Dumps).HostCommands);
        var kept = Assert.Single(_point!.Databases).Directory;
        Assert.True(File.Exists(Path.Combine(kept, "dump.sql")));

        // Every host has the set now: the second run's dump is taken (it starts before anyone knows) and removed,
        // since it is part of no point; the first point's dump stays.
        var again = await ApplyAsync(dump);

        Assert.All(again.Hosts, h => Assert.Equal(HostRunStatus.AlreadyApplied, h.Status));
        Assert.Equal(2, dump.Dumps.Count);
        Assert.False(Directory.Exists(dump.Dumps[1].Directory), dump.Dumps[1].Directory);
        Assert.True(File.Exists(Path.Combine(kept, "dump.sql")));
    }

    [Fact]
    public async Task The_database_dump_runs_beside_the_host_s_part_of_the_point_and_ends_before_the_host_changes()
    {
        var dump = new DumpBesideTheHost(_estate["prod-app-1"], failure: null);

        var run = await ApplyAsync(dump);

        Assert.All(run.Hosts, h => Assert.Equal(HostRunStatus.Applied, h.Status));
        Assert.Equal(["mail"], _point!.Databases.Select(d => d.Database));
        var log = _estate["prod-app-1"].Log;
        Assert.True(dump.HostCommandsWhenDumped > 0, string.Join(", ", log));
        Assert.DoesNotContain(log.Take(dump.HostCommandsWhenDumped), Changing.Contains);
        Assert.Contains(log.Skip(dump.HostCommandsWhenDumped), Changing.Contains);
        Assert.Contains("session.lifetime = 5\n", _estate["prod-app-1"].Conf, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_dump_that_fails_beside_the_host_s_part_of_the_point_fails_the_rollback_point_with_the_host_unchanged()
    {
        var dump = new DumpBesideTheHost(_estate["prod-app-1"], failure: "pg_dump: connection refused (fake)");

        var run = await ApplyAsync(dump);

        Assert.Equal([HostRunStatus.FailedNeedsAttention, HostRunStatus.NotStarted, HostRunStatus.NotStarted], run.Hosts.Select(h => h.Status));
        var failed = run.Hosts[0].Message!;
        Assert.Contains("failed at rollback-point", failed, StringComparison.Ordinal);
        Assert.Contains("pg_dump: connection refused (fake)", failed, StringComparison.Ordinal);
        Assert.Contains("nothing was changed on the host", failed, StringComparison.Ordinal);
        var host = _estate["prod-app-1"];
        Assert.DoesNotContain(host.Log, Changing.Contains);
        Assert.DoesNotContain("stageproof-restore", host.Log);
        Assert.Equal(Conf, host.Conf);
        Assert.Equal("1.0-1", host.Packages[FakeHost.Package]);
        Assert.Empty(_estate["prod-app-2"].Log);
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
