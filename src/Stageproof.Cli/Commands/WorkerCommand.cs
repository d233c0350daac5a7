using System.CommandLine;
using Stageproof.Application.Jobs;
using Stageproof.Application.Lifecycle;
using Stageproof.Core;
using Stageproof.Hosts.Transports;

namespace Stageproof.Cli.Commands;

/// <summary>
/// <c>stageproof worker</c>: joins the cluster of the <c>jobs:</c> store and runs rollout jobs until stopped (Ctrl-C,
/// SIGTERM): a rollout running here then stops where it stands, its state written, and its job goes back to the cluster.
/// </summary>
internal static class WorkerCommand
{
    public static Command Create(VerbContext verbs)
    {
        var command = new Command("worker", "Run rollout jobs from the jobs: store (a node of the cluster) until stopped");
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var config = session.Config;
            var jobsConfig = config.Jobs ?? throw new InputException($"{config.SourceFile}: no jobs: store; 'stageproof worker' takes rollout jobs from one " +
                                                                     "(jobs: {{ store: postgres://USER@HOST:PORT/DB, password_file: FILE }})");
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            // A long-lived process, as the server is: its rollouts reuse a host's connection for ssh.keep_open.
            var transports = new TransportPool(session.Transports(), config.Ssh.KeepOpen, session.Time);
            await using var closeTransports = transports.ConfigureAwait(false);
            var engines = await session.EnginesAsync(transports, ct).ConfigureAwait(false);
            var jobs = await RolloutJobs.OpenAsync(jobsConfig, new PromotionWorkflow(store, engines, session.Time), store, worker: true, ct, session.Time).ConfigureAwait(false);
            await using (jobs.ConfigureAwait(false))
            {
                await session.AuditAsync("worker.start", JobStoreSchema.Shown(jobsConfig), $"node {jobs.InstanceId}", cancellationToken: ct).ConfigureAwait(false);
                session.Ui.Say($"worker {jobs.InstanceId} runs rollout jobs from {JobStoreSchema.Shown(jobsConfig)} (check-in every {jobsConfig.Checkin.TotalSeconds:0}s); stop with Ctrl-C");
                try
                {
                    await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    session.Ui.Say($"worker {jobs.InstanceId} stopping: rollouts running here stop where they stand and return to the cluster");
                }
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
