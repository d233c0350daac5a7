using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Audit;

namespace Stageproof.Data;

/// <summary>What <see cref="StateMigration.CopyAsync"/> did: the rows copied table by table and the chain verified where
/// it arrived — or, when <see cref="Copied"/> is false, nothing copied and the source's failed verification.</summary>
public sealed record StateMigrationResult(bool Copied, IReadOnlyList<(string Table, long Rows)> Tables, AuditVerification Verification);

/// <summary>
/// <c>stageproof state migrate</c>: copies a SQLite state into an empty PostgreSQL state, row for row — the audit chain
/// with its hashes and seals as they are (the same audit key seals both), times and writing order kept — then verifies
/// the chain where it arrived. One PostgreSQL transaction: a failure leaves the target empty.
/// </summary>
public static class StateMigration
{
    /// <summary>Tables in both schemas with the same columns, copied in SQLite's writing order (rowid).</summary>
    private static readonly (string Table, string Columns)[] Tables =
    [
        ("manifests", "digest, target, kind, environment, collected_at, json"),
        ("patch_sets", "digest, id, title, author, frozen_at, json"),
        ("patch_runs", "id, kind, environment, patch_digest, started_at, json"),
        ("rollback_points", "id, environment, patch_digest, created_at, status, json"),
        ("stage_results", "id, environment, patch_digest, verdict, started_at, json"),
        ("users", "name, role, json"),
        ("approvals", "id, patch_digest, environment, approver, at, json"),
        ("rollouts", "id, environment, patch_digest, status, created_at, json"),
        ("rollout_locks", "environment, rollout_id, process_id, machine, acquired_at, heartbeat_at, heartbeat_ms"),
        ("api_tokens", "id, user_name, json"),
        ("passwords", "user_name, json"),
        ("login_states", "user_name, json"),
        ("webhook_deliveries", "id, webhook, event, status, created_at, json"),
        ("audit_events", "seq, time, actor, action, target, reason, payload_digest, outcome, prev_hash, hash, seal"),
    ];

    /// <summary>
    /// Copies <paramref name="from"/> into <paramref name="to"/>. The source must verify first (a tampered chain is not
    /// carried over as if it were sound); the target must hold no record at all.
    /// </summary>
    /// <exception cref="InputException">The target is not empty, or the two are sealed under different keys.</exception>
    public static async Task<StateMigrationResult> CopyAsync(SqliteStateStore from, PostgresStateStore to, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        if (from.AuditKey?.Id != to.AuditKey?.Id)
        {
            throw new InputException($"{from.Location} is sealed under audit key {from.AuditKey?.Id ?? "(none)"}, {to.Location} under {to.AuditKey?.Id ?? "(none)"}: both must use the same key");
        }
        var source = await from.VerifyAuditAsync(cancellationToken).ConfigureAwait(false);
        if (!source.IsOk)
        {
            // A tampered chain is not carried over as if it were sound: the finding is the answer, nothing is copied.
            return new StateMigrationResult(false, [], source);
        }
        var head = await from.ReadAuditHeadAsync(cancellationToken).ConfigureAwait(false);

        var copied = new List<(string, long)>();
        AuditVerification? arrived = null;
        var sqlite = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = from.DatabasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await using (sqlite.ConfigureAwait(false))
        {
            await sqlite.OpenAsync(cancellationToken).ConfigureAwait(false);
            // One read transaction: a snapshot of the source, even while someone still writes to it.
            using var read = sqlite.BeginTransaction(deferred: true);
            await to.InTransactionAsync(async (pg, tx) =>
            {
                var found = new List<string>();
                foreach (var (table, _) in Tables)
                {
                    var rows = await pg.ExecuteScalarAsync<long>(new CommandDefinition($"SELECT count(*) FROM {table}", transaction: tx,
                        cancellationToken: cancellationToken)).ConfigureAwait(false);
                    if (rows > 0)
                    {
                        found.Add($"{rows} {table}");
                    }
                }
                if (found.Count > 0)
                {
                    throw new InputException($"--to {to.Location}: the target state is not empty ({string.Join(", ", found)}); migrate only into an empty database");
                }
                foreach (var (table, columns) in Tables)
                {
                    copied.Add((table, await CopyTableAsync(sqlite, read, pg, tx, table, columns, cancellationToken).ConfigureAwait(false)));
                }
                if (head is not null)
                {
                    await pg.ExecuteAsync(new CommandDefinition(
                        "INSERT INTO audit_head (id, count, last_hash, seal) VALUES (1, @Count, @LastHash, @Seal)", head, tx,
                        cancellationToken: cancellationToken)).ConfigureAwait(false);
                }
                // Verified on arrival, before commit: a chain that does not verify where it landed is never committed.
                arrived = await to.VerifyAuditAsync(pg, tx, cancellationToken).ConfigureAwait(false);
                if (!arrived.IsOk || arrived.EventCount != source.EventCount)
                {
                    throw new InvalidOperationException(
                        $"{to.Location}: the copied audit chain does not verify ({arrived.Message}); the source had {source.EventCount} events; nothing was committed");
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        return new StateMigrationResult(true, copied, arrived!);
    }

    private static async Task<long> CopyTableAsync(SqliteConnection sqlite, SqliteTransaction read, NpgsqlConnection pg, NpgsqlTransaction tx,
        string table, string columns, CancellationToken cancellationToken)
    {
        var names = columns.Split(", ");
        await using var select = sqlite.CreateCommand();
        select.Transaction = read;
        select.CommandText = $"SELECT {columns} FROM {table} ORDER BY rowid";
        await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var insert = new NpgsqlCommand(
            $"INSERT INTO {table} ({columns}) VALUES ({string.Join(", ", names.Select((_, i) => $"${i + 1}"))})", pg, tx);
        await using (insert.ConfigureAwait(false))
        {
            long rows = 0;
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                insert.Parameters.Clear();
                for (var i = 0; i < names.Length; i++)
                {
                    insert.Parameters.Add(new NpgsqlParameter { Value = reader.IsDBNull(i) ? DBNull.Value : reader.GetValue(i) });
                }
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                rows++;
            }
            return rows;
        }
    }
}
