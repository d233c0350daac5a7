using System.Diagnostics;
using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Patches;

namespace Stageproof.Hosts.Databases;

/// <summary>One row of <c>stageproof_schema_history</c>.</summary>
public sealed record AppliedMigration(
    int InstalledRank, string Script, string Checksum, DateTimeOffset AppliedAt, string AppliedBy,
    string? PatchDigest, int ExecutionMs, bool Success);

/// <summary>
/// What applying a migration list would do: the scripts already applied with the same checksum (in list
/// order) and the scripts still pending (in list order).
/// </summary>
public sealed record MigrationPlan(string Database, IReadOnlyList<AppliedMigration> Applied, IReadOnlyList<PatchMigrationScript> Pending)
{
    public bool UpToDate => Pending.Count == 0;
}

/// <summary>What <see cref="PostgresMigrator.ApplyAsync"/> did: scripts found applied, and those it applied now.</summary>
public sealed record MigrationOutcome(string Database, IReadOnlyList<AppliedMigration> AlreadyApplied, IReadOnlyList<AppliedMigration> AppliedNow)
{
    /// <summary>Nothing was pending: re-applying an applied set changes nothing.</summary>
    public bool NoOp => AppliedNow.Count == 0;
}

/// <summary>
/// A migration script failed. Its own transaction was rolled back (nothing of it, nor its history row, is
/// kept) unless <see cref="RolledBackEntirely"/> is false (MariaDB, whose DDL commits implicitly: then a failed row is
/// kept); the scripts listed in <see cref="AppliedBefore"/> were committed earlier in the same run and stay.
/// </summary>
public sealed class MigrationFailedException : StageproofException
{
    public MigrationFailedException(string database, string script, string sqlState, string error, int? line, int? column,
        IReadOnlyList<AppliedMigration> appliedBefore, Exception inner, bool rolledBackEntirely = true)
        : base(Describe(database, script, sqlState, error, line, column, appliedBefore, rolledBackEntirely), ExitCodes.Finding, inner)
    {
        RolledBackEntirely = rolledBackEntirely;
        Database = database;
        Script = script;
        SqlState = sqlState;
        Error = error;
        Line = line;
        Column = column;
        AppliedBefore = appliedBefore;
    }

    public string Database { get; }
    public string Script { get; }
    public string SqlState { get; }
    /// <summary>PostgreSQL's message (with its detail, when any).</summary>
    public string Error { get; }
    /// <summary>1-based line and column in the script where PostgreSQL located the error, when it did.</summary>
    public int? Line { get; }
    public int? Column { get; }
    /// <summary>False when part of the script stayed (MariaDB commits DDL implicitly): its history row says failed.</summary>
    public bool RolledBackEntirely { get; }
    /// <summary>Scripts committed by this run before the failing one: the database is "half applied" by exactly these.</summary>
    public IReadOnlyList<AppliedMigration> AppliedBefore { get; }

    private static string Describe(string database, string script, string sqlState, string error, int? line, int? column,
        IReadOnlyList<AppliedMigration> appliedBefore, bool rolledBackEntirely)
    {
        var at = line is { } l ? $" at line {l}, column {column ?? 1}" : "";
        var before = appliedBefore.Count == 0
            ? "no script was applied before it in this run"
            : "applied before it in this run (and kept): " + string.Join(", ", appliedBefore.Select(a => a.Script));
        return $"database {database}: migration {script} failed{at}: {error} (SQLSTATE {sqlState}); " +
            (rolledBackEntirely ? "the script was rolled back entirely" : "the script was NOT rolled back entirely") + $"; {before}";
    }
}

/// <summary>
/// Applies the ordered SQL files of a patch set to one PostgreSQL database, Flyway-style: a history table
/// <c>public.stageproof_schema_history</c> records every applied script with its SHA-256; an applied script
/// whose checksum differs from the patch set's is refused; each pending script runs in its own transaction
/// together with its history row, so a failing script leaves nothing of itself behind. Concurrent runs against
/// the same database are serialised by a session advisory lock.
/// </summary>
/// <remarks>
/// Statements that cannot run inside a transaction block (CREATE INDEX CONCURRENTLY, VACUUM, CREATE DATABASE)
/// are not supported in a script: they fail with PostgreSQL's error. Failures are not recorded as rows
/// (the transaction is gone), so a fixed script can simply be applied again; a <c>success = false</c> row
/// written by someone else is refused until an operator removes it.
/// </remarks>
public sealed class PostgresMigrator
{
    public const string HistoryTable = "stageproof_schema_history";
    private const string QualifiedHistory = "public." + HistoryTable;

    /// <summary>The advisory lock key ("stgprf" in ASCII) every Stageproof migration run takes on the database.</summary>
    public const long AdvisoryLockKey = 0x7374_6770_7266;

    private const string CreateHistory = $"""
        CREATE TABLE IF NOT EXISTS {QualifiedHistory} (
            installed_rank serial PRIMARY KEY,
            script text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            applied_by text NOT NULL,
            patch_digest text,
            execution_ms integer NOT NULL,
            success boolean NOT NULL)
        """;

    /// <summary>Which scripts are applied and which are pending. Read only (the history table is not created).</summary>
    /// <exception cref="InputException">A script is not frozen, an applied script's checksum changed, or a failed row exists.</exception>
    /// <exception cref="InfrastructureException">The database cannot be reached.</exception>
    public async Task<MigrationPlan> PlanAsync(string connectionString, PatchMigration migration, CancellationToken cancellationToken)
    {
        var (csb, target) = Parse(connectionString, migration);
        Validate(migration);
        try
        {
            await using var connection = new NpgsqlConnection(csb.ConnectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return await PlanOnAsync(connection, migration, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException e)
        {
            throw Infrastructure(target, csb, e);
        }
    }

    /// <summary>True when every script of the list is applied with its frozen checksum (applying would be a no-op).</summary>
    public async Task<bool> IsAppliedAsync(string connectionString, PatchMigration migration, CancellationToken cancellationToken) =>
        (await PlanAsync(connectionString, migration, cancellationToken).ConfigureAwait(false)).UpToDate;

    /// <summary>
    /// Applies the pending scripts in order. Creates the history table when absent. Holds the advisory lock for
    /// the whole run and plans again under it, so a concurrent run that got there first makes this one a no-op.
    /// </summary>
    /// <exception cref="MigrationFailedException">A script failed; it was rolled back; the exception lists what was applied before it.</exception>
    /// <exception cref="InputException">As <see cref="PlanAsync"/>.</exception>
    /// <exception cref="InfrastructureException">The database cannot be reached.</exception>
    public async Task<MigrationOutcome> ApplyAsync(string connectionString, PatchMigration migration, string patchDigest, string actor,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(patchDigest);
        ArgumentNullException.ThrowIfNull(actor);
        var (csb, target) = Parse(connectionString, migration);
        Validate(migration);
        var appliedNow = new List<AppliedMigration>();
        try
        {
            await using var connection = new NpgsqlConnection(csb.ConnectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecAsync(connection, $"SELECT pg_advisory_lock({AdvisoryLockKey})", cancellationToken).ConfigureAwait(false);
            try
            {
                await ExecAsync(connection, CreateHistory, cancellationToken).ConfigureAwait(false);
                var plan = await PlanOnAsync(connection, migration, cancellationToken).ConfigureAwait(false);
                foreach (var script in plan.Pending)
                {
                    appliedNow.Add(await ApplyOneAsync(connection, migration.Database, script, patchDigest, actor, appliedNow, cancellationToken)
                        .ConfigureAwait(false));
                }
                return new MigrationOutcome(migration.Database, plan.Applied, appliedNow);
            }
            finally
            {
                // Closing the session releases the lock too; unlocking explicitly only makes it prompt.
                try
                {
                    await ExecAsync(connection, $"SELECT pg_advisory_unlock({AdvisoryLockKey})", CancellationToken.None).ConfigureAwait(false);
                }
                catch (NpgsqlException)
                {
                }
                catch (InvalidOperationException)
                {
                }
            }
        }
        catch (NpgsqlException e) when (e is not PostgresException && appliedNow.Count > 0)
        {
            throw new InfrastructureException(target,
                $"database {migration.Database}: {PostgresConnections.Redact(e.Message, csb.Password)}; applied before the failure in this run " +
                $"(and kept): {string.Join(", ", appliedNow.Select(a => a.Script))}; plan again to see whether the script in flight was committed",
                e);
        }
        catch (NpgsqlException e) when (e is not PostgresException)
        {
            throw Infrastructure(target, csb, e);
        }
        catch (PostgresException e)
        {
            // Not from a script (those become MigrationFailedException): the history table or the lock.
            throw new InfrastructureException(target, $"database {migration.Database}: {e.MessageText} (SQLSTATE {e.SqlState})", e);
        }
    }

    private static async Task<AppliedMigration> ApplyOneAsync(NpgsqlConnection connection, string database, PatchMigrationScript script,
        string patchDigest, string actor, List<AppliedMigration> appliedBefore, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        var statements = SqlStatements.Split(script.Sql!);
        // One batch of the script's statements, so that PostgreSQL's error names the failing one.
        await using var batch = new NpgsqlBatch(connection, tx) { Timeout = 0 };
        foreach (var (start, length) in statements)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(script.Sql!.Substring(start, length)));
        }
        try
        {
            if (batch.BatchCommands.Count > 0)
            {
                await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        catch (PostgresException e)
        {
            await tx.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
            // Npgsql does not always reference the failing command from the exception; the commands that completed
            // carry their statement type, the failing one and those after it do not.
            var failed = e.BatchCommand is { } bc ? batch.BatchCommands.IndexOf(bc) : -1;
            for (var i = 0; failed < 0 && i < batch.BatchCommands.Count; i++)
            {
                if (batch.BatchCommands[i].StatementType == StatementType.Unknown)
                {
                    failed = i;
                }
            }
            var (line, column) = Locate(script.Sql!, failed >= 0 ? statements[failed].Start : -1, e);
            var message = e.Detail is { Length: > 0 } detail ? $"{e.MessageText} ({detail})" : e.MessageText;
            throw new MigrationFailedException(database, script.File, e.SqlState, message, line, column, appliedBefore.ToList(), e);
        }
        var ms = (int)Math.Min(int.MaxValue, sw.ElapsedMilliseconds);
        await using (var cmd = new NpgsqlCommand(
            $"""
            INSERT INTO {QualifiedHistory} (script, checksum, applied_at, applied_by, patch_digest, execution_ms, success)
            VALUES (@script, @checksum, now(), @by, @digest, @ms, true)
            RETURNING installed_rank, applied_at
            """, connection, tx))
        {
            cmd.Parameters.AddWithValue("script", script.File);
            cmd.Parameters.AddWithValue("checksum", script.Sha256!);
            cmd.Parameters.AddWithValue("by", actor);
            cmd.Parameters.AddWithValue("digest", patchDigest);
            cmd.Parameters.AddWithValue("ms", ms);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            var rank = reader.GetInt32(0);
            var at = reader.GetFieldValue<DateTimeOffset>(1);
            await reader.DisposeAsync().ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return new AppliedMigration(rank, script.File, script.Sha256!, at, actor, patchDigest, ms, true);
        }
    }

    /// <summary>Maps PostgreSQL's error position (within the failing statement) to a line and column of the script.</summary>
    private static (int? Line, int? Column) Locate(string sql, int statementStart, PostgresException e)
    {
        if (statementStart < 0)
        {
            return (null, null);
        }
        var offset = statementStart;
        if (e.Position > 0)
        {
            offset = Math.Min(sql.Length, statementStart + e.Position - 1);
        }
        else
        {
            // No position: the statement's first significant character.
            while (offset < sql.Length && char.IsWhiteSpace(sql[offset]))
            {
                offset++;
            }
        }
        var line = 1;
        var lineStart = 0;
        for (var i = 0; i < offset; i++)
        {
            if (sql[i] == '\n')
            {
                line++;
                lineStart = i + 1;
            }
        }
        return (line, offset - lineStart + 1);
    }

    private static async Task<MigrationPlan> PlanOnAsync(NpgsqlConnection connection, PatchMigration migration, CancellationToken ct)
    {
        var history = new List<AppliedMigration>();
        var exists = await ScalarAsync(connection, $"SELECT to_regclass('{QualifiedHistory}') IS NOT NULL", ct).ConfigureAwait(false) is true;
        if (exists)
        {
            await using var cmd = new NpgsqlCommand(
                $"SELECT installed_rank, script, checksum, applied_at, applied_by, patch_digest, execution_ms, success FROM {QualifiedHistory} ORDER BY installed_rank",
                connection);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                history.Add(new AppliedMigration(reader.GetInt32(0), reader.GetString(1), reader.GetString(2),
                    reader.GetFieldValue<DateTimeOffset>(3), reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                    reader.GetInt32(6), reader.GetBoolean(7)));
            }
        }

        return Plan(migration, history, QualifiedHistory);
    }

    /// <summary>The plan of <paramref name="migration"/> against a history read from <paramref name="historyTable"/>
    /// (the rules every engine shares: no failed row, no changed checksum, no out-of-order script).</summary>
    internal static MigrationPlan Plan(PatchMigration migration, List<AppliedMigration> history, string historyTable)
    {
        if (history.FirstOrDefault(h => !h.Success) is { } failed)
        {
            throw new InputException(
                $"database {migration.Database}: migration {failed.Script} is recorded as failed (installed_rank {failed.InstalledRank} in " +
                $"{historyTable}, {failed.AppliedAt:u} by {failed.AppliedBy}): the database is in an unknown state for it; " +
                "repair it and delete that row before applying again");
        }

        var applied = new List<AppliedMigration>();
        var pending = new List<PatchMigrationScript>();
        var problems = new List<string>();
        foreach (var script in migration.Scripts)
        {
            var rows = history.Where(h => h.Script == script.File).ToList();
            if (rows.Count == 0)
            {
                pending.Add(script);
                continue;
            }
            foreach (var row in rows.Where(r => !string.Equals(r.Checksum, script.Sha256, StringComparison.OrdinalIgnoreCase)))
            {
                problems.Add($"migration {script.File} was applied with checksum {row.Checksum} (installed_rank {row.InstalledRank}, " +
                    $"{row.AppliedAt:u}) but the patch set has {script.Sha256}: an applied migration must never change");
            }
            applied.Add(rows[0]);
        }
        // Like Flyway without outOfOrder: a pending script listed before an applied one means the history and the
        // list disagree on the order (another lineage of patch sets); applying it late is refused.
        if (pending.Count > 0 && applied.Count > 0)
        {
            var lastApplied = migration.Scripts.Select((s, i) => (s, i)).Last(x => applied.Any(a => a.Script == x.s.File)).i;
            foreach (var late in migration.Scripts.Take(lastApplied).Where(s => pending.Contains(s)))
            {
                problems.Add($"migration {late.File} is pending but {migration.Scripts[lastApplied].File}, listed after it, is already applied: " +
                    "applying a migration out of order is refused");
            }
        }
        if (problems.Count > 0)
        {
            throw new InputException($"database {migration.Database}: " + string.Join("; ", problems));
        }
        return new MigrationPlan(migration.Database, applied, pending);
    }

    internal static void Validate(PatchMigration migration)
    {
        var problems = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in migration.Scripts)
        {
            if (!seen.Add(s.File))
            {
                problems.Add($"migration {s.File} is listed twice");
            }
            if (s.Sql is null || s.Sha256 is null)
            {
                problems.Add($"migration {s.File} is not frozen (no SQL or checksum): freeze the patch set first");
            }
            else if (!string.Equals(PatchSetFreezer.Sha256(s.Sql), s.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"migration {s.File}: its SQL does not match its recorded checksum {s.Sha256}");
            }
        }
        if (problems.Count > 0)
        {
            throw new InputException($"database {migration.Database}: " + string.Join("; ", problems));
        }
    }

    private static (NpgsqlConnectionStringBuilder Csb, string Target) Parse(string connectionString, PatchMigration migration)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        ArgumentNullException.ThrowIfNull(migration);
        var csb = PostgresConnections.Parse(connectionString, migration.Database);
        return (csb, PostgresConnections.Where(csb));
    }

    private static InfrastructureException Infrastructure(string target, NpgsqlConnectionStringBuilder csb, Exception e) =>
        new(target, PostgresConnections.Redact(e.Message, csb.Password), e);

    private static async Task ExecAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
    }
}
