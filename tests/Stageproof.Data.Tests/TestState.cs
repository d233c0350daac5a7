using Microsoft.Data.Sqlite;
using Stageproof.Core.Audit;
using Stageproof.Testing;

namespace Stageproof.Data.Tests;

/// <summary>A clock that moves only when told to.</summary>
public sealed class FakeClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public static readonly DateTimeOffset Start = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    public FakeClock() : this(Start)
    {
    }

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>A scratch state directory, removed afterwards, and raw SQL against its database for tampering.</summary>
public sealed class TestState : IDisposable
{
    public string Directory { get; } = ScratchDirectory.NewPath("stageproof-data-");

    public FakeClock Clock { get; } = new();

    public string DatabasePath => Path.Combine(Directory, SqliteStateStore.DatabaseFileName);

    public Task<SqliteStateStore> OpenAsync() => SqliteStateStore.OpenAsync(Directory, Clock);

    /// <summary>Runs SQL on the database directly, as someone with file access would.</summary>
    public async Task<int> ExecuteRawAsync(string sql)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>Appends <paramref name="count"/> events one second apart, as "facts.collect prod-app-N".</summary>
    public async Task<IReadOnlyList<AuditEvent>> AppendEventsAsync(SqliteStateStore store, int count)
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

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
