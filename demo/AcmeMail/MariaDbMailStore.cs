using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using MySqlConnector;

namespace AcmeMail;

/// <summary>
/// acme-mail on MariaDB (db.engine = mariadb; MySQL's dialect as far as it goes): bcrypt is checked here, since the
/// server has no bcrypt of its own, and the search uses an InnoDB FULLTEXT index on the text the indexer copies.
/// </summary>
public sealed partial class MariaDbMailStore(AppSettings settings) : SqlMailStore(new MySqlDataSource(settings.EffectiveConnectionString())), IMailStore
{
    /// <summary>GET_LOCK name that serializes the migrations of app hosts starting at once.</summary>
    public const string MigrationLock = "acme-mail.migrations";

    /// <summary>
    /// The search (parameters @q, @user): every word must be in the message (as PostgreSQL's plainto_tsquery asks), the
    /// FULLTEXT index on search_text finds them, the mailbox filter keeps the user's.
    /// </summary>
    public const string SearchSql = """
        SELECT m.id, m.sender, m.subject, m.sent_at, MATCH (m.search_text) AGAINST (@q IN BOOLEAN MODE) AS score
        FROM messages m JOIN users u ON u.id = m.owner_id
        WHERE MATCH (m.search_text) AGAINST (@q IN BOOLEAN MODE) AND u.name = @user
        ORDER BY score DESC, m.sent_at DESC
        LIMIT 20
        """;

    /// <summary>migrations/mariadb/ beside the PostgreSQL files (which are top level, for the releases before it).</summary>
    public string MigrationsIn(string shipped) => Path.Combine(shipped, "mariadb");

    /// <summary>seed-mariadb.sql beside seed.sql.</summary>
    public string SeedFileFor(string shipped) =>
        Path.Combine(Path.GetDirectoryName(shipped) ?? ".", Path.GetFileNameWithoutExtension(shipped) + "-mariadb.sql");

    /// <summary>InnoDB's default full-text stopwords (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD): never indexed.</summary>
    private static readonly HashSet<string> s_stopwords = new(StringComparer.OrdinalIgnoreCase)
    {
        "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how", "i", "in", "is", "it", "la",
        "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "who", "will", "with", "und", "www",
    };

    /// <summary>
    /// Boolean-mode query text from what a user typed: every word required, as plainto_tsquery requires them on
    /// PostgreSQL; words split where InnoDB splits them (follow-up is follow and up), and the words InnoDB never indexes
    /// (stopwords, words under its 3-character minimum) left out, as PostgreSQL leaves out its stopwords, since requiring
    /// them would find nothing. Operator characters a user types never reach the server as syntax.
    /// </summary>
    public static string BooleanQuery(string words)
    {
        var text = new StringBuilder();
        foreach (var word in NotAWordCharacter().Split(words))
        {
            if (word.Length >= 3 && !s_stopwords.Contains(word))
            {
                text.Append(text.Length == 0 ? "+" : " +").Append(word);
            }
        }
        return text.ToString();
    }

    [GeneratedRegex(@"[^\p{L}\p{N}]+", RegexOptions.CultureInvariant)]
    private static partial Regex NotAWordCharacter();

    public async Task<long?> CheckPasswordAsync(string user, string password, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("SELECT id, password_hash FROM users WHERE name = @user");
        Add(cmd, "@user", user);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        if (!await r.ReadAsync(ct))
        {
            return null;
        }
        var (id, hash) = (r.GetInt64(0), r.GetString(1));
        // The hashes are PostgreSQL pgcrypto's and libxcrypt's: $2a$ and $2b$ bcrypt, which BCrypt.Net reads alike.
        return BCrypt.Net.BCrypt.Verify(password, hash) ? id : null;
    }

    public async Task<long> EnsureUserAsync(string user, CancellationToken ct)
    {
        await using var upsert = DataSource.CreateCommand("INSERT IGNORE INTO users (name, password_hash) VALUES (@user, @hash)");
        Add(upsert, "@user", user);
        Add(upsert, "@hash", BCrypt.Net.BCrypt.HashPassword(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), 4));
        await upsert.ExecuteNonQueryAsync(ct);
        await using var find = DataSource.CreateCommand("SELECT id FROM users WHERE name = @user");
        Add(find, "@user", user);
        return Convert.ToInt64(await find.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<bool> TryCreateSessionAsync(string token, long userId, int minutes, CancellationToken ct)
    {
        await using var insert = DataSource.CreateCommand(
            "INSERT INTO sessions (token, user_id, expires_at) VALUES (@token, @user_id, UTC_TIMESTAMP(6) + INTERVAL @minutes MINUTE)");
        Add(insert, "@token", token);
        Add(insert, "@user_id", userId);
        Add(insert, "@minutes", minutes);
        try
        {
            await insert.ExecuteNonQueryAsync(ct);
            return true;
        }
        catch (MySqlException e) when (e.ErrorCode == MySqlErrorCode.DuplicateKeyEntry)
        {
            return false;
        }
    }

    public async Task<string?> SessionOwnerAsync(string token, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand(
            "SELECT u.name FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = @token AND s.expires_at > UTC_TIMESTAMP(6)");
        Add(cmd, "@token", token);
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    public async Task<SearchHit[]> SearchAsync(string query, string user, CancellationToken ct)
    {
        var words = BooleanQuery(query);
        if (words.Length == 0)
        {
            return [];
        }
        await using var cmd = DataSource.CreateCommand(SearchSql);
        Add(cmd, "@q", words);
        Add(cmd, "@user", user);
        var hits = new List<SearchHit>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            hits.Add(new SearchHit(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetDateTime(3), (float)r.GetDouble(4)));
        }
        return hits.ToArray();
    }

    public async Task<int> IndexBatchAsync(int batchSize, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("""
            UPDATE messages SET search_text = CONCAT(subject, ' ', body), indexed = TRUE
            WHERE indexed = FALSE ORDER BY id LIMIT @batch
            """);
        Add(cmd, "@batch", batchSize);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<IMigrationSession> OpenMigrationSessionAsync(CancellationToken ct)
    {
        var conn = (MySqlConnection)await DataSource.OpenConnectionAsync(ct);
        try
        {
            await using var cmd = new MySqlCommand("SELECT GET_LOCK(@name, 600)", conn);
            Add(cmd, "@name", MigrationLock);
            if (Convert.ToInt64(await cmd.ExecuteScalarAsync(ct) ?? 0L, System.Globalization.CultureInfo.InvariantCulture) != 1)
            {
                throw new MigrationException($"another acme-mail held the migration lock {MigrationLock} for 10 minutes");
            }
            return new Session(conn);
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// MariaDB commits every DDL statement on its own: a migration cannot be rolled back. As Flyway does there, a failed
    /// one is recorded with success = false, which stops every later start until an operator repairs the schema.
    /// </summary>
    private sealed class Session(MySqlConnection conn) : IMigrationSession
    {
        public async Task<List<AppliedMigration>> ReadHistoryAsync(CancellationToken ct)
        {
            await using (var create = new MySqlCommand("""
                CREATE TABLE IF NOT EXISTS schema_history (
                    version      INT NOT NULL PRIMARY KEY,
                    description  VARCHAR(200) NOT NULL,
                    checksum     CHAR(64) NOT NULL,
                    installed_on DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
                    success      BOOLEAN NOT NULL
                ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4
                """, conn))
            {
                await create.ExecuteNonQueryAsync(ct);
            }
            var list = new List<AppliedMigration>();
            await using var cmd = new MySqlCommand("SELECT version, description, checksum, installed_on, success FROM schema_history ORDER BY version", conn);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                list.Add(new AppliedMigration(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetDateTime(3), r.GetBoolean(4)));
            }
            return list;
        }

        public async Task ApplyAsync(MigrationFile file, CancellationToken ct)
        {
            try
            {
                await using var cmd = new MySqlCommand(file.Sql, conn) { CommandTimeout = 0 };
                await cmd.ExecuteNonQueryAsync(ct);
            }
            catch (MySqlException e)
            {
                await RecordAsync(file, success: false, CancellationToken.None);
                throw new MigrationException(
                    $"migration V{file.Version} ({file.Description}) failed: {e.Number} {e.Message}; MariaDB cannot roll back DDL, " +
                    "so it is recorded as failed: repair the schema, delete its schema_history row, and start again", e);
            }
            await RecordAsync(file, success: true, ct);
        }

        private async Task RecordAsync(MigrationFile file, bool success, CancellationToken ct)
        {
            await using var rec = new MySqlCommand(
                "INSERT INTO schema_history (version, description, checksum, installed_on, success) VALUES (@v, @d, @c, UTC_TIMESTAMP(6), @s)", conn);
            rec.Parameters.AddWithValue("@v", file.Version);
            rec.Parameters.AddWithValue("@d", file.Description);
            rec.Parameters.AddWithValue("@c", file.Checksum);
            rec.Parameters.AddWithValue("@s", success);
            await rec.ExecuteNonQueryAsync(ct);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (conn.State == System.Data.ConnectionState.Open)
                {
                    await using var cmd = new MySqlCommand("SELECT RELEASE_LOCK(@name)", conn);
                    Add(cmd, "@name", MigrationLock);
                    await cmd.ExecuteScalarAsync(CancellationToken.None);
                }
            }
            finally
            {
                await conn.DisposeAsync();
            }
        }
    }
}
