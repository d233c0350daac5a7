using Stageproof.Core.Patches;

namespace Stageproof.Hosts.Apply;

/// <summary>A database's migrations: those already applied with the same checksum, and those still to run.</summary>
public sealed record DatabaseMigrationPlan(IReadOnlyList<string> Applied, IReadOnlyList<string> Pending);

/// <summary>The database side of applying and rolling back: migrations with a checksummed history, and dumps.</summary>
public interface IDatabasePatcher
{
    /// <exception cref="Core.InputException">An applied migration's checksum changed (file and both checksums named).</exception>
    Task<DatabaseMigrationPlan> PlanAsync(string connectionString, PatchMigration migration, CancellationToken cancellationToken);

    /// <summary>Applies the pending scripts in order; returns the files applied.</summary>
    Task<IReadOnlyList<string>> MigrateAsync(string connectionString, PatchMigration migration, string patchDigest, string actor, CancellationToken cancellationToken);

    Task<DatabasePoint> CreatePointAsync(string database, string connectionString, string directory, CancellationToken cancellationToken);

    /// <summary>Whether the schema or the migration history changed since the point (Auto then restores).</summary>
    Task<bool> SchemaChangedAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken);

    /// <summary>"table: N row(s) written since the point, M removed or replaced" for each table written since the point.</summary>
    Task<IReadOnlyList<string>> WritesSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken);

    Task RestoreAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken);

    /// <summary>The migration history's rows added since the point, oldest first; null when the point did not record its history.</summary>
    Task<IReadOnlyList<Core.Manifests.MigrationRecord>?> MigrationsSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken);

    /// <summary>Each table's exact row count at the point and now, for the tables the point counted (data continuity).</summary>
    Task<IReadOnlyList<Core.Stage.TableRows>> RowsSinceAsync(DatabasePoint point, string connectionString, CancellationToken cancellationToken);

    /// <summary>Runs a declared down script in one transaction; null when it committed, else the server's error (nothing changed).</summary>
    Task<string?> RunDownScriptAsync(string connectionString, string sql, CancellationToken cancellationToken);
}
