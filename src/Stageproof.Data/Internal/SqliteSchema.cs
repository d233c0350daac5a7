using System.Globalization;
using Dapper;
using Microsoft.Data.Sqlite;
using Stageproof.Core;

namespace Stageproof.Data.Internal;

/// <summary>
/// The state database's schema as an ordered list of migrations. Each runs once, in its own IMMEDIATE
/// transaction, and is recorded in <c>schema_version</c>; append new ones, never edit applied ones.
/// </summary>
internal static class SqliteSchema
{
    public static readonly IReadOnlyList<string> Migrations =
    [
        // 1: manifests and the audit chain.
        """
        CREATE TABLE manifests (
            id           INTEGER PRIMARY KEY,
            digest       TEXT NOT NULL,
            target       TEXT NOT NULL,
            kind         TEXT NOT NULL,
            environment  TEXT,
            collected_at TEXT NOT NULL,
            json         TEXT NOT NULL,
            UNIQUE (digest, collected_at)
        );
        CREATE INDEX manifests_target_time ON manifests (target, collected_at);
        CREATE TABLE audit_events (
            seq            INTEGER PRIMARY KEY,
            time           TEXT NOT NULL,
            actor          TEXT NOT NULL,
            action         TEXT NOT NULL,
            target         TEXT NOT NULL,
            reason         TEXT,
            payload_digest TEXT,
            outcome        TEXT,
            prev_hash      TEXT NOT NULL,
            hash           TEXT NOT NULL
        );
        """,
        // 2: frozen patch sets, content-addressed and immutable (insert only).
        """
        CREATE TABLE patch_sets (
            digest    TEXT PRIMARY KEY,
            id        TEXT NOT NULL,
            title     TEXT NOT NULL,
            author    TEXT NOT NULL,
            frozen_at TEXT NOT NULL,
            json      TEXT NOT NULL
        );
        CREATE INDEX patch_sets_id ON patch_sets (id, frozen_at);
        CREATE TRIGGER patch_sets_immutable BEFORE UPDATE ON patch_sets
        BEGIN
            SELECT RAISE(ABORT, 'frozen patch sets are immutable');
        END;
        """,
        // 3: apply and rollback runs, and rollback points; each a JSON document rewritten before every step.
        """
        CREATE TABLE patch_runs (
            id           TEXT PRIMARY KEY,
            kind         TEXT NOT NULL,
            environment  TEXT NOT NULL,
            patch_digest TEXT NOT NULL,
            started_at   TEXT NOT NULL,
            json         TEXT NOT NULL
        );
        CREATE INDEX patch_runs_environment ON patch_runs (environment, started_at);
        CREATE TABLE rollback_points (
            id           TEXT PRIMARY KEY,
            environment  TEXT NOT NULL,
            patch_digest TEXT NOT NULL,
            created_at   TEXT NOT NULL,
            status       TEXT NOT NULL,
            json         TEXT NOT NULL
        );
        CREATE INDEX rollback_points_environment ON rollback_points (environment, created_at);
        """,
        // 4: stage results, the evidence a promotion asks for (by patch digest and environment).
        """
        CREATE TABLE stage_results (
            id           TEXT PRIMARY KEY,
            environment  TEXT NOT NULL,
            patch_digest TEXT NOT NULL,
            verdict      TEXT NOT NULL,
            started_at   TEXT NOT NULL,
            json         TEXT NOT NULL
        );
        CREATE INDEX stage_results_patch ON stage_results (patch_digest, environment, started_at);
        """,
        // 5: users, approvals, rollouts (JSON documents rewritten before every step) and each environment's rollout lock.
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            json TEXT NOT NULL
        );
        CREATE TABLE approvals (
            id           TEXT PRIMARY KEY,
            patch_digest TEXT NOT NULL,
            environment  TEXT NOT NULL,
            approver     TEXT NOT NULL,
            at           TEXT NOT NULL,
            json         TEXT NOT NULL
        );
        CREATE INDEX approvals_patch ON approvals (patch_digest, environment, at);
        CREATE INDEX approvals_environment ON approvals (environment, at);
        CREATE TABLE rollouts (
            id           TEXT PRIMARY KEY,
            environment  TEXT NOT NULL,
            patch_digest TEXT NOT NULL,
            status       TEXT NOT NULL,
            created_at   TEXT NOT NULL,
            json         TEXT NOT NULL
        );
        CREATE INDEX rollouts_environment ON rollouts (environment, created_at);
        CREATE INDEX rollouts_created ON rollouts (created_at);
        CREATE TABLE rollout_locks (
            environment TEXT PRIMARY KEY,
            rollout_id  TEXT NOT NULL,
            process_id  INTEGER NOT NULL,
            machine     TEXT NOT NULL,
            acquired_at TEXT NOT NULL
        );
        """,
        // 6: each audit event's seal (HMAC of its hash under the audit key kept outside the state); null before keying.
        """
        ALTER TABLE audit_events ADD COLUMN seal TEXT;
        """,
        // 7: personal API tokens (the secret's SHA-256 only, and a seal under the audit key).
        """
        CREATE TABLE api_tokens (
            id        TEXT PRIMARY KEY,
            user_name TEXT NOT NULL,
            json      TEXT NOT NULL
        );
        """,
        // 8: password hashes (sealed under the audit key) and failed logins per name, for lockout.
        """
        CREATE TABLE passwords (
            user_name TEXT PRIMARY KEY,
            json      TEXT NOT NULL
        );
        CREATE TABLE login_states (
            user_name TEXT PRIMARY KEY,
            json      TEXT NOT NULL
        );
        """,
        // 9: webhook deliveries: written pending before the first try, rewritten after every attempt.
        """
        CREATE TABLE webhook_deliveries (
            id         TEXT PRIMARY KEY,
            webhook    TEXT NOT NULL,
            event      TEXT NOT NULL,
            status     TEXT NOT NULL,
            created_at TEXT NOT NULL,
            json       TEXT NOT NULL
        );
        CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
        """,
        // 10: the rollout lock's heartbeat (its holder's last sign of life, and the interval it promised); null on a lock
        //     written before heartbeats, which is judged as before.
        """
        ALTER TABLE rollout_locks ADD COLUMN heartbeat_at TEXT;
        ALTER TABLE rollout_locks ADD COLUMN heartbeat_ms INTEGER;
        """,
    ];

    public static int LatestVersion => Migrations.Count;

    /// <summary>Applies the migrations the database lacks; refuses a database written by a newer Stageproof.</summary>
    public static Task MigrateAsync(SqliteConnection connection, string databasePath, TimeProvider time, CancellationToken cancellationToken) =>
        MigrateAsync(connection, databasePath, time, Migrations, cancellationToken);

    /// <summary>As above with a given list, so tests can add migrations.</summary>
    public static async Task MigrateAsync(SqliteConnection connection, string databasePath, TimeProvider time,
        IReadOnlyList<string> migrations, CancellationToken cancellationToken)
    {
        var latest = migrations.Count;
        await connection.ExecuteAsync(new CommandDefinition(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
            cancellationToken: cancellationToken)).ConfigureAwait(false);

        while (true)
        {
            // IMMEDIATE: two processes opening a fresh state directory at once must not both apply a migration.
            using var transaction = connection.BeginTransaction(deferred: false);
            var current = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version", transaction: transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            if (current > latest)
            {
                throw new InputException(
                    $"{databasePath}: schema version {current} is newer than this Stageproof understands ({latest}); " +
                    "use the Stageproof version that wrote it, or a newer one");
            }
            if (current == latest)
            {
                transaction.Commit();
                return;
            }
            var next = (int)current + 1;
            await connection.ExecuteAsync(new CommandDefinition(migrations[next - 1], transaction: transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_version (version, applied_at) VALUES (@next, @at)",
                new { next, at = time.GetUtcNow().UtcDateTime.ToString("O", CultureInfo.InvariantCulture) },
                transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            transaction.Commit();
        }
    }
}
