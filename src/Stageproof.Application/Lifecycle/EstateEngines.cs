using Stageproof.Application.Notifications;
using Stageproof.Core;
using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Stage;
using Stageproof.Core.State;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Artifacts;
using Stageproof.Hosts.Checks;
using Stageproof.Hosts.Rollouts;
using Stageproof.Lab;

namespace Stageproof.Application.Lifecycle;

/// <summary>
/// The engines over one configuration and state, composed the same way for every entry point: the patch engine (with
/// the lab's overlay snapshots when the configuration is the lab's), the rollout engine and what it is told about an
/// environment, the closure a PASS bound a set to, and the lab's clones for the emergency lane.
/// </summary>
public sealed class EstateEngines(IStateStore store, StageproofConfig config, TimeProvider time, string stateDirectory,
    ITransportFactory transports, IEventPublisher events)
{
    public StageproofConfig Config => config;
    public IStateStore Store => store;
    public TimeProvider Time => time;
    public ITransportFactory Transports => transports;
    public IEventPublisher Events => events;

    /// <summary>The fewest digest characters a verb that acts accepts: one character in sixteen is a guess, not a choice
    /// (read-only verbs such as <c>patch show</c> take any unique prefix).</summary>
    public const int MinimumActingPrefix = 8;

    /// <summary>The configured environment <paramref name="name"/>; bad input naming the configuration otherwise.</summary>
    public EnvironmentConfig Environment(string name) => Environment(config, name);

    /// <inheritdoc cref="Environment(string)"/>
    public static EnvironmentConfig Environment(StageproofConfig config, string name)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Environments.TryGetValue(name, out var env) ? env
            : throw new InputException($"{config.SourceFile}: no environment '{name}' (environments: {string.Join(", ", config.Environments.Keys)})");
    }

    /// <summary>The stored set a verb that acts on hosts, approvals or promotions names, by digest or a prefix of at
    /// least <see cref="MinimumActingPrefix"/> characters.</summary>
    public async Task<StoredPatchSet> PatchSetToActOnAsync(string digest, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(digest);
        if (digest.Trim().Length < MinimumActingPrefix)
        {
            throw new InputException($"digest {Core.Validation.Names.Show(digest)} is too short to act on: give at least {MinimumActingPrefix} characters " +
                                     "of it (see 'stageproof patch list')");
        }
        return await store.FindPatchSetAsync(digest, ct).ConfigureAwait(false)
            ?? throw new InputException($"no frozen patch set has a digest starting with {Core.Validation.Names.Show(digest)} (see 'stageproof patch list')");
    }

    public PatchEngine Patches() =>
        new(store, transports, new EngineDatabasePatcher(time), time, stateDirectory, config.Ssh.CommandTimeout,
            LabHostSnapshots.ForConfigFile(config.SourceFile), new SnapshotPublisher(stateDirectory));

    /// <summary>A rollout engine (its check runner disposed with the second value), announcing to the webhooks.</summary>
    public (RolloutEngine Engine, IDisposable Checks) Rollouts()
    {
        var checks = new CheckSuiteRunner { HostParallelism = config.Ssh.Parallelism };
        return (new RolloutEngine(store, Patches(), transports, checks, time, config.Ssh.CommandTimeout, new RolloutEvents(events, time))
        {
            LockHeartbeat = config.Jobs?.LockHeartbeat ?? Core.Jobs.JobsConfig.DefaultLockHeartbeat,
        }, checks);
    }

    /// <summary>
    /// The closure a PASS bound to <paramref name="digest"/>: that of the stage result named in <paramref name="evidence"/>
    /// when it recorded one, else the newest passing stage's; null when no stage has proven the set (the first stage,
    /// or an apply before any, resolves it against its host's sources).
    /// </summary>
    public static async Task<PackageClosure?> ProvenClosureAsync(IStateStore store, string digest, IReadOnlyList<string>? evidence, CancellationToken ct)
    {
        var passing = (await store.ListStageResultsAsync(digest, null, ct).ConfigureAwait(false))
            .Where(r => r.Verdict == StageVerdict.Pass && r.Closure is not null).ToList();
        return (passing.FirstOrDefault(r => evidence?.Contains(r.Id) == true) ?? passing.OrderByDescending(r => r.StartedAt).FirstOrDefault())?.Closure;
    }

    /// <summary>Applying a stored set to (some of) an environment's hosts as <paramref name="actor"/>, with the configured
    /// rules: to those of them the set's roles name (bad input when none).</summary>
    public static ApplyRequest ApplyRequest(StageproofConfig config, EnvironmentConfig env, StoredPatchSet stored, IReadOnlyList<HostConfig> hosts, string actor) => new()
    {
        PatchSet = stored,
        Environment = env.Name,
        Hosts = PatchScope.TargetedHosts(stored.Set, env.Name, hosts),
        Databases = env.Databases,
        Directories = env.Directories,
        Rules = config.Drift,
        Actor = actor,
    };

    /// <summary>Returning those of <paramref name="hosts"/> that the point covers to it, as <paramref name="actor"/>.</summary>
    public static RollbackRequest RollbackRequest(StageproofConfig config, EnvironmentConfig env, RollbackPoint point, PatchSet set,
        IReadOnlyList<HostConfig> hosts, string actor, DatabaseRestoreMode database = DatabaseRestoreMode.Auto,
        DatabaseRestoreMode directory = DatabaseRestoreMode.Auto) => new()
    {
        Point = point,
        PatchSet = set,
        Hosts = hosts.Where(h => point.Hosts.Any(p => p.Host == h.Name)).ToList(),
        Databases = env.Databases,
        Directories = env.Directories,
        Rules = config.Drift,
        Actor = actor,
        Database = database,
        Directory = directory,
    };

    /// <summary>The lab's clones among the environments stage results name (the emergency lane's evidence); none
    /// outside the lab.</summary>
    public async Task<IReadOnlyDictionary<string, EnvironmentClone>> ClonesAsync(CancellationToken ct)
    {
        var clones = new Dictionary<string, EnvironmentClone>(StringComparer.Ordinal);
        if (LabEnvironmentClones.ForConfigFile(config.SourceFile) is { } lab)
        {
            var results = await store.ListStageResultsAsync(null, null, ct).ConfigureAwait(false);
            foreach (var env in results.Select(r => r.Environment).Distinct(StringComparer.Ordinal))
            {
                if (await lab.FindAsync(env, ct).ConfigureAwait(false) is { } clone)
                {
                    clones[env] = clone;
                }
            }
        }
        return clones;
    }

    /// <summary>The rollout plan for a stored set on an environment, under its stage's policy.</summary>
    public Rollout Plan(StoredPatchSet stored, GateAsk ask, GateDecision decision, string actor)
    {
        var environment = ask.Target;
        var stage = config.Lifecycle.StageOf(environment);
        var policy = stage?.Rollout ?? new RolloutPolicy();
        var batches = RolloutPlanner.Plan(PatchScope.TargetedHosts(stored.Set, environment, config.HostsOf(environment)).Select(h => h.Name).ToList(), policy);
        return new Rollout
        {
            Id = RolloutEngine.NewId(time),
            Environment = environment,
            PatchDigest = stored.Digest,
            PatchId = stored.Set.Id,
            Actor = actor,
            Lane = ask.Emergency ? Lane.Emergency : Lane.Routine,
            Reason = ask.Reason,
            Ticket = ask.Ticket ?? stored.Set.Ticket,
            WindowOverride = ask.OverrideWindow && decision.OpenWindow is null && stage?.Window is not null ? ask.Reason : null,
            Evidence = decision.Evidence,
            Approvals = decision.Approvals,
            Policy = policy,
            Batches = batches,
            Hosts = batches.SelectMany(b => b.Hosts.Select(h => new RolloutHost { Host = h, Batch = b.Index })).ToList(),
            CreatedAt = time.GetUtcNow(),
        };
    }

    /// <summary>What the engine needs about the environment: hosts, checks per batch, and the staging mirror.</summary>
    public async Task<RolloutTarget> TargetAsync(StoredPatchSet stored, Rollout rollout, string actor, CancellationToken ct)
    {
        // An emergency patch was proven in its clone, not in staging: the clone is what production must now equal.
        string? proven = null;
        if (rollout.Lane == Lane.Emergency && rollout.Evidence.Count > 0)
        {
            var results = await store.ListStageResultsAsync(rollout.PatchDigest, null, ct).ConfigureAwait(false);
            proven = results.FirstOrDefault(r => r.Id == rollout.Evidence[0])?.Environment;
        }
        // The bytes installed are the ones the accepted PASS was bound to.
        var closure = await ProvenClosureAsync(store, stored.Digest, rollout.Evidence, ct).ConfigureAwait(false);
        var environment = rollout.Environment;
        var env = config.Environment(environment);
        var hosts = PatchScope.TargetedHosts(stored.Set, environment, config.HostsOf(environment));
        var suite = config.SuiteOf(environment);
        var batchChecks = suite with
        {
            Checks = rollout.Policy.Checks.Count > 0
                ? suite.Checks.Where(c => rollout.Policy.Checks.Contains(c.Name)).ToList()
                : suite.Checks.Where(c => c is not LoadCheck and not LdapCheck { IsLoad: true } and not SoakCheck).ToList(),
        };
        // The staging mirror: the stage before this one when it mirrors it, otherwise any environment that does.
        var mirrors = config.Environments.Values.Where(e => e.MirrorOf == environment && config.Lifecycle.StageOf(e.Name) is not null).ToList();
        var mirror = (proven is not null && config.Environments.TryGetValue(proven, out var clone) ? clone : null)
            ?? mirrors.FirstOrDefault(e => e.Name == config.Lifecycle.Previous(environment)?.Environment)
            ?? mirrors.LastOrDefault()
            ?? config.Environments.Values.FirstOrDefault(e => e.MirrorOf == environment);
        return new RolloutTarget
        {
            PatchSet = stored,
            Apply = ApplyRequest(config, env, stored, hosts, actor) with { Closure = closure },
            Hosts = hosts,
            CheckEnvironment = CheckEnvironment.From(config, environment),
            BatchChecks = batchChecks,
            MirrorEnvironment = mirror?.Name,
            // Twins of the patched hosts only: a proxy's update is compared with staging's proxy, not its app hosts.
            MirrorHosts = mirror is null ? [] : config.HostsOf(mirror.Name).Where(h => PatchScope.Targets(stored.Set, h)).ToList(),
            Parallelism = config.Ssh.Parallelism,
        };
    }
}
