using System.Diagnostics;
using Stageproof.Core.Audit;
using Stageproof.Core.State;

namespace Stageproof.Data.Tests.Contract;

public abstract partial class StateStoreContract
{
    public const int ConcurrentWriters = 8;
    public const int EventsPerWriter = 1000;

    /// <summary>Where the contract test prints what it measured (the subclasses pass xunit's output).</summary>
    protected abstract void Report(string line);

    /// <summary>
    /// The chain stays a chain when many processes append at once: eight store instances (each its own connections, as
    /// eight machines or processes would have) append a thousand events each, all at once. None is lost, the sequence is
    /// dense, every writer's events keep their order, and the whole chain verifies under the key.
    /// </summary>
    [SkippableFact]
    public async Task Eight_writers_appending_a_thousand_events_each_at_once_leave_one_dense_chain_that_verifies()
    {
        var key = new AuditKey(Enumerable.Range(40, 32).Select(i => (byte)i).ToArray());
        var stores = new List<IStateStore>();
        for (var i = 0; i < ConcurrentWriters; i++)
        {
            stores.Add(await OpenKeyedAsync(key));
        }
        try
        {
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var writers = stores.Select((store, w) => Task.Run(async () =>
            {
                await start.Task;
                for (var n = 1; n <= EventsPerWriter; n++)
                {
                    await store.AppendAsync(new AuditEvent
                    {
                        Time = FakeClock.Start.AddMilliseconds(n),
                        Actor = $"writer-{w}",
                        Action = "host.contact",
                        Target = $"prod-app-{n}",
                        Outcome = n.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    });
                }
            })).ToList();
            var clock = Stopwatch.StartNew();
            start.SetResult();
            await Task.WhenAll(writers);
            clock.Stop();

            var events = await stores[0].ReadAllAsync();
            var verification = await stores[^1].VerifyAuditAsync();
            Report($"{GetType().Name}: {ConcurrentWriters} writers x {EventsPerWriter} appends in {clock.Elapsed.TotalSeconds:0.0} s " +
                   $"({ConcurrentWriters * EventsPerWriter / clock.Elapsed.TotalSeconds:0} appends/s); verify: {verification.Message}");

            Assert.True(verification.IsOk, verification.Message);
            Assert.Equal(ConcurrentWriters * EventsPerWriter, verification.EventCount);
            Assert.Equal(Enumerable.Range(1, ConcurrentWriters * EventsPerWriter).Select(i => (long)i), events.Select(e => e.Sequence));
            foreach (var byWriter in events.GroupBy(e => e.Actor))
            {
                Assert.Equal(Enumerable.Range(1, EventsPerWriter).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    byWriter.Select(e => e.Outcome));
            }
            Assert.Equal(ConcurrentWriters, events.Select(e => e.Actor).Distinct().Count());
            var head = await stores[0].ReadAuditHeadAsync();
            Assert.Equal(ConcurrentWriters * EventsPerWriter, head?.Count);
            Assert.Equal(events[^1].Hash, head?.LastHash);
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }
}
