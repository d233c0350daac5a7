using Microsoft.Data.Sqlite;
using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Data;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Checks;
using Stageproof.Hosts.Rollouts;
using Stageproof.Testing;
using Stageproof.Testing.Fakes;

namespace Stageproof.Hosts.Tests.Rollouts;

/// <summary>
/// How many hosts a rollout works on at the same time, on six FAKE hosts (<see cref="FakeEstate"/>, each command taking
/// 30 ms so that hosts at work overlap) with the real rollout, patch and check engines and the real SQLite state: the
/// stage's <c>parallel:</c> bounds the hosts of a batch being patched; without it, the target's parallelism
/// (ssh.parallelism) does; a batch's checks are bounded by ssh.parallelism too.
/// </summary>
public sealed class RolloutParallelTests : IDisposable
{
    private readonly string _dir = ScratchDirectory.NewPath("stageproof-parallel-");
    private readonly FakeEstate _estate = new() { CommandTime = TimeSpan.FromMilliseconds(30) };
    private readonly List<IDisposable> _disposables = [];

    private static readonly HostConfig[] Hosts = Enumerable.Range(1, 6).Select(i => new HostConfig { Name = $"prod-app-{i}", Address = $"127.0.9.{i}" }).ToArray();

    public RolloutParallelTests()
    {
        foreach (var host in Hosts)
        {
            _estate.Add(host.Name, "# acme-mail\nlisten = 127.0.0.1\nsession.lifetime = 60\n", (FakeHost.Package, "1.0-1"));
        }
    }

    public void Dispose()
    {
        foreach (var d in _disposables)
        {
            d.Dispose();
        }
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<Rollout> RollOutAsync(int? parallel, CheckSuite? batchChecks = null, int checkParallelism = int.MaxValue)
    {
        // One batch of all six hosts (no canary), so the only bound on hosts at work is the parallelism.
        var policy = new RolloutPolicy { Canary = 0, Batch = 6, BatchIsPercent = false, Settle = TimeSpan.Zero, Parallel = parallel };
        await using var store = await SqliteStateStore.OpenAsync(_dir, TimeProvider.System);
        var frozen = PatchSetFreezer.FromSet(new PatchSet
        {
            Id = "PARALLEL", Title = "session lifetime 90", Reason = "longer sessions", Severity = PatchSeverity.Low, Author = "alice",
            Files = [new PatchFile { Path = FakeHost.ConfPath, Set = new Dictionary<string, string> { ["session.lifetime"] = "90" } }],
            Commands = new PatchCommands { Post = [new PatchCommand("service acme-mail restart", 60)] },
        });
        await store.SavePatchSetAsync(frozen);
        var stored = (await store.FindPatchSetAsync(frozen.Digest))!;
        var checks = new CheckSuiteRunner { HostParallelism = checkParallelism };
        _disposables.Add(checks);
        var patches = new PatchEngine(store, _estate, new PostgresDatabasePatcher(), TimeProvider.System, _dir, TimeSpan.FromSeconds(30));
        var engine = new RolloutEngine(store, patches, _estate, checks, TimeProvider.System, TimeSpan.FromSeconds(30));
        var batches = RolloutPlanner.Plan(Hosts.Select(h => h.Name).ToList(), policy);
        var rollout = new Rollout
        {
            Id = RolloutEngine.NewId(TimeProvider.System), Environment = "prod", PatchDigest = stored.Digest, PatchId = stored.Set.Id,
            Actor = "bob", Policy = policy, Batches = batches,
            Hosts = batches.SelectMany(b => b.Hosts.Select(h => new RolloutHost { Host = h, Batch = b.Index })).ToList(),
            CreatedAt = TimeProvider.System.GetUtcNow(),
        };
        var target = new RolloutTarget
        {
            PatchSet = stored,
            Apply = new ApplyRequest
            {
                PatchSet = stored, Environment = "prod", Hosts = Hosts, Actor = "bob", Rules = new DriftRules { Track = [FakeHost.ConfPath] },
            },
            Hosts = Hosts,
            CheckEnvironment = new CheckEnvironment { Name = "prod", Hosts = Hosts },
            // No checks unless asked: what is counted is then the patching alone.
            BatchChecks = batchChecks ?? new CheckSuite("prod", []),
            Parallelism = 6, // ssh.parallelism
        };
        return await engine.StartAsync(rollout, target, null, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)); // a hang guard, not a timing
    }

    [Fact]
    public async Task A_stage_with_parallel_2_never_has_more_than_two_hosts_of_a_batch_at_work_and_still_patches_them_all()
    {
        var rollout = await RollOutAsync(parallel: 2);

        Assert.Equal(RolloutStatus.Succeeded, rollout.Status);
        Assert.All(rollout.Hosts, h => Assert.Equal(RolloutHostState.Verified, h.State));
        Assert.All(Hosts, h => Assert.Contains("session.lifetime = 90", _estate[h.Name].Conf, StringComparison.Ordinal));
        Assert.Equal(2, _estate.MostHostsBusy);
    }

    [Fact]
    public async Task Without_parallel_a_batch_is_patched_up_to_ssh_parallelism_at_once()
    {
        var rollout = await RollOutAsync(parallel: null);

        Assert.Equal(RolloutStatus.Succeeded, rollout.Status);
        Assert.All(rollout.Hosts, h => Assert.Equal(RolloutHostState.Verified, h.State));
        // Six hosts, parallelism 6: more than the two a parallel: 2 stage allows were at work together.
        Assert.True(_estate.MostHostsBusy > 2, $"at most {_estate.MostHostsBusy} host(s) at work at once");
    }

    [Fact]
    public async Task A_batch_s_checks_go_to_at_most_ssh_parallelism_hosts_at_once()
    {
        var service = new CheckSuite("prod", [new ServiceCheck { Name = "service", Service = "acme-mail" }]);
        // Patched one host at a time, so any overlap is the checks'.
        var rollout = await RollOutAsync(parallel: 1, service, checkParallelism: 3);

        Assert.Equal(RolloutStatus.Succeeded, rollout.Status);
        Assert.All(rollout.Hosts, h => Assert.Equal(RolloutHostState.Verified, h.State));
        Assert.Contains(rollout.Batches.Single().Checks, line => line.StartsWith("PASS service (prod-app-6)", StringComparison.Ordinal));
        Assert.Equal(3, _estate.MostHostsBusy);
    }
}
