using Stageproof.Core.Audit;
using Stageproof.Core.State;

namespace Stageproof.Data.Tests.Contract;

/// <summary>
/// What every state store promises, whatever holds it: one suite, run once per store by its concrete subclasses
/// (<see cref="SqliteStateStoreContractTests"/>, <see cref="PostgresStateStoreContractTests"/>). Each test gets a state
/// of its own; tampering goes through raw SQL, as someone with write access to the database would.
/// </summary>
public abstract partial class StateStoreContract : IAsyncLifetime
{
    public FakeClock Clock { get; } = new();

    /// <summary>Opens this test's state (another instance each call: several stores may hold it at once).</summary>
    protected abstract Task<IStateStore> OpenAsync();

    /// <summary>Opens this test's state sealed under <paramref name="key"/>, as the entry points open it.</summary>
    protected abstract Task<IStateStore> OpenKeyedAsync(AuditKey key);

    /// <summary>Runs SQL on the state's database directly; the rows it changed.</summary>
    protected abstract Task<int> ExecuteRawAsync(string sql);

    /// <summary>The first column of the first row, as text.</summary>
    protected abstract Task<string> ScalarAsync(string sql);

    /// <summary>SQL that removes the guard against updating frozen patch sets (what an attacker with DDL rights does first).</summary>
    protected abstract string DropPatchSetGuardSql { get; }

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual Task DisposeAsync() => Task.CompletedTask;

    /// <summary>Appends <paramref name="count"/> events one second apart, as "facts.collect prod-app-N".</summary>
    protected async Task<IReadOnlyList<AuditEvent>> AppendEventsAsync(IStateStore store, int count)
    {
        var appended = new List<AuditEvent>();
        for (var i = 1; i <= count; i++)
        {
            Clock.Advance(TimeSpan.FromSeconds(1));
            appended.Add(await store.AppendAsync(new AuditEvent
            {
                Actor = "alice",
                Action = "facts.collect",
                Target = $"prod-app-{i}",
                Reason = i % 3 == 0 ? null : $"INC-{4700 + i}",
                PayloadDigest = i % 2 == 0 ? new string('a', 64) : null,
                Outcome = "ok",
            }));
        }
        return appended;
    }
}
