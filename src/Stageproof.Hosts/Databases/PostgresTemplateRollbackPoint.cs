using System.Diagnostics;
using Npgsql;
using Stageproof.Core;
using Stageproof.Hosts.Facts;

namespace Stageproof.Hosts.Databases;

/// <summary>A rollback point kept as a clone of the database on the same server (<c>CREATE DATABASE … TEMPLATE</c>).</summary>
public sealed record DatabaseClonePoint(
    string Database, string CloneDatabase, string Owner, DateTimeOffset TakenAt, string SchemaDigest, IReadOnlyList<TableCounters> Tables);

/// <summary>
/// Template-clone rollback points: fast for a lab or a small database (a file-level copy on the server, no dump),
/// but taking one needs a moment with no other session on the database, so the other sessions are terminated
/// (up to a few attempts, as clients may reconnect). The clone is made unconnectable so it stays exactly as taken.
/// Unlike <see cref="PostgresRollbackPoint"/>, per-database settings (ALTER DATABASE … SET) are not carried by a
/// clone; grants on the database are.
/// </summary>
public sealed class PostgresTemplateRollbackPoint(TimeProvider? timeProvider = null)
{
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>Clones the database named by the connection string into <paramref name="cloneName"/>.</summary>
    /// <exception cref="InputException">The clone name is the database itself or already exists.</exception>
    /// <exception cref="InfrastructureException">The server refused or sessions kept reconnecting.</exception>
    public async Task<DatabaseClonePoint> CreateAsync(string connectionString, string cloneName, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(cloneName);
        var csb = PostgresConnections.Parse(connectionString, "rollback point");
        var database = csb.Database ?? throw new InputException("the connection string names no database");
        var target = PostgresConnections.Where(csb);
        if (cloneName == database)
        {
            throw new InputException($"the clone of {database} needs another name");
        }
        var tables = await PostgresRollbackPoint.CountersAsync(csb, target, exact: true, cancellationToken).ConfigureAwait(false);
        var takenAt = _time.GetUtcNow();
        var digest = await FingerprintAsync(database, csb.ConnectionString, cancellationToken).ConfigureAwait(false);
        try
        {
            await using var maintenance = new NpgsqlConnection(PostgresConnections.ForDatabase(csb, "postgres"));
            await maintenance.OpenAsync(cancellationToken).ConfigureAwait(false);
            var owner = (string)(await ScalarAsync(maintenance, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = @db",
                database, cancellationToken).ConfigureAwait(false) ?? throw new InputException($"database {database} does not exist"));
            if (await ScalarAsync(maintenance, "SELECT 1 FROM pg_database WHERE datname = @db", cloneName, cancellationToken).ConfigureAwait(false) is not null)
            {
                throw new InputException($"database {cloneName} already exists: a clone point is never overwritten");
            }
            await CloneAsync(maintenance, database, cloneName, owner, cancellationToken).ConfigureAwait(false);
            await ExecAsync(maintenance, $"ALTER DATABASE {Q(cloneName)} ALLOW_CONNECTIONS false", cancellationToken).ConfigureAwait(false);
            return new DatabaseClonePoint(database, cloneName, owner, takenAt, digest, tables);
        }
        catch (NpgsqlException e)
        {
            throw new InfrastructureException(target, $"cloning {database} into {cloneName}: {PostgresConnections.Redact(e.Message, csb.Password)}", e);
        }
    }

    /// <summary>
    /// Drops the database (WITH FORCE, ending its sessions) and re-creates it from the clone, with its owner;
    /// then proves the schema fingerprint equals the point's. The clone is kept (roll back again, or <see cref="DropAsync"/>).
    /// </summary>
    public async Task<DatabaseRestoreResult> RestoreAsync(DatabaseClonePoint point, string connectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(point);
        var sw = Stopwatch.StartNew();
        var csb = PostgresConnections.Parse(connectionString, point.Database);
        var target = PostgresConnections.Where(csb);
        if (csb.Database != point.Database)
        {
            throw new InputException($"the rollback point is of database {point.Database}, the connection names {csb.Database}");
        }
        int terminated;
        try
        {
            await using var maintenance = new NpgsqlConnection(PostgresConnections.ForDatabase(csb, "postgres"));
            await maintenance.OpenAsync(cancellationToken).ConfigureAwait(false);
            if (await ScalarAsync(maintenance, "SELECT 1 FROM pg_database WHERE datname = @db", point.CloneDatabase, cancellationToken).ConfigureAwait(false) is null)
            {
                throw new InputException($"the clone {point.CloneDatabase} of {point.Database} no longer exists");
            }
            terminated = await TerminateAsync(maintenance, point.Database, cancellationToken).ConfigureAwait(false);
            await ExecAsync(maintenance, $"DROP DATABASE IF EXISTS {Q(point.Database)} WITH (FORCE)", cancellationToken).ConfigureAwait(false);
            await ExecAsync(maintenance, $"CREATE DATABASE {Q(point.Database)} TEMPLATE {Q(point.CloneDatabase)} OWNER {Q(point.Owner)}", cancellationToken)
                .ConfigureAwait(false);
        }
        catch (NpgsqlException e)
        {
            throw new InfrastructureException(target, $"restoring {point.Database} from {point.CloneDatabase}: {PostgresConnections.Redact(e.Message, csb.Password)}", e);
        }
        var digest = await FingerprintAsync(point.Database, csb.ConnectionString, cancellationToken).ConfigureAwait(false);
        if (digest != point.SchemaDigest)
        {
            throw new InfrastructureException(target,
                $"database {point.Database} was restored from {point.CloneDatabase} but its schema fingerprint is {digest}, the rollback point's is {point.SchemaDigest}");
        }
        return new DatabaseRestoreResult(point.Database, point.TakenAt, digest, terminated, point.Tables.Count, sw.Elapsed);
    }

    /// <summary>Discards the clone.</summary>
    public async Task DropAsync(DatabaseClonePoint point, string connectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(point);
        var csb = PostgresConnections.Parse(connectionString, point.Database);
        try
        {
            await using var maintenance = new NpgsqlConnection(PostgresConnections.ForDatabase(csb, "postgres"));
            await maintenance.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecAsync(maintenance, $"DROP DATABASE IF EXISTS {Q(point.CloneDatabase)} WITH (FORCE)", cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException e)
        {
            throw new InfrastructureException(PostgresConnections.Where(csb), PostgresConnections.Redact(e.Message, csb.Password), e);
        }
    }

    private static async Task CloneAsync(NpgsqlConnection maintenance, string database, string clone, string owner, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            await TerminateAsync(maintenance, database, ct).ConfigureAwait(false);
            try
            {
                await ExecAsync(maintenance, $"CREATE DATABASE {Q(clone)} TEMPLATE {Q(database)} OWNER {Q(owner)}", ct).ConfigureAwait(false);
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 5)
            {
                // A client reconnected between the termination and the clone.
                await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt), ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task<int> TerminateAsync(NpgsqlConnection maintenance, string database, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE datname = @db AND pid <> pg_backend_pid()", maintenance);
        cmd.Parameters.AddWithValue("db", database);
        return (int)(long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) ?? 0L);
    }

    private async Task<string> FingerprintAsync(string database, string connectionString, CancellationToken ct)
    {
        var manifest = await new PostgresFactsCollector(_time).CollectAsync("rollback", database, connectionString, ct).ConfigureAwait(false);
        return manifest.Database!.Schema.Digest;
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql, string db, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        cmd.Parameters.AddWithValue("db", db);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
    }

    private static async Task ExecAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static string Q(string identifier) => PostgresRollbackPoint.QuoteIdent(identifier);
}
