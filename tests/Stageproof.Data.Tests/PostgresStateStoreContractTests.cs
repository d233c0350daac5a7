using Npgsql;
using Stageproof.Core.Audit;
using Stageproof.Core.State;
using Stageproof.Data.Tests.Contract;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Data.Tests;

/// <summary>A private PostgreSQL server on this worktree's loopback addresses (127.0.17.1-50), one per test class.</summary>
public sealed class StatePostgresFixture : PostgresFixture
{
    public StatePostgresFixture()
        : base("127.0.17.", 1, 50)
    {
    }
}

/// <summary>The store contract on PostgreSQL: a private server for the class, a fresh database per test.</summary>
public sealed class PostgresStateStoreContractTests(StatePostgresFixture pg, ITestOutputHelper output)
    : StateStoreContract, IClassFixture<StatePostgresFixture>
{
    private readonly string _database = "state_" + Guid.NewGuid().ToString("N");
    private string _connectionString = "";

    public override async Task InitializeAsync()
    {
        // Without a server (no root, no binaries) each test skips in its body, or fails there under CI=true.
        if (pg.UnavailableReason is null)
        {
            _connectionString = await pg.CreateDatabaseAsync(_database);
        }
    }

    public override async Task DisposeAsync()
    {
        if (_connectionString.Length > 0)
        {
            await pg.DropDatabaseAsync(_database);
        }
    }

    private string Location => $"postgres://postgres@{pg.Address}:{pg.Port}/{_database}";

    protected override async Task<IStateStore> OpenAsync()
    {
        pg.EnsureAvailable();
        return await PostgresStateStore.OpenAsync(Pooled(), Location, Clock);
    }

    protected override async Task<IStateStore> OpenKeyedAsync(AuditKey key)
    {
        pg.EnsureAvailable();
        return await PostgresStateStore.OpenAsync(Pooled(), Location, Clock, _ => key);
    }

    /// <summary>The store pools its connections, as in production (the fixture's own strings do not).</summary>
    private string Pooled() => new NpgsqlConnectionStringBuilder(_connectionString) { Pooling = true }.ConnectionString;

    protected override string DropPatchSetGuardSql => "DROP TRIGGER patch_sets_immutable ON patch_sets";

    protected override void Report(string line) => output.WriteLine(line);

    protected override async Task<int> ExecuteRawAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync();
    }

    protected override async Task<string> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }
}
