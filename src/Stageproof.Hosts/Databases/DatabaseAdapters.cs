using Stageproof.Core.Databases;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Facts;

namespace Stageproof.Hosts.Databases;

/// <summary>One database engine's side of Stageproof: its facts and its migrations and rollback points.</summary>
public interface IDatabaseAdapter
{
    DatabaseEngine Engine { get; }

    /// <summary>"PostgreSQL", "MariaDB", "MySQL": as a person names the server.</summary>
    string DisplayName { get; }

    /// <summary>The database's manifest: server version, settings, schema fingerprint, migration history. Read only.</summary>
    Task<Manifest> CollectFactsAsync(string environment, string databaseName, string connectionString, CancellationToken cancellationToken);

    /// <summary>Migrations and rollback points on this engine; takes the bare connection string.</summary>
    IDatabasePatcher Patcher { get; }
}

/// <summary>
/// The one place an engine is chosen: a database's one-string form (<see cref="DatabaseEndpoint"/>) names its engine,
/// and <see cref="For"/> gives that engine's adapter with the bare connection string its driver reads.
/// </summary>
public sealed class DatabaseAdapters(TimeProvider? time = null)
{
    private readonly IDatabaseAdapter _postgres = new PostgresAdapter(time);
    private readonly IDatabaseAdapter _mariaDb = new MariaDbAdapter(DatabaseEngine.MariaDb, "MariaDB", time);
    private readonly IDatabaseAdapter _mySql = new MariaDbAdapter(DatabaseEngine.MySql, "MySQL", time);

    /// <exception cref="Core.InputException">The endpoint names an engine Stageproof does not know.</exception>
    public (IDatabaseAdapter Adapter, string ConnectionString) For(string endpoint)
    {
        var parsed = DatabaseEndpoint.Parse(endpoint);
        return (Of(parsed.Engine), parsed.ConnectionString);
    }

    public IDatabaseAdapter Of(DatabaseEngine engine) => engine switch
    {
        DatabaseEngine.MariaDb => _mariaDb,
        DatabaseEngine.MySql => _mySql,
        _ => _postgres,
    };

    /// <summary>Collects a database's manifest with its engine's adapter.</summary>
    public Task<Manifest> CollectFactsAsync(string environment, string databaseName, string endpoint, CancellationToken cancellationToken)
    {
        var (adapter, connectionString) = For(endpoint);
        return adapter.CollectFactsAsync(environment, databaseName, connectionString, cancellationToken);
    }

    private sealed class PostgresAdapter(TimeProvider? time) : IDatabaseAdapter
    {
        private readonly PostgresFactsCollector _facts = new(time);

        public DatabaseEngine Engine => DatabaseEngine.Postgres;
        public string DisplayName => "PostgreSQL";
        public IDatabasePatcher Patcher { get; } = new PostgresDatabasePatcher(time);

        public Task<Manifest> CollectFactsAsync(string environment, string databaseName, string connectionString, CancellationToken cancellationToken) =>
            _facts.CollectAsync(environment, databaseName, connectionString, cancellationToken);
    }

    private sealed class MariaDbAdapter(DatabaseEngine engine, string displayName, TimeProvider? time) : IDatabaseAdapter
    {
        private readonly MariaDbFactsCollector _facts = new(time);

        public DatabaseEngine Engine => engine;
        public string DisplayName => displayName;
        public IDatabasePatcher Patcher { get; } = new MariaDbDatabasePatcher(time);

        public Task<Manifest> CollectFactsAsync(string environment, string databaseName, string connectionString, CancellationToken cancellationToken) =>
            _facts.CollectAsync(environment, databaseName, connectionString, cancellationToken);
    }
}
