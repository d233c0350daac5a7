using Npgsql;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Databases;

/// <summary>The engine contract against a private PostgreSQL 15 started for this class: both engines are held to one contract.</summary>
public sealed class PostgresEngineTests(PostgresFixture pg) : DatabaseEngineContract, IClassFixture<PostgresFixture>
{
    protected override void EnsureAvailable() => pg.EnsureAvailable();

    protected override Task<string> FreshAsync(string name) => pg.FreshDatabaseAsync(name);

    protected override Task ExecAsync(string name, string sql) => pg.ExecuteAsync(sql, name);

    protected override async Task<long> CountAsync(string name, string table)
    {
        await using var conn = new NpgsqlConnection(pg.ConnectionStringFor(name));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT count(*) FROM {table}", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
