using MySqlConnector;
using Stageproof.Core;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Databases;

namespace Stageproof.Hosts.Facts;

/// <summary>
/// Collects a MariaDB (or MySQL) database's manifest in the same shape as <see cref="PostgresFactsCollector"/>: server
/// version, global variables set by configuration rather than compiled in, a schema fingerprint of the connection's
/// database from information_schema, and the migration history when a known history table exists. Read only.
/// </summary>
/// <remarks>
/// Object names are not qualified by the database name (a MariaDB database is a schema), so prod's <c>mail</c> and
/// staging's <c>mail_staging</c> fingerprint alike; view definitions are stripped of it for the same reason.
/// </remarks>
public sealed class MariaDbFactsCollector(TimeProvider? timeProvider = null)
{
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>
    /// Variables that name the instance rather than configure its behaviour (addresses, ports, paths, ids, replication
    /// positions, clocks): they always differ between production and its staging mirror.
    /// </summary>
    public static readonly IReadOnlySet<string> InstanceIdentityVariables = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "server_id", "server_uuid", "hostname", "report_host", "report_port", "pid_file", "datadir", "basedir", "tmpdir", "socket", "port",
        "bind_address", "log_error", "general_log_file", "slow_query_log_file", "log_bin_basename", "log_bin_index", "log_basename",
        "relay_log", "relay_log_basename", "relay_log_index", "relay_log_info_file", "master_info_file", "innodb_data_home_dir",
        "innodb_log_group_home_dir", "innodb_undo_directory", "innodb_tmpdir", "aria_log_dir_path", "secure_file_priv", "plugin_dir",
        "lc_messages_dir", "character_sets_dir", "timestamp", "pseudo_thread_id", "wsrep_node_name", "wsrep_node_address",
        "wsrep_node_incoming_address", "wsrep_sst_receive_address", "wsrep_cluster_address", "ssl_cert", "ssl_key", "ssl_ca", "ssl_capath",
        "ssl_crl", "ssl_crlpath", "init_file", "log_tc", "server_audit_file_path", "innodb_buffer_pool_filename", "system_versioning_insert_history",
    };

    private static bool IsIdentity(string name) =>
        InstanceIdentityVariables.Contains(name) || name.StartsWith("gtid_", StringComparison.OrdinalIgnoreCase);

    // MariaDB says where each global value came from; anything but compiled-in (or derived from the machine: AUTO) was configured.
    private const string MariaDbSettings = """
        SELECT LOWER(VARIABLE_NAME), IFNULL(GLOBAL_VALUE, '') FROM information_schema.SYSTEM_VARIABLES
        WHERE GLOBAL_VALUE_ORIGIN IN ('CONFIG', 'COMMAND-LINE', 'SQL')
        """;

    // MySQL 8 keeps the same in performance_schema.
    private const string MySqlSettings = """
        SELECT LOWER(v.VARIABLE_NAME), IFNULL(g.VARIABLE_VALUE, '') FROM performance_schema.variables_info v
        JOIN performance_schema.global_variables g ON g.VARIABLE_NAME = v.VARIABLE_NAME
        WHERE v.VARIABLE_SOURCE NOT IN ('COMPILED')
        """;

    private static IEnumerable<(string Kind, string? Sql)> ObjectQueries(bool mariaDb) =>
    [
        ("table", """
            SELECT TABLE_NAME, CONCAT(LOWER(TABLE_TYPE), ' engine ', IFNULL(ENGINE, ''), ' collate ', IFNULL(TABLE_COLLATION, ''))
            FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE <> 'VIEW'
            """),
        ("column", """
            SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME),
                   CONCAT(COLUMN_TYPE, IF(IS_NULLABLE = 'NO', ' not null', ''), IFNULL(CONCAT(' default ', COLUMN_DEFAULT), ''),
                          IF(EXTRA <> '', CONCAT(' ', LOWER(EXTRA)), ''), IFNULL(CONCAT(' collate ', COLLATION_NAME), ''))
            FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
              AND TABLE_NAME IN (SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE <> 'VIEW')
            """),
        ("index", """
            SELECT CONCAT(TABLE_NAME, '.', INDEX_NAME),
                   CONCAT(IF(NON_UNIQUE = 0, 'unique ', ''), LOWER(INDEX_TYPE), ' (',
                          GROUP_CONCAT(CONCAT(IFNULL(COLUMN_NAME, '?'), IFNULL(CONCAT('(', SUB_PART, ')'), ''), IF(COLLATION = 'D', ' desc', ''))
                                       ORDER BY SEQ_IN_INDEX SEPARATOR ', '), ')')
            FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
            GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE, INDEX_TYPE
            """),
        // Read flat and joined here (ConstraintsAsync): as correlated subqueries MariaDB fills each information_schema
        // table again for every constraint row.
        ("constraint", null),
        ("view", """
            SELECT TABLE_NAME, CONCAT(IF(CHECK_OPTION <> 'NONE', CONCAT('check option ', LOWER(CHECK_OPTION), ' '), ''),
                                      REPLACE(VIEW_DEFINITION, CONCAT('`', DATABASE(), '`.'), ''))
            FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()
            """),
        ("routine", """
            SELECT CONCAT(LOWER(r.ROUTINE_TYPE), ' ', r.ROUTINE_NAME),
                   CONCAT('(', IFNULL((SELECT GROUP_CONCAT(CONCAT_WS(' ', p.PARAMETER_MODE, p.PARAMETER_NAME, p.DTD_IDENTIFIER)
                                                    ORDER BY p.ORDINAL_POSITION SEPARATOR ', ')
                                       FROM information_schema.PARAMETERS p
                                       WHERE p.SPECIFIC_SCHEMA = r.ROUTINE_SCHEMA AND p.SPECIFIC_NAME = r.SPECIFIC_NAME
                                         AND p.ORDINAL_POSITION > 0), ''), ')',
                          IFNULL(CONCAT(' returns ', r.DTD_IDENTIFIER), ''),
                          IF(r.IS_DETERMINISTIC = 'YES', ' deterministic', ''), ' ', LOWER(r.SQL_DATA_ACCESS),
                          ' security ', LOWER(r.SECURITY_TYPE), ' ', IFNULL(r.ROUTINE_DEFINITION, ''))
            FROM information_schema.ROUTINES r WHERE r.ROUTINE_SCHEMA = DATABASE()
            """),
        ("trigger", """
            SELECT CONCAT(EVENT_OBJECT_TABLE, '.', TRIGGER_NAME),
                   CONCAT(LOWER(ACTION_TIMING), ' ', LOWER(EVENT_MANIPULATION), ' for each ', LOWER(ACTION_ORIENTATION), ' ', ACTION_STATEMENT)
            FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
            """),
        ("event", """
            SELECT EVENT_NAME,
                   CONCAT(LOWER(EVENT_TYPE), IFNULL(CONCAT(' every ', INTERVAL_VALUE, ' ', LOWER(INTERVAL_FIELD)), ''),
                          ' ', LOWER(STATUS), ' on completion ', LOWER(ON_COMPLETION), ' ', EVENT_DEFINITION)
            FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()
            """),
    ];

    /// <summary>Collects the manifest of one database. <c>Target</c> is "ENV/DB".</summary>
    /// <exception cref="InfrastructureException">The database cannot be reached or refused the login (never the password).</exception>
    /// <exception cref="InputException">The connection string does not parse.</exception>
    public async Task<Manifest> CollectAsync(string environment, string databaseName, string connectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(databaseName);
        ArgumentNullException.ThrowIfNull(connectionString);
        var target = $"{environment}/{databaseName}";
        MySqlConnectionStringBuilder csb;
        try
        {
            csb = new MySqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException)
        {
            throw new InputException($"environments.{environment}.databases.{databaseName}: the connection string does not parse");
        }
        try
        {
            await using var connection = await OpenReadOnlyAsync(csb, cancellationToken).ConfigureAwait(false);
            var info = await CollectOnAsync(connection, databaseName, cancellationToken).ConfigureAwait(false);
            return new Manifest
            {
                Kind = ManifestKind.Database,
                Target = target,
                Environment = environment,
                CollectedAt = _time.GetUtcNow(),
                Database = info,
            };
        }
        catch (MySqlException e)
        {
            throw new InfrastructureException(target, $"database at {MariaDbConnections.Where(csb)}: {MariaDbConnections.Redact(e.Message, csb.Password)}");
        }
        catch (TimeoutException e)
        {
            throw new InfrastructureException(target, $"database at {MariaDbConnections.Where(csb)}: {MariaDbConnections.Redact(e.Message, csb.Password)}");
        }
    }

    /// <summary>A connection whose session refuses writes (and whose GROUP_CONCATs are not cut at 1,024 bytes).</summary>
    internal static async Task<MySqlConnection> OpenReadOnlyAsync(MySqlConnectionStringBuilder csb, CancellationToken ct)
    {
        var connection = new MySqlConnection(csb.ConnectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            await using var setup = new MySqlCommand("SET SESSION TRANSACTION READ ONLY; SET SESSION group_concat_max_len = 16777216", connection);
            await setup.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Version, settings, fingerprint and migration history over an open connection.</summary>
    internal static async Task<DatabaseInfo> CollectOnAsync(MySqlConnection connection, string databaseName, CancellationToken ct)
    {
        var version = Convert.ToString(await ScalarAsync(connection, "SELECT VERSION()", ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) ?? "";
        var mariaDb = version.Contains("MariaDB", StringComparison.OrdinalIgnoreCase);
        var settings = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in await PairsAsync(connection, mariaDb ? MariaDbSettings : MySqlSettings, ct).ConfigureAwait(false))
        {
            if (!IsIdentity(name))
            {
                settings[name] = value;
            }
        }
        var objects = new List<SchemaObject>();
        foreach (var (kind, sql) in ObjectQueries(mariaDb))
        {
            var pairs = sql is null ? await ConstraintsAsync(connection, mariaDb, ct).ConfigureAwait(false) : await PairsAsync(connection, sql, ct).ConfigureAwait(false);
            foreach (var (name, definition) in pairs)
            {
                objects.Add(new SchemaObject(kind, name, definition));
            }
        }
        var migrations = await MigrationsAsync(connection, ct).ConfigureAwait(false);
        return new DatabaseInfo
        {
            Name = databaseName,
            ServerVersion = version,
            Settings = settings,
            Schema = new SchemaFingerprint
            {
                Digest = PostgresFactsCollector.Digest(objects),
                Objects = objects.OrderBy(o => o.Kind, StringComparer.Ordinal).ThenBy(o => o.Name, StringComparer.Ordinal).ToList(),
                Migrations = migrations,
            },
        };
    }

    /// <summary>The migration history, read by the same rules as PostgreSQL's (the first known table, its usual columns).</summary>
    internal static async Task<List<MigrationRecord>> MigrationsAsync(MySqlConnection connection, CancellationToken ct)
    {
        string? table = null;
        var present = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, _) in await PairsAsync(connection,
            "SELECT TABLE_NAME, '' FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()", ct).ConfigureAwait(false))
        {
            present.Add(name);
        }
        table = PostgresFactsCollector.MigrationTables.FirstOrDefault(present.Contains);
        if (table is null)
        {
            return [];
        }
        var columns = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        await using (var cmd = new MySqlCommand(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = @t", connection))
        {
            cmd.Parameters.AddWithValue("@t", table);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                columns.Add(reader.GetString(0).ToLowerInvariant());
            }
        }
        string? Pick(params string[] names) => names.FirstOrDefault(columns.Contains);
        static string Q(string identifier) => MariaDbConnections.Quote(identifier);

        var versionCol = Pick("version", "installed_rank", "id");
        if (versionCol is null)
        {
            return [];
        }
        var version = columns.Contains("script") && versionCol == "version"
            ? $"COALESCE(CAST({Q("version")} AS CHAR), CONCAT('R:', {Q("script")}))"
            : $"CAST({Q(versionCol)} AS CHAR)";
        var description = Pick("description", "name", "script") is { } d ? $"CAST({Q(d)} AS CHAR)" : "''";
        var checksum = Pick("checksum", "hash") is { } c ? $"CAST({Q(c)} AS CHAR)" : "NULL";
        var success = Pick("success") is { } s ? $"COALESCE({Q(s)}, 0) <> 0"
            : Pick("dirty") is { } dirty ? $"COALESCE({Q(dirty)}, 0) = 0"
            : "1";
        var order = Pick("installed_rank") is { } rank ? Q(rank) : Q(versionCol);
        var sql = $"SELECT {version}, {description}, {checksum}, {success} FROM {Q(table)} ORDER BY {order}";
        var result = new List<MigrationRecord>();
        await using (var cmd = new MySqlCommand(sql, connection))
        {
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                result.Add(new MigrationRecord(
                    reader.IsDBNull(0) ? "" : reader.GetString(0),
                    reader.IsDBNull(1) ? "" : reader.GetString(1),
                    reader.IsDBNull(2) ? null : reader.GetString(2),
                    Convert.ToInt64(reader.GetValue(3), System.Globalization.CultureInfo.InvariantCulture) != 0));
            }
        }
        return result;
    }

    private static async Task<object?> ScalarAsync(MySqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new MySqlCommand(sql, connection);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Each constraint of the database as "TABLE.NAME" and its type, columns, reference and check clause, from
    /// one plain query per information_schema table.</summary>
    private static async Task<List<(string, string)>> ConstraintsAsync(MySqlConnection connection, bool mariaDb, CancellationToken ct)
    {
        var columns = new Dictionary<(string, string), (List<string> Columns, List<string> Referenced)>();
        foreach (var row in await RowsAsync(connection, """
            SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
            WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION
            """, ct).ConfigureAwait(false))
        {
            if (!columns.TryGetValue((row[0]!, row[1]!), out var key))
            {
                columns[(row[0]!, row[1]!)] = key = ([], []);
            }
            if (row[2] is { } column)
            {
                key.Columns.Add(column);
            }
            if (row[3] is { } referenced)
            {
                key.Referenced.Add(referenced);
            }
        }
        var references = (await RowsAsync(connection, """
            SELECT TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME, UPDATE_RULE, DELETE_RULE
            FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()
            """, ct).ConfigureAwait(false)).ToDictionary(r => (r[0]!, r[1]!), r => r);
        var checks = mariaDb
            ? (await RowsAsync(connection, """
                SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()
                """, ct).ConfigureAwait(false)).ToDictionary(r => (r[0]!, r[1]!), r => r[2])
            : [];
        var result = new List<(string, string)>();
        foreach (var row in await RowsAsync(connection,
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()", ct).ConfigureAwait(false))
        {
            var key = (row[0]!, row[1]!);
            var definition = new System.Text.StringBuilder((row[2] ?? "").ToLowerInvariant());
            columns.TryGetValue(key, out var used);
            if (used.Columns is { Count: > 0 })
            {
                definition.Append(" (").AppendJoin(", ", used.Columns).Append(')');
            }
            if (references.TryGetValue(key, out var reference) && reference[2] is { } table && used.Referenced is { Count: > 0 }
                && reference[3] is { } onUpdate && reference[4] is { } onDelete)
            {
                definition.Append(" references ").Append(table).Append(" (").AppendJoin(", ", used.Referenced)
                    .Append(") on update ").Append(onUpdate.ToLowerInvariant()).Append(" on delete ").Append(onDelete.ToLowerInvariant());
            }
            if (checks.TryGetValue(key, out var clause) && clause is not null)
            {
                definition.Append(' ').Append(clause);
            }
            result.Add(($"{row[0]}.{row[1]}", definition.ToString()));
        }
        return result;
    }

    private static async Task<List<string?[]>> RowsAsync(MySqlConnection connection, string sql, CancellationToken ct)
    {
        var result = new List<string?[]>();
        await using var cmd = new MySqlCommand(sql, connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? null : Text(reader, i)).ToArray());
        }
        return result;
    }

    private static async Task<List<(string, string)>> PairsAsync(MySqlConnection connection, string sql, CancellationToken ct) =>
        (await RowsAsync(connection, sql, ct).ConfigureAwait(false)).Select(r => (r[0] ?? "", r[1] ?? "")).ToList();

    // information_schema answers some columns as binary strings (GROUP_CONCAT over them, CONCAT with a blob).
    private static string Text(MySqlDataReader reader, int i) => reader.IsDBNull(i) ? "" : reader.GetValue(i) switch
    {
        byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
        var v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}
