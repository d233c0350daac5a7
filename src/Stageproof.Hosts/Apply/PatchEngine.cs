using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;
using Stageproof.Core.State;
using Stageproof.Hosts.Artifacts;
using Stageproof.Hosts.Directories;
using Stageproof.Hosts.Facts;

namespace Stageproof.Hosts.Apply;

/// <summary>When a rollback restores a database from its dump, and when it takes the set's declared way back (way_back).</summary>
public enum DatabaseRestoreMode
{
    /// <summary>Only when its schema or migration history changed since the point and not every migration added since
    /// declares a down script or compatibility; those that do run their down scripts instead (a failing one: restored).</summary>
    Auto,
    /// <summary>Never: declared down scripts run; the report still says whether a restore was needed and what it would have discarded.</summary>
    Keep,
    /// <summary>Always.</summary>
    Restore,
}

/// <summary>What to apply where, and how.</summary>
public sealed record ApplyRequest
{
    public required StoredPatchSet PatchSet { get; init; }
    public required string Environment { get; init; }
    public required IReadOnlyList<HostConfig> Hosts { get; init; }
    /// <summary>The environment's databases, name → connection string.</summary>
    public IReadOnlyDictionary<string, string> Databases { get; init; } = new Dictionary<string, string>();
    /// <summary>The environment's directories: those with a rollback whose host the apply reaches get a point.</summary>
    public IReadOnlyDictionary<string, DirectoryConfig> Directories { get; init; } = new Dictionary<string, DirectoryConfig>();
    public DriftRules Rules { get; init; } = new();
    public required string Actor { get; init; }
    public ConffilePolicy Conffiles { get; init; } = ConffilePolicy.Keep;
    /// <summary>Roll a failed host back on its own (default), or leave it for a person.</summary>
    public bool AutoRollback { get; init; } = true;
    /// <summary>The proven closure to install (exactly these .debs, from a snapshot repository); null to resolve it
    /// against the first host's own sources, once for the whole run.</summary>
    public PackageClosure? Closure { get; init; }
    /// <summary>Go on with the remaining hosts after one failed (default: stop, leaving them untouched).</summary>
    public bool KeepGoing { get; init; }
    /// <summary>Hosts patched at the same time (default 1: one after another, so the first failure stops the rest
    /// before they start). With more, a failure stops the hosts not yet started; those under way finish.</summary>
    public int Parallelism { get; init; } = 1;
}

public sealed record RollbackRequest
{
    public required RollbackPoint Point { get; init; }
    public required PatchSet PatchSet { get; init; }
    /// <summary>The hosts to roll back (all of the point's by default), with their configuration.</summary>
    public required IReadOnlyList<HostConfig> Hosts { get; init; }
    public IReadOnlyDictionary<string, string> Databases { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, DirectoryConfig> Directories { get; init; } = new Dictionary<string, DirectoryConfig>();
    public DriftRules Rules { get; init; } = new();
    public required string Actor { get; init; }
    public DatabaseRestoreMode Database { get; init; } = DatabaseRestoreMode.Auto;
    /// <summary>Auto restores a directory when entries it held at the point are gone (what a failed upgrade loses);
    /// entries added or changed since are kept (people change passwords during a window). Keep never; Restore always.</summary>
    public DatabaseRestoreMode Directory { get; init; } = DatabaseRestoreMode.Auto;
}

/// <summary>
/// Applies frozen patch sets to an environment's hosts and databases, each host behind a rollback point taken
/// first, and rolls them back. The run record is written before every step, so a killed process leaves an exact
/// account; every action lands in the audit chain.
/// </summary>
public sealed class PatchEngine(
    IStateStore store,
    ITransportFactory transports,
    IDatabasePatcher databases,
    TimeProvider time,
    string stateDirectory,
    TimeSpan commandTimeout,
    IHostSnapshots? snapshots = null,
    SnapshotPublisher? repositories = null)
{
    private readonly LdapRollbackPoint _directories = new(time);

    /// <summary>Where rollback points keep their database dumps on the control machine: one folder per point.</summary>
    public static string DumpsDirectory(string stateDirectory) => Path.Combine(stateDirectory, "rollback");

    /// <summary>Transports whose connections were opened ahead of their host's turn (a sequential apply).</summary>
    private readonly Dictionary<string, ITransport> _ahead = new(StringComparer.Ordinal);

    /// <summary>
    /// The hosts of <paramref name="request"/> on which the set is already in place (every package version, file and
    /// key), read without changing anything: what <see cref="ApplyAsync"/> would call "already applied". A stage
    /// refuses to start on such hosts, since its baseline would not be a before-the-change measurement.
    /// </summary>
    /// <remarks>The hosts are read <paramref name="parallelism"/> at a time: reading changes nothing, so nothing orders
    /// them, and one after another an environment of n hosts waited n connections and n facts collections.</remarks>
    public async Task<IReadOnlyList<string>> AlreadyAppliedAsync(ApplyRequest request, CancellationToken ct, int parallelism = 16)
    {
        var set = request.PatchSet.Set;
        PatchSetGuard.Check(set);
        var applied = new bool[request.Hosts.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, request.Hosts.Count),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallelism), CancellationToken = ct }, async (i, token) =>
            {
                var host = request.Hosts[i];
                var transport = transports.Create(host);
                await using (transport.ConfigureAwait(false))
                {
                    var conffiles = await new HostPatcher(transport, commandTimeout).ConffilesAsync(set.Packages.Select(p => p.Name), token).ConfigureAwait(false);
                    var before = await CollectAsync(host, transport, Scope(request.Rules, set, conffiles), request.Environment, token).ConfigureAwait(false);
                    applied[i] = PatchScope.Missing(set, before).Count == 0;
                }
            }).ConfigureAwait(false);
        return [.. request.Hosts.Where((_, i) => applied[i]).Select(h => h.Name)];
    }

    public async Task<PatchRun> ApplyAsync(ApplyRequest request, IProgress<string>? progress, CancellationToken ct)
    {
        var set = request.PatchSet.Set;
        var digest = request.PatchSet.Digest;
        PatchSetGuard.Check(set);
        var clock = Stopwatch.StartNew();

        // Refusals first: a migration that changed after it was applied stops the run before anything changes.
        var plans = new List<(PatchMigration Migration, string ConnectionString, DatabaseMigrationPlan Plan)>();
        foreach (var migration in set.Migrations)
        {
            if (!request.Databases.TryGetValue(migration.Database, out var connection))
            {
                throw new InputException($"patch set {set.Id} migrates database '{migration.Database}', which environment " +
                    $"{request.Environment} does not have (databases: {string.Join(", ", request.Databases.Keys)})");
            }
            plans.Add((migration, connection, await databases.PlanAsync(connection, migration, ct).ConfigureAwait(false)));
        }

        var pointId = NewId("rp");
        var run = new PatchRun
        {
            Id = NewId("apply"),
            Kind = RunKind.Apply,
            PatchDigest = digest,
            PatchId = set.Id,
            Environment = request.Environment,
            Actor = request.Actor,
            StartedAt = time.GetUtcNow(),
            RollbackPoint = pointId,
            Hosts = request.Hosts.Select(h => new HostRunRecord { Host = h.Name }).ToList(),
            Databases = plans.Select(p => new DatabaseRunRecord { Database = p.Migration.Database, AlreadyApplied = p.Plan.Applied }).ToList(),
            Closure = request.Closure,
        };
        await store.SavePatchRunAsync(run, ct).ConfigureAwait(false);
        await AuditAsync(request.Actor, "apply.start", request.Environment, digest,
            $"{set.Id} on {request.Hosts.Count.ToString(CultureInfo.InvariantCulture)} host(s), run {run.Id}", ct).ConfigureAwait(false);

        var point = new RollbackPoint
        {
            Id = pointId,
            Environment = request.Environment,
            PatchDigest = digest,
            PatchId = set.Id,
            CreatedAt = time.GetUtcNow(),
        };

        // Databases: a dump of each before the first change, then the pending migrations, once per environment. The
        // dumps start with the run, beside the first host's inspection (a dump changes nothing), and become part of the
        // point (recorded, audited) only once a host or a migration needs them; when none does (the set turns out to be
        // applied already everywhere) they are removed. Directories' points are taken when first needed.
        var state = new ApplyState(store, run, point, request.Closure);
        var dumpsTaken = TakeDumpsAsync(); // runs until the dump's first wait, then the hosts begin
        async Task<IReadOnlyList<(string Name, DatabasePoint Point)>> TakeDumpsAsync()
        {
            var taken = new List<(string, DatabasePoint)>();
            foreach (var (name, connection) in request.Databases.OrderBy(d => d.Key, StringComparer.Ordinal))
            {
                var tool = Core.Databases.DatabaseEndpoint.Parse(connection).Engine == Core.Databases.DatabaseEngine.Postgres ? "pg_dump" : "mariadb-dump";
                progress?.Report($"{request.Environment}/{name}: database rollback point ({tool})");
                taken.Add((name, await databases.CreatePointAsync(name, connection,
                    Path.Combine(DumpsDirectory(stateDirectory), pointId, name), ct).ConfigureAwait(false)));
            }
            return taken;
        }
        Task? databasesSaved = null;
        Task EnsureDatabasePointsAsync()
        {
            lock (state)
            {
                return databasesSaved ??= SaveDatabasePointsAsync();
            }
        }
        async Task SaveDatabasePointsAsync()
        {
            foreach (var (name, dbPoint) in await dumpsTaken.ConfigureAwait(false))
            {
                await state.UpdatePointAsync(p => p with { Databases = [.. p.Databases, dbPoint] }, ct).ConfigureAwait(false);
                await AuditAsync(request.Actor, "rollback-point.database", $"{request.Environment}/{name}", digest,
                    $"{pointId}: dump in {dbPoint.Directory}", ct).ConfigureAwait(false);
            }
            // Directories served by a host this apply reaches: the patch may upgrade or reconfigure their server.
            foreach (var (name, directory) in request.Directories.Where(d => d.Value.Rollback is not null && request.Hosts.Any(d.Value.ServedBy))
                         .OrderBy(d => d.Key, StringComparer.Ordinal))
            {
                var target = $"{request.Environment}/{name}";
                progress?.Report($"{target}: directory rollback point (LDIF of {string.Join(", ", directory.Bases)})");
                var dirPoint = await _directories.CreateAsync(name, DirectorySource.ForRollback(target, directory),
                    Path.Combine(DumpsDirectory(stateDirectory), pointId, "directories", name), ct).ConfigureAwait(false);
                await state.UpdatePointAsync(p => p with { Directories = [.. p.Directories, dirPoint] }, ct).ConfigureAwait(false);
                await AuditAsync(request.Actor, "rollback-point.directory", target, digest,
                    $"{pointId}: {dirPoint.Entries.ToString(CultureInfo.InvariantCulture)} entries exported to {dirPoint.Directory}", ct).ConfigureAwait(false);
            }
        }
        if (plans.Any(p => p.Plan.Pending.Count > 0))
        {
            await EnsureDatabasePointsAsync().ConfigureAwait(false);
        }
        foreach (var (migration, connection, plan) in plans.Where(p => p.Plan.Pending.Count > 0))
        {
            progress?.Report($"{request.Environment}/{migration.Database}: migrations {string.Join(", ", plan.Pending)}");
            var record = state.Run.Databases.First(d => d.Database == migration.Database);
            try
            {
                var applied = await databases.MigrateAsync(connection, migration, digest, request.Actor, ct).ConfigureAwait(false);
                record = record with { Applied = applied };
                await AuditAsync(request.Actor, "apply.migrations", $"{request.Environment}/{migration.Database}", digest,
                    "applied " + string.Join(", ", applied), ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is StageproofException)
            {
                record = record with { Message = ex.Message };
                await state.UpdateRunAsync(r => r with { Databases = r.Databases.Select(d => d.Database == record.Database ? record : d).ToList(), FinishedAt = time.GetUtcNow() }, ct)
                    .ConfigureAwait(false);
                await AuditAsync(request.Actor, "apply.migrations", $"{request.Environment}/{migration.Database}", digest,
                    "failed: " + ex.Message, ct).ConfigureAwait(false);
                throw;
            }
            await state.UpdateRunAsync(r => r with { Databases = r.Databases.Select(d => d.Database == record.Database ? record : d).ToList() }, ct).ConfigureAwait(false);
        }

        // Hosts: one after another by default; with Parallelism, that many at a time. Once a host fails (and the run
        // does not keep going) no further host starts.
        var stop = false;
        async Task HostAsync(HostConfig host, int index)
        {
            if (Volatile.Read(ref stop))
            {
                await state.SaveHostAsync(new HostRunRecord { Host = host.Name, Message = "not started: an earlier host failed" }, ct).ConfigureAwait(false);
                return;
            }
            var hostProgress = HostProgress.For(progress, host.Name, index + 1, request.Hosts.Count, clock);
            var status = await ApplyHostAsync(request, host, state, pointId, EnsureDatabasePointsAsync, hostProgress, ct).ConfigureAwait(false);
            if (status is HostRunStatus.RolledBack or HostRunStatus.FailedNeedsAttention && !request.KeepGoing)
            {
                Volatile.Write(ref stop, true);
            }
        }
        if (request.Parallelism <= 1)
        {
            for (var i = 0; i < request.Hosts.Count; i++)
            {
                // The next host's connection is opened while this one is patched (its restart is mostly waiting).
                if (i + 1 < request.Hosts.Count && !Volatile.Read(ref stop))
                {
                    Ahead(request.Hosts[i + 1], ct);
                }
                await HostAsync(request.Hosts[i], i).ConfigureAwait(false);
            }
        }
        else
        {
            using var slots = new SemaphoreSlim(request.Parallelism);
            await Task.WhenAll(request.Hosts.Select(async (host, i) =>
            {
                await slots.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    await HostAsync(host, i).ConfigureAwait(false);
                }
                finally
                {
                    slots.Release();
                }
            })).ConfigureAwait(false);
        }

        // A database point still being taken when the hosts stopped (each failed before it needed it) is finished,
        // not left running past the run; its failure was already moot (no host changed) or reported by a host. Dumps
        // that no host needed are removed: they are part of no point.
        try
        {
            await (databasesSaved ?? dumpsTaken).ConfigureAwait(false);
        }
        catch (StageproofException)
        {
        }
        if (databasesSaved is null && request.Databases.Count > 0)
        {
            try
            {
                Directory.Delete(Path.Combine(DumpsDirectory(stateDirectory), pointId), recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // None was written, or it is left for `stageproof gc` (it removes the dumps of unknown points).
            }
        }

        // Connections opened ahead for hosts that never started (the run stopped): closed.
        List<ITransport> unused;
        lock (_ahead)
        {
            unused = [.. _ahead.Values];
            _ahead.Clear();
        }
        foreach (var t in unused)
        {
            await t.DisposeAsync().ConfigureAwait(false);
        }

        point = state.Point;
        run = await state.UpdateRunAsync(r => r with
        {
            FinishedAt = time.GetUtcNow(),
            RollbackPoint = point.Hosts.Count == 0 && point.Databases.Count == 0 && point.Directories.Count == 0 ? null : point.Id,
        }, ct).ConfigureAwait(false);
        await AuditAsync(request.Actor, "apply.finish", request.Environment, digest, Summary(run), ct).ConfigureAwait(false);
        return run;
    }

    /// <summary>Opens <paramref name="host"/>'s connection in the background, for its turn (not awaited: the
    /// transport's first command waits for it, and meets its failure).</summary>
    private void Ahead(HostConfig host, CancellationToken ct)
    {
        var transport = transports.Create(host);
        if (transport is IConnectAhead early)
        {
            _ = early.ConnectAheadAsync(ct);
        }
        lock (_ahead)
        {
            _ahead[host.Name] = transport;
        }
    }

    private ITransport? TakeAhead(HostConfig host)
    {
        lock (_ahead)
        {
            return _ahead.Remove(host.Name, out var transport) ? transport : null;
        }
    }

    /// <summary>The run and the rollback point of one apply, written through one gate so hosts patched at the same
    /// time never overwrite each other's records; each change is stored before the step it describes is taken.</summary>
    private sealed class ApplyState(IStateStore store, PatchRun run, RollbackPoint point, PackageClosure? closure)
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private Task<PackageClosure>? _closure = closure is null ? null : Task.FromResult(closure);

        /// <summary>The run's closure: the given one, or resolved once by the first host that asks (the others wait for it).</summary>
        public Task<PackageClosure> ClosureAsync(Func<Task<PackageClosure>> resolve)
        {
            lock (this)
            {
                return _closure ??= resolve();
            }
        }

        public PatchRun Run { get; private set; } = run;
        public RollbackPoint Point { get; private set; } = point;

        public async Task<PatchRun> UpdateRunAsync(Func<PatchRun, PatchRun> change, CancellationToken ct)
        {
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                Run = change(Run);
                await store.SavePatchRunAsync(Run, ct).ConfigureAwait(false);
                return Run;
            }
            finally
            {
                _gate.Release();
            }
        }

        public Task SaveHostAsync(HostRunRecord record, CancellationToken ct) => UpdateRunAsync(r => r.WithHost(record), ct);

        public async Task UpdatePointAsync(Func<RollbackPoint, RollbackPoint> change, CancellationToken ct)
        {
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                Point = change(Point);
                await store.SaveRollbackPointAsync(Point, ct).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }

        public Task SaveHostPointAsync(HostPoint hostPoint, CancellationToken ct) => UpdatePointAsync(p => WithHostPoint(p, hostPoint), ct);
    }

    private async Task<HostRunStatus> ApplyHostAsync(ApplyRequest request, HostConfig host, ApplyState state, string pointId,
        Func<Task> ensureDatabasePoints, IProgress<string>? progress, CancellationToken ct)
    {
        var set = request.PatchSet.Set;
        var digest = request.PatchSet.Digest;
        var record = new HostRunRecord { Host = host.Name, Status = HostRunStatus.InProgress };
        HostPoint? hostPoint = null;

        var stepClock = Stopwatch.StartNew();
        void Lap()
        {
            if (record.Step is { } previous && previous != "done")
            {
                var seconds = new Dictionary<string, double>(record.StepSeconds, StringComparer.Ordinal);
                seconds[previous] = seconds.GetValueOrDefault(previous) + stepClock.Elapsed.TotalSeconds;
                record = record with { StepSeconds = seconds };
            }
            stepClock.Restart();
        }

        async Task Step(string step)
        {
            progress?.Report($"{step}");
            Lap();
            record = record with { Step = step };
            await state.SaveHostAsync(record, ct).ConfigureAwait(false);
        }

        var transport = TakeAhead(host) ?? transports.Create(host);
        await using (transport.ConfigureAwait(false))
        {
            var patcher = new HostPatcher(transport, commandTimeout);
            try
            {
                await Step("inspect").ConfigureAwait(false);
                var conffiles = await patcher.ConffilesAsync(set.Packages.Select(p => p.Name), ct).ConfigureAwait(false);
                var scope = Scope(request.Rules, set, conffiles);
                var before = await CollectAsync(host, transport, scope, request.Environment, ct).ConfigureAwait(false);
                var beforeDigest = await store.SaveManifestAsync(before, ct).ConfigureAwait(false);
                record = record with { ManifestBefore = beforeDigest };
                var missing = PatchScope.Missing(set, before);
                if (missing.Count == 0)
                {
                    record = record with { Status = HostRunStatus.AlreadyApplied, Step = "done", Message = "already applied: nothing to do", FinishedAt = time.GetUtcNow() };
                    await state.SaveHostAsync(record, ct).ConfigureAwait(false);
                    await AuditAsync(request.Actor, "apply.host", host.Name, digest, "already applied", ct).ConfigureAwait(false);
                    progress?.Report($"already applied");
                    return record.Status;
                }

                await Step("rollback-point").ConfigureAwait(false);
                // The databases' points (a dump each) are taken beside the host's own part of the point, which changes
                // nothing tracked on the host, and awaited before the first thing that does (the set's repository file,
                // its commands, its packages); a dump that fails fails this step, with the host unchanged.
                var databasePoints = ensureDatabasePoints();
                async Task DatabasePointsTakenAsync()
                {
                    try
                    {
                        await databasePoints.ConfigureAwait(false);
                    }
                    catch (StageproofException)
                    {
                        record = record with { Step = "rollback-point" };
                        throw;
                    }
                }
                var directory = HostPatcher.PointDirectory(pointId);
                hostPoint = new HostPoint { Host = host.Name, Directory = directory, ManifestBefore = beforeDigest };
                // Recorded before anything is saved on the host, so even a point cut short is found and cleaned up.
                await state.SaveHostPointAsync(hostPoint, ct).ConfigureAwait(false);
                var (saved, absent) = await patcher.SaveFilesAsync(directory, scope.Track, ct).ConfigureAwait(false);
                hostPoint = hostPoint with { Files = saved, AbsentFiles = absent };
                if (snapshots?.Covers(host.Name) == true)
                {
                    await snapshots.SnapshotAsync(host.Name, pointId, ct).ConfigureAwait(false);
                    hostPoint = hostPoint with { Snapshot = pointId };
                }
                await state.SaveHostPointAsync(hostPoint, ct).ConfigureAwait(false);

                var files = PatchScope.Files(set);
                if (set.Repositories.Count > 0)
                {
                    await DatabasePointsTakenAsync().ConfigureAwait(false);
                    await Step("repositories").ConfigureAwait(false);
                    await patcher.WriteFileAsync(files.First(f => f.Path == PatchScope.RepositoryFile(set)), ct).ConfigureAwait(false);
                    await patcher.UpdatePackageListsAsync(ct).ConfigureAwait(false);
                }
                var installer = patcher;
                IReadOnlyList<PatchPackage> install = set.Packages;
                PackageClosure? closure = null;
                if (set.Packages.Count > 0 && repositories is null)
                {
                    await Step("keep-packages").ConfigureAwait(false);
                    if (set.Repositories.Count == 0)
                    {
                        await patcher.UpdatePackageListsAsync(ct).ConfigureAwait(false);
                    }
                    var changes = await patcher.SimulateAsync(set.Packages, ct).ConfigureAwait(false);
                    hostPoint = hostPoint with { Packages = await patcher.KeepOldPackagesAsync(directory, changes, ct).ConfigureAwait(false) };
                    await state.SaveHostPointAsync(hostPoint, ct).ConfigureAwait(false);
                }
                else if (set.Packages.Count > 0 && repositories is not null)
                {
                    var resolvedHere = false;
                    closure = await state.ClosureAsync(async () =>
                    {
                        resolvedHere = true;
                        await Step("closure").ConfigureAwait(false);
                        if (set.Repositories.Count == 0)
                        {
                            await patcher.UpdatePackageListsAsync(ct).ConfigureAwait(false);
                        }
                        var changes = await patcher.SimulateAsync(set.Packages, ct).ConfigureAwait(false);
                        hostPoint = hostPoint with { Packages = await patcher.KeepOldPackagesAsync(directory, changes, ct).ConfigureAwait(false) };
                        await state.SaveHostPointAsync(hostPoint, ct).ConfigureAwait(false);
                        return await ResolveClosureAsync(patcher, repositories, request, host, directory, changes, hostPoint, state, ct).ConfigureAwait(false);
                    }).ConfigureAwait(false);

                    // Every host, the resolving one too, installs from the snapshot alone: the bytes are the closure's.
                    await Step("snapshot").ConfigureAwait(false);
                    var snapshot = await repositories.PublishAsync(closure, ct).ConfigureAwait(false);
                    if (await patcher.ReceiveSnapshotAsync(snapshot.HostDirectory, await repositories.TarAsync(snapshot, ct).ConfigureAwait(false), snapshot.Files, ct,
                            await repositories.ContentsAsync(snapshot, ct).ConfigureAwait(false)).ConfigureAwait(false))
                    {
                        progress?.Report($"snapshot {closure.Digest[..12]} already on the host, every file as published: not sent again");
                    }
                    installer = new HostPatcher(transport, commandTimeout) { AptOptions = snapshot.AptOptions };
                    await installer.UpdatePackageListsAsync(ct).ConfigureAwait(false);
                    install = await InstallListAsync(installer, set, closure, ct).ConfigureAwait(false);
                    if (!resolvedHere)
                    {
                        await Step("keep-packages").ConfigureAwait(false);
                        var changes = await installer.SimulateAsync(install, ct).ConfigureAwait(false);
                        hostPoint = hostPoint with
                        {
                            Packages = await installer.KeepOldPackagesAsync(directory, changes, ct, snapshot.HostDirectory + "/previous").ConfigureAwait(false),
                        };
                        await state.SaveHostPointAsync(hostPoint, ct).ConfigureAwait(false);
                    }
                }
                await DatabasePointsTakenAsync().ConfigureAwait(false);
                await AuditAsync(request.Actor, "rollback-point.host", host.Name, digest,
                    $"{pointId}: {hostPoint.Packages.Count(p => p.KeptDeb is not null).ToString(CultureInfo.InvariantCulture)} package(s) kept, " +
                    $"{hostPoint.Files.Count.ToString(CultureInfo.InvariantCulture)} file(s) saved" + (hostPoint.Snapshot is null ? "" : ", overlay snapshot"), ct).ConfigureAwait(false);

                foreach (var command in set.Commands.Pre)
                {
                    await Step("pre-commands").ConfigureAwait(false);
                    await patcher.RunPatchCommandAsync("pre", command, ct).ConfigureAwait(false);
                }
                if (set.Packages.Count > 0)
                {
                    await Step("packages").ConfigureAwait(false);
                    await installer.InstallAsync(install, request.Conffiles, ct,
                        closure?.Packages.Select(d => new PatchPackage(d.Name, d.Version)).ToList()).ConfigureAwait(false);
                }
                foreach (var file in set.Files)
                {
                    await Step("files").ConfigureAwait(false);
                    await patcher.WriteFileAsync(file, ct).ConfigureAwait(false);
                }
                foreach (var command in set.Commands.Post)
                {
                    await Step("post-commands").ConfigureAwait(false);
                    await patcher.RunPatchCommandAsync("post", command, ct).ConfigureAwait(false);
                }

                await Step("verify").ConfigureAwait(false);
                var after = await CollectAsync(host, transport, scope, request.Environment, ct).ConfigureAwait(false);
                var afterDigest = await store.SaveManifestAsync(after, ct).ConfigureAwait(false);
                var stillMissing = PatchScope.Missing(set, after);
                if (stillMissing.Count > 0)
                {
                    throw new StepFailedException(host.Name, "verify", "after applying, " + string.Join("; ", stillMissing));
                }
                Lap();
                record = record with { Status = HostRunStatus.Applied, Step = "done", ManifestAfter = afterDigest, FinishedAt = time.GetUtcNow() };
                await state.SaveHostAsync(record, ct).ConfigureAwait(false);
                await AuditAsync(request.Actor, "apply.host", host.Name, digest, $"applied; manifest {afterDigest[..12]}", ct).ConfigureAwait(false);
                progress?.Report($"applied");
                return record.Status;
            }
            catch (Exception ex) when (ex is StageproofException && !ct.IsCancellationRequested)
            {
                var failedAt = record.Step ?? "inspect";
                var reason = $"failed at {failedAt}: {ex.Message}";
                progress?.Report($"{reason}");
                await AuditAsync(request.Actor, "apply.host", host.Name, digest, reason, ct).ConfigureAwait(false);
                // Nothing changes on a host before its rollback point is complete, and a point cut short has nothing to restore
                // from; resolving the closure, receiving the snapshot and keeping packages change nothing tracked either (a
                // set's repository file, written before them, does).
                var unchanged = hostPoint is null || failedAt == "rollback-point"
                    || (failedAt is "closure" or "snapshot" or "keep-packages" && set.Repositories.Count == 0);
                if (hostPoint is null || unchanged || !request.AutoRollback)
                {
                    record = record with
                    {
                        Status = HostRunStatus.FailedNeedsAttention,
                        Message = reason + (unchanged ? " (nothing was changed on the host)" : " (automatic rollback is off)"),
                        FinishedAt = time.GetUtcNow(),
                    };
                    await state.SaveHostAsync(record, ct).ConfigureAwait(false);
                    return record.Status;
                }
                await Step("auto-rollback").ConfigureAwait(false);
                var (status2, message, residue, _, _) = await RollbackHostAsync(host, hostPoint, set, request.Rules, request.Environment,
                    request.Actor, digest, progress, ct).ConfigureAwait(false);
                record = record with
                {
                    Status = status2,
                    Message = reason + "; " + message,
                    Residue = residue,
                    FinishedAt = time.GetUtcNow(),
                };
                await state.SaveHostAsync(record, ct).ConfigureAwait(false);
                return record.Status;
            }
        }
    }

    /// <summary>
    /// Resolves the run's closure on this host: the .debs of every package apt changes (fetched from the host's own
    /// sources) and of the versions they replace (kept for the rollback point), carried back, kept in the artifact
    /// store by SHA-256 and recorded on the run before any host installs them.
    /// </summary>
    private async Task<PackageClosure> ResolveClosureAsync(HostPatcher patcher, SnapshotPublisher repositories, ApplyRequest request, HostConfig host,
        string directory, IReadOnlyList<PackageChange> changes, HostPoint hostPoint, ApplyState state, CancellationToken ct)
    {
        var fetched = await patcher.FetchDebsAsync(directory, "closure", null, changes.Select(c => new PatchPackage(c.Name, c.NewVersion)).ToList(),
            "closure", "fetching the .debs apt chose", "cannot fetch {0} from the host's sources", ct).ConfigureAwait(false);
        var newPaths = changes.Select(c => fetched[c.Name]).ToList();
        var oldPaths = hostPoint.Packages.Where(p => p.KeptDeb is not null).Select(p => p.KeptDeb!).ToList();
        var pulled = await patcher.PullDebsAsync([.. newPaths, .. oldPaths], ct).ConfigureAwait(false);
        foreach (var (deb, bytes) in pulled)
        {
            await repositories.Artifacts.PutAsync(bytes, deb.Sha256, deb.Spec, ct).ConfigureAwait(false);
        }
        var closure = PackageClosure.Create($"{request.Environment}/{host.Name}", time.GetUtcNow(),
            pulled.Take(newPaths.Count).Select(p => p.Deb), pulled.Skip(newPaths.Count).Select(p => p.Deb));
        await state.UpdateRunAsync(r => r with { Closure = closure }, ct).ConfigureAwait(false);
        await AuditAsync(request.Actor, "closure.resolve", $"{request.Environment}/{host.Name}", request.PatchSet.Digest,
            $"closure {closure.Digest[..12]}: " + string.Join(", ", closure.Packages.Select(d => $"{d.Spec} ({d.Sha256[..12]})")), ct).ConfigureAwait(false);
        return closure;
    }

    /// <summary>What a host installs from a snapshot: the set's packages, and every package of the closure the host
    /// already has (so a dependency the stage upgraded reaches the version that was proven, not merely a sufficient one).</summary>
    private static async Task<IReadOnlyList<PatchPackage>> InstallListAsync(HostPatcher installer, PatchSet set, PackageClosure closure, CancellationToken ct)
    {
        var installed = await installer.InstalledVersionsAsync(closure.Packages.Select(d => d.Name), ct).ConfigureAwait(false);
        var list = set.Packages.ToList();
        foreach (var deb in closure.Packages.Where(d => installed.ContainsKey(d.Name)))
        {
            if (list.FirstOrDefault(p => p.Name == deb.Name) is { } asked && asked.Version != deb.Version)
            {
                throw new StepFailedException(installer.Host, "snapshot", $"the set asks for {asked.Name}={asked.Version}, the proven closure holds {deb.Spec}");
            }
            if (!list.Any(p => p.Name == deb.Name))
            {
                list.Add(new PatchPackage(deb.Name, deb.Version));
            }
        }
        return list;
    }

    /// <summary>Rolls an environment (or some of its hosts) back to a point, then checks each host against its
    /// manifest from before the change on the touched scope.</summary>
    public async Task<PatchRun> RollbackAsync(RollbackRequest request, IProgress<string>? progress, CancellationToken ct)
    {
        var point = request.Point;
        var set = request.PatchSet;
        var clock = Stopwatch.StartNew();
        var run = new PatchRun
        {
            Id = NewId("rollback"),
            Kind = RunKind.Rollback,
            PatchDigest = point.PatchDigest,
            PatchId = point.PatchId,
            Environment = point.Environment,
            Actor = request.Actor,
            StartedAt = time.GetUtcNow(),
            RollbackPoint = point.Id,
            Hosts = request.Hosts.Select(h => new HostRunRecord { Host = h.Name }).ToList(),
        };
        await store.SavePatchRunAsync(run, ct).ConfigureAwait(false);
        await AuditAsync(request.Actor, "rollback.start", point.Environment, point.PatchDigest, $"to point {point.Id}, run {run.Id}", ct).ConfigureAwait(false);

        // Databases first: the old application version starts against the schema it knew.
        var restores = new List<DatabaseRestoreRecord>();
        // What a restore would discard, for the databases that are not restored: read while the hosts roll back, since
        // nothing waits on the figure and, where it must come from PostgreSQL's statistics rather than row counts, they
        // take up to ~11 s to settle (PostgresRollbackPoint.WritesSinceAsync).
        var unrestored = new List<(int Index, string Target, string Why, Task<IReadOnlyList<string>> Writes)>();
        foreach (var dbPoint in point.Databases)
        {
            if (!request.Databases.TryGetValue(dbPoint.Database, out var connection))
            {
                restores.Add(new DatabaseRestoreRecord { Database = dbPoint.Database, Why = "the environment no longer names this database; not restored" });
                continue;
            }
            progress?.Report($"{point.Environment}/{dbPoint.Database}: comparing with the point");
            var changed = await databases.SchemaChangedAsync(dbPoint, connection, ct).ConfigureAwait(false);
            var target = $"{point.Environment}/{dbPoint.Database}";
            // The migrations the change added, and how the set declares each is undone: a database whose every added
            // migration has a down script or is compatible goes back without a restore (Auto), its data kept.
            var added = changed && await databases.MigrationsSinceAsync(dbPoint, connection, ct).ConfigureAwait(false) is { } rows
                ? WayBacks.Of(dbPoint.Database, rows, set.WayBack) : [];
            var declaredWay = added.Count > 0 && added.All(m => m.How is WayBackHow.Down or WayBackHow.Compatible);
            var restore = request.Database == DatabaseRestoreMode.Restore || (request.Database == DatabaseRestoreMode.Auto && changed && !declaredWay);
            var why = !changed ? "its schema and migration history are as at the point"
                : declaredWay ? $"its migrations since the point declare their way back ({string.Join(", ", added)})"
                : "its schema or migration history changed since the point"
                  + (added.Count > 0 ? $" ({string.Join(", ", added)})" : "");
            var record = new DatabaseRestoreRecord { Database = dbPoint.Database, Needed = changed && !declaredWay, Why = why, Migrations = added };
            if (!restore && request.Database != DatabaseRestoreMode.Restore && added.Any(m => m.How == WayBackHow.Down))
            {
                record = await DownScriptsAsync(record, target, connection, dbPoint, added, set, request.Actor, point.PatchDigest, progress, ct).ConfigureAwait(false);
                if (record.DownFailed is { } failed && request.Database == DatabaseRestoreMode.Auto)
                {
                    restore = true;
                    why = $"its declared way back did not hold ({failed}): restored from the dump instead";
                    record = record with { Needed = true, Why = why };
                }
            }
            if (!restore)
            {
                unrestored.Add((restores.Count, target, why, databases.WritesSinceAsync(dbPoint, connection, ct)));
                restores.Add(record);
                continue;
            }
            // Read before the restore replaces the data it counts.
            var discarded = await databases.WritesSinceAsync(dbPoint, connection, ct).ConfigureAwait(false);
            progress?.Report($"{target}: restoring the dump ({why})");
            await databases.RestoreAsync(dbPoint, connection, ct).ConfigureAwait(false);
            restores.Add(record with { Restored = true, Discarded = discarded });
            await AuditAsync(request.Actor, "rollback.database", target, point.PatchDigest,
                $"restored ({why}); " + (discarded.Count == 0 ? "no data written since the point" : "discarded: " + string.Join("; ", discarded)), ct).ConfigureAwait(false);
        }
        run = run with { Restores = restores };
        await store.SavePatchRunAsync(run, ct).ConfigureAwait(false);

        var index = 0;
        foreach (var host in request.Hosts)
        {
            index++;
            var hostProgress = HostProgress.For(progress, host.Name, index, request.Hosts.Count, clock);
            var hostPoint = point.Hosts.FirstOrDefault(h => h.Host == host.Name);
            if (hostPoint is null)
            {
                run = run.WithHost(new HostRunRecord { Host = host.Name, Status = HostRunStatus.AlreadyApplied, Message = "the point holds nothing for this host (the change never reached it)" });
                continue;
            }
            run = run.WithHost(new HostRunRecord { Host = host.Name, Status = HostRunStatus.InProgress, Step = "rollback" });
            await store.SavePatchRunAsync(run, ct).ConfigureAwait(false);
            var (status, message, residue, restoreSeconds, commandSeconds) = await RollbackHostAsync(host, hostPoint, set, request.Rules, point.Environment,
                request.Actor, point.PatchDigest, hostProgress, ct).ConfigureAwait(false);
            run = run.WithHost(new HostRunRecord
            {
                Host = host.Name, Status = status, Step = "done", Message = message, Residue = residue, FinishedAt = time.GetUtcNow(),
                StepSeconds = new Dictionary<string, double> { ["restore"] = restoreSeconds, ["post-commands"] = commandSeconds },
            });
            await store.SavePatchRunAsync(run, ct).ConfigureAwait(false);
        }

        foreach (var (i, target, why, writes) in unrestored)
        {
            IReadOnlyList<string> discarded;
            try
            {
                discarded = await writes.ConfigureAwait(false);
            }
            catch (StageproofException ex)
            {
                // A figure for the report: the hosts' rollback must not hang on it.
                discarded = [$"could not be read: {ex.Message}"];
            }
            restores[i] = restores[i] with { Discarded = discarded };
            await AuditAsync(request.Actor, "rollback.database", target, point.PatchDigest,
                $"not restored ({why}); " + (discarded.Count == 0 ? "no data written since the point" : "a restore would discard: " + string.Join("; ", discarded)), ct).ConfigureAwait(false);
        }
        // Directories last: their server is back at the version of the point and serving, so the entries go back
        // through it online (and reach its replicas as any change does).
        run = run with { Restores = restores, DirectoryRestores = await RestoreDirectoriesAsync(request, run, progress, ct).ConfigureAwait(false) };
        run = run with { FinishedAt = time.GetUtcNow() };
        await store.SavePatchRunAsync(run, ct).ConfigureAwait(false);
        if (run.Succeeded && request.Hosts.Count == point.Hosts.Count)
        {
            await store.SaveRollbackPointAsync(point with { Status = RollbackPointStatus.RolledBack }, ct).ConfigureAwait(false);
        }
        await AuditAsync(request.Actor, "rollback.finish", point.Environment, point.PatchDigest, Summary(run), ct).ConfigureAwait(false);
        return run;
    }

    /// <summary>Each directory of the point: what changed since, and (by <see cref="RollbackRequest.Directory"/>) its
    /// entries restored. A directory that cannot be read or restored is recorded and audited; it does not stop the rest.</summary>
    private async Task<IReadOnlyList<DirectoryRestoreRecord>> RestoreDirectoriesAsync(RollbackRequest request, PatchRun run, IProgress<string>? progress, CancellationToken ct)
    {
        var point = request.Point;
        var records = new List<DirectoryRestoreRecord>();
        foreach (var dirPoint in point.Directories)
        {
            var target = $"{point.Environment}/{dirPoint.Name}";
            if (!request.Directories.TryGetValue(dirPoint.Name, out var directory) || directory.Rollback is null)
            {
                records.Add(new DirectoryRestoreRecord { Directory = dirPoint.Name, Why = "the environment no longer names this directory with a rollback; not restored" });
                continue;
            }
            if (!request.Hosts.Any(directory.ServedBy))
            {
                records.Add(new DirectoryRestoreRecord { Directory = dirPoint.Name, Why = "not restored: the host that serves it is not part of this rollback" });
                continue;
            }
            if (!run.HostsSucceeded)
            {
                records.Add(new DirectoryRestoreRecord { Directory = dirPoint.Name, Why = "not restored: a host did not roll back, so its directory server may not be the point's" });
                continue;
            }
            try
            {
                var source = DirectorySource.ForRollback(target, directory);
                progress?.Report($"{target}: comparing the directory with the point");
                var changes = await _directories.ChangesSinceAsync(dirPoint, source, ct).ConfigureAwait(false);
                var lost = changes.Removed.Count;
                var restore = request.Directory == DatabaseRestoreMode.Restore
                    || (request.Directory == DatabaseRestoreMode.Auto && lost > 0);
                var why = !changes.Any ? "its entries are as at the point"
                    : lost > 0 ? $"{lost.ToString(CultureInfo.InvariantCulture)} entr{(lost == 1 ? "y" : "ies")} it held at the point {(lost == 1 ? "is" : "are")} gone"
                    : "entries were only added or changed since the point";
                var record = new DirectoryRestoreRecord { Directory = dirPoint.Name, Needed = lost > 0, Why = why, Discarded = changes.Describe() };
                if (restore && changes.Any)
                {
                    progress?.Report($"{target}: restoring the directory's entries ({why})");
                    await _directories.RestoreAsync(dirPoint, source, ct).ConfigureAwait(false);
                    record = record with { Restored = true };
                }
                records.Add(record);
                await AuditAsync(request.Actor, "rollback.directory", target, point.PatchDigest,
                    (record.Restored ? $"restored ({why}); discarded: " : $"not restored ({why}); " + (changes.Any ? "a restore would discard: " : ""))
                    + (changes.Any ? string.Join("; ", record.Discarded) : "nothing changed since the point"), ct).ConfigureAwait(false);
            }
            catch (StageproofException ex)
            {
                records.Add(new DirectoryRestoreRecord { Directory = dirPoint.Name, Needed = true, Why = "could not be compared or restored", Error = ex.Message });
                await AuditAsync(request.Actor, "rollback.directory", target, point.PatchDigest, $"failed: {ex.Message}", ct).ConfigureAwait(false);
            }
        }
        return records;
    }

    /// <summary>Runs the set's declared down scripts (newest migration first), each in its own transaction; stops at the
    /// first that fails. When every added migration was declared down, the schema and history must then be the point's.</summary>
    private async Task<DatabaseRestoreRecord> DownScriptsAsync(DatabaseRestoreRecord record, string target, string connection, DatabasePoint dbPoint,
        IReadOnlyList<AddedMigration> added, PatchSet set, string actor, string digest, IProgress<string>? progress, CancellationToken ct)
    {
        var ran = new List<string>();
        foreach (var (declaration, migrations) in WayBacks.DownScripts(added, set.WayBack))
        {
            var label = $"{declaration.Down} for {string.Join(", ", migrations)}";
            progress?.Report($"{target}: running the down script {label}");
            var error = declaration.Sql is null ? "the down script is not frozen with the set"
                : await databases.RunDownScriptAsync(connection, declaration.Sql, ct).ConfigureAwait(false);
            if (error is not null)
            {
                await AuditAsync(actor, "rollback.database", target, digest, $"down script {label} failed, nothing of it committed: {error}", ct).ConfigureAwait(false);
                return record with { DownScripts = ran, DownFailed = $"the down script {label} failed: {error}" };
            }
            ran.Add(label);
            await AuditAsync(actor, "rollback.database", target, digest, $"down script {label} ran", ct).ConfigureAwait(false);
        }
        record = record with { DownScripts = ran };
        if (added.All(m => m.How == WayBackHow.Down) && await databases.SchemaChangedAsync(dbPoint, connection, ct).ConfigureAwait(false))
        {
            return record with { DownFailed = $"after the down script(s) {string.Join("; ", ran)}, the schema or migration history still differs from the rollback point's" };
        }
        return record;
    }

    private async Task<(HostRunStatus Status, string Message, IReadOnlyList<string> Residue, double RestoreSeconds, double CommandSeconds)> RollbackHostAsync(HostConfig host,
        HostPoint hostPoint, PatchSet set, DriftRules rules, string environment, string actor, string digest,
        IProgress<string>? progress, CancellationToken ct)
    {
        var restoreSeconds = 0.0;
        var commandSeconds = 0.0;
        try
        {
            var transport = transports.Create(host);
            await using (transport.ConfigureAwait(false))
            {
                var patcher = new HostPatcher(transport, commandTimeout);
                progress?.Report($"restoring {hostPoint.Packages.Count(p => p.KeptDeb is not null).ToString(CultureInfo.InvariantCulture)} kept package(s) and {hostPoint.Files.Count.ToString(CultureInfo.InvariantCulture)} file(s)");
                var restoreClock = Stopwatch.StartNew();
                await patcher.RestoreAsync(hostPoint, ct).ConfigureAwait(false);
                restoreSeconds = restoreClock.Elapsed.TotalSeconds;
                // The set's post commands restart what it restarted, now on the restored packages and files.
                var commandClock = Stopwatch.StartNew();
                foreach (var command in set.Commands.Post)
                {
                    await patcher.RunPatchCommandAsync("post", command, ct).ConfigureAwait(false);
                }
                commandSeconds = commandClock.Elapsed.TotalSeconds;
                var residue = await ResidueAsync(host, transport, hostPoint, rules, environment, ct).ConfigureAwait(false);
                var how = "restored from the kept packages and saved files";
                if (residue.Count > 0 && hostPoint.Snapshot is not null && snapshots is not null)
                {
                    progress?.Report($"residue after restore ({string.Join("; ", residue)}); restoring the overlay snapshot");
                    await snapshots.RestoreAsync(host.Name, hostPoint.Snapshot, ct).ConfigureAwait(false);
                    // The restore restarted the host's sshd: a fresh connection.
                    var fresh = transports.Create(host);
                    await using (fresh.ConfigureAwait(false))
                    {
                        residue = await ResidueAsync(host, fresh, hostPoint, rules, environment, ct).ConfigureAwait(false);
                    }
                    how = "restored from the overlay snapshot";
                }
                if (residue.Count > 0)
                {
                    var message = $"{how}, but it differs from its manifest before the change: {string.Join("; ", residue)}";
                    await AuditAsync(actor, "rollback.host", host.Name, digest, "needs attention: " + message, ct).ConfigureAwait(false);
                    progress?.Report($"NEEDS ATTENTION: {message}");
                    return (HostRunStatus.FailedNeedsAttention, message, residue, restoreSeconds, commandSeconds);
                }
                await AuditAsync(actor, "rollback.host", host.Name, digest, $"rolled back; {how}; matches manifest {hostPoint.ManifestBefore[..12]} on the touched scope", ct).ConfigureAwait(false);
                progress?.Report($"rolled back, matches its manifest from before the change");
                return (HostRunStatus.RolledBack, $"rolled back ({how}); matches its manifest from before the change", [], restoreSeconds, commandSeconds);
            }
        }
        catch (Exception ex) when (ex is StageproofException && !ct.IsCancellationRequested)
        {
            await AuditAsync(actor, "rollback.host", host.Name, digest, "rollback failed: " + ex.Message, ct).ConfigureAwait(false);
            progress?.Report($"ROLLBACK FAILED: {ex.Message}");
            return (HostRunStatus.FailedNeedsAttention, "rollback failed: " + ex.Message, [], restoreSeconds, commandSeconds);
        }
    }

    private async Task<IReadOnlyList<string>> ResidueAsync(HostConfig host, ITransport transport, HostPoint hostPoint, DriftRules rules,
        string environment, CancellationToken ct)
    {
        var before = (await store.FindManifestAsync(hostPoint.ManifestBefore, ct).ConfigureAwait(false))?.Manifest
            ?? throw new InfrastructureException(host.Name, $"the manifest from before the change ({hostPoint.ManifestBefore[..12]}) is not in the state store");
        var scope = RollbackScope(rules, hostPoint);
        var after = await CollectAsync(host, transport, scope, environment, ct).ConfigureAwait(false);
        await store.SaveManifestAsync(after, ct).ConfigureAwait(false);
        return PatchScope.Residue(before, after, hostPoint);
    }

    private async Task<Manifest> CollectAsync(HostConfig host, ITransport transport, DriftRules scope, string environment, CancellationToken ct)
    {
        var collector = new HostFactsCollector(time) { PendingUpgrades = false, Timeout = commandTimeout };
        return await collector.CollectAsync(host, transport, scope, environment, ct).ConfigureAwait(false);
    }

    /// <summary>What a host is compared on against its manifest from before the change: the tracked config and every file the point saved or found absent.</summary>
    public static DriftRules RollbackScope(DriftRules rules, HostPoint point) => rules with
    {
        Track = [.. rules.Track, .. point.Files, .. point.AbsentFiles],
    };

    /// <summary>The tracked config, plus every file the set writes, plus the conffiles of the packages it changes.</summary>
    private static DriftRules Scope(DriftRules rules, PatchSet set, IReadOnlyList<string> conffiles) => rules with
    {
        Track = rules.Track.Concat(PatchScope.Files(set).Select(f => f.Path)).Concat(conffiles).Distinct(StringComparer.Ordinal).ToList(),
    };

    private static RollbackPoint WithHostPoint(RollbackPoint point, HostPoint hostPoint) => point with
    {
        Hosts = [.. point.Hosts.Where(h => h.Host != hostPoint.Host), hostPoint],
    };

    private Task AuditAsync(string actor, string action, string target, string digest, string outcome, CancellationToken ct) =>
        store.AppendAsync(new AuditEvent { Actor = actor, Action = action, Target = target, PayloadDigest = digest, Outcome = outcome }, ct);

    private string NewId(string kind) =>
        $"{kind}-{time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    public static string Summary(PatchRun run) => string.Join(", ",
        run.Hosts.GroupBy(h => h.Status).OrderBy(g => g.Key).Select(g => $"{Status(g.Key)}: {string.Join(" ", g.Select(h => h.Host))}"));

    public static string Status(HostRunStatus status) => status switch
    {
        HostRunStatus.NotStarted => "not started (untouched)",
        HostRunStatus.InProgress => "in progress",
        HostRunStatus.Applied => "applied",
        HostRunStatus.AlreadyApplied => "already applied",
        HostRunStatus.RolledBack => "rolled back",
        _ => "failed, needs attention",
    };
}

/// <summary>Progress lines of one host: "[2/6 14s] prod-app-2: packages", the time read when the line is written.</summary>
internal sealed class HostProgress(IProgress<string> inner, string host, int index, int count, Stopwatch clock) : IProgress<string>
{
    public static IProgress<string>? For(IProgress<string>? inner, string host, int index, int count, Stopwatch clock) =>
        inner is null ? null : new HostProgress(inner, host, index, count, clock);

    public void Report(string value) => inner.Report(string.Create(CultureInfo.InvariantCulture,
        $"[{index}/{count} {clock.Elapsed.TotalSeconds:0}s] {host}: {value}"));
}
