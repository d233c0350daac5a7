using System.Diagnostics;
using MySqlConnector;
using Stageproof.Core;
using Stageproof.Core.Patches;

namespace Stageproof.Hosts.Databases;

/// <summary>
/// Applies the ordered SQL files of a patch set to one MariaDB (or MySQL) database with the semantics of
/// <see cref="PostgresMigrator"/>: a history table <c>stageproof_schema_history</c> in the connection's database records
/// every applied script with its SHA-256; an applied script whose checksum differs is refused; a row recorded as failed
/// is refused until an operator removes it; a script listed before an applied one is refused (no out-of-order);
/// concurrent runs are serialised by a named lock (GET_LOCK).
/// </summary>
/// <remarks>
/// <para>
/// MariaDB commits implicitly before and after every DDL statement (CREATE, ALTER, DROP, RENAME, TRUNCATE…), so a
/// script cannot be all-or-nothing as on PostgreSQL. Each script runs inside one transaction with its history row, and
/// what that buys depends on where it fails:
/// </para>
/// <list type="bullet">
/// <item>no DDL of it had run (the schema fingerprint is as before the script): the rollback took everything, no row is
/// written, and the fixed script can simply be applied again;</item>
/// <item>DDL of it had run: the DML since the last DDL is rolled back, but the DDL (and what it committed) stays. The
/// database is half-migrated, so a history row with <c>success = false</c> is written and every later run is refused until
/// an operator repairs the database and deletes that row — never a silent re-run of DDL that already happened. Keep one
/// DDL statement per script, first, to make a failure all-or-nothing.</item>
/// </list>
/// <para>The script is sent to the server as written (multi-statement); the server parses compound statements
/// (<c>CREATE TRIGGER … BEGIN …; END</c>) itself, so the client-side <c>DELIMITER</c> command is not used.</para>
/// </remarks>
public sealed class MariaDbMigrator
{
    public const string HistoryTable = PostgresMigrator.HistoryTable;

    /// <summary>The named lock every Stageproof migration run takes on the server, per database.</summary>
    public const string LockPrefix = "stageproof_migrate:";

    private const string CreateHistory = $"""
        CREATE TABLE IF NOT EXISTS {HistoryTable} (
            installed_rank INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            script VARCHAR(1024) NOT NULL,
            checksum VARCHAR(128) NOT NULL,
            applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            applied_by VARCHAR(255) NOT NULL,
            patch_digest VARCHAR(128) NULL,
            execution_ms INT NOT NULL,
            success BOOLEAN NOT NULL) ENGINE=InnoDB
        """;

    /// <summary>Which scripts are applied and which are pending. Read only (the history table is not created).</summary>
    /// <exception cref="InputException">A script is not frozen, an applied script's checksum changed, or a failed row exists.</exception>
    /// <exception cref="InfrastructureException">The database cannot be reached.</exception>
    public async Task<MigrationPlan> PlanAsync(string connectionString, PatchMigration migration, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(migration);
        var csb = MariaDbConnections.Parse(connectionString, migration.Database);
        PostgresMigrator.Validate(migration);
        try
        {
            await using var connection = await OpenAsync(csb, cancellationToken).ConfigureAwait(false);
            return PostgresMigrator.Plan(migration, await HistoryAsync(connection, cancellationToken).ConfigureAwait(false), HistoryTable);
        }
        catch (MySqlException e)
        {
            throw new InfrastructureException(MariaDbConnections.Where(csb), MariaDbConnections.Redact(e.Message, csb.Password), e);
        }
    }

    /// <summary>Applies the pending scripts in order, creating the history table when absent, under the named lock.</summary>
    /// <exception cref="MigrationFailedException">A script failed (see the remarks for what of it stays).</exception>
    /// <exception cref="InputException">As <see cref="PlanAsync"/>.</exception>
    /// <exception cref="InfrastructureException">The database cannot be reached, or the lock was not granted within a minute.</exception>
    public async Task<MigrationOutcome> ApplyAsync(string connectionString, PatchMigration migration, string patchDigest, string actor,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(migration);
        ArgumentNullException.ThrowIfNull(patchDigest);
        ArgumentNullException.ThrowIfNull(actor);
        var csb = MariaDbConnections.Parse(connectionString, migration.Database);
        var target = MariaDbConnections.Where(csb);
        PostgresMigrator.Validate(migration);
        var appliedNow = new List<AppliedMigration>();
        try
        {
            await using var connection = await OpenAsync(csb, cancellationToken).ConfigureAwait(false);
            var lockName = LockPrefix + csb.Database;
            await using (var take = new MySqlCommand("SELECT GET_LOCK(@name, 60)", connection))
            {
                take.Parameters.AddWithValue("@name", lockName);
                if (Convert.ToInt64(await take.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) ?? 0L, System.Globalization.CultureInfo.InvariantCulture) != 1)
                {
                    throw new InfrastructureException(target, $"database {migration.Database}: another migration run holds the lock {lockName} (waited 60 s)");
                }
            }
            try
            {
                await ExecAsync(connection, CreateHistory, cancellationToken).ConfigureAwait(false);
                var plan = PostgresMigrator.Plan(migration, await HistoryAsync(connection, cancellationToken).ConfigureAwait(false), HistoryTable);
                foreach (var script in plan.Pending)
                {
                    appliedNow.Add(await ApplyOneAsync(connection, migration.Database, script, patchDigest, actor, appliedNow, cancellationToken)
                        .ConfigureAwait(false));
                }
                return new MigrationOutcome(migration.Database, plan.Applied, appliedNow);
            }
            finally
            {
                try
                {
                    await using var release = new MySqlCommand("SELECT RELEASE_LOCK(@name)", connection);
                    release.Parameters.AddWithValue("@name", lockName);
                    await release.ExecuteScalarAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (MySqlException)
                {
                    // The session's end releases it too.
                }
                catch (InvalidOperationException)
                {
                }
            }
        }
        catch (MySqlException e)
        {
            var kept = appliedNow.Count == 0 ? "" : $"; applied before the failure in this run (and kept): {string.Join(", ", appliedNow.Select(a => a.Script))}";
            throw new InfrastructureException(target, $"database {migration.Database}: {MariaDbConnections.Redact(e.Message, csb.Password)}{kept}", e);
        }
    }

    private static async Task<AppliedMigration> ApplyOneAsync(MySqlConnection connection, string database, PatchMigrationScript script,
        string patchDigest, string actor, List<AppliedMigration> appliedBefore, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        // The fingerprint before the script tells, if it fails, whether DDL of it committed (see the class remarks).
        var before = (await Facts.MariaDbFactsCollector.CollectOnAsync(connection, database, ct).ConfigureAwait(false)).Schema.Digest;
        await using (var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false))
        {
            try
            {
                await using (var cmd = new MySqlCommand(script.Sql, connection, tx) { CommandTimeout = 0 })
                {
                    await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                var ms = (int)Math.Min(int.MaxValue, sw.ElapsedMilliseconds);
                var row = await InsertHistoryAsync(connection, tx, script.File, script.Sha256!, actor, patchDigest, ms, success: true, ct).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return row;
            }
            catch (MySqlException e)
            {
                await tx.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                var state = e.SqlState ?? ((int)e.ErrorCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
                var after = (await Facts.MariaDbFactsCollector.CollectOnAsync(connection, database, CancellationToken.None).ConfigureAwait(false)).Schema.Digest;
                if (after == before)
                {
                    // No DDL of it committed: the rollback took everything it did, as on PostgreSQL.
                    throw new MigrationFailedException(database, script.File, state, e.Message, null, null, appliedBefore.ToList(), e);
                }
                // DDL before the failing statement committed implicitly and cannot be rolled back: half applied.
                await InsertHistoryAsync(connection, null, script.File, script.Sha256!, actor, patchDigest,
                    (int)Math.Min(int.MaxValue, sw.ElapsedMilliseconds), success: false, CancellationToken.None).ConfigureAwait(false);
                throw new MigrationFailedException(database, script.File, state,
                    $"{e.Message}; the schema changed before it failed (MariaDB commits DDL implicitly), so the script is half applied: " +
                    $"recorded as failed in {HistoryTable}, repair the database and delete that row before applying again",
                    null, null, appliedBefore.ToList(), e, rolledBackEntirely: false);
            }
        }
    }

    private static async Task<AppliedMigration> InsertHistoryAsync(MySqlConnection connection, MySqlTransaction? tx, string file, string checksum,
        string actor, string patchDigest, int ms, bool success, CancellationToken ct)
    {
        await using var cmd = new MySqlCommand(
            $"""
            INSERT INTO {HistoryTable} (script, checksum, applied_at, applied_by, patch_digest, execution_ms, success)
            VALUES (@script, @checksum, CURRENT_TIMESTAMP(6), @by, @digest, @ms, @success)
            """, connection, tx);
        cmd.Parameters.AddWithValue("@script", file);
        cmd.Parameters.AddWithValue("@checksum", checksum);
        cmd.Parameters.AddWithValue("@by", actor);
        cmd.Parameters.AddWithValue("@digest", patchDigest);
        cmd.Parameters.AddWithValue("@ms", ms);
        cmd.Parameters.AddWithValue("@success", success);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return new AppliedMigration((int)cmd.LastInsertedId, file, checksum, DateTimeOffset.UtcNow, actor, patchDigest, ms, success);
    }

    private static async Task<List<AppliedMigration>> HistoryAsync(MySqlConnection connection, CancellationToken ct)
    {
        var history = new List<AppliedMigration>();
        await using (var exists = new MySqlCommand(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = @t", connection))
        {
            exists.Parameters.AddWithValue("@t", HistoryTable);
            if (Convert.ToInt64(await exists.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) == 0)
            {
                return history;
            }
        }
        await using var cmd = new MySqlCommand(
            $"SELECT installed_rank, script, checksum, applied_at, applied_by, patch_digest, execution_ms, success FROM {HistoryTable} ORDER BY installed_rank",
            connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            history.Add(new AppliedMigration(reader.GetInt32(0), reader.GetString(1), reader.GetString(2),
                new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(3), DateTimeKind.Utc)), reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetInt32(6), reader.GetBoolean(7)));
        }
        return history;
    }

    // Times in the history table are written and read in UTC whatever the server's zone.
    private static async Task<MySqlConnection> OpenAsync(MySqlConnectionStringBuilder csb, CancellationToken ct)
    {
        var connection = new MySqlConnection(csb.ConnectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            await ExecAsync(connection, "SET time_zone = '+00:00'; SET SESSION group_concat_max_len = 16777216", ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task ExecAsync(MySqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new MySqlCommand(sql, connection) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
