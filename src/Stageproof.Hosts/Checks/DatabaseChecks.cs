using System.Globalization;
using Npgsql;
using Stageproof.Core.Checks;
using Stageproof.Core.Hosts;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Databases;
using Stageproof.Hosts.Transports;
using Outcome = Stageproof.Hosts.Checks.CheckSuiteRunner.Outcome;

namespace Stageproof.Hosts.Checks;

/// <summary>sql, schema and db-integrity checks, run from the control machine against the connection strings.</summary>
internal static class DatabaseChecks
{
    private static string Where(NpgsqlConnectionStringBuilder csb) => $"{csb.Host}:{csb.Port.ToString(CultureInfo.InvariantCulture)}/{csb.Database}";

    private static async Task<(NpgsqlConnection? Connection, Outcome? Failure)> OpenAsync(string connectionString, TimeSpan timeout, CancellationToken ct)
    {
        var csb = new NpgsqlConnectionStringBuilder(connectionString) { Timeout = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds)) };
        var connection = new NpgsqlConnection(csb.ConnectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            await using var ro = new NpgsqlCommand("SET default_transaction_read_only = on", connection);
            await ro.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return (connection, null);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            // Unreachable or refusing us: the check could not run (exit 3), as for an unreachable host; not a finding.
            return (null, new Outcome(CheckStatus.Error, $"cannot connect to the database at {Where(csb)}: {Redact(e.Message, csb.Password)}"));
        }
    }

    private static string Redact(string message, string? password) =>
        string.IsNullOrEmpty(password) ? message : message.Replace(password, "********", StringComparison.Ordinal);

    public static async Task<Outcome> SqlAsync(SqlCheck check, string connectionString, CancellationToken ct)
    {
        var (connection, failure) = await OpenAsync(connectionString, check.Timeout, ct).ConfigureAwait(false);
        if (connection is null)
        {
            return failure!;
        }
        await using (connection)
        {
            try
            {
                // Read-only in a way the query cannot undo: the statement runs inside a READ ONLY transaction, and it
                // runs alone. A batch command without parameters reaches the server unparsed through the extended
                // protocol, which takes exactly one statement: "COMMIT; CREATE TABLE ..." or "BEGIN READ WRITE; ..."
                // is refused by PostgreSQL itself (42601) before anything runs.
                await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
                // READ ONLY, then a first query: from then on the mode is fixed ("SET TRANSACTION READ WRITE" fails, 25001).
                foreach (var sql in new[] { "SET TRANSACTION READ ONLY", "SELECT 1" })
                {
                    await using var readOnly = new NpgsqlCommand(sql, connection, transaction);
                    await readOnly.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
                await using var batch = new NpgsqlBatch(connection, transaction) { Timeout = Math.Max(1, (int)Math.Ceiling(check.Timeout.TotalSeconds)) };
                batch.BatchCommands.Add(new NpgsqlBatchCommand(check.Query));
                await using var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
                return (await SqlQueryRows.ReadAsync(reader, ct).ConfigureAwait(false)).Judge(check);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.SyntaxError && e.MessageText.Contains("multiple commands", StringComparison.Ordinal))
            {
                return new Outcome(CheckStatus.Failed, $"query refused: {e.SqlState} {e.MessageText} (a sql check runs exactly one read-only statement)");
            }
            catch (PostgresException e)
            {
                return new Outcome(CheckStatus.Failed, $"query failed: {e.SqlState} {e.MessageText}");
            }
        }
    }

    public static async Task<Outcome> SchemaAsync(SchemaCheck check, CheckEnvironment environment, string connectionString, TimeProvider time, CancellationToken ct)
    {
        // Either engine: fingerprints have one shape, so same_as may even compare a database across engines (and differ).
        var collector = new DatabaseAdapters(time);
        Manifest manifest;
        try
        {
            manifest = await collector.CollectFactsAsync(environment.Name, check.Database, connectionString, ct).ConfigureAwait(false);
        }
        catch (Core.InfrastructureException e)
        {
            return new Outcome(CheckStatus.Failed, e.Message);
        }
        var schema = manifest.Database!.Schema;
        var problems = new List<string>();
        var notes = new List<string> { $"fingerprint {schema.Digest[..12]} over {schema.Objects.Count} objects" };
        if (check.ExpectDigest is { } expected && expected != schema.Digest)
        {
            problems.Add($"fingerprint {schema.Digest[..12]} differs from the expected {expected[..12]}");
        }
        if (check.SameAs is { } other)
        {
            if (!environment.Databases.TryGetValue(other, out var dbs) || !dbs.TryGetValue(check.Database, out var otherConnection))
            {
                return new Outcome(CheckStatus.Error, $"environment {other} has no database '{check.Database}' to compare with");
            }
            try
            {
                var theirs = (await collector.CollectFactsAsync(other, check.Database, otherConnection, ct).ConfigureAwait(false)).Database!.Schema;
                if (theirs.Digest != schema.Digest)
                {
                    var ours = schema.Objects.Select(o => $"{o.Kind} {o.Name}\t{o.Definition}").ToHashSet(StringComparer.Ordinal);
                    var their = theirs.Objects.Select(o => $"{o.Kind} {o.Name}\t{o.Definition}").ToHashSet(StringComparer.Ordinal);
                    var missing = their.Except(ours).Select(s => s.Split('\t')[0]).Take(5).ToList();
                    var extra = ours.Except(their).Select(s => s.Split('\t')[0]).Take(5).ToList();
                    problems.Add($"fingerprint {schema.Digest[..12]} differs from {other}'s {theirs.Digest[..12]}"
                        + (missing.Count > 0 ? $" (missing or different here: {string.Join(", ", missing)})" : "")
                        + (extra.Count > 0 ? $" (only here or different: {string.Join(", ", extra)})" : ""));
                }
                else
                {
                    notes.Add($"same as {other}");
                }
            }
            catch (Core.InfrastructureException e)
            {
                return new Outcome(CheckStatus.Error, $"{other}: {e.Message}");
            }
        }
        if (check.MigrationsComplete)
        {
            problems.AddRange(MigrationProblems(schema.Migrations));
            notes.Add($"{schema.Migrations.Count} migrations" + (schema.Migrations.Count > 0 ? $", last {schema.Migrations[^1].Version}" : ""));
        }
        var m = new Dictionary<string, double> { ["objects"] = schema.Objects.Count, ["migrations"] = schema.Migrations.Count };
        return problems.Count == 0
            ? new Outcome(CheckStatus.Passed, string.Join(", ", notes), m)
            : new Outcome(CheckStatus.Failed, string.Join("; ", problems), m);
    }

    /// <summary>
    /// Replay lag of a streaming replica: zero when it has replayed everything it received, otherwise the age of the
    /// last replayed transaction (an idle primary would make that age grow without any lag).
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
            const string sql = """
                SELECT pg_is_in_recovery(),
                       CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
                            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8
                """;
            await using var cmd = new NpgsqlCommand(sql, connection);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            if (!reader.GetBoolean(0))
            {
                return ($"replica {check.Replica} is not a replica (pg_is_in_recovery() is false)", null, null);
            }
            var lag = reader.GetDouble(1);
            var inv = CultureInfo.InvariantCulture;
            return lag > check.MaxReplicationLag.TotalSeconds
                ? (string.Create(inv, $"replica {check.Replica} lags {lag:0.###}s behind, limit {check.MaxReplicationLag.TotalSeconds:0.###}s"), null, lag)
                : (null, string.Create(inv, $"replica {check.Replica} lags {lag:0.###}s"), lag);
        }
    }

    /// <summary>Failed rows, and gaps or disorder among whole-number versions, in a migration history.</summary>
    internal static IEnumerable<string> MigrationProblems(IReadOnlyList<MigrationRecord> migrations)
    {
        foreach (var failed in migrations.Where(m => !m.Success))
        {
            yield return $"migration {failed.Version} ({failed.Description}) is recorded as failed";
        }
        var numbers = migrations.Where(m => m.Success).Select(m => long.TryParse(m.Version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : (long?)null)
            .OfType<long>().ToList();
        var sorted = numbers.Distinct().Order().ToList();
        for (var i = 1; i < sorted.Count; i++)
        {
            if (sorted[i] != sorted[i - 1] + 1)
            {
                yield return $"migration history has a gap: {sorted[i - 1]} is followed by {sorted[i]}";
            }
        }
        foreach (var duplicate in numbers.GroupBy(v => v).Where(g => g.Count() > 1))
        {
            yield return $"migration {duplicate.Key} is recorded {duplicate.Count()} times";
        }
    }

    public static async Task<Outcome> IntegrityAsync(DbIntegrityCheck check, string connectionString, string? replicaConnectionString, CancellationToken ct)
    {
        var problems = new List<string>();
        var notes = new List<string>();
        var m = new Dictionary<string, double>();
        var status = CheckStatus.Passed;
        var csb = new NpgsqlConnectionStringBuilder(connectionString);
        if (check.Amcheck)
        {
            if (!File.Exists(check.PgAmcheck))
            {
                return new Outcome(CheckStatus.Error, $"{check.PgAmcheck} not found (install postgresql-15 or set pg_amcheck:)");
            }
            var args = new List<string> { "--host", csb.Host ?? "localhost", "--port", csb.Port.ToString(CultureInfo.InvariantCulture),
                "--no-password" };
            if (csb.Username is { Length: > 0 } user)
            {
                args.AddRange(["--username", user]);
            }
            if (check.InstallMissing)
            {
                args.Add("--install-missing");
            }
            args.Add("--");
            args.Add(csb.Database ?? "postgres"); // the database is a positional argument (no pattern matching)
            var environment = new Dictionary<string, string>();
            if (csb.Password is { Length: > 0 } password)
            {
                environment["PGPASSWORD"] = password;
            }
            var result = await ProcessRunner.RunAsync("pg_amcheck", check.PgAmcheck, args, new CommandOptions { Timeout = check.Timeout }, ct, environment).ConfigureAwait(false);
            m["amcheck_exit"] = result.ExitCode;
            var output = (result.StandardOutput + "\n" + result.StandardError).Trim();
            if (result.ExitCode == 0)
            {
                notes.Add("pg_amcheck found no corruption in tables and btree indexes");
            }
            else if (output.Contains("connection to server", StringComparison.Ordinal) || output.Contains("could not connect", StringComparison.Ordinal))
            {
                problems.Add($"pg_amcheck could not connect: {HttpExecutor.Short(Redact(output, csb.Password), 300)}");
            }
            else
            {
                var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                m["amcheck_findings"] = lines.Length;
                problems.Add($"pg_amcheck exit {result.ExitCode}: {HttpExecutor.Short(string.Join(" | ", lines.Take(5)), 500)}");
            }
        }
        if (check.Invariants.Count > 0)
        {
            var (connection, failure) = await OpenAsync(connectionString, check.Timeout, ct).ConfigureAwait(false);
            if (connection is null)
            {
                return failure!;
            }
            await using (connection)
            {
                foreach (var invariant in check.Invariants)
                {
                    try
                    {
                        await using var cmd = new NpgsqlCommand(invariant.Query, connection) { CommandTimeout = Math.Max(1, (int)Math.Ceiling(check.Timeout.TotalSeconds)) };
                        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                        var read = await SqlQueryRows.ReadAsync(reader, ct).ConfigureAwait(false);
                        m[$"invariant_{invariant.Name}_rows"] = read.Rows;
                        if (read.Rows > 0)
                        {
                            problems.Add($"invariant {invariant.Name}: {read.Rows} violating row(s), first: {read.FirstRow}");
                        }
                    }
                    catch (PostgresException e)
                    {
                        problems.Add($"invariant {invariant.Name}: query failed: {e.SqlState} {e.MessageText}");
                    }
                }
                if (problems.Count == 0)
                {
                    notes.Add($"{check.Invariants.Count} invariant(s) hold");
                }
            }
        }
        if (check.Replica is { } replica)
        {
            if (replicaConnectionString is null)
            {
                problems.Add($"replica '{replica}' is not a database of this environment");
            }
            else
            {
                var (lagProblem, lagNote, lagSeconds) = await ReplicationLagAsync(check, replicaConnectionString, ct).ConfigureAwait(false);
                if (lagSeconds is { } seconds)
                {
                    m["replication_lag_s"] = Math.Round(seconds, 3);
                }
                if (lagProblem is not null)
                {
                    problems.Add(lagProblem);
                }
                else
                {
                    notes.Add(lagNote!);
                }
            }
        }
        if (problems.Count > 0)
        {
            status = CheckStatus.Failed;
        }
        return new Outcome(status, problems.Count > 0 ? string.Join("; ", problems) : string.Join("; ", notes), m);
    }
}
