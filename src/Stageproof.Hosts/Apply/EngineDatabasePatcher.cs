using Stageproof.Core.Patches;
using Stageproof.Hosts.Databases;

namespace Stageproof.Hosts.Apply;

/// <summary>
/// The engine's database side for an estate of several engines: every call goes to the adapter the connection
/// string's engine names (<see cref="DatabaseAdapters"/>), with the bare connection string.
/// </summary>
public sealed class EngineDatabasePatcher(TimeProvider? time = null) : IDatabasePatcher
{
    private readonly DatabaseAdapters _adapters = new(time);

    private (IDatabasePatcher Patcher, string ConnectionString) For(string endpoint)
    {
        var (adapter, connectionString) = _adapters.For(endpoint);
        return (adapter.Patcher, connectionString);
    }

    public Task<DatabaseMigrationPlan> PlanAsync(string connectionString, PatchMigration migration, CancellationToken cancellationToken)
    {
        var (p, cs) = For(connectionString);
        return p.PlanAsync(cs, migration, cancellationToken);
    }

    public Task<IReadOnlyList<string>> MigrateAsync(string connectionString, PatchMigration migration, string patchDigest, string actor,
        CancellationToken cancellationToken)
    {
        var (p, cs) = For(connectionString);
        return p.MigrateAsync(cs, migration, patchDigest, actor, cancellationToken);
    }

    public Task<DatabasePoint> CreatePointAsync(string database, string connectionString, string directory, CancellationToken cancellationToken)
    {
        var (p, cs) = For(connectionString);
        return p.CreatePointAsync(database, cs, directory, cancellationToken);
    }

    public Task<bool> SchemaChangedAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var (p, cs) = For(connectionString);
        return p.SchemaChangedAsync(point, cs, cancellationToken);
    }

    public Task<IReadOnlyList<string>> WritesSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var (p, cs) = For(connectionString);
        return p.WritesSinceAsync(point, cs, cancellationToken);
    }

    public Task RestoreAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var (p, cs) = For(connectionString);
        return p.RestoreAsync(point, cs, cancellationToken);
    }

    public Task<IReadOnlyList<Core.Manifests.MigrationRecord>?> MigrationsSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var (p, cs) = For(connectionString);
        return p.MigrationsSinceAsync(point, cs, cancellationToken);
    }

    public Task<IReadOnlyList<Core.Stage.TableRows>> RowsSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var (p, cs) = For(connectionString);
        return p.RowsSinceAsync(point, cs, cancellationToken);
    }

    public Task<string?> RunDownScriptAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        var (p, cs) = For(connectionString);
        return p.RunDownScriptAsync(cs, sql, cancellationToken);
    }
}
