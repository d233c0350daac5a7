using Microsoft.Extensions.DependencyInjection;
using Quartz;
using Stageproof.Application.Lifecycle;
using Stageproof.Core.Jobs;
using Stageproof.Core.State;

namespace Stageproof.Application.Jobs;

/// <summary>
/// Rollouts as durable Quartz.NET jobs in a clustered ADO.NET job store on PostgreSQL. <c>serve</c> enqueues (a job per
/// rollout, its data the rollout id alone: the state is in the state store); a worker — <c>stageproof worker</c>, or
/// <c>serve --worker</c> — runs them. A node that stops checking in is declared dead by the others, which re-fire its
/// job (it requests recovery) and resume the rollout from its stored per-host state.
/// </summary>
public sealed class RolloutJobs : IAsyncDisposable
{
    /// <summary>The one scheduler name every node shares: nodes of one cluster are the schedulers of that name.</summary>
    public const string SchedulerName = "stageproof";
    internal const string Group = "rollouts";
    internal const string RolloutKey = "rollout";
    /// <summary>The trigger's attempt at an environment held by another rollout (1 on the first).</summary>
    internal const string AttemptKey = "attempt";
    /// <summary>The trigger's attempt after the job was stopped by an error (1 on the first).</summary>
    internal const string ErrorAttemptKey = "error-attempt";

    private readonly IScheduler _scheduler;
    private readonly RunningHere _running;

    private RolloutJobs(IScheduler scheduler, bool worker, RunningHere running)
    {
        _scheduler = scheduler;
        Worker = worker;
        _running = running;
    }

    /// <summary>The rollout jobs this node executes now (Quartz 4.7.3 has no query for them).</summary>
    internal sealed class RunningHere
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<JobKey, bool> _keys = new();

        public void Add(JobKey key) => _keys[key] = true;

        public void Remove(JobKey key) => _keys.TryRemove(key, out _);

        public IReadOnlyList<JobKey> Keys => [.. _keys.Keys];
    }

    /// <summary>Whether this node runs jobs (otherwise it only enqueues them).</summary>
    public bool Worker { get; }

    /// <summary>This node's id in the cluster.</summary>
    public string InstanceId => _scheduler.SchedulerInstanceId;

    /// <summary>Joins the cluster (Quartz creating its tables when absent); a worker starts running jobs at once.</summary>
    public static async Task<RolloutJobs> OpenAsync(JobsConfig config, PromotionWorkflow workflow, IStateStore store, bool worker, CancellationToken ct,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var connection = JobStoreSchema.ConnectionString(config);
        var running = new RunningHere();
        var quartz = QuartzSchedulerBuilder.Create(builder =>
        {
            builder.Services.AddSingleton(workflow);
            builder.Services.AddSingleton(store);
            builder.Services.AddSingleton(running);
            builder.Services.AddSingleton(config);
            builder.Services.AddSingleton(time ?? TimeProvider.System);
            builder.ConfigureScheduler(o =>
            {
                o.InstanceName = SchedulerName;
                o.GenerateInstanceId = true;
                // A job enqueued by another node (serve) is seen at the next poll: a couple of seconds, not Quartz's 30.
                o.IdleWaitTime = TimeSpan.FromSeconds(2);
                // A stopping worker cancels its rollouts (each stops where it stands, state written) and waits for them.
                o.ShutdownJobInterruption = ShutdownJobInterruption.WhenWaitingForJobs;
            });
            // One rollout per environment holds the lock anyway; a few at once per node is plenty.
            builder.UseDefaultThreadPool(maxConcurrency: 4);
            builder.UsePersistentStore(s =>
            {
                s.UsePostgres(connection);
                s.ProvisionSchema();
                s.UseClustering(c =>
                {
                    c.CheckinInterval = config.Checkin;
                    // A node silent for its interval plus this is declared dead and its recoverable jobs re-fire elsewhere.
                    c.CheckinMisfireThreshold = config.Checkin;
                });
                s.UseSystemTextJsonSerializer();
            });
        });
        IScheduler scheduler;
        var schemaLock = await JobStoreSchema.LockAsync(config, ct).ConfigureAwait(false);
        await using (schemaLock.ConfigureAwait(false))
        {
            try
            {
                scheduler = await quartz.BuildScheduler(ct).ConfigureAwait(false);
                if (worker)
                {
                    await scheduler.Start(ct).ConfigureAwait(false);
                }
            }
            catch (SchedulerException e)
            {
                throw new Core.InfrastructureException(config.Store.Authority, $"jobs store {JobStoreSchema.Shown(config)}: {e.Message}", e);
            }
        }
        return new RolloutJobs(scheduler, worker, running);
    }

    /// <summary>Enqueues rollout <paramref name="rolloutId"/> to start at <paramref name="at"/> (now when null), replacing
    /// a job already waiting for it.</summary>
    public async Task EnqueueAsync(string rolloutId, DateTimeOffset? at, CancellationToken ct)
    {
        var job = JobBuilder.Create<RolloutJob>()
            .WithIdentity(rolloutId, Group)
            .UsingJobData(RolloutKey, rolloutId)
            .RequestRecovery()
            .Build();
        var trigger = TriggerBuilder.Create()
            .WithIdentity(rolloutId, Group)
            .ForJob(job)
            .StartAt(at ?? DateTimeOffset.UtcNow)
            // Fired late (every worker was down at its time): run it as soon as one is back.
            .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow))
            .Build();
        await _scheduler.ScheduleJob(job, [trigger], new ScheduleJobOptions { Replace = true }, ct).ConfigureAwait(false);
    }

    /// <summary>Gives job <paramref name="key"/> (running now) another trigger at <paramref name="at"/>, its attempt
    /// <paramref name="attempt"/> at a held lock and <paramref name="errorAttempt"/> after errors: the job outlives the
    /// trigger that fired it.</summary>
    internal static async Task RetryAsync(IScheduler scheduler, JobKey key, DateTimeOffset at, int attempt, CancellationToken ct, int errorAttempt = 1)
    {
        var again = TriggerBuilder.Create().ForJob(key).StartAt(at)
            // As text: the job store's JSON keeps a string a string.
            .UsingJobData(AttemptKey, attempt.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .UsingJobData(ErrorAttemptKey, errorAttempt.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow)).Build();
        await scheduler.ScheduleJob(again, new ScheduleJobOptions(), ct).ConfigureAwait(false);
    }

    /// <summary>Removes a job that has not started yet; false when there was none.</summary>
    public async Task<bool> CancelAsync(string rolloutId, CancellationToken ct) =>
        await _scheduler.DeleteJob(new JobKey(rolloutId, Group), ct).ConfigureAwait(false);

    /// <summary>
    /// Leaves the cluster; jobs running here are handed back to it and interrupted where they stand. This node first
    /// stops taking triggers, then gives each rollout it runs a new trigger for now: it stays blocked while the running
    /// instance unwinds (one instance per rollout, cluster-wide), then another node fires it and resumes the rollout.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_scheduler.Status is SchedulerStatus.Shutdown or SchedulerStatus.ShuttingDown)
        {
            return;
        }
        if (Worker)
        {
            await _scheduler.Standby().ConfigureAwait(false);
            foreach (var key in _running.Keys)
            {
                var again = TriggerBuilder.Create().ForJob(key).StartNow()
                    .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow)).Build();
                await _scheduler.ScheduleJob(again, new ScheduleJobOptions(), CancellationToken.None).ConfigureAwait(false);
            }
        }
        await _scheduler.Shutdown(waitForJobsToComplete: true).ConfigureAwait(false);
    }
}
