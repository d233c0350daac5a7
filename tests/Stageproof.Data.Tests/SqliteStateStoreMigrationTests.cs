using Microsoft.Data.Sqlite;
using Stageproof.Core;
using Stageproof.Data.Internal;

namespace Stageproof.Data.Tests;

public sealed class SqliteStateStoreMigrationTests : IDisposable
{
    private readonly TestState _state = new();

    public void Dispose() => _state.Dispose();

    private async Task<List<long>> AppliedVersionsAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={_state.DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT version FROM schema_version ORDER BY version";
        var versions = new List<long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            versions.Add(reader.GetInt64(0));
        }
        return versions;
    }

    private async Task<string> PragmaAsync(string name)
    {
        await using var connection = new SqliteConnection($"Data Source={_state.DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA {name}";
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    [Fact]
    public async Task Opening_creates_the_state_directory_and_a_database_in_wal_mode()
    {
        Assert.False(Directory.Exists(_state.Directory));

        await using var store = await _state.OpenAsync();

        Assert.True(File.Exists(_state.DatabasePath));
        Assert.Equal(_state.DatabasePath, store.DatabasePath);
        Assert.Equal("wal", await PragmaAsync("journal_mode"));
    }

    [Fact]
    public async Task Every_migration_is_applied_once_and_reopening_applies_none_again()
    {
        await (await _state.OpenAsync()).DisposeAsync();
        var first = await AppliedVersionsAsync();
        await (await _state.OpenAsync()).DisposeAsync();
        await (await _state.OpenAsync()).DisposeAsync();

        Assert.Equal(Enumerable.Range(1, SqliteSchema.LatestVersion).Select(v => (long)v), first);
        Assert.Equal(first, await AppliedVersionsAsync());
    }

    [Fact]
    public async Task A_new_migration_is_applied_on_the_next_open_and_only_that_one()
    {
        await (await _state.OpenAsync()).DisposeAsync();
        List<string> migrations = [.. SqliteSchema.Migrations, "CREATE TABLE a_future_table (id TEXT PRIMARY KEY)"];

        for (var i = 0; i < 2; i++)
        {
            await using var connection = new SqliteConnection($"Data Source={_state.DatabasePath};Pooling=False");
            await connection.OpenAsync();
            await SqliteSchema.MigrateAsync(connection, _state.DatabasePath, _state.Clock, migrations, CancellationToken.None);
        }

        Assert.Equal(Enumerable.Range(1, migrations.Count).Select(v => (long)v), await AppliedVersionsAsync());
    }

    [Fact]
    public async Task A_failing_migration_leaves_no_trace_of_itself()
    {
        await (await _state.OpenAsync()).DisposeAsync();
        List<string> migrations = [.. SqliteSchema.Migrations, "CREATE TABLE half_done (id TEXT); SELECT * FROM no_such_table;"];

        await using (var connection = new SqliteConnection($"Data Source={_state.DatabasePath};Pooling=False"))
        {
            await connection.OpenAsync();
            await Assert.ThrowsAsync<SqliteException>(() =>
                SqliteSchema.MigrateAsync(connection, _state.DatabasePath, _state.Clock, migrations, CancellationToken.None));
        }

        Assert.Equal(SqliteSchema.LatestVersion, (await AppliedVersionsAsync()).Count);
        Assert.Equal(0L, long.Parse(await ScalarAsync("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'"), System.Globalization.CultureInfo.InvariantCulture));
    }

    private async Task<string> ScalarAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={_state.DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    [Fact]
    public async Task A_database_from_a_newer_stageproof_is_refused_with_a_message_naming_it()
    {
        await (await _state.OpenAsync()).DisposeAsync();
        await _state.ExecuteRawAsync("INSERT INTO schema_version (version, applied_at) VALUES (999, '2030-01-01T00:00:00Z')");

        var error = await Assert.ThrowsAsync<InputException>(() => _state.OpenAsync());

        Assert.Contains(_state.DatabasePath, error.Message, StringComparison.Ordinal);
        Assert.Contains("schema version 999 is newer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_is_not_a_database_is_refused_with_a_message_naming_it()
    {
        Directory.CreateDirectory(_state.Directory);
        await File.WriteAllTextAsync(_state.DatabasePath, new string('x', 4096));

        var error = await Assert.ThrowsAsync<InputException>(() => _state.OpenAsync());

        Assert.Contains(_state.DatabasePath, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_stores_opening_a_fresh_directory_at_once_both_succeed()
    {
        var opens = await Task.WhenAll(Task.Run(_state.OpenAsync), Task.Run(_state.OpenAsync));
        foreach (var store in opens)
        {
            await store.DisposeAsync();
        }

        Assert.Equal(SqliteSchema.LatestVersion, (await AppliedVersionsAsync()).Count);
    }
}
