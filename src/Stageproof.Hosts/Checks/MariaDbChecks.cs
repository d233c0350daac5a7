using System.Globalization;
using System.Text.RegularExpressions;
using MySqlConnector;
using Stageproof.Core.Checks;
using Stageproof.Hosts.Databases;
using Outcome = Stageproof.Hosts.Checks.CheckSuiteRunner.Outcome;

namespace Stageproof.Hosts.Checks;

/// <summary>sql and db-integrity checks on MariaDB and MySQL (the schema check is the engines' shared one).</summary>
internal static partial class MariaDbChecks
{
    private static async Task<(MySqlConnection? Connection, Outcome? Failure)> OpenAsync(string connectionString, TimeSpan timeout, CancellationToken ct)
    {
        var csb = new MySqlConnectionStringBuilder(connectionString)
        {
            ConnectionTimeout = (uint)Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds)),
            AllowUserVariables = true,
        };
        var connection = new MySqlConnection(csb.ConnectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            // Every transaction of this session is read only unless a statement says otherwise — and the query is never
            // given the chance to say so followed by a write (it runs alone, below).
            await using var ro = new MySqlCommand("SET SESSION TRANSACTION READ ONLY", connection);
            await ro.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return (connection, null);
        }
        catch (Exception e) when (e is MySqlException or TimeoutException)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            return (null, new Outcome(CheckStatus.Error,
                $"cannot connect to the database at {MariaDbConnections.Where(csb)}: {MariaDbConnections.Redact(e.Message, csb.Password)}"));
        }
    }

    // What a read-only query starts with; anything else (a write, DDL, SET, CALL, DO, a transaction statement) is refused unsent.
    [GeneratedRegex(@"^\s*(\(\s*)*(select|with|show|explain|describe|desc|values|table)\b", RegexOptions.IgnoreCase)]
    private static partial Regex ReadStatement();

    [GeneratedRegex(@"\binto\s+(outfile|dumpfile)\b", RegexOptions.IgnoreCase)]
    private static partial Regex IntoFile();

    /// <summary>
    /// Runs the query read-only in a way the query cannot undo: it must read (SELECT, WITH, SHOW, EXPLAIN…), it is sent
    /// to the server as the text of one prepared statement (PREPARE takes exactly one: "COMMIT; DELETE …" is a syntax
    /// error before anything runs), inside START TRANSACTION READ ONLY, which is rolled back afterwards.
    /// </summary>
    public static async Task<Outcome> SqlAsync(SqlCheck check, string connectionString, CancellationToken ct)
    {
        if (!ReadStatement().IsMatch(check.Query) || IntoFile().IsMatch(check.Query))
        {
            return new Outcome(CheckStatus.Failed,
                "query refused: a sql check on MariaDB runs exactly one read-only statement (SELECT, WITH, SHOW, EXPLAIN, VALUES, TABLE; no INTO OUTFILE)");
        }
        var (connection, failure) = await OpenAsync(connectionString, check.Timeout, ct).ConfigureAwait(false);
        if (connection is null)
        {
            return failure!;
        }
        await using (connection)
        {
            var timeout = Math.Max(1, (int)Math.Ceiling(check.Timeout.TotalSeconds));
            try
            {
                await using (var begin = new MySqlCommand("START TRANSACTION READ ONLY", connection))
                {
                    await begin.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                await using (var prepare = new MySqlCommand("SET @stageproof_check = @query; PREPARE stageproof_check FROM @stageproof_check", connection))
                {
                    prepare.Parameters.AddWithValue("@query", check.Query);
                    await prepare.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                SqlQueryRows read;
                await using (var execute = new MySqlCommand("EXECUTE stageproof_check", connection) { CommandTimeout = timeout })
                {
                    await using var reader = await execute.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    read = await SqlQueryRows.ReadAsync(reader, ct).ConfigureAwait(false);
                }
                await using (var rollback = new MySqlCommand("ROLLBACK", connection))
                {
                    await rollback.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                return read.Judge(check);
            }
            catch (MySqlException e)
            {
                return new Outcome(CheckStatus.Failed, $"query failed: {e.SqlState} {e.Message}");
            }
        }
    }

    /// <summary>CHECK TABLE on every table of the database (any status but OK fails), then the invariant queries.</summary>
    public static async Task<Outcome> IntegrityAsync(DbIntegrityCheck check, string connectionString, string? replicaConnectionString, CancellationToken ct)
    {
        var problems = new List<string>();
        var notes = new List<string>();
        var m = new Dictionary<string, double>();
        var (connection, failure) = await OpenAsync(connectionString, check.Timeout, ct).ConfigureAwait(false);
        if (connection is null)
        {
            return failure!;
        }
        await using (connection)
        {
            var timeout = Math.Max(1, (int)Math.Ceiling(check.Timeout.TotalSeconds));
            if (check.Amcheck)
            {
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
                    var findings = 0;
                    foreach (var table in tables)
                    {
                        // Rows: Table, Op, Msg_type, Msg_text; a healthy table ends with "status OK".
                        await using var cmd = new MySqlCommand($"CHECK TABLE {MariaDbConnections.Quote(table)}", connection) { CommandTimeout = timeout };
                        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                        var messages = new List<string>();
                        var ok = false;
                        while (await reader.ReadAsync(ct).ConfigureAwait(false))
                        {
                            var type = reader.GetString(2);
                            var text = reader.GetString(3);
                            if (type.Equals("status", StringComparison.OrdinalIgnoreCase) && text.Equals("OK", StringComparison.OrdinalIgnoreCase))
                            {
                                ok = true;
                            }
                            else
                            {
                                messages.Add($"{type}: {text}");
                            }
                        }
                        if (!ok || messages.Any(x => x.StartsWith("error", StringComparison.OrdinalIgnoreCase)))
                        {
                            findings++;
                            problems.Add($"CHECK TABLE {table}: {(messages.Count == 0 ? "no OK status" : string.Join(" | ", messages.Take(3)))}");
                        }
                    }
                    m["tables_checked"] = tables.Count;
                    m["check_table_findings"] = findings;
                    if (findings == 0)
                    {
                        notes.Add($"CHECK TABLE found every one of {tables.Count} table(s) OK");
                    }
                }
                catch (MySqlException e)
                {
                    problems.Add($"CHECK TABLE failed: {e.SqlState} {e.Message}");
                }
            }
            foreach (var invariant in check.Invariants)
            {
                try
                {
                    await using var cmd = new MySqlCommand(invariant.Query, connection) { CommandTimeout = timeout };
                    await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    var read = await SqlQueryRows.ReadAsync(reader, ct).ConfigureAwait(false);
                    m[$"invariant_{invariant.Name}_rows"] = read.Rows;
                    if (read.Rows > 0)
                    {
                        problems.Add($"invariant {invariant.Name}: {read.Rows} violating row(s), first: {read.FirstRow}");
                    }
                }
                catch (MySqlException e)
                {
                    problems.Add($"invariant {invariant.Name}: query failed: {e.SqlState} {e.Message}");
                }
            }
            if (check.Invariants.Count > 0 && !problems.Any(p => p.StartsWith("invariant", StringComparison.Ordinal)))
            {
                notes.Add($"{check.Invariants.Count} invariant(s) hold");
            }
            if (check.Replica is { } replica)
            {
                if (replicaConnectionString is null)
                {
                    problems.Add($"replica '{replica}' is not a MariaDB/MySQL database of this environment");
                }
                else
                {
                    var (lagProblem, lagNote, lagSeconds) = await ReplicationLagAsync(check, replicaConnectionString, ct).ConfigureAwait(false);
                    if (lagProblem is not null)
                    {
                        problems.Add(lagProblem);
                    }
                    if (lagNote is not null)
                    {
                        notes.Add(lagNote);
                    }
                    if (lagSeconds is { } seconds)
                    {
                        m["replication_lag_s"] = seconds;
                    }
                }
            }
        }
        return new Outcome(problems.Count > 0 ? CheckStatus.Failed : CheckStatus.Passed,
            problems.Count > 0 ? string.Join("; ", problems) : string.Join("; ", notes), m);
    }

    /// <summary>
    /// The replica's own account of its lag (SHOW REPLICA STATUS, MariaDB 10.5+; SHOW SLAVE STATUS before): both threads
    /// running and Seconds_Behind_Master within the limit. A stopped thread is a failure with its last error, not a lag
    /// of zero: a replica that stopped replaying is the one that would lose data at a failover.
    /// </summary>
    private static async Task<(string? Problem, string? Note, double? Seconds)> ReplicationLagAsync(DbIntegrityCheck check, string replicaConnectionString, CancellationToken ct)
    {
        var (connection, failure) = await OpenAsync(replicaConnectionString, check.Timeout, ct).ConfigureAwait(false);
        if (connection is null)
        {
            return ($"replica {check.Replica}: {failure!.Message}", null, null);
        }
        await using (connection)
        {
            Dictionary<string, string?>? status = null;
            foreach (var sql in new[] { "SHOW REPLICA STATUS", "SHOW SLAVE STATUS" })
            {
                try
                {
                    await using var cmd = new MySqlCommand(sql, connection);
                    await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    status = await reader.ReadAsync(ct).ConfigureAwait(false)
                        ? Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName, i => reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture), StringComparer.OrdinalIgnoreCase)
                        : [];
                    break;
                }
                catch (MySqlException) when (sql == "SHOW REPLICA STATUS")
                {
                    // MySQL before 8.0.22 and MariaDB before 10.5 know only the older name.
                }
                catch (MySqlException e)
                {
                    return ($"replica {check.Replica}: {sql} failed: {e.Message}", null, null);
                }
            }
            if (status is null or { Count: 0 })
            {
                return ($"replica {check.Replica} is not a replica (SHOW REPLICA STATUS is empty)", null, null);
            }
            string? Field(params string[] names) => names.Select(n => status.GetValueOrDefault(n)).FirstOrDefault(v => v is not null);
            var io = Field("Slave_IO_Running", "Replica_IO_Running") ?? "?";
            var sqlThread = Field("Slave_SQL_Running", "Replica_SQL_Running") ?? "?";
            if (!string.Equals(io, "Yes", StringComparison.OrdinalIgnoreCase) || !string.Equals(sqlThread, "Yes", StringComparison.OrdinalIgnoreCase))
            {
                var error = new[] { Field("Last_SQL_Error"), Field("Last_IO_Error") }.FirstOrDefault(e => !string.IsNullOrEmpty(e));
                return ($"replica {check.Replica} is not replicating (IO thread {io}, SQL thread {sqlThread}){(error is null ? "" : ": " + error)}", null, null);
            }
            var inv = CultureInfo.InvariantCulture;
            if (!double.TryParse(Field("Seconds_Behind_Master", "Seconds_Behind_Source"), NumberStyles.Float, inv, out var lag))
            {
                return ($"replica {check.Replica} does not report its lag (Seconds_Behind_Master is empty)", null, null);
            }
            return lag > check.MaxReplicationLag.TotalSeconds
                ? (string.Create(inv, $"replica {check.Replica} lags {lag:0.###}s behind, limit {check.MaxReplicationLag.TotalSeconds:0.###}s"), null, lag)
                : (null, string.Create(inv, $"replica {check.Replica} lags {lag:0.###}s"), lag);
        }
    }
}
