using Stageproof.Core;
using Stageproof.Core.Configuration;

namespace Stageproof.Hosts.Transports;

/// <summary>What one host gave back from a fan-out: a value, or the infrastructure failure that stopped it.</summary>
public sealed record HostOutcome<T>(HostConfig Host, T? Value, InfrastructureException? Error)
{
    public bool Succeeded => Error is null;
}

/// <summary>Progress of a fan-out, reported each time a host finishes.</summary>
public sealed record FanoutProgress(int Done, int Total, string Host, bool Succeeded);

/// <summary>Runs one operation over many hosts with bounded parallelism; one host failing never stops the others.</summary>
public static class HostFanout
{
    /// <summary>
    /// Runs <paramref name="action"/> for every host, at most <see cref="SshSettings.Parallelism"/> at once, and returns
    /// one outcome per host in the order given. An <see cref="InfrastructureException"/> becomes that host's outcome.
    /// Any other exception is a bug: the remaining hosts still finish, then those exceptions are thrown together.
    /// Cancellation of <paramref name="cancellationToken"/> stops starting new hosts and propagates.
    /// </summary>
    public static Task<IReadOnlyList<HostOutcome<T>>> RunAsync<T>(
        IReadOnlyList<HostConfig> hosts,
        SshSettings settings,
        Func<HostConfig, CancellationToken, Task<T>> action,
        Action<FanoutProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return RunAsync(hosts, settings.Parallelism, action, progress, cancellationToken);
    }

    public static async Task<IReadOnlyList<HostOutcome<T>>> RunAsync<T>(
        IReadOnlyList<HostConfig> hosts,
        int parallelism,
        Func<HostConfig, CancellationToken, Task<T>> action,
        Action<FanoutProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(action);
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelism, 1);

        var outcomes = new HostOutcome<T>?[hosts.Count];
        var unexpected = new List<Exception>();
        var done = 0;
        var progressLock = new object();
        var options = new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken };

        await Parallel.ForEachAsync(Enumerable.Range(0, hosts.Count), options, async (index, token) =>
        {
            var host = hosts[index];
            HostOutcome<T> outcome;
            try
            {
                outcome = new HostOutcome<T>(host, await action(host, token).ConfigureAwait(false), null);
            }
            catch (InfrastructureException e)
            {
                outcome = new HostOutcome<T>(host, default, e);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
#pragma warning disable CA1031 // Bugs are collected so that hosts already in flight finish; rethrown below.
            catch (Exception e)
#pragma warning restore CA1031
            {
                lock (unexpected)
                {
                    unexpected.Add(e);
                }
                outcome = new HostOutcome<T>(host, default, new InfrastructureException(host.Name, $"unexpected error: {e.Message}", e));
            }
            outcomes[index] = outcome;
            if (progress is not null)
            {
                // Under a lock so that callbacks arrive one at a time with Done counting up.
                lock (progressLock)
                {
                    progress(new FanoutProgress(++done, hosts.Count, host.Name, outcome.Succeeded));
                }
            }
        }).ConfigureAwait(false);

        if (unexpected.Count > 0)
        {
            throw new AggregateException("unexpected errors while running over hosts", unexpected);
        }
        return outcomes.Select(o => o!).ToList();
    }
}
