using Microsoft.Data.Sqlite;
using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Data;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Checks;
using Stageproof.Hosts.Rollouts;
using Stageproof.Testing;
using Stageproof.Testing.Fakes;
using Xunit.Abstractions;

namespace Stageproof.Hosts.Tests.Rollouts;

/// <summary>
/// The rollout engine killed at random points and resumed, on six FAKE hosts (<see cref="FakeEstate"/>) with the real
/// engines (rollout, patch, check runner) and the real SQLite state. Hundreds of kill points a run, where the lab can
/// afford a few: the lab test (LabLifecycleTests, SIGKILL) proves the same on real hosts with a real process.
/// </summary>
public sealed class RolloutKillTests(ITestOutputHelper output) : IDisposable
{
    private const string Env = "prod";
    private readonly string _dir = ScratchDirectory.NewPath("stageproof-kill-");
    private readonly FakeEstate _estate = new();
    private readonly List<IDisposable> _abandoned = [];

    private static readonly HostConfig[] Hosts = Enumerable.Range(1, 6).Select(i => new HostConfig { Name = $"prod-app-{i}", Address = $"127.0.9.{i}" }).ToArray();

    private static readonly RolloutPolicy Policy = new() { Canary = 1, Batch = 50, MaxFailures = 0, Settle = TimeSpan.Zero, RollbackOnFailure = RollbackScope.All };

    public void Dispose()
    {
        foreach (var d in _abandoned)
        {
            d.Dispose();
        }
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>One run of the stageproof program: its own store connection, engines and check runner.</summary>
    private async Task<(RolloutEngine Engine, IStateStore Store)> ProcessAsync(FakeDeath? death)
    {
        IStateStore store = await SqliteStateStore.OpenAsync(_dir, TimeProvider.System);
        if (death is not null)
        {
            store = death.Guard(store);
        }
        var hosts = _estate.For(death);
        var patches = new PatchEngine(store, hosts, new PostgresDatabasePatcher(), TimeProvider.System, _dir, TimeSpan.FromSeconds(30));
        var checks = new CheckSuiteRunner();
        _abandoned.Add(checks);
        return (new RolloutEngine(store, patches, hosts, checks, TimeProvider.System, TimeSpan.FromSeconds(30)), store);
    }

    /// <summary>Runs <paramref name="work"/> until it returns or the process dies; null when it died.</summary>
    private async Task<Rollout?> RunAsync(FakeDeath? death, Func<RolloutEngine, IStateStore, Task<Rollout>> work)
    {
        var (engine, store) = await ProcessAsync(death);
        var task = work(engine, store);
        var died = death?.Died ?? Task.Delay(Timeout.Infinite);
        var first = await Task.WhenAny(task, died).WaitAsync(TimeSpan.FromSeconds(60)); // a hang guard, not a timing
        return first == task ? await task : null;
    }

    private static PatchSet SessionLifetime(int trial, int value, string? package) => new()
    {
        Id = $"KILL-{trial}",
        Title = $"session lifetime {value}",
        Reason = $"sessions expire at {value} minutes",
        Severity = PatchSeverity.Low,
        Author = "alice",
        Packages = package is null ? [] : [new PatchPackage(FakeHost.Package, package)],
        Files = [new PatchFile { Path = FakeHost.ConfPath, Set = new Dictionary<string, string> { ["session.lifetime"] = value.ToString(System.Globalization.CultureInfo.InvariantCulture) } }],
        Commands = new PatchCommands { Post = [new PatchCommand("service acme-mail restart", 60)] },
    };

    private static RolloutTarget Target(StoredPatchSet stored) => new()
    {
        PatchSet = stored,
        Apply = new ApplyRequest
        {
            PatchSet = stored, Environment = Env, Hosts = Hosts, Actor = "bob",
            Rules = new DriftRules { Track = [FakeHost.ConfPath] },
        },
        Hosts = Hosts,
        CheckEnvironment = new CheckEnvironment { Name = Env, Hosts = Hosts },
        BatchChecks = new CheckSuite(Env, [new ServiceCheck { Name = "service", Service = "acme-mail" }]),
        // Batches of 1, 3 and 2 hosts: kills also land while hosts of one batch are patched at the same time.
        Parallelism = 3,
    };

    private static Rollout Plan(StoredPatchSet stored)
    {
        var batches = RolloutPlanner.Plan(Hosts.Select(h => h.Name).ToList(), Policy);
        return new Rollout
        {
            Id = RolloutEngine.NewId(TimeProvider.System),
            Environment = Env,
            PatchDigest = stored.Digest,
            PatchId = stored.Set.Id,
            Actor = "bob",
            Policy = Policy,
            Batches = batches,
            Hosts = batches.SelectMany(b => b.Hosts.Select(h => new RolloutHost { Host = h, Batch = b.Index })).ToList(),
            CreatedAt = TimeProvider.System.GetUtcNow(),
        };
    }

    [Fact]
    public async Task Killed_at_random_points_and_resumed_every_host_ends_verified_with_the_change_or_rolled_back_without_it()
    {
        foreach (var host in Hosts)
        {
            _estate.Add(host.Name, "# acme-mail\nlisten = 127.0.0.1\nsession.lifetime = 60\n", (FakeHost.Package, "1.0-1"));
        }
        var seed = int.TryParse(Environment.GetEnvironmentVariable("STAGEPROOF_KILL_SEED"), out var s) ? s : Environment.TickCount;
        var random = new Random(seed);
        output.WriteLine($"seed {seed} (replay: STAGEPROOF_KILL_SEED={seed})");
        var commands = new Dictionary<bool, int>();
        var endings = new Dictionary<string, int>(StringComparer.Ordinal);
        const int Trials = 60;
        for (var trial = 1; trial <= Trials; trial++)
        {
            // Every other trial changes the package too (kills land in apt's steps); every fifth set is bad: the
            // service does not come back with it, so the canary's checks fail and the rollout rolls itself back.
            var current = _estate["prod-app-1"].Packages[FakeHost.Package];
            var package = trial % 2 == 0 ? (current == "1.1-1" ? "1.0-1" : "1.1-1") : null;
            var bad = trial % 5 == 0;
            var value = bad ? 0 : 100 + trial;
            var line = $"session.lifetime = {value}\n";
            var before = Hosts.ToDictionary(h => h.Name, h => (Conf: _estate[h.Name].Conf, Version: _estate[h.Name].Packages[FakeHost.Package]));
            var frozen = PatchSetFreezer.FromSet(SessionLifetime(trial, value, package));
            StoredPatchSet stored;
            await using (var store = await SqliteStateStore.OpenAsync(_dir, TimeProvider.System))
            {
                await store.SavePatchSetAsync(frozen);
                stored = (await store.FindPatchSetAsync(frozen.Digest))!;
            }
            var planned = Plan(stored);

            // The first trial of each kind runs to the end and counts its host commands; later ones die at one of them.
            FakeDeath? death = null;
            if (commands.TryGetValue(package is not null, out var count))
            {
                death = new FakeDeath(random.Next(1, count + 1), random.Next(2) == 1);
            }
            var counter = death ?? new FakeDeath(int.MaxValue, false);
            var rollout = await RunAsync(counter, (engine, _) => engine.StartAsync(planned, Target(stored), null, CancellationToken.None));
            commands.TryAdd(package is not null, counter.Commands);
            var story = rollout is null ? $"killed at command {death!.At} of ~{count} ({death.DiedAt})" : "ran to the end";

            // Resumed, and perhaps killed again while resuming, until it ends.
            for (var attempt = 1; rollout is null; attempt++)
            {
                Assert.True(attempt <= 4, $"trial {trial}: still not finished after {attempt} resumes ({story})");
                await using (var store = await SqliteStateStore.OpenAsync(_dir, TimeProvider.System))
                {
                    // The killed process is gone: its lock now names a process that does not run (pids never reach int.MaxValue).
                    var holder = await store.FindRolloutLockAsync(Env);
                    if (holder is not null)
                    {
                        Assert.Null(await store.TryLockRolloutAsync(holder with { ProcessId = int.MaxValue }, holder));
                    }
                }
                var again = attempt < 3 && random.Next(3) == 0 ? new FakeDeath(random.Next(1, 40), random.Next(2) == 1) : null;
                rollout = await RunAsync(again, async (engine, store) =>
                {
                    var stored2 = (await store.FindRolloutAsync(planned.Id))!;
                    return await engine.ResumeAsync(stored2, Target(stored), "bob", null, CancellationToken.None);
                });
                story += rollout is null ? $"; resume killed at command {again!.At} ({again.DiedAt})" : $"; resumed{(attempt > 1 ? $" (attempt {attempt})" : "")}";
            }

            output.WriteLine($"trial {trial}{(package is null ? "" : $" (package {package})")}{(bad ? " (bad set)" : "")}: {story} → {rollout.Status}: {RolloutEngine.Where(rollout)}");
            string history;
            await using (var store = await SqliteStateStore.OpenAsync(_dir, TimeProvider.System))
            {
                history = string.Join("\n", (await store.ReadAllAsync()).Where(e => e.PayloadDigest == stored.Digest)
                    .Select(e => $"  #{e.Sequence} {e.Action} {e.Target}: {e.Outcome}"));
            }
            Assert.NotEqual(RolloutStatus.Running, rollout.Status);
            Assert.Equal(bad ? RolloutStatus.RolledBack : RolloutStatus.Succeeded, rollout.Status);
            foreach (var host in Hosts.Select(h => h.Name))
            {
                var state = rollout.Hosts.Single(h => h.Host == host).State;
                var fake = _estate[host];
                var why = $"trial {trial} (seed {seed}): {host} ended {state}; {story}\n{history}\n";
                endings[state.ToString()] = endings.GetValueOrDefault(state.ToString()) + 1;
                switch (state)
                {
                    case RolloutHostState.Verified:
                        Assert.False(bad, why);
                        Assert.True(fake.Conf.Contains(line, StringComparison.Ordinal), $"{why}; its conf: {fake.Conf}");
                        Assert.True((package ?? before[host].Version) == fake.Packages[FakeHost.Package], $"{why}; its package: {fake.Packages[FakeHost.Package]}");
                        Assert.True(fake.Running, why);
                        break;
                    case RolloutHostState.RolledBack or RolloutHostState.Untouched:
                        Assert.True(bad, why);
                        Assert.True(before[host].Conf == fake.Conf, $"{why}; its conf: {fake.Conf}");
                        Assert.True(before[host].Version == fake.Packages[FakeHost.Package], $"{why}; its package: {fake.Packages[FakeHost.Package]}");
                        break;
                    default:
                        Assert.Fail(why);
                        break;
                }
                // A rolled-back host was restarted on its old configuration and runs again.
                Assert.True(fake.Running || state == RolloutHostState.Untouched, why);
            }
        }
        output.WriteLine("host endings: " + string.Join(", ", endings.Select(e => $"{e.Key} {e.Value}")));
        await using (var store = await SqliteStateStore.OpenAsync(_dir, TimeProvider.System))
        {
            var audit = await store.VerifyAuditAsync();
            Assert.True(audit.IsOk, audit.Message);
            var logged = await store.ReadAllAsync();
            Assert.Contains(logged, e => e.Action == "rollout.resume");
            Assert.Contains(logged, e => e.Action == "rollout.lock-stale");
        }
    }
}
