using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Npgsql;
using Stageproof.Core;
using Stageproof.Hosts.Facts;

namespace Stageproof.Hosts.Databases;

/// <summary>Cumulative write counters of one user table (pg_stat_user_tables) and its row count when taken.</summary>
public sealed record TableCounters
{
    /// <summary>"schema.table".</summary>
    public required string Table { get; init; }
    /// <summary>The table's OID: a table dropped and re-created under the same name is a new table.</summary>
    public required uint Relid { get; init; }
    public required long Inserted { get; init; }
    public required long Updated { get; init; }
    public required long Deleted { get; init; }
    /// <summary>n_live_tup: the statistics' estimate of live rows.</summary>
    public required long RowEstimate { get; init; }
    /// <summary>count(*) when the estimate is at most <see cref="PostgresRollbackPoint.ExactCountLimit"/> rows, else null.</summary>
    public long? Rows { get; init; }
}

/// <summary>
/// A database rollback point: a <c>pg_dump -Fc</c> archive and its JSON sidecar (this record) in
/// <see cref="Directory"/>.
/// </summary>
public sealed record DatabaseRollbackPoint
{
    public int Format { get; init; } = 1;
    public required string Database { get; init; }
    public required DateTimeOffset TakenAt { get; init; }
    public required string ServerVersion { get; init; }
    /// <summary>The schema fingerprint digest of <see cref="PostgresFactsCollector"/> when taken.</summary>
    public required string SchemaDigest { get; init; }
    public required int SchemaObjects { get; init; }
    /// <summary>The archive's file name inside <see cref="Directory"/>, and its SHA-256.</summary>
    public required string DumpFile { get; init; }
    public required string DumpSha256 { get; init; }
    public required long DumpBytes { get; init; }
    public required IReadOnlyList<TableCounters> Tables { get; init; }
    /// <summary>
    /// The oldest transaction still running when the tables were counted (pg_snapshot_xmin of that snapshot, as a
    /// 64-bit xid): every row whose xmin is this or newer was written after the point. Null in points taken before
    /// it was recorded; their writes are read from the statistics.
    /// </summary>
    public long? SnapshotXmin { get; init; }
    /// <summary>
    /// The migration history's digest when taken (<see cref="PostgresFactsCollector.MigrationsDigest"/>): a migration
    /// that only changes data still records itself there, and the release before it may refuse such a database. Null
    /// in points taken before it was recorded.
    /// </summary>
    public string? MigrationsDigest { get; init; }
    /// <summary>The migration history's rows when taken: what a change adds is told from these (its declared way back).
    /// Null in points taken before it was recorded.</summary>
    public IReadOnlyList<Core.Manifests.MigrationRecord>? Migrations { get; init; }

    /// <summary>Where the point lives (not part of the sidecar).</summary>
    [JsonIgnore]
    public string Directory { get; init; } = "";

    [JsonIgnore]
    public string DumpPath => Path.Combine(Directory, DumpFile);
}

/// <summary>
/// Rows changed in one table since a rollback point: what a restore to that point would discard.
/// <see cref="Written"/>: row versions written since (inserted, or the new version of an updated row) — a restore loses
/// them. <see cref="Removed"/>: rows the point holds that are gone or were replaced by an update — a restore brings
/// them back. <see cref="Exact"/>: counted row by row (each row's xmin against the point's snapshot) rather than read
/// from PostgreSQL's statistics (n_tup_ins/upd/del, where Written = inserted + updated, Removed = updated + deleted).
/// </summary>
public sealed record TableWrites(string Table, long Written, long Removed, bool CreatedSincePoint, bool CountersReset, bool Exact)
{
    public long Total => Written + Removed;
}

/// <summary>What <see cref="PostgresRollbackPoint.RestoreAsync"/> did.</summary>
public sealed record DatabaseRestoreResult(
    string Database, DateTimeOffset PointTakenAt, string SchemaDigest, int SessionsTerminated, int Tables, TimeSpan Elapsed);

/// <summary>
/// Rollback points of a PostgreSQL database, with the server's own tools: <c>pg_dump -Fc</c> to take one,
/// <c>DROP DATABASE … WITH (FORCE)</c> and <c>pg_restore --create</c> to return to it, and the schema
/// fingerprint of <see cref="PostgresFactsCollector"/> to prove the restore.
/// </summary>
/// <remarks>
/// What a restore would discard is counted row by row when it can be (<see cref="TableWrites.Exact"/>): the point
/// records its snapshot's xmin and each table's exact row count, and a later reading counts, in one snapshot, the rows
/// whose xmin is at or after it (written since) against the rows there now — exact at once, no waiting. It scans each
/// table, so it is used only while every table has at most <see cref="ExactCountLimit"/> rows; otherwise, and for
/// points taken without a snapshot xmin, the figures come from the statistics as follows.
/// Write counters come from pg_stat_user_tables. In PostgreSQL 15 a backend flushes its pending statistics when
/// it goes idle after a transaction, but at most once per second (PGSTAT_MIN_INTERVAL); writes committed within
/// a second of the previous flush wait for the idle timer, PGSTAT_IDLE_INTERVAL = 10 s; a session that ends
/// flushes at exit. <see cref="WritesSinceAsync(DatabaseRollbackPoint, string, CancellationToken)"/> therefore
/// waits <see cref="StatsFlushDelay"/>, or until 10.5 s after the latest moment a session on the database went
/// idle when that is later (so with an application connected, expect up to ~11 s), then until two readings
/// 300 ms apart agree, each on a fresh snapshot (pg_stat_clear_snapshot). Writes of a session still inside a
/// transaction are not counted (they flush when it ends): the figures are a
/// lower bound of what a restore would discard. TRUNCATE is not counted as deletes; the writes of the change itself
/// (the migration's own INSERT/UPDATE/DELETE, its history row) are counted too. Counters reset by pg_stat_reset or
/// a crash are flagged (<see cref="TableWrites.CountersReset"/>)
/// and then the current counters are reported as a lower bound. A point restored by <see cref="RestoreAsync"/>
/// re-creates every table (new OIDs): later readings against the same point count every table as created since.
/// </remarks>
public sealed class PostgresRollbackPoint(string? binDirectory = null, TimeProvider? timeProvider = null)
{
    public const string DefaultBinDirectory = "/usr/lib/postgresql/15/bin";
    public const string SidecarFile = "rollback-point.json";
    public const string ArchiveFile = "database.dump";
    public const long ExactCountLimit = 1_000_000;

    /// <summary>How long a backend may hold written-but-unflushed statistics before a normal flush (PGSTAT_MIN_INTERVAL).</summary>
    public static readonly TimeSpan StatsFlushDelay = TimeSpan.FromMilliseconds(1100);

    /// <summary>How long an idle session may hold statistics it could not flush yet (PGSTAT_IDLE_INTERVAL, plus margin).</summary>
    public static readonly TimeSpan IdleStatsFlushInterval = TimeSpan.FromMilliseconds(10_500);

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    private readonly string _bin = binDirectory ?? DefaultBinDirectory;
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>Dumps the database into <paramref name="directory"/> (created if absent) and writes the sidecar.</summary>
    public async Task<DatabaseRollbackPoint> CreateAsync(string connectionString, string directory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var csb = PostgresConnections.Parse(connectionString, "rollback point");
        var database = PostgresConnections.SafeDatabaseName(csb);
        var target = PostgresConnections.Where(csb);
        // A dump of production's data: readable by the state's owner only, like the state it lives in.
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(directory);
        }
        else if (!System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var takenAt = _time.GetUtcNow();

        // Counters first, then the dump: a write between the two is then counted as "since the point" (over-
        // reported, never lost from the account).
        var (tables, snapshotXmin) = await PointCountersAsync(csb, target, cancellationToken).ConfigureAwait(false);
        var manifest = await new PostgresFactsCollector(_time).CollectAsync("rollback", database, csb.ConnectionString, cancellationToken)
            .ConfigureAwait(false);

        var archive = Path.Combine(directory, ArchiveFile);
        var (args, env) = PostgresConnections.LibpqFor(csb);
        args.AddRange(["--format=custom", "--file=" + archive, "--dbname=" + database]);
        await RunAsync(target, "pg_dump", args, env, cancellationToken).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(archive, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var point = new DatabaseRollbackPoint
        {
            Database = database,
            TakenAt = takenAt,
            ServerVersion = manifest.Database!.ServerVersion,
            SchemaDigest = manifest.Database.Schema.Digest,
            SchemaObjects = manifest.Database.Schema.Objects.Count,
            MigrationsDigest = PostgresFactsCollector.MigrationsDigest(manifest.Database.Schema.Migrations),
            Migrations = manifest.Database.Schema.Migrations,
            DumpFile = ArchiveFile,
            DumpSha256 = await FileSha256Async(archive, cancellationToken).ConfigureAwait(false),
            DumpBytes = new FileInfo(archive).Length,
            Tables = tables,
            SnapshotXmin = snapshotXmin,
            Directory = Path.GetFullPath(directory),
        };
        var sidecar = Path.Combine(directory, SidecarFile);
        await File.WriteAllTextAsync(sidecar + ".tmp", JsonSerializer.Serialize(point, JsonOptions), cancellationToken).ConfigureAwait(false);
        File.Move(sidecar + ".tmp", sidecar, overwrite: true);
        return point;
    }

    /// <summary>Reads a rollback point back from its directory.</summary>
    /// <exception cref="InputException">No sidecar, or it does not parse.</exception>
    public static async Task<DatabaseRollbackPoint> LoadAsync(string directory, CancellationToken cancellationToken)
    {
        var sidecar = Path.Combine(directory, SidecarFile);
        if (!File.Exists(sidecar))
        {
            throw new InputException($"{sidecar}: no database rollback point here");
        }
        try
        {
            var point = JsonSerializer.Deserialize<DatabaseRollbackPoint>(
                await File.ReadAllTextAsync(sidecar, cancellationToken).ConfigureAwait(false), JsonOptions)
                ?? throw new InputException($"{sidecar}: empty");
            return point with { Directory = Path.GetFullPath(directory) };
        }
        catch (JsonException e)
        {
            throw new InputException($"{sidecar}: {e.Message}");
        }
    }

    /// <summary>
    /// Per table, the rows written and removed since the point (<see cref="TableWrites"/>): the data a restore would
    /// discard. Tables created since the point count entirely. Only tables with writes are listed.
    /// </summary>
    public Task<IReadOnlyList<TableWrites>> WritesSinceAsync(DatabaseRollbackPoint point, string connectionString,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(point);
        return ExactWritesSinceAsync(point, connectionString, cancellationToken);
    }

    /// <summary>
    /// Counts the rows changed since the point row by row, in one snapshot, without waiting for statistics: each
    /// table is scanned once (count of rows whose xmin is at or after the point's snapshot xmin, and of all rows),
    /// compared with its exact row count at the point. Rows of a transaction still open are not counted; rows written
    /// while the point was being taken may be counted (over, never under). Falls back to the statistics when the
    /// point has no snapshot xmin, or a table had or has more than <see cref="ExactCountLimit"/> rows (a scan
    /// would cost too much).
    /// </summary>
    private async Task<IReadOnlyList<TableWrites>> ExactWritesSinceAsync(DatabaseRollbackPoint point, string connectionString, CancellationToken ct)
    {
        if (point.SnapshotXmin is not { } xmin)
        {
            return await WritesSinceAsync(point.Tables, connectionString, ct).ConfigureAwait(false);
        }
        var csb = PostgresConnections.Parse(connectionString, "writes since");
        var target = PostgresConnections.Where(csb);
        var before = point.Tables.ToDictionary(t => t.Relid);
        bool Known(TableCounters now) => before.TryGetValue(now.Relid, out var then) && then.Table == now.Table;
        try
        {
            await using var connection = new NpgsqlConnection(csb.ConnectionString);
            await connection.OpenAsync(ct).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
            await using (var readOnly = new NpgsqlCommand("SET TRANSACTION READ ONLY", connection, transaction))
            {
                await readOnly.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            var current = await ReadCountersAsync(connection, exact: false, ct).ConfigureAwait(false);
            if (current.Any(t => t.RowEstimate > ExactCountLimit || (Known(t) && before[t.Relid].Rows is null)))
            {
                // Too big to scan: the statistics, without holding this snapshot open while they settle.
                await transaction.RollbackAsync(ct).ConfigureAwait(false);
                return await WritesSinceAsync(point.Tables, connectionString, ct).ConfigureAwait(false);
            }
            var result = new List<TableWrites>();
            foreach (var now in current)
            {
                // age() is wraparound-aware and gives frozen rows the largest age, so they count as old.
                await using var count = new NpgsqlCommand(
                    $"SELECT count(*) FILTER (WHERE age(xmin) <= age(@xmin::text::xid)), count(*) FROM {QuotedTable(now.Table)}", connection, transaction);
                count.Parameters.AddWithValue("xmin", (xmin % 4294967296L).ToString(System.Globalization.CultureInfo.InvariantCulture));
                await using var reader = await count.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await reader.ReadAsync(ct).ConfigureAwait(false);
                var (written, rows) = (reader.GetInt64(0), reader.GetInt64(1));
                var writes = Known(now)
                    ? new TableWrites(now.Table, written, Math.Max(0, before[now.Relid].Rows!.Value - (rows - written)), CreatedSincePoint: false, CountersReset: false, Exact: true)
                    : new TableWrites(now.Table, rows, 0, CreatedSincePoint: true, CountersReset: false, Exact: true);
                if (writes.Total > 0 || writes.CreatedSincePoint)
                {
                    result.Add(writes);
                }
            }
            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return result;
        }
        catch (NpgsqlException e)
        {
            throw new InfrastructureException(target, PostgresConnections.Redact(e.Message, csb.Password), e);
        }
    }

    /// <summary>
    /// Each table's exact row count now, for the tables the point counted exactly (null: the table is gone). What
    /// data continuity compares with the point's own counts.
    /// </summary>
    public async Task<IReadOnlyList<Core.Stage.TableRows>> RowsSinceAsync(DatabaseRollbackPoint point, string connectionString,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(point);
        var csb = PostgresConnections.Parse(connectionString, "row counts");
        var target = PostgresConnections.Where(csb);
        // A table grown past the exact-count limit lost nothing; its estimate says so.
        var now = (await CountersAsync(csb, target, exact: true, cancellationToken).ConfigureAwait(false))
            .ToDictionary(t => t.Table, t => (long?)(t.Rows ?? t.RowEstimate), StringComparer.Ordinal);
        return point.Tables.Where(t => t.Rows is not null)
            .Select(t => new Core.Stage.TableRows(t.Table, t.Rows, now.GetValueOrDefault(t.Table)))
            .ToList();
    }

    /// <summary>As <see cref="WritesSinceAsync(DatabaseRollbackPoint, string, CancellationToken)"/>, against counters taken earlier.</summary>
    public async Task<IReadOnlyList<TableWrites>> WritesSinceAsync(IReadOnlyList<TableCounters> baseline, string connectionString,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        var csb = PostgresConnections.Parse(connectionString, "writes since");
        var target = PostgresConnections.Where(csb);

        // Wait out the statistics flush interval (longer while a session went idle recently), then until two
        // readings agree (bounded).
        await Task.Delay(await FlushWaitAsync(csb, target, cancellationToken).ConfigureAwait(false), _time, cancellationToken)
            .ConfigureAwait(false);
        var started = Stopwatch.StartNew();
        var current = await CountersAsync(csb, target, exact: false, cancellationToken).ConfigureAwait(false);
        while (started.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(300), _time, cancellationToken).ConfigureAwait(false);
            var again = await CountersAsync(csb, target, exact: false, cancellationToken).ConfigureAwait(false);
            var same = again.Count == current.Count && again.Zip(current).All(p =>
                p.First.Relid == p.Second.Relid && p.First.Inserted == p.Second.Inserted && p.First.Updated == p.Second.Updated
                && p.First.Deleted == p.Second.Deleted);
            current = again;
            if (same)
            {
                break;
            }
        }

        var before = baseline.ToDictionary(t => t.Relid);
        var result = new List<TableWrites>();
        foreach (var now in current)
        {
            TableWrites writes;
            if (!before.TryGetValue(now.Relid, out var then) || then.Table != now.Table)
            {
                writes = FromCounters(now.Table, now.Inserted, now.Updated, now.Deleted, createdSincePoint: true, countersReset: false);
            }
            else if (now.Inserted < then.Inserted || now.Updated < then.Updated || now.Deleted < then.Deleted)
            {
                writes = FromCounters(now.Table, now.Inserted, now.Updated, now.Deleted, createdSincePoint: false, countersReset: true);
            }
            else
            {
                writes = FromCounters(now.Table, now.Inserted - then.Inserted, now.Updated - then.Updated, now.Deleted - then.Deleted,
                    createdSincePoint: false, countersReset: false);
            }
            if (writes.Total > 0 || writes.CreatedSincePoint || writes.CountersReset)
            {
                result.Add(writes);
            }
        }
        return result;
    }

    /// <summary>
    /// How long until every idle session on the database has flushed its statistics: a session that went idle
    /// within a second of its previous flush holds them for <see cref="IdleStatsFlushInterval"/>. At least
    /// <see cref="StatsFlushDelay"/>.
    /// </summary>
    private static async Task<TimeSpan> FlushWaitAsync(NpgsqlConnectionStringBuilder csb, string target, CancellationToken ct)
    {
        try
        {
            await using var connection = new NpgsqlConnection(csb.ConnectionString);
            await connection.OpenAsync(ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand(
                """
                SELECT coalesce(extract(epoch FROM max(state_change) + @idle - clock_timestamp()), 0)::float8
                FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state = 'idle'
                """, connection);
            cmd.Parameters.AddWithValue("idle", IdleStatsFlushInterval);
            var seconds = (double)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) ?? 0d);
            var wait = TimeSpan.FromSeconds(Math.Min(seconds, IdleStatsFlushInterval.TotalSeconds));
            return wait > StatsFlushDelay ? wait : StatsFlushDelay;
        }
        catch (NpgsqlException e)
        {
            throw new InfrastructureException(target, PostgresConnections.Redact(e.Message, csb.Password), e);
        }
    }

    /// <summary>
    /// Whether the database's schema fingerprint or its migration history differs from the point's (a restore is then
    /// needed): a data-only migration changes no schema object, yet the release before it may refuse the database.
    /// </summary>
    public async Task<bool> SchemaChangedSinceAsync(DatabaseRollbackPoint point, string connectionString,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(point);
        var schema = await SchemaAsync(point.Database, connectionString, cancellationToken).ConfigureAwait(false);
        return schema.Digest != point.SchemaDigest
            || (point.MigrationsDigest is { } migrations && PostgresFactsCollector.MigrationsDigest(schema.Migrations) != migrations);
    }

    /// <summary>The migration history's rows now that the point does not hold, oldest first; null when the point did not
    /// record its history (taken before it was).</summary>
    public async Task<IReadOnlyList<Core.Manifests.MigrationRecord>?> MigrationsSinceAsync(DatabaseRollbackPoint point, string connectionString,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(point);
        if (point.Migrations is not { } before)
        {
            return null;
        }
        var schema = await SchemaAsync(point.Database, connectionString, cancellationToken).ConfigureAwait(false);
        var known = before.Select(m => (m.Version, m.Description)).ToHashSet();
        return schema.Migrations.Where(m => !known.Contains((m.Version, m.Description))).ToList();
    }

    /// <summary>
    /// Runs a declared down script against the database in one transaction: all of it or nothing. Returns null when it
    /// committed, else what the server said (the transaction was rolled back). The SQL is sent as one simple-query
    /// batch over the protocol, never through a shell.
    /// </summary>
    /// <exception cref="InfrastructureException">The database cannot be reached.</exception>
    public static async Task<string?> RunDownScriptAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var csb = PostgresConnections.Parse(connectionString, "down script");
        csb.Pooling = false;
        var target = PostgresConnections.Where(csb);
        NpgsqlConnection connection;
        try
        {
            connection = new NpgsqlConnection(csb.ConnectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException e)
        {
            throw new InfrastructureException(target, PostgresConnections.Redact(e.Message, csb.Password), e);
        }
        await using (connection.ConfigureAwait(false))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await using (var cmd = new NpgsqlCommand(sql, connection, transaction) { CommandTimeout = 0 })
                {
                    await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return null;
            }
            catch (PostgresException e)
            {
                await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                return PostgresConnections.Redact($"{e.SqlState}: {e.MessageText}" + (e.Position > 0 ? $" (at character {e.Position})" : ""), csb.Password);
            }
            catch (NpgsqlException e)
            {
                throw new InfrastructureException(target, PostgresConnections.Redact(e.Message, csb.Password), e);
            }
        }
    }

    /// <summary>
    /// Returns the database to the point: checks the archive (checksum, readable table of contents) before
    /// touching anything, terminates the other sessions on the database and renames it aside, recreates it from
    /// the archive through the maintenance database <c>postgres</c> (<c>pg_restore --create</c>, which also
    /// restores the database's owner, settings and grants), proves the schema fingerprint equals the point's, and
    /// only then drops the set-aside database. When pg_restore or the proof fails, the partial database is dropped
    /// and the set-aside one renamed back: the database is as it was before the restore. Needs the disk space of
    /// a second copy while it runs.
    /// </summary>
    /// <exception cref="InputException">The connection names another database, or the archive is damaged.</exception>
    /// <exception cref="InfrastructureException">The server, pg_restore or the verification failed.</exception>
    public async Task<DatabaseRestoreResult> RestoreAsync(DatabaseRollbackPoint point, string connectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(point);
        var sw = Stopwatch.StartNew();
        var csb = PostgresConnections.Parse(connectionString, point.Database);
        var database = PostgresConnections.SafeDatabaseName(csb);
        var target = PostgresConnections.Where(csb);
        if (database != point.Database)
        {
            throw new InputException($"the rollback point is of database {point.Database}, the connection names {database}");
        }
        if (!File.Exists(point.DumpPath))
        {
            throw new InputException($"{point.DumpPath}: the rollback point's archive is missing");
        }
        var sha = await FileSha256Async(point.DumpPath, cancellationToken).ConfigureAwait(false);
        if (sha != point.DumpSha256)
        {
            throw new InputException($"{point.DumpPath}: the archive's SHA-256 is {sha}, the rollback point recorded {point.DumpSha256}: it was altered");
        }
        var (args, env) = PostgresConnections.LibpqFor(csb);
        await RunAsync(target, "pg_restore", ["--list", point.DumpPath], env, cancellationToken).ConfigureAwait(false);

        var aside = AsideName(database);
        var terminated = 0;
        var setAside = false;
        await using var maintenance = new NpgsqlConnection(PostgresConnections.ForDatabase(csb, "postgres"));
        try
        {
            await maintenance.OpenAsync(cancellationToken).ConfigureAwait(false);
            if (await ExistsAsync(maintenance, aside, cancellationToken).ConfigureAwait(false))
            {
                throw new InputException($"database {aside} exists: an earlier restore of {database} was interrupted; " +
                    $"it holds {database} as it was before that restore: rename it back or drop it, then restore again");
            }
            // The current database is renamed aside, not dropped, until the restored one is proven.
            if (await ExistsAsync(maintenance, database, cancellationToken).ConfigureAwait(false))
            {
                for (var attempt = 1; ; attempt++)
                {
                    terminated += await TerminateAsync(maintenance, database, cancellationToken).ConfigureAwait(false);
                    try
                    {
                        await ExecAsync(maintenance, $"ALTER DATABASE {QuoteIdent(database)} RENAME TO {QuoteIdent(aside)}", cancellationToken)
                            .ConfigureAwait(false);
                        setAside = true;
                        break;
                    }
                    catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 5)
                    {
                        // A client reconnected between the termination and the rename.
                        await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt), cancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (NpgsqlException e)
        {
            throw new InfrastructureException(target, $"setting database {database} aside for the restore: {PostgresConnections.Redact(e.Message, csb.Password)}", e);
        }

        try
        {
            args.AddRange(["--create", "--exit-on-error", "--dbname=postgres", point.DumpPath]);
            await RunAsync(target, "pg_restore", args, env, cancellationToken).ConfigureAwait(false);
            // Connections pooled before the restore point at sessions it terminated: none of them may be reused.
            NpgsqlConnection.ClearAllPools();
            var digest = (await SchemaAsync(database, PostgresConnections.ForDatabase(csb, database), cancellationToken).ConfigureAwait(false)).Digest;
            if (digest != point.SchemaDigest)
            {
                throw new InfrastructureException(target,
                    $"database {database} was restored from {point.DumpPath} but its schema fingerprint is {digest}, the rollback point's is {point.SchemaDigest}");
            }
        }
        catch (Exception e) when (setAside && e is InfrastructureException or NpgsqlException or OperationCanceledException)
        {
            // Put the database back as it was before the restore.
            try
            {
                await ExecAsync(maintenance, $"DROP DATABASE IF EXISTS {QuoteIdent(database)} WITH (FORCE)", CancellationToken.None).ConfigureAwait(false);
                await ExecAsync(maintenance, $"ALTER DATABASE {QuoteIdent(aside)} RENAME TO {QuoteIdent(database)}", CancellationToken.None).ConfigureAwait(false);
            }
            catch (NpgsqlException putBack)
            {
                throw new InfrastructureException(target,
                    $"the restore of {database} failed ({e.Message}) and putting the database back failed too ({putBack.Message}): " +
                    $"it is kept as {aside}", e);
            }
            if (e is OperationCanceledException)
            {
                throw;
            }
            throw new InfrastructureException(target, $"the restore of {database} failed, the database was put back as it was before: {e.Message}", e);
        }

        try
        {
            await ExecAsync(maintenance, $"DROP DATABASE IF EXISTS {QuoteIdent(aside)} WITH (FORCE)", cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException e)
        {
            throw new InfrastructureException(target, $"database {database} was restored, but dropping the set-aside {aside} failed: {e.Message}", e);
        }
        try
        {
            // pg_restore leaves the planner without statistics until autovacuum gets round to the tables, so the old
            // release would serve (and a stage would measure it) on blind plans: the PostgreSQL manual's advice after a
            // restore is ANALYZE. It samples a bounded number of rows per table.
            await using var restored = new NpgsqlConnection(PostgresConnections.ForDatabase(csb, database));
            await restored.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecAsync(restored, "ANALYZE", cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException)
        {
            // The restore stands; autovacuum analyzes the tables in its own time.
        }
        return new DatabaseRestoreResult(database, point.TakenAt, point.SchemaDigest, terminated, point.Tables.Count, sw.Elapsed);
    }

    /// <summary>The name the current database is renamed to while a restore runs (stable, short, within 63 bytes).</summary>
    public static string AsideName(string database) =>
        "stageproof_aside_" + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(database)))[..16];

    private static async Task<bool> ExistsAsync(NpgsqlConnection maintenance, string database, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @db", maintenance);
        cmd.Parameters.AddWithValue("db", database);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
    }

    private static async Task<int> TerminateAsync(NpgsqlConnection maintenance, string database, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE datname = @db AND pid <> pg_backend_pid()", maintenance);
        cmd.Parameters.AddWithValue("db", database);
        return (int)(long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) ?? 0L);
    }

    private static async Task ExecAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The database's schema fingerprint and migration history, as <see cref="PostgresFactsCollector"/> reads them.</summary>
    private async Task<Core.Manifests.SchemaFingerprint> SchemaAsync(string database, string connectionString, CancellationToken ct)
    {
        var manifest = await new PostgresFactsCollector(_time).CollectAsync("rollback", database, connectionString, ct).ConfigureAwait(false);
        return manifest.Database!.Schema;
    }

    private static TableWrites FromCounters(string table, long inserted, long updated, long deleted, bool createdSincePoint, bool countersReset) =>
        new(table, inserted + updated, updated + deleted, createdSincePoint, countersReset, Exact: false);

    private static string QuotedTable(string table)
    {
        var dot = table.IndexOf('.', StringComparison.Ordinal);
        return $"{QuoteIdent(table[..dot])}.{QuoteIdent(table[(dot + 1)..])}";
    }

    /// <summary>The counters, the exact row counts and the snapshot's xmin, all read in one repeatable-read snapshot.</summary>
    private static async Task<(List<TableCounters> Tables, long SnapshotXmin)> PointCountersAsync(NpgsqlConnectionStringBuilder csb, string target, CancellationToken ct)
    {
        try
        {
            await using var connection = new NpgsqlConnection(csb.ConnectionString);
            await connection.OpenAsync(ct).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
            await using var snapshot = new NpgsqlCommand("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint", connection, transaction);
            var xmin = (long)(await snapshot.ExecuteScalarAsync(ct).ConfigureAwait(false) ?? 0L);
            var tables = await ReadCountersAsync(connection, exact: true, ct).ConfigureAwait(false);
            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return (tables, xmin);
        }
        catch (NpgsqlException e)
        {
            throw new InfrastructureException(target, PostgresConnections.Redact(e.Message, csb.Password), e);
        }
    }

    internal static async Task<List<TableCounters>> CountersAsync(NpgsqlConnectionStringBuilder csb, string target, bool exact, CancellationToken ct)
    {
        try
        {
            await using var connection = new NpgsqlConnection(csb.ConnectionString);
            await connection.OpenAsync(ct).ConfigureAwait(false);
            return await ReadCountersAsync(connection, exact, ct).ConfigureAwait(false);
        }
        catch (NpgsqlException e)
        {
            throw new InfrastructureException(target, PostgresConnections.Redact(e.Message, csb.Password), e);
        }
    }

    private static async Task<List<TableCounters>> ReadCountersAsync(NpgsqlConnection connection, bool exact, CancellationToken ct)
    {
        var result = new List<TableCounters>();
        await using (var clear = new NpgsqlCommand("SELECT pg_stat_clear_snapshot()", connection))
        {
            await clear.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT schemaname, relname, relid, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup
            FROM pg_stat_user_tables ORDER BY schemaname, relname
            """, connection))
        {
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                result.Add(new TableCounters
                {
                    Table = reader.GetString(0) + "." + reader.GetString(1),
                    Relid = reader.GetFieldValue<uint>(2),
                    Inserted = reader.GetInt64(3),
                    Updated = reader.GetInt64(4),
                    Deleted = reader.GetInt64(5),
                    RowEstimate = reader.GetInt64(6),
                });
            }
        }
        if (exact)
        {
            for (var i = 0; i < result.Count; i++)
            {
                if (result[i].RowEstimate > ExactCountLimit)
                {
                    continue;
                }
                await using var count = new NpgsqlCommand($"SELECT count(*) FROM {QuotedTable(result[i].Table)}", connection);
                result[i] = result[i] with { Rows = (long)(await count.ExecuteScalarAsync(ct).ConfigureAwait(false) ?? 0L) };
            }
        }
        return result;
    }

    private async Task RunAsync(string target, string tool, IReadOnlyList<string> args, IReadOnlyDictionary<string, string> env,
        CancellationToken ct)
    {
        var path = Path.Combine(_bin, tool);
        var psi = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["LC_ALL"] = "C";
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InfrastructureException(target, $"could not start {path}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InfrastructureException(target, $"could not start {path}: {e.Message}", e);
        }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            try
            {
                await process.WaitForExitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            await stdout.ConfigureAwait(false);
            var err = (await stderr.ConfigureAwait(false)).Trim();
            if (process.ExitCode != 0)
            {
                var password = env.TryGetValue("PGPASSWORD", out var p) ? p : null;
                throw new InfrastructureException(target, $"{tool} exited {process.ExitCode}: {PostgresConnections.Redact(err, password)}");
            }
        }
    }

    internal static async Task<string> FileSha256Async(string path, CancellationToken ct)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
    }

    internal static string QuoteIdent(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
