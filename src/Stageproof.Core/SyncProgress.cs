namespace Stageproof.Core;

/// <summary>Reports on the reporting thread, one report at a time, in the order they come (<see cref="Progress{T}"/>
/// posts each to the thread pool, which may reorder lines and write them after the work went on).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    private readonly Lock _gate = new();

    public void Report(T value)
    {
        lock (_gate)
        {
            report(value);
        }
    }
}
