using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MySqlConnector;
using Stageproof.Core;
using Stageproof.Core.Hosts;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Facts;
using Stageproof.Hosts.Transports;

namespace Stageproof.Hosts.Databases;

/// <summary>Row counts of one table at the point and now: what a restore to the point would change in it.</summary>
public sealed record TableRowChange(string Table, long? AtPoint, long Now)
{
    public bool CreatedSincePoint => AtPoint is null;
    public bool Changed => AtPoint != Now;
}

/// <summary>
/// Rollback points of a MariaDB (or MySQL) database with the server's own tools. A point is one consistent
/// <c>mariadb-dump --single-transaction --routines --triggers --events</c> file (0600) and the same sidecar as
/// PostgreSQL's (<see cref="DatabaseRollbackPoint"/>: schema fingerprint, migration history and each table's exact row count).
/// </summary>
/// <remarks>
/// <para>MariaDB has no RENAME DATABASE, so a restore never touches the live database until the point is proven: the dump
/// is loaded into a new database beside it and its fingerprint compared with the point's; only then are the views, triggers,
/// routines and events of the live database dropped and every table swapped in one atomic <c>RENAME TABLE</c> (the live
/// tables go to an aside database, the restored ones take their names), and the point's views, triggers, routines and events
/// are created again. The aside database is dropped once the live database's fingerprint equals the point's; when it does
/// not, the aside database is kept and named in the error. Needs the disk space of a second copy while it runs.</para>
/// <para>The row counts are taken just before the dump, in a snapshot of their own: a write between the two is counted
/// as a change since the point (over-reported, never lost from the account). The report compares counts, so an UPDATE
/// that leaves a table's count unchanged is not seen there (the PostgreSQL side counts rows by their xmin).</para>
/// </remarks>
public sealed class MariaDbRollbackPoint(TimeProvider? timeProvider = null, string? binDirectory = null)
{
    public const string DumpFileName = "database.sql";
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly string _bin = binDirectory ?? "/usr/bin";

    /// <summary>The dump tool: mariadb-dump, else mysqldump (MySQL's name) when only that is installed.</summary>
    private string Tool(string mariadb, string mysql) =>
        File.Exists(Path.Combine(_bin, mariadb)) || !File.Exists(Path.Combine(_bin, mysql)) ? Path.Combine(_bin, mariadb) : Path.Combine(_bin, mysql);

    /// <summary>Dumps the database into <paramref name="directory"/> (created 0700 if absent) and writes the sidecar.</summary>
    /// <exception cref="InfrastructureException">The server or mariadb-dump failed.</exception>
    public async Task<DatabaseRollbackPoint> CreateAsync(string connectionString, string directory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var csb = MariaDbConnections.Parse(connectionString, "rollback point");
        var database = MariaDbConnections.SafeDatabaseName(csb);
        var target = MariaDbConnections.Where(csb);
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(directory);
        }
        else if (!System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var takenAt = _time.GetUtcNow();
        DatabaseInfo info;
        List<TableCounters> tables;
        try
        {
            await using var connection = await MariaDbFactsCollector.OpenReadOnlyAsync(csb, cancellationToken).ConfigureAwait(false);
            info = await MariaDbFactsCollector.CollectOnAsync(connection, database, cancellationToken).ConfigureAwait(false);
            tables = (await CountAsync(connection, cancellationToken).ConfigureAwait(false))
                .Select(t => new TableCounters { Table = t.Key, Relid = 0, Inserted = 0, Updated = 0, Deleted = 0, RowEstimate = t.Value, Rows = t.Value })
                .ToList();
        }
        catch (MySqlException e)
        {
            throw new InfrastructureException(target, MariaDbConnections.Redact(e.Message, csb.Password), e);
        }

        // A dump of production's data: readable by the state's owner only. Created 0600 before the tool writes into it.
        var dump = Path.Combine(directory, DumpFileName);
        File.WriteAllBytes(dump, []);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(dump, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        var (args, env) = MariaDbConnections.ClientFor(csb);
        args.AddRange(["--single-transaction", "--routines", "--triggers", "--events", "--hex-blob", "--skip-dump-date",
            "--default-character-set=utf8mb4", "--result-file=" + dump, database]);
        await RunAsync(target, Tool("mariadb-dump", "mysqldump"), args, env, null, cancellationToken).ConfigureAwait(false);

        var point = new DatabaseRollbackPoint
        {
            Database = database,
            TakenAt = takenAt,
            ServerVersion = info.ServerVersion,
            SchemaDigest = info.Schema.Digest,
            SchemaObjects = info.Schema.Objects.Count,
            MigrationsDigest = PostgresFactsCollector.MigrationsDigest(info.Schema.Migrations),
            Migrations = info.Schema.Migrations,
            DumpFile = DumpFileName,
            DumpSha256 = await PostgresRollbackPoint.FileSha256Async(dump, cancellationToken).ConfigureAwait(false),
            DumpBytes = new FileInfo(dump).Length,
            Tables = tables,
            Directory = Path.GetFullPath(directory),
        };
        var sidecar = Path.Combine(directory, PostgresRollbackPoint.SidecarFile);
        await File.WriteAllTextAsync(sidecar + ".tmp", JsonSerializer.Serialize(point, PostgresRollbackPoint.JsonOptions), cancellationToken).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(sidecar + ".tmp", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.Move(sidecar + ".tmp", sidecar, overwrite: true);
        return point;
    }

    /// <summary>Every table's row count at the point and now, tables created since included (at-point null), sorted by name.</summary>
    public async Task<IReadOnlyList<TableRowChange>> RowChangesSinceAsync(DatabaseRollbackPoint point, string connectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(point);
        var now = await CountsAsync(connectionString, cancellationToken).ConfigureAwait(false);
        var then = point.Tables.ToDictionary(t => t.Table, t => t.Rows, StringComparer.Ordinal);
        return now.Select(n => new TableRowChange(n.Key, then.TryGetValue(n.Key, out var rows) ? rows : null, n.Value))
            .Concat(then.Where(t => !now.ContainsKey(t.Key)).Select(t => new TableRowChange(t.Key, t.Value, 0)))
            .OrderBy(c => c.Table, StringComparer.Ordinal).ToList();
    }

    /// <summary>The point's counted tables with their counts now (null: the table is gone), for data continuity.</summary>
    public async Task<IReadOnlyList<Core.Stage.TableRows>> RowsSinceAsync(DatabaseRollbackPoint point, string connectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(point);
        var now = await CountsAsync(connectionString, cancellationToken).ConfigureAwait(false);
        return point.Tables.Where(t => t.Rows is not null)
            .Select(t => new Core.Stage.TableRows(t.Table, t.Rows, now.TryGetValue(t.Table, out var n) ? n : null)).ToList();
    }

    /// <summary>Whether the schema fingerprint or the migration history differs from the point's.</summary>
    public async Task<bool> SchemaChangedSinceAsync(DatabaseRollbackPoint point, string connectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(point);
        var schema = (await InfoAsync(connectionString, point.Database, cancellationToken).ConfigureAwait(false)).Schema;
        return schema.Digest != point.SchemaDigest
            || (point.MigrationsDigest is { } migrations && PostgresFactsCollector.MigrationsDigest(schema.Migrations) != migrations);
    }

    /// <summary>The migration history's rows now that the point does not hold, oldest first.</summary>
    public async Task<IReadOnlyList<MigrationRecord>?> MigrationsSinceAsync(DatabaseRollbackPoint point, string connectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(point);
        if (point.Migrations is not { } before)
        {
            return null;
        }
        var schema = (await InfoAsync(connectionString, point.Database, cancellationToken).ConfigureAwait(false)).Schema;
        var known = before.Select(m => (m.Version, m.Description)).ToHashSet();
        return schema.Migrations.Where(m => !known.Contains((m.Version, m.Description))).ToList();
    }

    /// <summary>
    /// Runs a declared down script in one transaction; null when it committed, else the server's error. MariaDB commits
    /// DDL implicitly, so only a down script of data statements is all-or-nothing.
    /// </summary>
    public static async Task<string?> RunDownScriptAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var csb = MariaDbConnections.Parse(connectionString, "down script");
        var target = MariaDbConnections.Where(csb);
        MySqlConnection connection;
        try
        {
            connection = new MySqlConnection(csb.ConnectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlException e)
        {
            throw new InfrastructureException(target, MariaDbConnections.Redact(e.Message, csb.Password), e);
        }
        await using (connection.ConfigureAwait(false))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await using (var cmd = new MySqlCommand(sql, connection, transaction) { CommandTimeout = 0 })
                {
                    await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return null;
            }
            catch (MySqlException e)
            {
                await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                return MariaDbConnections.Redact($"{e.SqlState}: {e.Message}", csb.Password);
            }
        }
    }

    /// <summary>
    /// Returns the database to the point (see the class remarks): the dump's checksum is checked, it is loaded into a new
    /// database and proven there, and only then swapped in. Before the swap a failure leaves the live database untouched.
    /// </summary>
    /// <exception cref="InputException">The connection names another database, or the dump is damaged.</exception>
    /// <exception cref="InfrastructureException">The server, the client or a verification failed.</exception>
    public async Task<DatabaseRestoreResult> RestoreAsync(DatabaseRollbackPoint point, string connectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(point);
        var sw = Stopwatch.StartNew();
        var csb = MariaDbConnections.Parse(connectionString, point.Database);
        var database = MariaDbConnections.SafeDatabaseName(csb);
        var target = MariaDbConnections.Where(csb);
        if (database != point.Database)
        {
            throw new InputException($"the rollback point is of database {point.Database}, the connection names {database}");
        }
        if (await PostgresRollbackPoint.FileSha256Async(point.DumpPath, cancellationToken).ConfigureAwait(false) != point.DumpSha256)
        {
            throw new InputException($"{point.DumpPath}: the dump does not match its recorded SHA-256; nothing was changed");
        }
        var stamp = _time.GetUtcNow().ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        var restored = Shorten($"{database}_sp_restore_{stamp}");
        var aside = Shorten($"{database}_sp_aside_{stamp}");
        var q = MariaDbConnections.Quote;
        try
        {
            await using var connection = new MySqlConnection(csb.ConnectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var (charset, collation) = await CharsetAsync(connection, database, cancellationToken).ConfigureAwait(false);
            await ExecAsync(connection, $"CREATE DATABASE {q(restored)} CHARACTER SET {charset} COLLATE {collation}", cancellationToken).ConfigureAwait(false);
            var swapped = false;
            try
            {
                // 1. Load and prove the copy, beside the live database.
                var (args, env) = MariaDbConnections.ClientFor(csb);
                args.AddRange(["--default-character-set=utf8mb4", "--database=" + restored]);
                await RunAsync(target, Tool("mariadb", "mysql"), args, env, point.DumpPath, cancellationToken).ConfigureAwait(false);
                var copy = await InfoAsync(MariaDbConnections.ForDatabase(csb, restored), restored, cancellationToken).ConfigureAwait(false);
                if (copy.Schema.Digest != point.SchemaDigest)
                {
                    throw new InfrastructureException(target,
                        $"the dump restored into {restored} has fingerprint {copy.Schema.Digest[..12]}, the point's is {point.SchemaDigest[..12]}: live database left as it was");
                }
                // 2. The copy's non-table objects, as it would create them in the live database.
                var definitions = await DefinitionsAsync(connection, restored, cancellationToken).ConfigureAwait(false);
                foreach (var drop in definitions.Select(d => d.Drop))
                {
                    await ExecAsync(connection, drop, cancellationToken).ConfigureAwait(false);
                }
                // 3. The swap: the live database's views, triggers, routines and events go (the point's replace them), then
                // every table changes place in one atomic RENAME TABLE.
                foreach (var drop in (await DefinitionsAsync(connection, database, cancellationToken).ConfigureAwait(false)).Select(d => d.Drop))
                {
                    await ExecAsync(connection, drop, cancellationToken).ConfigureAwait(false);
                }
                await ExecAsync(connection, $"CREATE DATABASE {q(aside)} CHARACTER SET {charset} COLLATE {collation}", cancellationToken).ConfigureAwait(false);
                var live = await BaseTablesAsync(connection, database, cancellationToken).ConfigureAwait(false);
                var back = await BaseTablesAsync(connection, restored, cancellationToken).ConfigureAwait(false);
                var renames = live.Select(t => $"{q(database)}.{q(t)} TO {q(aside)}.{q(t)}")
                    .Concat(back.Select(t => $"{q(restored)}.{q(t)} TO {q(database)}.{q(t)}")).ToList();
                await ExecAsync(connection, "SET FOREIGN_KEY_CHECKS = 0", cancellationToken).ConfigureAwait(false);
                if (renames.Count > 0)
                {
                    await ExecAsync(connection, "RENAME TABLE " + string.Join(", ", renames), cancellationToken).ConfigureAwait(false);
                }
                swapped = true;
                await ExecAsync(connection, $"USE {q(database)}", cancellationToken).ConfigureAwait(false);
                foreach (var create in definitions.Select(d => d.Create))
                {
                    await ExecAsync(connection, create, cancellationToken).ConfigureAwait(false);
                }
                await ExecAsync(connection, "SET FOREIGN_KEY_CHECKS = 1", cancellationToken).ConfigureAwait(false);
                // 4. Proof on the live database, then the aside copy goes.
                var now = await InfoAsync(csb.ConnectionString, database, cancellationToken).ConfigureAwait(false);
                if (now.Schema.Digest != point.SchemaDigest)
                {
                    throw new InfrastructureException(target,
                        $"after the swap {database} has fingerprint {now.Schema.Digest[..12]}, the point's is {point.SchemaDigest[..12]}; its tables before the restore are kept in {aside}");
                }
                await ExecAsync(connection, $"DROP DATABASE {q(aside)}", cancellationToken).ConfigureAwait(false);
                await ExecAsync(connection, $"DROP DATABASE IF EXISTS {q(restored)}", cancellationToken).ConfigureAwait(false);
                return new DatabaseRestoreResult(database, point.TakenAt, point.SchemaDigest, 0, back.Count, sw.Elapsed);
            }
            catch when (!swapped)
            {
                await DropQuietlyAsync(connection, restored).ConfigureAwait(false);
                await DropQuietlyAsync(connection, aside, onlyIfEmpty: true).ConfigureAwait(false);
                throw;
            }
            catch (MySqlException e)
            {
                // After the swap: the live database has the point's tables, and its tables from before are in the aside database.
                throw new InfrastructureException(target,
                    $"restore of {database}: {MariaDbConnections.Redact(e.Message, csb.Password)} after the tables were swapped; " +
                    $"its tables from before the restore are kept in {aside}", e);
            }
        }
        catch (MySqlException e)
        {
            throw new InfrastructureException(target, $"restore of {database}: {MariaDbConnections.Redact(e.Message, csb.Password)}", e);
        }
    }

    private static string Shorten(string name) => name.Length <= 64 ? name : name[..40] + name[^24..];

    private static async Task DropQuietlyAsync(MySqlConnection connection, string database, bool onlyIfEmpty = false)
    {
        try
        {
            if (onlyIfEmpty && (await BaseTablesAsync(connection, database, CancellationToken.None).ConfigureAwait(false)).Count > 0)
            {
                return;
            }
            await ExecAsync(connection, $"DROP DATABASE IF EXISTS {MariaDbConnections.Quote(database)}", CancellationToken.None).ConfigureAwait(false);
        }
        catch (MySqlException)
        {
            // Left for an operator; the error being reported matters more.
        }
    }

    private static async Task<(string Charset, string Collation)> CharsetAsync(MySqlConnection connection, string database, CancellationToken ct)
    {
        await using var cmd = new MySqlCommand(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = @d", connection);
        cmd.Parameters.AddWithValue("@d", database);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            throw new InputException($"database {database} does not exist on the server");
        }
        // Names of the server's own character sets: letters, digits and underscores only.
        static string Safe(string s) => s.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') ? s : throw new InputException($"unexpected character set name {s}");
        return (Safe(reader.GetString(0)), Safe(reader.GetString(1)));
    }

    private static async Task<List<string>> BaseTablesAsync(MySqlConnection connection, string database, CancellationToken ct)
    {
        var result = new List<string>();
        await using var cmd = new MySqlCommand(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = @d AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME", connection);
        cmd.Parameters.AddWithValue("@d", database);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(reader.GetString(0));
        }
        return result;
    }

    /// <summary>
    /// The views, routines, triggers and events of <paramref name="database"/>: how to drop each there and how to create it
    /// again in whatever database is current (names unqualified; views first as triggers and routines may use them).
    /// </summary>
    private static async Task<List<(string Drop, string Create)>> DefinitionsAsync(MySqlConnection connection, string database, CancellationToken ct)
    {
        var q = MariaDbConnections.Quote;
        var objects = new List<(string Kind, string Name)>();
        foreach (var (kind, sql) in new[]
        {
            ("VIEW", "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = @d ORDER BY TABLE_NAME"),
            ("FUNCTION", "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = @d AND ROUTINE_TYPE = 'FUNCTION' ORDER BY ROUTINE_NAME"),
            ("PROCEDURE", "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = @d AND ROUTINE_TYPE = 'PROCEDURE' ORDER BY ROUTINE_NAME"),
            ("TRIGGER", "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = @d ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER"),
            ("EVENT", "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = @d ORDER BY EVENT_NAME"),
        })
        {
            await using var cmd = new MySqlCommand(sql, connection);
            cmd.Parameters.AddWithValue("@d", database);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                objects.Add((kind, reader.GetString(0)));
            }
        }
        var result = new List<(string, string)>();
        var qualifier = q(database) + ".";
        foreach (var (kind, name) in objects)
        {
            await using var cmd = new MySqlCommand($"SHOW CREATE {kind} {qualifier}{q(name)}", connection);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            // SHOW CREATE's columns: name, [sql_mode,] create statement, … — the statement is the column whose name starts "Create".
            var column = Enumerable.Range(0, reader.FieldCount).First(i => reader.GetName(i).StartsWith("Create ", StringComparison.OrdinalIgnoreCase)
                || reader.GetName(i).Equals("SQL Original Statement", StringComparison.OrdinalIgnoreCase));
            var create = reader.GetString(column).Replace(qualifier, "", StringComparison.Ordinal);
            result.Add(($"DROP {kind} {qualifier}{q(name)}", create));
        }
        return result;
    }

    private static async Task<DatabaseInfo> InfoAsync(string connectionString, string database, CancellationToken ct)
    {
        var csb = MariaDbConnections.Parse(connectionString, database);
        try
        {
            await using var connection = await MariaDbFactsCollector.OpenReadOnlyAsync(csb, ct).ConfigureAwait(false);
            return await MariaDbFactsCollector.CollectOnAsync(connection, database, ct).ConfigureAwait(false);
        }
        catch (MySqlException e)
        {
            throw new InfrastructureException(MariaDbConnections.Where(csb), MariaDbConnections.Redact(e.Message, csb.Password), e);
        }
    }

    private static async Task<Dictionary<string, long>> CountsAsync(string connectionString, CancellationToken ct)
    {
        var csb = MariaDbConnections.Parse(connectionString, "row counts");
        try
        {
            await using var connection = await MariaDbFactsCollector.OpenReadOnlyAsync(csb, ct).ConfigureAwait(false);
            return await CountAsync(connection, ct).ConfigureAwait(false);
        }
        catch (MySqlException e)
        {
            throw new InfrastructureException(MariaDbConnections.Where(csb), MariaDbConnections.Redact(e.Message, csb.Password), e);
        }
    }

    /// <summary>Each base table's exact row count, all in one consistent snapshot.</summary>
    private static async Task<Dictionary<string, long>> CountAsync(MySqlConnection connection, CancellationToken ct)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        await ExecAsync(connection, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", ct).ConfigureAwait(false);
        try
        {
            var tables = new List<string>();
            await using (var list = new MySqlCommand(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME",
                connection))
            {
                await using var reader = await list.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    tables.Add(reader.GetString(0));
                }
            }
            foreach (var table in tables)
            {
                await using var count = new MySqlCommand($"SELECT COUNT(*) FROM {MariaDbConnections.Quote(table)}", connection) { CommandTimeout = 0 };
                result[table] = Convert.ToInt64(await count.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
            }
        }
        finally
        {
            await ExecAsync(connection, "COMMIT", CancellationToken.None).ConfigureAwait(false);
        }
        return result;
    }

    private static async Task ExecAsync(MySqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new MySqlCommand(sql, connection) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task RunAsync(string target, string tool, List<string> args, Dictionary<string, string> env, string? stdinFile, CancellationToken ct)
    {
        CommandResult result;
        try
        {
            result = await ProcessRunner.RunAsync(target, tool, args, new CommandOptions { Timeout = TimeSpan.FromHours(6) }, ct, env, stdinFile)
                .ConfigureAwait(false);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InfrastructureException(target, $"could not start {tool}: {e.Message}", e);
        }
        if (result.ExitCode != 0)
        {
            var password = env.TryGetValue("MYSQL_PWD", out var p) ? p : null;
            throw new InfrastructureException(target, $"{Path.GetFileName(tool)} exited {result.ExitCode}: {MariaDbConnections.Redact(result.StandardError.Trim(), password)}");
        }
    }
}
