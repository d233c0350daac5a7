using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using Stageproof.Core.State;

namespace Stageproof.Bench.Scale;

/// <summary>
/// An <see cref="IStateStore"/> that passes every call through to the real one and counts it: calls and time from call to
/// completion, by method, reads (Find, List, Latest, Read, Verify) apart from writes (everything else). Time overlaps
/// when calls run at once, so it is the store's share of the engine's waiting, not of the wall clock.
/// </summary>
public class CountingStateStore : DispatchProxy
{
    private IStateStore _inner = null!;
    private readonly ConcurrentDictionary<string, Counter> _byMethod = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _rollouts = new(StringComparer.Ordinal);

    public sealed class Counter
    {
        public long Calls;
        public long Ticks;
        public TimeSpan Time => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref Ticks));
    }

    public static (IStateStore Store, CountingStateStore Counts) Wrap(IStateStore inner)
    {
        var proxy = Create<IStateStore, CountingStateStore>();
        var counting = (CountingStateStore)(object)proxy;
        counting._inner = inner;
        return (proxy, counting);
    }

    public IReadOnlyDictionary<string, Counter> ByMethod => _byMethod;

    /// <summary>The rollouts this process saved at least once (those it ran).</summary>
    public IReadOnlyCollection<string> Rollouts => [.. _rollouts.Keys];

    public static bool IsRead(string method) =>
        method.StartsWith("Find", StringComparison.Ordinal) || method.StartsWith("List", StringComparison.Ordinal)
        || method.StartsWith("Latest", StringComparison.Ordinal) || method.StartsWith("Read", StringComparison.Ordinal)
        || method.StartsWith("Verify", StringComparison.Ordinal) || method.StartsWith("get_", StringComparison.Ordinal);

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (targetMethod.Name == nameof(IStateStore.SaveRolloutAsync) && args is [Core.Rollouts.Rollout rollout, ..])
        {
            _rollouts.TryAdd(rollout.Id, true);
        }
        var counter = _byMethod.GetOrAdd(targetMethod.Name.Replace("Async", "", StringComparison.Ordinal), _ => new Counter());
        var start = Stopwatch.GetTimestamp();
        object? result;
        try
        {
            result = targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
        if (result is Task task)
        {
            task.ContinueWith(_ => Count(counter, start), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        else
        {
            Count(counter, start);
        }
        return result;
    }

    private static void Count(Counter counter, long start)
    {
        Interlocked.Increment(ref counter.Calls);
        Interlocked.Add(ref counter.Ticks, Stopwatch.GetTimestamp() - start);
    }
}
