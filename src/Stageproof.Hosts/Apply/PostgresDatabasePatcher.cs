using System.Globalization;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Databases;

namespace Stageproof.Hosts.Apply;

/// <summary>The engine's database side on PostgreSQL: <see cref="PostgresMigrator"/> and dump-based <see cref="PostgresRollbackPoint"/>s.</summary>
public sealed class PostgresDatabasePatcher(TimeProvider? time = null) : IDatabasePatcher
{
    private readonly PostgresMigrator _migrator = new();
    private readonly PostgresRollbackPoint _points = new(timeProvider: time);

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

    public async Task<IReadOnlyList<string>> WritesSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken)
    {
        var stored = await PostgresRollbackPoint.LoadAsync(point.Directory, cancellationToken).ConfigureAwait(false);
        var writes = await _points.WritesSinceAsync(stored, connectionString, cancellationToken).ConfigureAwait(false);
        var inv = CultureInfo.InvariantCulture;
        return writes.Where(w => w.Total > 0 || w.CreatedSincePoint).Select(w =>
            $"{w.Table}: {w.Written.ToString(inv)} row(s) written since the point, {w.Removed.ToString(inv)} removed or replaced" +
            (w.CreatedSincePoint ? " (table created since the point)" : "") +
            (w.Exact ? "" : w.CountersReset ? " (from the statistics, at least: counters were reset)" : " (from the statistics)")).ToList();
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
        PostgresRollbackPoint.RunDownScriptAsync(connectionString, sql, cancellationToken);
}
