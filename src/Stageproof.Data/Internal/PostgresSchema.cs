using System.Globalization;
using Dapper;
using Npgsql;
using Stageproof.Core;

namespace Stageproof.Data.Internal;

/// <summary>
/// The PostgreSQL state's schema as an ordered list of migrations, numbered apart from SQLite's (the two stores evolve
/// separately). Each runs once, in one transaction holding an advisory lock, and is recorded in <c>schema_version</c>;
/// append new ones, never edit applied ones.
/// </summary>
/// <remarks>
/// Times are stored as the audit chain's text form (UTC, seven fractional digits), which sorts as the instants do and
/// keeps .NET's tick precision that timestamptz would cut to microseconds. Every text column that is compared or sorted
/// uses the "C" collation, so ordering and digest-prefix ranges are bytewise whatever the database's locale. Each table
/// that SQLite orders by rowid has an identity column for the same tie-break (insertion order).
/// </remarks>
internal static class PostgresSchema
{
    /// <summary>Serializes migrations across processes opening the same database at once.</summary>
    public const long MigrationLock = 0x5354_4750_0001; // "STGP" 1

    public static readonly IReadOnlyList<string> Migrations =
    [
        // 1: everything SQLite's migrations 1-9 hold, plus the audit head (a row, written in the append's transaction)
        //    and the state's settings (the audit key's id, so a machine with another key is refused, not silently used).
        """
        CREATE TABLE manifests (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            digest       text COLLATE "C" NOT NULL,
            target       text COLLATE "C" NOT NULL,
            kind         text NOT NULL,
            environment  text,
            collected_at text COLLATE "C" NOT NULL,
            json         text NOT NULL,
            UNIQUE (digest, collected_at)
        );
        CREATE INDEX manifests_target_time ON manifests (target, collected_at);

        CREATE TABLE audit_events (
            seq            bigint PRIMARY KEY,
            time           text NOT NULL,
            actor          text NOT NULL,
            action         text NOT NULL,
            target         text NOT NULL,
            reason         text,
            payload_digest text,
            outcome        text,
            prev_hash      text NOT NULL,
            hash           text NOT NULL,
            seal           text
        );
        CREATE TABLE audit_head (
            id        int PRIMARY KEY CHECK (id = 1),
            count     bigint NOT NULL,
            last_hash text NOT NULL,
            seal      text
        );
        CREATE TABLE state_settings (
            name  text PRIMARY KEY,
            value text NOT NULL
        );

        CREATE TABLE patch_sets (
            digest    text COLLATE "C" PRIMARY KEY,
            id        text COLLATE "C" NOT NULL,
            title     text NOT NULL,
            author    text NOT NULL,
            frozen_at text COLLATE "C" NOT NULL,
            json      text NOT NULL
        );
        CREATE INDEX patch_sets_id ON patch_sets (id, frozen_at);
        CREATE FUNCTION patch_sets_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'frozen patch sets are immutable';
        END;
        $$;
        CREATE TRIGGER patch_sets_immutable BEFORE UPDATE ON patch_sets
            FOR EACH ROW EXECUTE FUNCTION patch_sets_refuse_update();

        CREATE TABLE patch_runs (
            row_no       bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            id           text COLLATE "C" PRIMARY KEY,
            kind         text NOT NULL,
            environment  text COLLATE "C" NOT NULL,
            patch_digest text COLLATE "C" NOT NULL,
            started_at   text COLLATE "C" NOT NULL,
            json         text NOT NULL
        );
        CREATE INDEX patch_runs_environment ON patch_runs (environment, started_at);
        CREATE TABLE rollback_points (
            row_no       bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            id           text COLLATE "C" PRIMARY KEY,
            environment  text COLLATE "C" NOT NULL,
            patch_digest text COLLATE "C" NOT NULL,
            created_at   text COLLATE "C" NOT NULL,
            status       text NOT NULL,
            json         text NOT NULL
        );
        CREATE INDEX rollback_points_environment ON rollback_points (environment, created_at);
        CREATE TABLE stage_results (
            row_no       bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            id           text COLLATE "C" PRIMARY KEY,
            environment  text COLLATE "C" NOT NULL,
            patch_digest text COLLATE "C" NOT NULL,
            verdict      text NOT NULL,
            started_at   text COLLATE "C" NOT NULL,
            json         text NOT NULL
        );
        CREATE INDEX stage_results_patch ON stage_results (patch_digest, environment, started_at);

        CREATE TABLE users (
            name text COLLATE "C" PRIMARY KEY,
            role text NOT NULL,
            json text NOT NULL
        );
        CREATE TABLE approvals (
            row_no       bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            id           text COLLATE "C" PRIMARY KEY,
            patch_digest text COLLATE "C" NOT NULL,
            environment  text COLLATE "C" NOT NULL,
            approver     text NOT NULL,
            at           text COLLATE "C" NOT NULL,
            json         text NOT NULL
        );
        CREATE INDEX approvals_patch ON approvals (patch_digest, environment, at);
        CREATE INDEX approvals_environment ON approvals (environment, at);
        CREATE TABLE rollouts (
            id           text COLLATE "C" PRIMARY KEY,
            environment  text COLLATE "C" NOT NULL,
            patch_digest text COLLATE "C" NOT NULL,
            status       text NOT NULL,
            created_at   text COLLATE "C" NOT NULL,
            json         text NOT NULL
        );
        CREATE INDEX rollouts_environment ON rollouts (environment, created_at);
        CREATE INDEX rollouts_created ON rollouts (created_at);
        CREATE TABLE rollout_locks (
            environment text COLLATE "C" PRIMARY KEY,
            rollout_id  text NOT NULL,
            process_id  bigint NOT NULL,
            machine     text NOT NULL,
            acquired_at text NOT NULL
        );

        CREATE TABLE api_tokens (
            row_no    bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            id        text COLLATE "C" PRIMARY KEY,
            user_name text NOT NULL,
            json      text NOT NULL
        );
        CREATE TABLE passwords (
            user_name text COLLATE "C" PRIMARY KEY,
            json      text NOT NULL
        );
        CREATE TABLE login_states (
            user_name text COLLATE "C" PRIMARY KEY,
            json      text NOT NULL
        );

        CREATE TABLE webhook_deliveries (
            row_no     bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            id         text COLLATE "C" PRIMARY KEY,
            webhook    text NOT NULL,
            event      text NOT NULL,
            status     text NOT NULL,
            created_at text COLLATE "C" NOT NULL,
            json       text NOT NULL
        );
        CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
        """,
        // 2: SQLite's 10: the rollout lock's heartbeat (null on a lock written before heartbeats, judged as before).
        """
        ALTER TABLE rollout_locks ADD COLUMN heartbeat_at text, ADD COLUMN heartbeat_ms bigint;
        """,
    ];

    public static int LatestVersion => Migrations.Count;

    /// <summary>Applies the migrations the database lacks; refuses a database written by a newer Stageproof.</summary>
    public static Task MigrateAsync(NpgsqlConnection connection, string location, TimeProvider time, CancellationToken cancellationToken) =>
        MigrateAsync(connection, location, time, Migrations, cancellationToken);

    /// <summary>As above with a given list, so tests can add migrations.</summary>
    public static async Task MigrateAsync(NpgsqlConnection connection, string location, TimeProvider time,
        IReadOnlyList<string> migrations, CancellationToken cancellationToken)
    {
        var latest = migrations.Count;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // Two processes opening a fresh database at once: the second waits here, then finds the work done.
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@key)", new { key = MigrationLock },
            transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(
            "CREATE TABLE IF NOT EXISTS schema_version (version int PRIMARY KEY, applied_at text NOT NULL)",
            transaction: transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        var current = await connection.ExecuteScalarAsync<int>(new CommandDefinition(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version", transaction: transaction,
            cancellationToken: cancellationToken)).ConfigureAwait(false);
        if (current > latest)
        {
            throw new InputException(
                $"{location}: schema version {current} is newer than this Stageproof understands ({latest}); " +
                "use the Stageproof version that wrote it, or a newer one");
        }
        // All pending migrations in one transaction: a failing one leaves the database as it was.
        for (var next = current + 1; next <= latest; next++)
        {
            await connection.ExecuteAsync(new CommandDefinition(migrations[next - 1], transaction: transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_version (version, applied_at) VALUES (@next, @at)",
                new { next, at = time.GetUtcNow().UtcDateTime.ToString("O", CultureInfo.InvariantCulture) },
                transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }
}
