using System.Globalization;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Databases;

namespace Stageproof.Hosts.Apply;

/// <summary>The engine's database side on MariaDB and MySQL: <see cref="MariaDbMigrator"/> and dump-based <see cref="MariaDbRollbackPoint"/>s.</summary>
public sealed class MariaDbDatabasePatcher(TimeProvider? time = null) : IDatabasePatcher
{
    private readonly MariaDbMigrator _migrator = new();
    private readonly MariaDbRollbackPoint _points = new(time);

    public async Task<DatabaseMigrationPlan> PlanAsync(string connectionString, PatchMigration migration, CancellationToken cancellationToken)
    {
        var plan = await _migrator.PlanAsync(connectionString, migration, cancellationToken).ConfigureAwait(false);
        return new DatabaseMigrationPlan(plan.Applied.Select(a => a.Script).ToList(), plan.Pending.Select(p => p.File).ToList());
    }

    public async Task<IReadOnlyList<string>> MigrateAsync(string connectionString, PatchMigration migration, string patchDigest, string actor,
        CancellationToken cancellationToken)
    {
        var outcome = await _migrator.ApplyAsync(connectionString, migration, patchDigest, actor, cancellationToken).ConfigureAwait(false);
        return outcome.AppliedNow.Select(a => a.Script).ToList();
    }

    public async Task<DatabasePoint> CreatePointAsync(string database, string connectionString, string directory, CancellationToken cancellationToken)
    {
        var point = await _points.CreateAsync(connectionString, directory, cancellationToken).ConfigureAwait(false);
        return new DatabasePoint { Database = database, Directory = directory, SchemaDigest = point.SchemaDigest };
    }

    public async Task<bool> SchemaChangedAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var stored = await PostgresRollbackPoint.LoadAsync(point.Directory, cancellationToken).ConfigureAwait(false);
        return await _points.SchemaChangedSinceAsync(stored, connectionString, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>"table: N row(s) now, M at the point" for each table whose count changed or that was created since.</summary>
    public async Task<IReadOnlyList<string>> WritesSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var stored = await PostgresRollbackPoint.LoadAsync(point.Directory, cancellationToken).ConfigureAwait(false);
        var changes = await _points.RowChangesSinceAsync(stored, connectionString, cancellationToken).ConfigureAwait(false);
        var inv = CultureInfo.InvariantCulture;
        return changes.Where(c => c.Changed).Select(c => c.AtPoint is { } then
            ? $"{c.Table}: {c.Now.ToString(inv)} row(s) now, {then.ToString(inv)} at the point (row counts; an update that keeps the count is not seen)"
            : $"{c.Table}: {c.Now.ToString(inv)} row(s) now (table created since the point)").ToList();
    }

    public async Task RestoreAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var stored = await PostgresRollbackPoint.LoadAsync(point.Directory, cancellationToken).ConfigureAwait(false);
        await _points.RestoreAsync(stored, connectionString, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Core.Manifests.MigrationRecord>?> MigrationsSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var stored = await PostgresRollbackPoint.LoadAsync(point.Directory, cancellationToken).ConfigureAwait(false);
        return await _points.MigrationsSinceAsync(stored, connectionString, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Core.Stage.TableRows>> RowsSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var stored = await PostgresRollbackPoint.LoadAsync(point.Directory, cancellationToken).ConfigureAwait(false);
        return await _points.RowsSinceAsync(stored, connectionString, cancellationToken).ConfigureAwait(false);
    }

    public Task<string?> RunDownScriptAsync(string connectionString, string sql, CancellationToken cancellationToken) =>
        MariaDbRollbackPoint.RunDownScriptAsync(connectionString, sql, cancellationToken);
}
