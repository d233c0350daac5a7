using Microsoft.Data.Sqlite;
using Stageproof.Application.Estate;
using Stageproof.Application.Lifecycle;
using Stageproof.Application.Notifications;
using Stageproof.Application.Staging;
using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;
using Stageproof.Core.Stage;
using Stageproof.Data;
using Stageproof.Hosts.Apply;
using Stageproof.Testing;
using Stageproof.Testing.Fakes;
using Xunit.Abstractions;

namespace Stageproof.Application.Tests.Staging;

/// <summary>
/// An estate of FAKE hosts (<see cref="FakeEstate"/>) staged as <c>stageproof stage</c> stages it: prod-app-1, staging's
/// two hosts (a mirror of prod) and their twins in staging-control, every one on acme-mail 1.0-1 with the same
/// configuration, the suite checking the service; the real SQLite state in a scratch directory, the real facts
/// collector, drift, patch and check engines over the fake hosts, and (when a test gives them) real databases.
/// </summary>
internal sealed class FakeStaging(ITestOutputHelper output, string conf) : IDisposable
{
    public static readonly IReadOnlyList<string> Staging = ["staging-app-1", "staging-app-2"];

    /// <summary>Commands that change a host (the set's commands, its packages, its files), by their first word.</summary>
    public static readonly IReadOnlyList<string> Changing = ["stageproof-pre", "env", "stageproof-edit-file", "stageproof-write-file", "stageproof-post"];

    public FakeEstate Estate { get; } = new();

    public string Dir { get; } = ScratchDirectory.Create("stageproof-stage-fake-");

    public FakeHost this[string host] => Estate[host];

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(Dir, recursive: true);
    }

    /// <summary>The hosts, and the configuration (staging's control when <paramref name="control"/>; each environment's
    /// <c>mail</c> database when given as a connection string; a check of the suite besides the service's, as a YAML
    /// list item, when given).</summary>
    public StageproofConfig Config(bool control = false, string? prodDatabase = null, string? stagingDatabase = null, string? extraCheck = null)
    {
        foreach (var host in (string[])["prod-app-1", .. Staging, "staging-control-1", "staging-control-2"])
        {
            Estate.Add(host, conf, (FakeHost.Package, "1.0-1"));
        }
        static string Databases(string? connection) => connection is null ? "" : $", databases: {{ mail: \"{connection}\" }}";
        var path = Path.Combine(Dir, "stageproof.yaml");
        File.WriteAllText(path, $$"""
            hosts:
              prod-app-1: { transport: local }
              staging-app-1: { transport: local }
              staging-app-2: { transport: local }
              staging-control-1: { transport: local }
              staging-control-2: { transport: local }
            environments:
              prod: { hosts: [prod-app-1]{{Databases(prodDatabase)}} }
              staging: { hosts: [staging-app-1, staging-app-2], mirror_of: prod, checks: staging{{(control ? ", control: staging-control" : "")}}{{Databases(stagingDatabase)}} }
              staging-control: { hosts: [staging-control-1, staging-control-2] }
            checks:
              staging:
                - { name: up, type: service, service: acme-mail }
            {{(extraCheck is null ? "" : "    " + extraCheck + "\n")}}drift:
              track: [{{FakeHost.ConfPath}}]
            """);
        return ConfigLoader.Load(path);
    }

    /// <summary>Stages <paramref name="set"/> on staging as alice.</summary>
    public Task<(StageResult Result, Recorded Progress)> StageAsync(StageproofConfig config, PatchSet set, StageOptions? options = null) =>
        StageAsync(config, PatchSetFreezer.FromSet(set), options);

    /// <summary>Stages a frozen set on staging as alice, the facts of the fidelity step collected through the
    /// application's own drift operands, as <c>stageproof stage</c> does.</summary>
    public async Task<(StageResult Result, Recorded Progress)> StageAsync(StageproofConfig config, FrozenPatchSet frozen, StageOptions? options = null)
    {
        await using var store = await SqliteStateStore.OpenAsync(Dir, TimeProvider.System);
        await store.SavePatchSetAsync(frozen);
        var engines = new EstateEngines(store, config, TimeProvider.System, Dir, Estate, NullEventPublisher.Instance);
        var progress = new Recorded(output);
        var facts = new DriftOperands(config, store, TimeProvider.System, new FactsCollector(config, store, Estate, TimeProvider.System, "alice"));
        async Task<IReadOnlyList<Manifest>> CollectAsync(string environment, CancellationToken ct)
        {
            var (side, failures) = await facts.ResolveAsync(environment, storedOnly: false, ct);
            Assert.Empty(failures);
            return side.Manifests;
        }
        var workflow = new StageWorkflow(engines, "alice", progress, CollectAsync);
        var result = await workflow.RunAsync((options ?? new StageOptions { Digest = "", Environment = "staging" }) with
        {
            Digest = frozen.Digest, Settle = TimeSpan.FromSeconds(1),
        }, CancellationToken.None);
        output.WriteLine($"verdict {result.Verdict}; " + string.Join("; ", result.Reasons.Select(r => $"{r.Step}: {r.Subject}: {r.Evidence}")));
        return (result, progress);
    }

    /// <summary>What <c>stageproof rollback --env staging</c> does: staging back to its active rollback point, the
    /// database as the point and the set's way back decide (database: auto).</summary>
    public async Task<PatchRun> RollbackAsync(StageproofConfig config)
    {
        await using var store = await SqliteStateStore.OpenAsync(Dir, TimeProvider.System);
        var engines = new EstateEngines(store, config, TimeProvider.System, Dir, Estate, NullEventPublisher.Instance);
        var point = (await store.ListRollbackPointsAsync("staging")).First(p => p.Status == RollbackPointStatus.Active);
        var set = (await store.FindPatchSetAsync(point.PatchDigest))!.Set;
        var env = engines.Environment("staging");
        return await engines.Patches().RollbackAsync(EstateEngines.RollbackRequest(config, env, point, set, env.Hosts.Select(config.Host).ToList(), "alice"),
            new Recorded.Line(output), CancellationToken.None);
    }

    public async Task<IReadOnlyList<string>> StageEventsAsync()
    {
        await using var store = await SqliteStateStore.OpenAsync(Dir, TimeProvider.System);
        return [.. (await store.ReadAllAsync()).Select(e => e.Action).Where(a => a.StartsWith("stage.", StringComparison.Ordinal))];
    }

    public async Task<IReadOnlyList<StageResult>> StoredAsync()
    {
        await using var store = await SqliteStateStore.OpenAsync(Dir, TimeProvider.System);
        return await store.ListStageResultsAsync();
    }

    public static StepStatus? StatusOf(StageResult result, string step) => result.Steps.FirstOrDefault(s => s.Name == step)?.Status;

    /// <summary>Staging as the test found it: acme-mail 1.0-1, the original configuration, the service running.</summary>
    public void AssertStagingAsFound()
    {
        foreach (var name in Staging)
        {
            var host = Estate[name];
            Assert.Equal("1.0-1", host.Packages[FakeHost.Package]);
            Assert.Equal(conf, host.Conf);
            Assert.True(host.Running, $"{name}: the service is down"); // the rollback restarted it on the restored file
        }
    }

    /// <summary>The progress as the CLI would print it, kept for the assertions and written to the test's output.</summary>
    public sealed class Recorded(ITestOutputHelper output) : IStageProgress
    {
        public List<string> Started { get; } = [];

        public IProgress<string> Engine { get; } = new Line(output);

        public void StepStarted(int number, string step, string what, TimeSpan elapsed)
        {
            Started.Add(step);
            output.WriteLine($"{number}. {step} — {what}");
        }

        public void StepEnded(string step, StepStatus status, string summary) => output.WriteLine($"  {status} {summary}");

        public void Failed(string step, string subject, string evidence) => output.WriteLine($"  FAIL {step}: {subject}: {evidence}");

        public void Checked(CheckResult result) => output.WriteLine($"    {result.Status} {result.Name} ({result.Target}) {result.Message}");

        public sealed class Line(ITestOutputHelper output) : IProgress<string>
        {
            public void Report(string value) => output.WriteLine("    " + value);
        }
    }
}
