using System.Diagnostics;
using System.Text.Json;
using Stageproof.Application.Jobs;
using Stageproof.Application.Lifecycle;
using Stageproof.Application.Notifications;
using Stageproof.Core.Configuration;
using Stageproof.Data;

namespace Stageproof.Bench.Scale;

/// <summary>
/// One worker node of the scale benchmark, as a process of its own: what <c>stageproof worker</c> composes (the
/// configuration's PostgreSQL state, the engines, a node of the clustered Quartz.NET job store) with one difference —
/// its hosts are the <see cref="SimulatedEstate"/> instead of SSH — and its state store counted. It reads commands on
/// standard input: <c>stats</c> prints one <c>STATS {json}</c> line (cumulative), <c>stop</c> (or end of input) leaves
/// the cluster and exits.
/// </summary>
internal static class ScaleWorker
{
    public const string Command = "scale-worker";

    public sealed record Stats(
        string Instance, double CpuSeconds, long Commands, double CommandSeconds, double SimulationSeconds, int MaxInFlight,
        long StoreReads, double StoreReadSeconds, long StoreWrites, double StoreWriteSeconds, IReadOnlyList<string> Rollouts,
        IReadOnlyDictionary<string, long> StoreCalls, IReadOnlyDictionary<string, double> StoreSeconds, IReadOnlyDictionary<string, int> HostCommands);

    public static async Task<int> RunAsync(string configPath, int latencyMs)
    {
        // A failure inside a job ends that job (Quartz logs nowhere here): show each distinct one on standard error.
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        AppDomain.CurrentDomain.FirstChanceException += (_, e) =>
        {
            if (e.Exception is Npgsql.NpgsqlException or Core.InfrastructureException or InvalidOperationException or TimeoutException
                && e.Exception is not Npgsql.PostgresException { SqlState: "42P01" or "25P02" } // Quartz probing for its tables
                && seen.TryAdd(e.Exception.GetType().Name + e.Exception.Message, true) && seen.Count <= 20)
            {
                Console.Error.WriteLine($"[{Environment.ProcessId}] {e.Exception.GetType().Name}: {e.Exception.Message}");
            }
        };
        var config = ConfigLoader.Load(configPath);
        var settings = ConfigLoader.LoadStateSettings(configPath);
        var time = TimeProvider.System;
        var real = await StateStores.OpenAsync(settings.Location!, settings, time).ConfigureAwait(false);
        var (store, counts) = CountingStateStore.Wrap(real);
        var estate = new SimulatedEstate(TimeSpan.FromMilliseconds(latencyMs));
        var stateDirectory = Directory.CreateTempSubdirectory("stageproof-scale-worker-").FullName;
        try
        {
            var engines = new EstateEngines(store, config, time, stateDirectory, estate, NullEventPublisher.Instance);
            var jobs = await RolloutJobs.OpenAsync(config.Jobs!, new PromotionWorkflow(store, engines, time), store, worker: true, CancellationToken.None)
                .ConfigureAwait(false);
            await using (jobs.ConfigureAwait(false))
            {
                Console.WriteLine($"READY {jobs.InstanceId}");
                while (await Console.In.ReadLineAsync().ConfigureAwait(false) is { } line && line != "stop")
                {
                    if (line == "stats")
                    {
                        Console.WriteLine("STATS " + JsonSerializer.Serialize(Collect(jobs.InstanceId, estate, counts)));
                    }
                }
            }
        }
        finally
        {
            await real.DisposeAsync().ConfigureAwait(false);
            Directory.Delete(stateDirectory, recursive: true);
        }
        return 0;
    }

    private static Stats Collect(string instance, SimulatedEstate estate, CountingStateStore counts)
    {
        var methods = counts.ByMethod.ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal);
        var reads = methods.Where(m => CountingStateStore.IsRead(m.Key)).ToList();
        var writes = methods.Where(m => !CountingStateStore.IsRead(m.Key)).ToList();
        using var self = Process.GetCurrentProcess();
        return new Stats(instance, self.TotalProcessorTime.TotalSeconds, estate.Commands, estate.CommandTime.TotalSeconds,
            estate.SimulationWork.TotalSeconds, estate.MaxInFlight,
            reads.Sum(m => Interlocked.Read(ref m.Value.Calls)), reads.Sum(m => m.Value.Time.TotalSeconds),
            writes.Sum(m => Interlocked.Read(ref m.Value.Calls)), writes.Sum(m => m.Value.Time.TotalSeconds),
            [.. counts.Rollouts],
            methods.ToDictionary(m => m.Key, m => Interlocked.Read(ref m.Value.Calls), StringComparer.Ordinal),
            methods.ToDictionary(m => m.Key, m => m.Value.Time.TotalSeconds, StringComparer.Ordinal),
            estate.ByCommand.ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal));
    }
}
