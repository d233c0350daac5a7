using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Checks;
using Stageproof.Core.ConfigFiles;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.State;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Facts;

namespace Stageproof.Hosts.Rollouts;

/// <summary>Everything a rollout needs to know about its target, resolved from the configuration by the caller.</summary>
public sealed record RolloutTarget
{
    public required StoredPatchSet PatchSet { get; init; }
    /// <summary>Applying the set to the environment; the engine narrows <see cref="ApplyRequest.Hosts"/> per batch.</summary>
    public required ApplyRequest Apply { get; init; }
    /// <summary>The environment's hosts, in configuration order.</summary>
    public required IReadOnlyList<HostConfig> Hosts { get; init; }
    public required CheckEnvironment CheckEnvironment { get; init; }
    /// <summary>The checks run on each batch after it is patched.</summary>
    public required CheckSuite BatchChecks { get; init; }
    /// <summary>The staging environment the patched scope is compared with at the end (null: no comparison).</summary>
    public string? MirrorEnvironment { get; init; }
    public IReadOnlyList<HostConfig> MirrorHosts { get; init; } = [];
    /// <summary>Hosts of one batch patched at the same time (the CLI passes ssh.parallelism).</summary>
    public int Parallelism { get; init; } = 1;
}

/// <summary>
/// Walks a patch set through an environment: canary, then batches, each patched behind its rollback point and then
/// checked; a batch that fails more than the policy tolerates is rolled back (and, by policy, everything before it);
/// at the end the patched scope must equal staging's. Every host's state is written before each step, so a killed
/// orchestrator is resumed exactly where it stopped; one rollout per environment holds its lock.
/// </summary>
public sealed class RolloutEngine(
    IStateStore store,
    PatchEngine patches,
    ITransportFactory transports,
    ICheckSuiteRunner checks,
    TimeProvider time,
    TimeSpan commandTimeout,
    IRolloutObserver? observer = null)
{
    public const string LockRule = "one-rollout-per-environment";

    /// <summary>The rule of a rollout that stopped because another process took its lock over (its heartbeat had been
    /// silent too long): that process runs it now.</summary>
    public const string LockLostRule = "rollout-lock-lost";

    /// <summary>How often the lock's heartbeat is refreshed while a rollout runs (<c>jobs.lock_heartbeat</c>).</summary>
    public TimeSpan LockHeartbeat { get; init; } = Core.Jobs.JobsConfig.DefaultLockHeartbeat;

    /// <summary>Plans a new rollout, stores it, takes the environment's lock, and runs it.</summary>
    public async Task<Rollout> StartAsync(Rollout planned, RolloutTarget target, IProgress<string>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(planned);
        ArgumentNullException.ThrowIfNull(target);
        var held = await LockAsync(planned, ct).ConfigureAwait(false);
        return await WhileHeldAsync(planned, held, async run =>
        {
            await store.SaveRolloutAsync(planned, run).ConfigureAwait(false);
            await (observer?.SavedAsync(planned, run) ?? Task.CompletedTask).ConfigureAwait(false);
            await AuditAsync(planned, "rollout.start", planned.Environment,
                $"{planned.Id}: {planned.PatchId} in {planned.Batches.Count.ToString(CultureInfo.InvariantCulture)} batch(es) " +
                $"[{string.Join("; ", planned.Batches.Select(b => $"{b.Name}: {string.Join(", ", b.Hosts)}"))}], {planned.Lane.ToString().ToLowerInvariant()} lane" +
                (planned.WindowOverride is null ? "" : $", outside the window: {planned.WindowOverride}"), run).ConfigureAwait(false);
            return await RunAsync(planned, target, progress, run).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="work"/> while <paramref name="held"/> is beating: its heartbeat refreshed every
    /// <see cref="LockHeartbeat"/>, so any process on any machine can tell this one is alive. When a beat — or the check
    /// before each step's state is written — finds the lock taken over (this process was silent too long: paused, or cut
    /// off from the state), the work is cancelled where it stands, as for a killed process, and the new holder goes on.
    /// </summary>
    private async Task<Rollout> WhileHeldAsync(Rollout rollout, RolloutLock held, Func<CancellationToken, Task<Rollout>> work, CancellationToken ct)
    {
        using var lost = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var stop = new CancellationTokenSource();
        var lease = new LockLease(held, lost);
        var beating = Task.Run(async () =>
        {
            var current = held;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(LockHeartbeat, time, stop.Token).ConfigureAwait(false);
                    if (await store.HeartbeatRolloutLockAsync(current, stop.Token).ConfigureAwait(false) is { } beat)
                    {
                        current = beat;
                        continue;
                    }
                    await lease.LoseAsync(await store.FindRolloutLockAsync(rollout.Environment, stop.Token).ConfigureAwait(false)).ConfigureAwait(false);
                    return;
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
#pragma warning disable CA1031 // The state unreachable for a beat: try again at the next; a silence past the limit costs the lock, learnt then.
                catch (Exception)
#pragma warning restore CA1031
                {
                }
            }
        }, CancellationToken.None);
        s_lease.Value = lease;
        try
        {
            return await work(lost.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (lease.IsLost && !ct.IsCancellationRequested)
        {
            var by = lease.TakenBy is not { } taker ? "another process"
                : $"rollout {taker.RolloutId} (process {taker.ProcessId.ToString(CultureInfo.InvariantCulture)} on {taker.Machine})";
            throw new RefusedException(LockLostRule,
                $"rollout {rollout.Id} lost {rollout.Environment}'s lock to {by}: its heartbeat was silent longer than " +
                $"{RolloutLock.MissedBeats.ToString(CultureInfo.InvariantCulture)} x {LockHeartbeat.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s; it stopped where it stood");
        }
        finally
        {
            s_lease.Value = null;
            await stop.CancelAsync().ConfigureAwait(false);
            await beating.ConfigureAwait(false);
            // A lock taken over is the new holder's (perhaps this very rollout, resumed elsewhere): not ours to release.
            if (!lease.IsLost)
            {
                await store.ReleaseRolloutLockAsync(rollout.Environment, rollout.Id, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The lock the rollout running in this async flow holds, and how its loss is told.</summary>
    private static readonly AsyncLocal<LockLease?> s_lease = new();

    private sealed class LockLease(RolloutLock held, CancellationTokenSource lost)
    {
        public RolloutLock Held => held;
        public RolloutLock? TakenBy { get; private set; }
        public bool IsLost { get; private set; }

        public async Task LoseAsync(RolloutLock? takenBy)
        {
            TakenBy = takenBy;
            IsLost = true;
            await lost.CancelAsync().ConfigureAwait(false);
        }

        public bool IsHeldBy(RolloutLock? holder) => holder is not null && holder.RolloutId == held.RolloutId && holder.ProcessId == held.ProcessId
                                                     && holder.Machine == held.Machine && holder.AcquiredAt == held.AcquiredAt;
    }

    /// <summary>Continues an interrupted rollout from exactly where its hosts are.</summary>
    /// <param name="holderDeclaredDead">True when the job cluster declared the node that ran it dead (a recovered job):
    /// the lock this rollout still holds is then taken over even when that node was another machine — unless the lock
    /// beats, when its heartbeat alone decides.</param>
    public async Task<Rollout> ResumeAsync(Rollout rollout, RolloutTarget target, string actor, IProgress<string>? progress, CancellationToken ct,
        bool holderDeclaredDead = false)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        if (rollout.Finished)
        {
            throw new RefusedException("rollout-finished", $"rollout {rollout.Id} already ended: {Describe(rollout.Status)}");
        }
        var held = await LockAsync(rollout, ct, holderDeclaredDead).ConfigureAwait(false);
        return await WhileHeldAsync(rollout, held, async run =>
        {
            await AuditAsync(rollout, "rollout.resume", rollout.Environment, $"{rollout.Id} resumed by {actor}: " + Where(rollout), run, actor).ConfigureAwait(false);
            return await RunAsync(rollout, target, progress, run).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
    }

    /// <summary>True when the lock's holder is gone: its heartbeat silent past its limit (judged from any machine), its
    /// process no longer running on this machine, or its rollout ended.</summary>
    public async Task<bool> IsStaleAsync(RolloutLock holder, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(holder);
        if (holder.IsSilentAt(time.GetUtcNow()))
        {
            return true;
        }
        var rollout = await store.FindRolloutAsync(holder.RolloutId, ct).ConfigureAwait(false);
        if (rollout is { Finished: true })
        {
            return true;
        }
        return holder.Machine == System.Environment.MachineName && !ProcessRuns(holder.ProcessId);
    }

    /// <summary>
    /// Takes the environment's lock for <paramref name="rollout"/>, beating from now: when free; when its holder's heartbeat
    /// has been silent past its limit, from any machine (audited as a takeover naming the holder); else, for a holder
    /// without heartbeats or one still beating, when it is judged gone as before — its process gone from this machine,
    /// its rollout ended, or its node declared dead by the job cluster (<paramref name="holderDeclaredDead"/>).
    /// </summary>
    private async Task<RolloutLock> LockAsync(Rollout rollout, CancellationToken ct, bool holderDeclaredDead = false)
    {
        var now = time.GetUtcNow();
        var wanted = new RolloutLock
        {
            Environment = rollout.Environment, RolloutId = rollout.Id, ProcessId = System.Environment.ProcessId,
            Machine = System.Environment.MachineName, AcquiredAt = now, HeartbeatAt = now, HeartbeatEvery = LockHeartbeat,
        };
        var take = await store.TakeRolloutLockAsync(wanted, ct).ConfigureAwait(false);
        if (take.Taken)
        {
            if (take.TakenOver is { } silent)
            {
                await AuditAsync(rollout, "rollout.lock-takeover", rollout.Environment,
                    $"took over the lock of rollout {silent.RolloutId} (process {silent.ProcessId.ToString(CultureInfo.InvariantCulture)} on {silent.Machine}): " +
                    $"its heartbeat was silent since {silent.HeartbeatAt:u}, longer than {RolloutLock.MissedBeats.ToString(CultureInfo.InvariantCulture)} x " +
                    $"{silent.HeartbeatEvery!.Value.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s", ct).ConfigureAwait(false);
            }
            return wanted;
        }
        var holder = take.Holder!;
        // The cluster's word that the holder's node is dead is taken only for a lock without heartbeats: a beating lock
        // says for itself whether its holder lives (a node declared dead that still beats is alive and patching).
        var declaredDead = holderDeclaredDead && holder.RolloutId == rollout.Id && holder.HeartbeatAt is null;
        if (!declaredDead && !await IsStaleAsync(holder, ct).ConfigureAwait(false))
        {
            throw new RefusedException(LockRule, Held(holder));
        }
        var again = await store.TryLockRolloutAsync(wanted, holder, ct).ConfigureAwait(false);
        if (again is not null)
        {
            throw new RefusedException(LockRule, $"rollout {again.RolloutId} took {rollout.Environment}'s lock first");
        }
        await AuditAsync(rollout, "rollout.lock-stale", rollout.Environment,
            $"took over the lock of rollout {holder.RolloutId} (process {holder.ProcessId.ToString(CultureInfo.InvariantCulture)} on {holder.Machine} is gone)", ct).ConfigureAwait(false);
        return wanted;
    }

    /// <summary>Why an environment is not free: who holds it, since when, and its last heartbeat.</summary>
    public static string Held(RolloutLock holder)
    {
        ArgumentNullException.ThrowIfNull(holder);
        return $"rollout {holder.RolloutId} is running on {holder.Environment} (process {holder.ProcessId.ToString(CultureInfo.InvariantCulture)} on {holder.Machine} " +
               $"since {holder.AcquiredAt:u}{(holder.HeartbeatAt is { } beat ? $", heartbeat {beat:u}" : "")}); one rollout per environment at a time";
    }

    private async Task<Rollout> RunAsync(Rollout rollout, RolloutTarget target, IProgress<string>? progress, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        void Say(string line) => progress?.Report($"[{clock.Elapsed.TotalSeconds:0}s] {line}");
        // A rollback under way when the process died is finished before anything else: a batch failed or already rolled
        // back, a host caught mid-rollback, or an abort asked for.
        var rollingBack = rollout.Batches.Any(b => b.State is BatchState.Failed or BatchState.RolledBack)
            || rollout.Hosts.Any(h => h.State == RolloutHostState.RollingBack) || rollout.AbortRequestedBy is not null;
        foreach (var planned in rollout.Batches.OrderBy(b => b.Index))
        {
            if (rollingBack)
            {
                break;
            }
            var batch = rollout.Batches.First(b => b.Index == planned.Index);
            if (batch.State is BatchState.Passed or BatchState.Skipped or BatchState.RolledBack)
            {
                continue;
            }
            var label = $"{batch.Name} ({(batch.Index + 1).ToString(CultureInfo.InvariantCulture)}/{rollout.Batches.Count.ToString(CultureInfo.InvariantCulture)})";
            if (await AbortRequestedAsync(rollout, ct).ConfigureAwait(false) is { } aborted)
            {
                rollout = aborted;
                rollingBack = true;
                break;
            }
            if (batch.State == BatchState.Pending)
            {
                batch = batch with { State = BatchState.Applying, StartedAt = time.GetUtcNow() };
                rollout = rollout.WithBatch(batch);
                foreach (var host in batch.Hosts)
                {
                    rollout = rollout.WithHost(host, RolloutHostState.Applying, null, time.GetUtcNow());
                }
                rollout = await SaveAsync(rollout, ct).ConfigureAwait(false);
            }
            LogMarkers? markers = null;
            if (batch.State == BatchState.Applying)
            {
                // Where the batch's logs end before its change, so its logs checks read only what the change wrote.
                // A resumed batch has lost them: its logs checks read from the start of their run instead.
                markers = await MarkLogsAsync(batch, target, ct).ConfigureAwait(false);
                Say($"{label}: patching {string.Join(", ", batch.Hosts)}");
                rollout = await ApplyBatchAsync(rollout, batch.Index, target, progress, ct).ConfigureAwait(false);
                batch = rollout.Batches.First(b => b.Index == planned.Index);
                batch = batch with { State = BatchState.Checking };
                rollout = rollout.WithBatch(batch);
                rollout = await SaveAsync(rollout, ct).ConfigureAwait(false);
            }
            if (batch.State == BatchState.Checking)
            {
                rollout = await CheckBatchAsync(rollout, batch.Index, target, markers, Say, ct).ConfigureAwait(false);
                batch = rollout.Batches.First(b => b.Index == planned.Index);
            }
            if (batch.State == BatchState.Failed)
            {
                rollingBack = true;
                break;
            }
            var last = batch.Index == rollout.Batches.Max(b => b.Index);
            if (!last && rollout.Policy.Pause > TimeSpan.Zero)
            {
                Say($"{label}: passed; pausing {rollout.Policy.Pause.TotalSeconds:0}s before the next batch");
                await Task.Delay(rollout.Policy.Pause, time, ct).ConfigureAwait(false);
            }
        }

        if (rollingBack)
        {
            rollout = await RollBackAsync(rollout, target, Say, ct).ConfigureAwait(false);
        }
        else
        {
            rollout = await CompareWithStagingAsync(rollout, target, Say, ct).ConfigureAwait(false);
        }
        rollout = rollout with { FinishedAt = time.GetUtcNow(), UpdatedAt = time.GetUtcNow() };
        rollout = await SaveAsync(rollout, ct).ConfigureAwait(false);
        await AuditAsync(rollout, "rollout.finish", rollout.Environment, $"{rollout.Id}: {Describe(rollout.Status)}; {Where(rollout)}" +
            (rollout.Message is null ? "" : "; " + rollout.Message), ct).ConfigureAwait(false);
        Say($"{rollout.Id}: {Describe(rollout.Status)}");
        return rollout;
    }

    /// <summary>
    /// Patches the batch's hosts that are not patched yet. First it settles what an interrupted attempt left: a host
    /// whose apply was cut off midway is returned to the rollback point taken before its change, then patched again.
    /// </summary>
    private async Task<Rollout> ApplyBatchAsync(Rollout rollout, int index, RolloutTarget target, IProgress<string>? progress, CancellationToken ct)
    {
        var batch = rollout.Batches.First(b => b.Index == index);
        var runs = await BatchRunsAsync(rollout, batch, ct).ConfigureAwait(false);
        batch = batch with
        {
            ApplyRuns = batch.ApplyRuns.Union(runs.Select(r => r.Id)).ToList(),
            RollbackPoints = batch.RollbackPoints.Union(runs.Where(r => r.RollbackPoint is not null).Select(r => r.RollbackPoint!)).ToList(),
        };
        rollout = rollout.WithBatch(batch);
        var pending = new List<string>();
        foreach (var host in batch.Hosts.Where(h => rollout.Hosts.First(x => x.Host == h).State is RolloutHostState.Applying or RolloutHostState.Pending))
        {
            var (run, record) = Latest(runs, host);
            switch (record?.Status)
            {
                case HostRunStatus.Applied or HostRunStatus.AlreadyApplied:
                    rollout = rollout.WithHost(host, RolloutHostState.Applied, record.Message ?? PatchEngine.Status(record.Status), time.GetUtcNow());
                    break;
                case HostRunStatus.RolledBack:
                    rollout = Failed(rollout, host, RolloutHostState.RolledBack, "apply failed, rolled back: " + record.Message);
                    break;
                case HostRunStatus.FailedNeedsAttention:
                    rollout = Failed(rollout, host, RolloutHostState.NeedsAttention, "apply failed and could not be rolled back: " + record.Message);
                    break;
                case HostRunStatus.InProgress:
                    // Cut off midway: return it to where it was before, then patch it again from there.
                    var recovered = await RecoverInterruptedAsync(rollout, run!, host, target, ct).ConfigureAwait(false);
                    rollout = recovered.Rollout;
                    if (recovered.Retry)
                    {
                        pending.Add(host);
                    }
                    break;
                default:
                    pending.Add(host);
                    break;
            }
        }
        rollout = await SaveAsync(rollout, ct).ConfigureAwait(false);
        if (pending.Count == 0)
        {
            return rollout;
        }
        if (rollout.Failures > rollout.Policy.MaxFailures)
        {
            foreach (var host in pending)
            {
                rollout = rollout.WithHost(host, RolloutHostState.Untouched, "not patched: the batch already failed", time.GetUtcNow());
            }
            return rollout;
        }
        // A batch is patched together, like a batch of any orchestrator: its hosts at the same time (up to the stage's
        // parallel:, else the target's parallelism), each behind its own rollback point; a failure stops hosts not yet started.
        var request = target.Apply with
        {
            Hosts = target.Hosts.Where(h => pending.Contains(h.Name)).ToList(), AutoRollback = true, KeepGoing = false,
            Parallelism = rollout.Policy.Parallel ?? target.Parallelism,
        };
        var apply = await patches.ApplyAsync(request, progress, ct).ConfigureAwait(false);
        batch = rollout.Batches.First(b => b.Index == index);
        batch = batch with
        {
            ApplyRuns = [.. batch.ApplyRuns.Where(r => r != apply.Id), apply.Id],
            RollbackPoints = apply.RollbackPoint is null ? batch.RollbackPoints : [.. batch.RollbackPoints.Where(p => p != apply.RollbackPoint), apply.RollbackPoint],
        };
        rollout = rollout.WithBatch(batch);
        foreach (var record in apply.Hosts)
        {
            rollout = record.Status switch
            {
                HostRunStatus.Applied or HostRunStatus.AlreadyApplied => rollout.WithHost(record.Host, RolloutHostState.Applied, PatchEngine.Status(record.Status), time.GetUtcNow()),
                HostRunStatus.RolledBack => Failed(rollout, record.Host, RolloutHostState.RolledBack, "apply failed, rolled back: " + record.Message),
                HostRunStatus.NotStarted => rollout.WithHost(record.Host, RolloutHostState.Untouched, "not patched: an earlier host of its batch failed", time.GetUtcNow()),
                _ => Failed(rollout, record.Host, RolloutHostState.NeedsAttention, "apply failed: " + record.Message),
            };
        }
        rollout = await SaveAsync(rollout, ct).ConfigureAwait(false);
        await AuditAsync(rollout, "rollout.batch", $"{rollout.Environment}/{batch.Name}",
            $"{rollout.Id}: apply {apply.Id}: {PatchEngine.Summary(apply)}", ct).ConfigureAwait(false);
        return rollout;
    }

    private async Task<(Rollout Rollout, bool Retry)> RecoverInterruptedAsync(Rollout rollout, PatchRun run, string host, RolloutTarget target, CancellationToken ct)
    {
        var point = run.RollbackPoint is null ? null : await store.FindRollbackPointAsync(run.RollbackPoint, ct).ConfigureAwait(false);
        var record = run.Hosts.First(h => h.Host == host);
        if (point?.Hosts.FirstOrDefault(h => h.Host == host) is null || CutOffBeforeAnyChange(record))
        {
            // Its rollback point was never completed, and nothing changes on a host before it is (its directory on the
            // host may not even exist, so there is nothing to restore from).
            await AuditAsync(rollout, "rollout.recover", host,
                $"{rollout.Id}: apply {run.Id} was cut off at step {record.Step ?? "inspect"}, before any change; patching again", ct).ConfigureAwait(false);
            return (rollout, true);
        }
        var back = await patches.RollbackAsync(new RollbackRequest
        {
            Point = point,
            PatchSet = target.PatchSet.Set,
            Hosts = target.Hosts.Where(h => h.Name == host).ToList(),
            Databases = target.Apply.Databases,
            Directories = target.Apply.Directories,
            Rules = target.Apply.Rules,
            Actor = rollout.Actor,
            Database = DatabaseRestoreMode.Keep,
            Directory = DatabaseRestoreMode.Keep,
        }, null, ct).ConfigureAwait(false);
        var status = back.Hosts.First(h => h.Host == host);
        await AuditAsync(rollout, "rollout.recover", host,
            $"{rollout.Id}: apply {run.Id} was cut off at step {run.Hosts.First(h => h.Host == host).Step}; returned to point {point.Id}: {PatchEngine.Status(status.Status)}", ct).ConfigureAwait(false);
        if (status.Status != HostRunStatus.RolledBack)
        {
            return (Failed(rollout, host, RolloutHostState.NeedsAttention, $"apply {run.Id} was cut off and its rollback did not restore the host: {status.Message}"), false);
        }
        return (rollout, true);
    }

    private async Task<Rollout> CheckBatchAsync(Rollout rollout, int index, RolloutTarget target, LogMarkers? markers, Action<string> say, CancellationToken ct)
    {
        var batch = rollout.Batches.First(b => b.Index == index);
        var patched = batch.Hosts.Where(h => rollout.Hosts.First(x => x.Host == h).State == RolloutHostState.Applied).ToList();
        var lines = new List<string>();
        if (patched.Count > 0 && target.BatchChecks.Checks.Count > 0)
        {
            if (rollout.Policy.Settle > TimeSpan.Zero)
            {
                say($"{batch.Name}: letting the change settle for {rollout.Policy.Settle.TotalSeconds:0}s before its checks");
                await Task.Delay(rollout.Policy.Settle, time, ct).ConfigureAwait(false);
            }
            var env = target.CheckEnvironment with { Hosts = target.CheckEnvironment.Hosts.Where(h => patched.Contains(h.Name)).ToList() };
            var open = new Dictionary<string, ITransport>(StringComparer.Ordinal);
            try
            {
                foreach (var host in env.Hosts)
                {
                    open[host.Name] = transports.Create(host);
                }
                var result = await checks.RunAsync(env, target.BatchChecks, open, ct, markers).ConfigureAwait(false);
                var failedHosts = new HashSet<string>(StringComparer.Ordinal);
                foreach (var r in result.Results)
                {
                    var line = $"{(r.Passed ? "PASS" : "FAIL")} {r.Name} ({r.Target}) {r.Message}";
                    lines.Add(line);
                    say($"{batch.Name}: {line}");
                    if (!r.Passed)
                    {
                        // A check on a database or URL speaks for the whole batch.
                        failedHosts.UnionWith(patched.Contains(r.Target) ? [r.Target] : patched);
                    }
                }
                foreach (var host in patched)
                {
                    rollout = failedHosts.Contains(host)
                        ? Failed(rollout, host, RolloutHostState.Applied, "checks failed: " + string.Join("; ", result.Results.Where(r => !r.Passed && (r.Target == host || !patched.Contains(r.Target))).Select(r => $"{r.Name}: {r.Message}")))
                        : rollout.WithHost(host, RolloutHostState.Verified, "patched and checked", time.GetUtcNow());
                }
            }
            finally
            {
                foreach (var t in open.Values)
                {
                    await t.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
        else
        {
            foreach (var host in patched)
            {
                rollout = rollout.WithHost(host, RolloutHostState.Verified, "patched (no checks configured)", time.GetUtcNow());
            }
        }
        var failedInBatch = batch.Hosts.Any(h => rollout.Hosts.First(x => x.Host == h).State is not (RolloutHostState.Verified));
        var failed = rollout.Failures > rollout.Policy.MaxFailures;
        batch = batch with
        {
            State = failed ? BatchState.Failed : BatchState.Passed,
            Checks = lines,
            FinishedAt = time.GetUtcNow(),
        };
        rollout = rollout.WithBatch(batch);
        if (failed)
        {
            rollout = rollout with { Message = $"{batch.Name} failed: {rollout.Failures.ToString(CultureInfo.InvariantCulture)} failed host(s), at most {rollout.Policy.MaxFailures.ToString(CultureInfo.InvariantCulture)} tolerated" };
        }
        rollout = await SaveAsync(rollout, ct).ConfigureAwait(false);
        await AuditAsync(rollout, "rollout.checks", $"{rollout.Environment}/{batch.Name}",
            $"{rollout.Id}: {(failed ? "FAILED" : failedInBatch ? "passed within max_failures" : "passed")}; " +
            $"{lines.Count(l => l.StartsWith("PASS", StringComparison.Ordinal)).ToString(CultureInfo.InvariantCulture)} of {lines.Count.ToString(CultureInfo.InvariantCulture)} check result(s) passed", ct).ConfigureAwait(false);
        say($"{batch.Name}: {(failed ? "FAILED" : "passed")}");
        return rollout;
    }

    private async Task<LogMarkers?> MarkLogsAsync(RolloutBatch batch, RolloutTarget target, CancellationToken ct)
    {
        if (!target.BatchChecks.Checks.OfType<LogsCheck>().Any())
        {
            return null;
        }
        var env = target.CheckEnvironment with { Hosts = target.CheckEnvironment.Hosts.Where(h => batch.Hosts.Contains(h.Name)).ToList() };
        var open = env.Hosts.ToDictionary(h => h.Name, transports.Create, StringComparer.Ordinal);
        try
        {
            return await checks.MarkLogsAsync(env, target.BatchChecks, open, ct).ConfigureAwait(false);
        }
        finally
        {
            foreach (var t in open.Values)
            {
                await t.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Rolls back what the policy says: the failed batch, or every host this rollout patched (aborts always do all).</summary>
    private async Task<Rollout> RollBackAsync(Rollout rollout, RolloutTarget target, Action<string> say, CancellationToken ct)
    {
        var all = rollout.Policy.RollbackOnFailure == RollbackScope.All || rollout.AbortRequestedBy is not null;
        var failedBatch = rollout.Batches.FirstOrDefault(b => b.State == BatchState.Failed);
        var inScope = rollout.Batches.Where(b => all || b.Index == failedBatch?.Index || b.State == BatchState.Applying || b.State == BatchState.Checking)
            .SelectMany(b => b.Hosts).ToHashSet(StringComparer.Ordinal);
        var toRollBack = rollout.Hosts
            .Where(h => (inScope.Contains(h.Host) && h.State is RolloutHostState.Applying or RolloutHostState.Applied or RolloutHostState.Verified)
                || h.State == RolloutHostState.RollingBack)
            .Select(h => h.Host).ToList();
        foreach (var host in toRollBack)
        {
            rollout = rollout.WithHost(host, RolloutHostState.RollingBack, null, time.GetUtcNow());
        }
        // Later batches are never touched.
        foreach (var b in rollout.Batches.Where(b => b.State == BatchState.Pending))
        {
            rollout = rollout.WithBatch(b with { State = BatchState.Skipped });
            foreach (var host in b.Hosts)
            {
                rollout = rollout.WithHost(host, RolloutHostState.Untouched, "never touched: the rollout stopped before this batch", time.GetUtcNow());
            }
        }
        rollout = await SaveAsync(rollout, ct).ConfigureAwait(false);
        say($"rolling back {toRollBack.Count.ToString(CultureInfo.InvariantCulture)} host(s): {string.Join(", ", toRollBack)}");

        // Newest point first, so the first batch's point (the one with the database dumps) is restored last.
        foreach (var batch in rollout.Batches.OrderByDescending(b => b.Index))
        {
            var hosts = batch.Hosts.Where(toRollBack.Contains).ToList();
            if (hosts.Count == 0)
            {
                continue;
            }
            var runs = await BatchRunsAsync(rollout, batch, ct).ConfigureAwait(false);
            var byPoint = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var host in hosts)
            {
                var (run, record) = Latest(runs, host);
                if (run?.RollbackPoint is { } pointId && record?.Status is not HostRunStatus.AlreadyApplied and not HostRunStatus.NotStarted
                    && !CutOffBeforeAnyChange(record!))
                {
                    (byPoint.TryGetValue(pointId, out var list) ? list : byPoint[pointId] = []).Add(host);
                }
                else
                {
                    rollout = rollout.WithHost(host, RolloutHostState.RolledBack,
                        record?.Status == HostRunStatus.AlreadyApplied ? "was patched before this rollout: left as it was" : "never changed: nothing to roll back", time.GetUtcNow());
                }
            }
            foreach (var (pointId, pointHosts) in byPoint.OrderByDescending(p => p.Key, StringComparer.Ordinal))
            {
                var point = await store.FindRollbackPointAsync(pointId, ct).ConfigureAwait(false);
                var covered = pointHosts.Where(h => point?.Hosts.Any(p => p.Host == h) == true).ToList();
                foreach (var host in pointHosts.Except(covered))
                {
                    rollout = rollout.WithHost(host, RolloutHostState.RolledBack, "its rollback point was never completed, so it never changed", time.GetUtcNow());
                }
                if (point is null || covered.Count == 0)
                {
                    continue;
                }
                var back = await patches.RollbackAsync(new RollbackRequest
                {
                    Point = point,
                    PatchSet = target.PatchSet.Set,
                    Hosts = target.Hosts.Where(h => covered.Contains(h.Name)).ToList(),
                    Databases = target.Apply.Databases,
                    Directories = target.Apply.Directories,
                    Rules = target.Apply.Rules,
                    Actor = rollout.Actor,
                    Database = DatabaseRestoreMode.Auto,
                }, null, ct).ConfigureAwait(false);
                rollout = rollout.WithBatch(rollout.Batches.First(b => b.Index == batch.Index) is var current
                    ? current with { RollbackRuns = [.. current.RollbackRuns, back.Id], State = current.State == BatchState.Failed ? BatchState.RolledBack : current.State == BatchState.Passed ? BatchState.RolledBack : current.State }
                    : batch);
                foreach (var record in back.Hosts)
                {
                    rollout = rollout.WithHost(record.Host,
                        record.Status == HostRunStatus.RolledBack ? RolloutHostState.RolledBack : RolloutHostState.NeedsAttention,
                        record.Status == HostRunStatus.RolledBack ? "rolled back, matches its manifest from before the change"
                            : "rollback did not restore it: " + record.Message + (record.Residue.Count > 0 ? " residue: " + string.Join("; ", record.Residue) : ""),
                        time.GetUtcNow());
                    say($"{record.Host}: {PatchEngine.Status(record.Status)}");
                }
                rollout = await SaveAsync(rollout, ct).ConfigureAwait(false);
                await AuditAsync(rollout, "rollout.rollback", $"{rollout.Environment}/{batch.Name}", $"{rollout.Id}: rollback {back.Id} to {point.Id}: {PatchEngine.Summary(back)}", ct).ConfigureAwait(false);
            }
        }
        var attention = rollout.Hosts.Any(h => h.State == RolloutHostState.NeedsAttention);
        return rollout with
        {
            Status = attention ? RolloutStatus.NeedsAttention : rollout.AbortRequestedBy is not null ? RolloutStatus.Aborted : RolloutStatus.RolledBack,
            Message = rollout.AbortRequestedBy is not null ? $"aborted by {rollout.AbortRequestedBy}" : rollout.Message,
        };
    }

    /// <summary>"Zero configuration surprises": the patched scope on every patched host equals its staging twin's.</summary>
    private async Task<Rollout> CompareWithStagingAsync(Rollout rollout, RolloutTarget target, Action<string> say, CancellationToken ct)
    {
        if (target.MirrorEnvironment is null || target.MirrorHosts.Count == 0)
        {
            return rollout with { Status = RolloutStatus.Succeeded, Message = "no staging environment mirrors it: drift not compared" };
        }
        say($"comparing the patched scope with {target.MirrorEnvironment}");
        var patched = new List<(Manifest Before, Manifest After)>();
        foreach (var batch in rollout.Batches)
        {
            var runs = await BatchRunsAsync(rollout, batch, ct).ConfigureAwait(false);
            foreach (var host in batch.Hosts)
            {
                var (_, record) = Latest(runs, host);
                var before = record?.ManifestBefore is { } b ? await store.FindManifestAsync(b, ct).ConfigureAwait(false) : null;
                var after = record?.ManifestAfter is { } a ? await store.FindManifestAsync(a, ct).ConfigureAwait(false) : before;
                if (before is not null && after is not null)
                {
                    patched.Add((before.Manifest, after.Manifest));
                }
            }
        }
        var collector = new HostFactsCollector(time) { PendingUpgrades = false, Timeout = commandTimeout };
        // The mirror is read on the very scope the patched hosts were: the tracked config, the set's files and the
        // conffiles of the packages it changed (a security update of libpam-modules brings /etc/security/namespace.init).
        var rules = target.Apply.Rules with
        {
            Track = target.Apply.Rules.Track.Concat(PatchScope.Files(target.PatchSet.Set).Select(f => f.Path))
                .Concat(patched.SelectMany(p => p.After.Files.Select(f => f.Path))).Distinct(StringComparer.Ordinal).ToList(),
        };
        var mirror = new List<Manifest>();
        foreach (var host in target.MirrorHosts)
        {
            await using var transport = transports.Create(host);
            var manifest = await collector.CollectAsync(host, transport, rules, target.MirrorEnvironment, ct).ConfigureAwait(false);
            await store.SaveManifestAsync(manifest, ct).ConfigureAwait(false);
            mirror.Add(manifest);
        }
        var result = RolloutDrift.Compare(target.PatchSet.Set, patched, mirror, new ConfigFormats(rules.Formats));
        var drift = result.Differences;
        var cosmetic = result.Cosmetic.Count == 0 ? "" : $" (cosmetic only, not counted: {string.Join("; ", result.Cosmetic)})";
        await AuditAsync(rollout, "rollout.drift", $"{rollout.Environment} vs {target.MirrorEnvironment}",
            (drift.Count == 0 ? $"{rollout.Id}: zero differences on the patched scope" : $"{rollout.Id}: {drift.Count.ToString(CultureInfo.InvariantCulture)} difference(s): {string.Join("; ", drift)}") + cosmetic,
            ct).ConfigureAwait(false);
        say((drift.Count == 0 ? $"drift against {target.MirrorEnvironment} on the patched scope: zero" : $"drift against {target.MirrorEnvironment}: {string.Join("; ", drift)}") + cosmetic);
        return rollout with
        {
            DriftAgainst = target.MirrorEnvironment,
            DriftZero = drift.Count == 0,
            Drift = drift,
            CosmeticDrift = result.Cosmetic,
            Status = drift.Count == 0 ? RolloutStatus.Succeeded : RolloutStatus.NeedsAttention,
            Message = drift.Count == 0 ? null : $"patched, but {drift.Count.ToString(CultureInfo.InvariantCulture)} difference(s) from {target.MirrorEnvironment} on the patched scope",
        };
    }

    /// <summary>Writes the rollout, keeping an abort that <c>rollout abort</c> stored meanwhile.</summary>
    private async Task<Rollout> SaveAsync(Rollout rollout, CancellationToken ct)
    {
        // Before a step's state is written (and so before the step): is the lock still this process's? One taken over
        // while this process was paused must not see another step run from here.
        if (s_lease.Value is { } lease && !lease.IsHeldBy(await store.FindRolloutLockAsync(rollout.Environment, ct).ConfigureAwait(false)))
        {
            await lease.LoseAsync(await store.FindRolloutLockAsync(rollout.Environment, CancellationToken.None).ConfigureAwait(false)).ConfigureAwait(false);
            throw new OperationCanceledException($"{rollout.Environment}'s lock is no longer rollout {rollout.Id}'s here");
        }
        if (rollout.AbortRequestedBy is null && (await store.FindRolloutAsync(rollout.Id, ct).ConfigureAwait(false))?.AbortRequestedBy is { } by)
        {
            rollout = rollout with { AbortRequestedBy = by };
        }
        await store.SaveRolloutAsync(rollout, ct).ConfigureAwait(false);
        await (observer?.SavedAsync(rollout, ct) ?? Task.CompletedTask).ConfigureAwait(false);
        return rollout;
    }

    private async Task<Rollout?> AbortRequestedAsync(Rollout rollout, CancellationToken ct)
    {
        var stored = await store.FindRolloutAsync(rollout.Id, ct).ConfigureAwait(false);
        return stored?.AbortRequestedBy is { } by ? rollout with { AbortRequestedBy = by } : null;
    }

    /// <summary>The apply runs of a batch: this environment's runs of the digest since the batch started, on its hosts only
    /// (the lock keeps any other rollout out of the environment meanwhile).</summary>
    private async Task<IReadOnlyList<PatchRun>> BatchRunsAsync(Rollout rollout, RolloutBatch batch, CancellationToken ct)
    {
        if (batch.StartedAt is not { } started)
        {
            return [];
        }
        var all = await store.ListPatchRunsAsync(rollout.Environment, ct).ConfigureAwait(false);
        return all.Where(r => r.Kind == RunKind.Apply && r.PatchDigest == rollout.PatchDigest && r.StartedAt >= started
                && r.Hosts.All(h => batch.Hosts.Contains(h.Host)))
            .OrderBy(r => r.StartedAt).ToList();
    }

    private static (PatchRun? Run, HostRunRecord? Record) Latest(IReadOnlyList<PatchRun> runs, string host)
    {
        foreach (var run in runs.Reverse())
        {
            var record = run.Hosts.FirstOrDefault(h => h.Host == host);
            if (record is not null && record.Status != HostRunStatus.NotStarted)
            {
                return (run, record);
            }
        }
        return (null, null);
    }

    /// <summary>An apply cut off while it inspected the host or took its rollback point: the host was not changed yet
    /// (the first change, a repository or a package, comes after the point is complete).</summary>
    private static bool CutOffBeforeAnyChange(HostRunRecord record) =>
        record.Status == HostRunStatus.InProgress && record.Step is null or "inspect" or "rollback-point";

    private Rollout Failed(Rollout rollout, string host, RolloutHostState state, string message) =>
        rollout.WithHost(host, state, message, time.GetUtcNow()) with { Failures = rollout.Failures + 1 };

    public static string Describe(RolloutStatus status) => status switch
    {
        RolloutStatus.Running => "running (or interrupted: rollout resume)",
        RolloutStatus.Scheduled => "scheduled: a worker starts it when its job fires",
        RolloutStatus.Succeeded => "succeeded: every host patched and verified, no drift from staging",
        RolloutStatus.RolledBack => "failed and rolled back",
        RolloutStatus.Aborted => "aborted and rolled back",
        _ => "NEEDS ATTENTION",
    };

    /// <summary>"applied 2, verified 1, rolled back 0, pending 3" — where the hosts are.</summary>
    public static string Where(Rollout rollout) => string.Join(", ", rollout.Hosts.GroupBy(h => h.State).OrderBy(g => g.Key)
        .Select(g => $"{State(g.Key)} {g.Count().ToString(CultureInfo.InvariantCulture)}"));

    public static string State(RolloutHostState state) => state switch
    {
        RolloutHostState.RollingBack => "rolling back",
        RolloutHostState.RolledBack => "rolled back",
        RolloutHostState.NeedsAttention => "needs attention",
        _ => state.ToString().ToLowerInvariant(),
    };

    public static string NewId(TimeProvider time) =>
        $"ro-{time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    private static bool ProcessRuns(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private Task AuditAsync(Rollout rollout, string action, string target, string outcome, CancellationToken ct, string? actor = null) =>
        store.AppendAsync(new AuditEvent { Actor = actor ?? rollout.Actor, Action = action, Target = target, PayloadDigest = rollout.PatchDigest, Outcome = outcome }, ct);
}
