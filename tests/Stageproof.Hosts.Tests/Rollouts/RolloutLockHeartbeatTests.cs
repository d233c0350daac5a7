using Microsoft.Data.Sqlite;
using Stageproof.Core;
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
/// The environment lock judged across machines by its heartbeat: a holder on another machine (whose process this one
/// cannot see) is taken over once its heartbeat has been silent for three of its intervals, and not before. Real engines
/// and SQLite state, FAKE hosts (<see cref="FakeEstate"/>).
/// </summary>
public sealed class RolloutLockHeartbeatTests : IDisposable
{
    private const string Env = "prod";
    private readonly string _dir = ScratchDirectory.NewPath("stageproof-beat-");
    private readonly FakeEstate _estate = new();
    private readonly CheckSuiteRunner _checks = new();

    private static readonly HostConfig[] Hosts = Enumerable.Range(1, 2).Select(i => new HostConfig { Name = $"prod-app-{i}", Address = $"127.0.9.{i}" }).ToArray();

    private static readonly RolloutPolicy Policy = new() { Canary = 1, Batch = 50, MaxFailures = 0, Settle = TimeSpan.Zero, RollbackOnFailure = RollbackScope.All };

    public RolloutLockHeartbeatTests()
    {
        foreach (var host in Hosts)
        {
            _estate.Add(host.Name, "# acme-mail\nsession.lifetime = 60\n", (FakeHost.Package, "1.0-1"));
        }
    }

    public void Dispose()
    {
        _checks.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A holder on another machine: its process cannot be looked for from here.</summary>
    private static RolloutLock Elsewhere(DateTimeOffset lastBeat) => new()
    {
        Environment = Env, RolloutId = "r-elsewhere", ProcessId = 4242, Machine = "ops-elsewhere",
        AcquiredAt = lastBeat - TimeSpan.FromMinutes(5), HeartbeatAt = lastBeat, HeartbeatEvery = TimeSpan.FromSeconds(10),
    };

    private async Task<(RolloutEngine Engine, SqliteStateStore Store, StoredPatchSet Stored)> OpenAsync(IRolloutObserver? observer = null)
    {
        var store = await SqliteStateStore.OpenAsync(_dir, TimeProvider.System);
        var frozen = PatchSetFreezer.FromSet(new PatchSet
        {
            Id = "BEAT-1", Title = "session lifetime 90", Reason = "the heartbeat tests", Severity = PatchSeverity.Low, Author = "alice",
            Files = [new PatchFile { Path = FakeHost.ConfPath, Set = new Dictionary<string, string> { ["session.lifetime"] = "90" } }],
        });
        await store.SavePatchSetAsync(frozen);
        var stored = (await store.FindPatchSetAsync(frozen.Digest))!;
        var patches = new PatchEngine(store, _estate, new PostgresDatabasePatcher(), TimeProvider.System, _dir, TimeSpan.FromSeconds(30));
        return (new RolloutEngine(store, patches, _estate, _checks, TimeProvider.System, TimeSpan.FromSeconds(30), observer), store, stored);
    }

    private static RolloutTarget Target(StoredPatchSet stored) => new()
    {
        PatchSet = stored,
        Apply = new ApplyRequest { PatchSet = stored, Environment = Env, Hosts = Hosts, Actor = "bob", Rules = new DriftRules { Track = [FakeHost.ConfPath] } },
        Hosts = Hosts,
        CheckEnvironment = new CheckEnvironment { Name = Env, Hosts = Hosts },
        BatchChecks = new CheckSuite(Env, []),
    };

    private static Rollout Plan(StoredPatchSet stored)
    {
        var batches = RolloutPlanner.Plan(Hosts.Select(h => h.Name).ToList(), Policy);
        return new Rollout
        {
            Id = RolloutEngine.NewId(TimeProvider.System), Environment = Env, PatchDigest = stored.Digest, PatchId = stored.Set.Id, Actor = "bob",
            Policy = Policy, Batches = batches,
            Hosts = batches.SelectMany(b => b.Hosts.Select(h => new RolloutHost { Host = h, Batch = b.Index })).ToList(),
            CreatedAt = TimeProvider.System.GetUtcNow(),
        };
    }

    [Fact]
    public async Task A_lock_whose_holder_on_another_machine_went_silent_is_taken_over_and_the_takeover_names_it()
    {
        var (engine, store, stored) = await OpenAsync();
        await using (store)
        {
            // Silent for 31 s: past three of its 10 s heartbeats.
            var silent = Elsewhere(DateTimeOffset.UtcNow - TimeSpan.FromSeconds(31));
            Assert.Null(await store.TryLockRolloutAsync(silent));

            var done = await engine.StartAsync(Plan(stored), Target(stored), null, CancellationToken.None);

            Assert.Equal(RolloutStatus.Succeeded, done.Status);
            var takeover = Assert.Single(await store.ReadAllAsync(), e => e.Action == "rollout.lock-takeover");
            Assert.Contains("rollout r-elsewhere (process 4242 on ops-elsewhere)", takeover.Outcome, StringComparison.Ordinal);
            Assert.Contains("heartbeat was silent since", takeover.Outcome, StringComparison.Ordinal);
            // Released at the end, as any lock this process took.
            Assert.Null(await store.FindRolloutLockAsync(Env));
        }
    }

    [Fact]
    public async Task A_lock_whose_holder_on_another_machine_still_beats_refuses_the_rollout_and_names_its_heartbeat()
    {
        var (engine, store, stored) = await OpenAsync();
        await using (store)
        {
            var beating = Elsewhere(DateTimeOffset.UtcNow - TimeSpan.FromSeconds(5));
            Assert.Null(await store.TryLockRolloutAsync(beating));

            var refused = await Assert.ThrowsAsync<RefusedException>(() => engine.StartAsync(Plan(stored), Target(stored), null, CancellationToken.None));

            Assert.Equal(RolloutEngine.LockRule, refused.Rule);
            Assert.Contains("rollout r-elsewhere is running on prod (process 4242 on ops-elsewhere", refused.Message, StringComparison.Ordinal);
            Assert.Contains("heartbeat", refused.Message, StringComparison.Ordinal);
            Assert.Equal(beating, await store.FindRolloutLockAsync(Env));
            Assert.All(Hosts, h => Assert.Contains("session.lifetime = 60", _estate[h.Name].Conf, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_holder_on_another_machine_is_judged_gone_by_its_heartbeat_alone()
    {
        var (engine, store, _) = await OpenAsync();
        await using (store)
        {
            // What 'rollout resume' and the server ask before resuming: does a live process run it?
            Assert.True(await engine.IsStaleAsync(Elsewhere(DateTimeOffset.UtcNow - TimeSpan.FromSeconds(31)), CancellationToken.None));
            Assert.False(await engine.IsStaleAsync(Elsewhere(DateTimeOffset.UtcNow - TimeSpan.FromSeconds(29)), CancellationToken.None));
            // Without a heartbeat, another machine's holder cannot be judged from here: taken as alive, as before.
            Assert.False(await engine.IsStaleAsync(Elsewhere(DateTimeOffset.UtcNow - TimeSpan.FromDays(1)) with { HeartbeatAt = null, HeartbeatEvery = null }, CancellationToken.None));
        }
    }

    /// <summary>Once the canary is verified, another process takes the lock over, as one does from a holder that was
    /// paused past its heartbeat's limit.</summary>
    private sealed class TakeoverAfterCanary(Func<Task> takeOver) : IRolloutObserver
    {
        private bool _done;

        public async Task SavedAsync(Rollout rollout, CancellationToken cancellationToken)
        {
            if (!_done && rollout.Hosts.Any(h => h.State == RolloutHostState.Verified))
            {
                _done = true;
                await takeOver();
            }
        }
    }

    [Fact]
    public async Task A_rollout_whose_lock_was_taken_over_stops_before_its_next_step_and_leaves_the_lock_to_the_taker()
    {
        SqliteStateStore? shared = null;
        var taker = Elsewhere(DateTimeOffset.UtcNow);
        var (engine, store, stored) = await OpenAsync(new TakeoverAfterCanary(async () =>
        {
            var mine = await shared!.FindRolloutLockAsync(Env);
            Assert.Null(await shared.TryLockRolloutAsync(taker with { RolloutId = mine!.RolloutId }, replacing: mine));
        }));
        shared = store;
        await using (store)
        {
            var planned = Plan(stored);
            var lost = await Assert.ThrowsAsync<RefusedException>(() => engine.StartAsync(planned, Target(stored), null, CancellationToken.None));

            Assert.Equal(RolloutEngine.LockLostRule, lost.Rule);
            Assert.Contains($"rollout {planned.Id} lost prod's lock to rollout {planned.Id} (process 4242 on ops-elsewhere)", lost.Message, StringComparison.Ordinal);
            // The canary was patched; the batch after it was not started from here: the new holder resumes it.
            Assert.Contains("session.lifetime = 90", _estate["prod-app-1"].Conf, StringComparison.Ordinal);
            Assert.Contains("session.lifetime = 60", _estate["prod-app-2"].Conf, StringComparison.Ordinal);
            Assert.Equal(RolloutHostState.Pending, (await store.FindRolloutAsync(planned.Id))!.Hosts.Single(h => h.Host == "prod-app-2").State);
            Assert.Equal(4242, (await store.FindRolloutLockAsync(Env))?.ProcessId);
        }
    }
}
