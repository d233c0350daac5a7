using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Configuration;
using Stageproof.Core.State;
using Stageproof.Data.Internal;

namespace Stageproof.Data.Tests;

/// <summary>What only the PostgreSQL store has: its schema's migrations, the audit key's id kept in the database, and
/// opening through <see cref="StateStores"/> from a URL.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PostgresStateStoreTests(StatePostgresFixture pg) : IClassFixture<StatePostgresFixture>, IAsyncLifetime
{
    private readonly string _database = "state_" + Guid.NewGuid().ToString("N");
    private readonly string _keys = Directory.CreateTempSubdirectory("stageproof-keys-").FullName;
    private readonly FakeClock _clock = new();
    private string _connectionString = "";

    public async Task InitializeAsync()
    {
        if (pg.UnavailableReason is null)
        {
            _connectionString = await pg.CreateDatabaseAsync(_database);
        }
    }

    public async Task DisposeAsync()
    {
        Directory.Delete(_keys, recursive: true);
        if (_connectionString.Length > 0)
        {
            await pg.DropDatabaseAsync(_database);
        }
    }

    private StateLocation Location => StateLocation.Parse($"postgres://postgres@{pg.Address}:{pg.Port}/{_database}", "test", "/");

    private Task<PostgresStateStore> OpenAsync(Func<string?, AuditKey>? key = null)
    {
        pg.EnsureAvailable();
        return PostgresStateStore.OpenAsync(_connectionString, Location.ToString(), _clock, key);
    }

    private async Task<List<int>> AppliedVersionsAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT version FROM schema_version ORDER BY version", connection);
        var versions = new List<int>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            versions.Add(reader.GetInt32(0));
        }
        return versions;
    }

    [SkippableFact]
    public async Task Every_migration_is_applied_once_and_reopening_applies_none_again()
    {
        await (await OpenAsync()).DisposeAsync();
        var first = await AppliedVersionsAsync();
        await (await OpenAsync()).DisposeAsync();

        Assert.Equal(Enumerable.Range(1, PostgresSchema.LatestVersion), first);
        Assert.Equal(first, await AppliedVersionsAsync());
    }

    [SkippableFact]
    public async Task Eight_stores_opening_a_fresh_database_at_once_all_succeed_and_migrate_it_once()
    {
        pg.EnsureAvailable();
        var stores = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => OpenAsync())));
        foreach (var store in stores)
        {
            await store.DisposeAsync();
        }
        Assert.Equal(Enumerable.Range(1, PostgresSchema.LatestVersion), await AppliedVersionsAsync());
    }

    [SkippableFact]
    public async Task A_failing_migration_leaves_no_trace_of_itself_or_of_the_ones_before_it_in_the_same_open()
    {
        pg.EnsureAvailable();
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        var migrations = new List<string>(PostgresSchema.Migrations) { "CREATE TABLE extra (id int)", "CREATE TABLE broken (" };

        await Assert.ThrowsAsync<PostgresException>(() => PostgresSchema.MigrateAsync(connection, "test", _clock, migrations, CancellationToken.None));

        // Not even schema_version: the whole open was one transaction.
        await using var check = new NpgsqlCommand("SELECT count(*) FROM pg_tables WHERE tablename IN ('extra', 'manifests', 'schema_version')", connection);
        Assert.Equal(0L, await check.ExecuteScalarAsync());
    }

    [SkippableFact]
    public async Task A_database_from_a_newer_stageproof_is_refused_with_a_message_naming_it()
    {
        await (await OpenAsync()).DisposeAsync();
        await pg.ExecuteAsync("INSERT INTO schema_version (version, applied_at) VALUES (99, 'later')", _database);

        var error = await Assert.ThrowsAsync<InputException>(() => OpenAsync());

        Assert.Contains(Location.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains("schema version 99 is newer", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_first_key_is_recorded_by_id_and_a_machine_with_another_key_is_refused_naming_both()
    {
        var first = new AuditKey(Enumerable.Repeat((byte)1, 32).ToArray());
        var other = new AuditKey(Enumerable.Repeat((byte)2, 32).ToArray());
        await using (var store = await OpenAsync(_ => first))
        {
            await store.AppendAsync(new AuditEvent { Actor = "alice", Action = "config.init", Target = "stageproof.yaml" });
            Assert.Equal(first.Id, await store.AuditKeyIdAsync());
        }

        var error = await Assert.ThrowsAsync<InputException>(() => OpenAsync(_ => other));

        Assert.Contains($"sealed under audit key {first.Id}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"the audit key here is {other.Id}", error.Message, StringComparison.Ordinal);
        await using var again = await OpenAsync(_ => first);
        Assert.True((await again.VerifyAuditAsync()).IsOk);
    }

    [SkippableFact]
    public async Task Through_StateStores_the_key_file_is_created_0600_on_first_use_and_a_missing_key_later_is_refused_not_recreated()
    {
        pg.EnsureAvailable();
        var keyFile = Path.Combine(_keys, "audit.key");
        var settings = new StateSettings { AuditKeyFile = keyFile };

        string keyId;
        await using (var store = await StateStores.OpenAsync(Location, settings, _clock))
        {
            Assert.IsType<PostgresStateStore>(store);
            await store.AppendAsync(new AuditEvent { Actor = "alice", Action = "config.init", Target = "stageproof.yaml" });
            keyId = store.AuditKey!.Id;
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));

        File.Move(keyFile, keyFile + ".elsewhere");
        var error = await Assert.ThrowsAsync<InputException>(() => StateStores.OpenAsync(Location, settings, _clock));
        Assert.Contains($"audit key {keyFile} is missing", error.Message, StringComparison.Ordinal);
        Assert.Contains(keyId, error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(keyFile));

        File.Move(keyFile + ".elsewhere", keyFile);
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var shared = await Assert.ThrowsAsync<InputException>(() => StateStores.OpenAsync(Location, settings, _clock));
        Assert.Contains("may be read by others (mode 0604)", shared.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task An_unreachable_server_is_an_infrastructure_error_naming_the_state_url()
    {
        pg.EnsureAvailable();
        // Port 1 on this worktree's address: nothing listens there.
        var nowhere = StateLocation.Parse($"postgres://postgres@{pg.Address}:1/{_database}", "test", "/");

        var error = await Assert.ThrowsAsync<InfrastructureException>(() =>
            StateStores.OpenAsync(nowhere, new StateSettings { AuditKeyFile = Path.Combine(_keys, "k") }, _clock));

        Assert.Equal(ExitCodes.Infrastructure, error.ExitCode);
        Assert.StartsWith($"{nowhere}: cannot open the PostgreSQL state", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void A_password_file_others_may_read_is_refused_and_the_environment_variable_wins_over_the_file()
    {
        var file = Path.Combine(_keys, "pw");
        File.WriteAllText(file, "from-file\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var location = StateLocation.Parse("postgres://stageproof@db.example:5433/state?sslmode=require", "test", "/");
        var settings = new StateSettings { PasswordFile = file };

        var previous = Environment.GetEnvironmentVariable(StateStores.PasswordVariable);
        try
        {
            Environment.SetEnvironmentVariable(StateStores.PasswordVariable, null);
            var fromFile = new NpgsqlConnectionStringBuilder(StateStores.ConnectionString(location, settings));
            Assert.Equal("from-file", fromFile.Password);
            Assert.Equal(SslMode.Require, fromFile.SslMode);
            Assert.Equal(5433, fromFile.Port);

            Environment.SetEnvironmentVariable(StateStores.PasswordVariable, "from-env");
            Assert.Equal("from-env", new NpgsqlConnectionStringBuilder(StateStores.ConnectionString(location, settings)).Password);

            Environment.SetEnvironmentVariable(StateStores.PasswordVariable, null);
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
            var error = Assert.Throws<InputException>(() => StateStores.ConnectionString(location, settings));
            Assert.Contains($"state_password_file {file} may be read by others (mode 0640)", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(StateStores.PasswordVariable, previous);
        }
    }
}
