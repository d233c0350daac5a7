using Npgsql;

namespace AcmeMail;

/// <summary>acme-mail on PostgreSQL (db.engine = postgres, the default): bcrypt through pgcrypto, full text through a GIN index.</summary>
public sealed class PostgresMailStore(AppSettings settings) : SqlMailStore(Build(settings)), IMailStore
{
    /// <summary>pg_advisory_lock key of the migrations: the bytes of "ACMEMAIL".</summary>
    public const long AdvisoryLockKey = 0x41434D454D41494C;

    /// <summary>
    /// The search (parameters @q, @user). Full text first: the GIN index on search_vector finds the matching messages of
    /// every mailbox, then the mailbox filter keeps the user's. Without that index each search reads every message.
    /// </summary>
    public const string SearchSql = """
        WITH hits AS MATERIALIZED (
            SELECT m.id, m.owner_id, m.sender, m.subject, m.sent_at, ts_rank(m.search_vector, query) AS rank
            FROM messages m, plainto_tsquery('english', @q) AS query
            WHERE m.search_vector @@ query
        )
        SELECT h.id, h.sender, h.subject, h.sent_at, h.rank
        FROM hits h JOIN users u ON u.id = h.owner_id
        WHERE u.name = @user
        ORDER BY h.rank DESC, h.sent_at DESC
        LIMIT 20
        """;

    private static NpgsqlDataSource Build(AppSettings settings)
    {
        var b = new NpgsqlSlimDataSourceBuilder(settings.EffectiveConnectionString());
        b.EnableTransportSecurity();
        return b.Build();
    }

    public string MigrationsIn(string shipped) => shipped;

    public string SeedFileFor(string shipped) => shipped;

    public async Task<long?> CheckPasswordAsync(string user, string password, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("SELECT id FROM users WHERE name = @user AND crypt(@password, password_hash) = password_hash");
        Add(cmd, "@user", user);
        Add(cmd, "@password", password);
        return await cmd.ExecuteScalarAsync(ct) as long?;
    }

    public async Task<long> EnsureUserAsync(string user, CancellationToken ct)
    {
        await using var upsert = DataSource.CreateCommand(
            "INSERT INTO users (name, password_hash) VALUES (@user, crypt(encode(gen_random_bytes(32), 'hex'), gen_salt('bf', 4))) " +
            "ON CONFLICT (name) DO NOTHING");
        Add(upsert, "@user", user);
        await upsert.ExecuteNonQueryAsync(ct);
        await using var find = DataSource.CreateCommand("SELECT id FROM users WHERE name = @user");
        Add(find, "@user", user);
        return (long)(await find.ExecuteScalarAsync(ct))!;
    }

    public async Task<bool> TryCreateSessionAsync(string token, long userId, int minutes, CancellationToken ct)
    {
        await using var insert = DataSource.CreateCommand(
            "INSERT INTO sessions (token, user_id, expires_at) VALUES (@token, @user_id, now() + make_interval(mins => @minutes))");
        Add(insert, "@token", token);
        Add(insert, "@user_id", userId);
        Add(insert, "@minutes", minutes);
        try
        {
            await insert.ExecuteNonQueryAsync(ct);
            return true;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return false;
        }
    }

    public async Task<string?> SessionOwnerAsync(string token, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand(
            "SELECT u.name FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = @token AND s.expires_at > now()");
        Add(cmd, "@token", token);
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    public async Task<SearchHit[]> SearchAsync(string query, string user, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand(SearchSql);
        Add(cmd, "@q", query);
        Add(cmd, "@user", user);
        var hits = new List<SearchHit>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            hits.Add(new SearchHit(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetDateTime(3), r.GetFloat(4)));
        }
        return hits.ToArray();
    }

    public async Task<int> IndexBatchAsync(int batchSize, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("""
            UPDATE messages SET search_vector = to_tsvector('english', subject || ' ' || body)
            WHERE id IN (SELECT id FROM messages WHERE search_vector IS NULL ORDER BY id LIMIT @batch)
            """);
        Add(cmd, "@batch", batchSize);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<IMigrationSession> OpenMigrationSessionAsync(CancellationToken ct)
    {
        var conn = (NpgsqlConnection)await DataSource.OpenConnectionAsync(ct);
        try
        {
            await ExecAsync(conn, $"SELECT pg_advisory_lock({AdvisoryLockKey})", ct);
            return new Session(conn);
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>PostgreSQL runs DDL in transactions: each migration and its history row commit together or not at all.</summary>
    private sealed class Session(NpgsqlConnection conn) : IMigrationSession
    {
        public async Task<List<AppliedMigration>> ReadHistoryAsync(CancellationToken ct)
        {
            await ExecAsync(conn, """
                CREATE TABLE IF NOT EXISTS schema_history (
                    version      integer PRIMARY KEY,
                    description  text NOT NULL,
                    checksum     text NOT NULL,
                    installed_on timestamptz NOT NULL DEFAULT now(),
                    success      boolean NOT NULL
                )
                """, ct);
            var list = new List<AppliedMigration>();
            await using var cmd = new NpgsqlCommand("SELECT version, description, checksum, installed_on, success FROM schema_history ORDER BY version", conn);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                list.Add(new AppliedMigration(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetDateTime(3), r.GetBoolean(4)));
            }
            return list;
        }

        public async Task ApplyAsync(MigrationFile file, CancellationToken ct)
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            try
            {
                await using (var cmd = new NpgsqlCommand(file.Sql, conn, tx))
                {
                    cmd.CommandTimeout = 0;
                    await cmd.ExecuteNonQueryAsync(ct);
                }
                await using (var rec = new NpgsqlCommand(
                    "INSERT INTO schema_history (version, description, checksum, installed_on, success) VALUES (@v, @d, @c, now(), true)", conn, tx))
                {
                    rec.Parameters.AddWithValue("v", file.Version);
                    rec.Parameters.AddWithValue("d", file.Description);
                    rec.Parameters.AddWithValue("c", file.Checksum);
                    await rec.ExecuteNonQueryAsync(ct);
                }
                await tx.CommitAsync(ct);
            }
            catch (PostgresException e)
            {
                await tx.RollbackAsync(CancellationToken.None);
                throw new MigrationException($"migration V{file.Version} ({file.Description}) failed and was rolled back: {e.SqlState} {e.MessageText}", e);
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (conn.State == System.Data.ConnectionState.Open)
                {
                    await ExecAsync(conn, $"SELECT pg_advisory_unlock({AdvisoryLockKey})", CancellationToken.None);
                }
            }
            finally
            {
                await conn.DisposeAsync();
            }
        }
    }
}
