using Stageproof.Core.Lifecycle;
using Stageproof.Core.Rollouts;
using Stageproof.Data;
using Stageproof.Testing;

namespace Stageproof.Server.Tests;

/// <summary>
/// The server estate with console logins (alice, bob and carol have passwords), a staging PASS of alice's set (a stage
/// result sample, written to the real store as a stage run would write it), and a rollout to prod whose steps the test
/// writes as the rollout engine writes them, to watch the console follow it live.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ConsoleEstate : ServerEstate
{
    public const string Password = "a console password of some length";
    public const string RolloutId = "ro-console-live";
    public const string StageRunId = "st-console-pass";
    /// <summary>The rollback story of the staging PASS: what an approver reads before approving.</summary>
    public const string RollbackStory = "V5__add_message_folders (mail): compatible, rehearsed: the release before the change passes the suite on the new schema; no restore";
    public static readonly string[] ProdHosts = ["prod-1", "prod-2", "prod-3"];

    protected override async Task PrepareAsync()
    {
        var file = Path.Combine(Dir, "password");
        await File.WriteAllTextAsync(file, Password);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        foreach (var who in new[] { "alice", "bob", "carol" })
        {
            await CliAsync("user", "password", who, "--password-file", file);
        }
        await using var store = await SqliteStateStore.OpenKeyedAsync(StatePath, TimeProvider.System);
        var pass = StageSamples.Pass();
        await store.SaveStageResultAsync(pass with
        {
            Id = StageRunId, PatchDigest = Digest, PatchId = "SRV-1", PatchTitle = "a set alice wrote", Environment = "staging",
            StartedAt = DateTimeOffset.UtcNow.AddMinutes(-10), FinishedAt = DateTimeOffset.UtcNow.AddMinutes(-5),
            Rehearsal = (pass.Rehearsal ?? new Core.Stage.RehearsalResult()) with { Story = [RollbackStory] },
        });
        await store.SaveRolloutAsync(Rollout(_ => RolloutHostState.Pending, _ => BatchState.Pending, RolloutStatus.Running));
    }

    /// <summary>The rollout with each host and batch in the state given: canary prod-1, then prod-2 and prod-3.</summary>
    public Rollout Rollout(Func<string, RolloutHostState> host, Func<int, BatchState> batch, RolloutStatus status) => new()
    {
        Id = RolloutId, Environment = "prod", PatchDigest = Digest, PatchId = "SRV-1", Actor = "bob", Policy = new RolloutPolicy(),
        Batches =
        [
            new RolloutBatch { Index = 0, Name = "canary", Hosts = ["prod-1"], State = batch(0) },
            new RolloutBatch { Index = 1, Name = "batch 1", Hosts = ["prod-2", "prod-3"], State = batch(1) },
        ],
        Hosts = ProdHosts.Select((h, i) => new RolloutHost { Host = h, Batch = i == 0 ? 0 : 1, State = host(h) }).ToList(),
        Status = status, CreatedAt = DateTimeOffset.UtcNow,
    };

    /// <summary>Writes the rollout as the engine would at one of its steps.</summary>
    public async Task WriteRolloutAsync(Rollout rollout)
    {
        await using var store = await SqliteStateStore.OpenKeyedAsync(StatePath, TimeProvider.System);
        await store.SaveRolloutAsync(rollout);
    }
}
