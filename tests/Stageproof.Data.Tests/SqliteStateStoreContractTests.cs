using Microsoft.Data.Sqlite;
using Stageproof.Core.Audit;
using Stageproof.Core.State;
using Stageproof.Data.Tests.Contract;
using Xunit.Abstractions;
using Stageproof.Testing;

namespace Stageproof.Data.Tests;

/// <summary>The store contract on SQLite: a scratch state directory per test.</summary>
public sealed class SqliteStateStoreContractTests(ITestOutputHelper output) : StateStoreContract
{
    private readonly string _directory = ScratchDirectory.NewPath("stageproof-data-");

    private string DatabasePath => Path.Combine(_directory, SqliteStateStore.DatabaseFileName);

    protected override async Task<IStateStore> OpenAsync() => await SqliteStateStore.OpenAsync(_directory, Clock);

    protected override async Task<IStateStore> OpenKeyedAsync(AuditKey key)
    {
        var store = await SqliteStateStore.OpenAsync(_directory, Clock);
        store.AuditKey = key;
        return store;
    }

    protected override string DropPatchSetGuardSql => "DROP TRIGGER patch_sets_immutable";

    protected override void Report(string line) => output.WriteLine(line);

    protected override async Task<int> ExecuteRawAsync(string sql)
    {
        await using var connection = Connect();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteNonQueryAsync();
    }

    protected override async Task<string> ScalarAsync(string sql)
    {
        await using var connection = Connect();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    private SqliteConnection Connect() =>
        new(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());

    public override Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
        return Task.CompletedTask;
    }
}
