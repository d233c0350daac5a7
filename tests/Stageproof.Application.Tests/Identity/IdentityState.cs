using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using Stageproof.Core.Audit;
using Stageproof.Data;

namespace Stageproof.Application.Tests.Identity;

/// <summary>A scratch state keyed like the CLI's (an audit key, so seals are written and checked), a fake clock, and raw
/// SQL against its database for writing rows outside Stageproof.</summary>
public sealed class IdentityState : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "stageproof-application-tests", Guid.NewGuid().ToString("N"));

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));

    public SqliteStateStore Store { get; private set; } = null!;

    public static async Task<IdentityState> OpenAsync()
    {
        var state = new IdentityState();
        state.Store = await SqliteStateStore.OpenAsync(state._directory, state.Clock);
        state.Store.AuditKey = new AuditKey(RandomNumberGenerator.GetBytes(AuditKey.Length));
        return state;
    }

    /// <summary>Another store over the same state, as a second process opens it (same audit key); the caller disposes it.</summary>
    public async Task<SqliteStateStore> OpenAnotherAsync()
    {
        var store = await SqliteStateStore.OpenAsync(_directory, Clock);
        store.AuditKey = Store.AuditKey;
        return store;
    }

    /// <summary>Runs SQL on the database directly, as someone with file access would.</summary>
    public async Task<int> ExecuteRawAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Store.DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        return await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
