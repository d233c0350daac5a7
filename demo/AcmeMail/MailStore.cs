using System.Data.Common;

namespace AcmeMail;

/// <summary>The database engine acme-mail keeps its users, sessions and mail in (db.engine).</summary>
public enum DbEngine
{
    Postgres,
    MariaDb,
}

/// <summary>
/// Everything acme-mail asks of its database, written once per engine: the endpoints, the indexer, the seed and the
/// migrator speak only to this, so the two engines answer the same requests with the same results.
/// </summary>
public interface IMailStore : IAsyncDisposable
{
    /// <summary>Where this engine's migrations are, given the shipped migrations directory (ACME_MAIL_MIGRATIONS).</summary>
    string MigrationsIn(string shipped);

    /// <summary>This engine's seed file, given the shipped seed.sql (ACME_MAIL_SEED).</summary>
    string SeedFileFor(string shipped);

    /// <summary>One round trip to the database (GET /health).</summary>
    Task PingAsync(CancellationToken ct);

    /// <summary>The user's id when the password matches the stored bcrypt hash, else null.</summary>
    Task<long?> CheckPasswordAsync(string user, string password, CancellationToken ct);

    /// <summary>The id of the user's row, made on the first call with a hash of random bytes (a directory vouched for the user).</summary>
    Task<long> EnsureUserAsync(string user, CancellationToken ct);

    /// <summary>Records a session; false when the token already exists (only the login_race fault makes that happen).</summary>
    Task<bool> TryCreateSessionAsync(string token, long userId, int minutes, CancellationToken ct);

    /// <summary>The name of the user whose unexpired session this token is, or null.</summary>
    Task<string?> SessionOwnerAsync(string token, CancellationToken ct);

    /// <summary>The user's 20 latest messages, newest first.</summary>
    Task<MessageSummary[]> MailboxAsync(string user, CancellationToken ct);

    /// <summary>Up to 20 of the user's indexed messages that match the words, best first.</summary>
    Task<SearchHit[]> SearchAsync(string query, string user, CancellationToken ct);

    /// <summary>Indexes up to <paramref name="batchSize"/> messages not yet searchable; returns how many.</summary>
    Task<int> IndexBatchAsync(int batchSize, CancellationToken ct);

    /// <summary>Runs a seed script, then counts users and messages.</summary>
    Task<(long Users, long Messages)> SeedAsync(string sql, CancellationToken ct);

    /// <summary>A connection holding the migration lock (every app host of one database starts at once).</summary>
    Task<IMigrationSession> OpenMigrationSessionAsync(CancellationToken ct);
}

/// <summary>The migration history and the way to apply one file, on one connection that holds the lock until disposed.</summary>
public interface IMigrationSession : IAsyncDisposable
{
    /// <summary>Creates <c>schema_history</c> when missing, then reads it in version order.</summary>
    Task<List<AppliedMigration>> ReadHistoryAsync(CancellationToken ct);

    /// <summary>Applies the file and records it; a failure is a <see cref="MigrationException"/> saying what was left.</summary>
    Task ApplyAsync(MigrationFile file, CancellationToken ct);
}

/// <summary>What both engines answer with the same SQL, through ADO.NET's common types.</summary>
public abstract class SqlMailStore(DbDataSource dataSource) : IAsyncDisposable
{
    protected DbDataSource DataSource { get; } = dataSource;

    /// <summary>A named parameter ("@name": both drivers read the prefix) on a data source's command.</summary>
    protected static void Add(DbCommand cmd, string name, object value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        cmd.Parameters.Add(p);
    }

    public async Task PingAsync(CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("SELECT 1");
        cmd.CommandTimeout = 5;
        await cmd.ExecuteScalarAsync(ct);
    }

    public async Task<MessageSummary[]> MailboxAsync(string user, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("""
            SELECT m.id, m.sender, m.subject, m.sent_at
            FROM messages m JOIN users u ON u.id = m.owner_id
            WHERE u.name = @user
            ORDER BY m.sent_at DESC, m.id DESC
            LIMIT 20
            """);
        Add(cmd, "@user", user);
        var list = new List<MessageSummary>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new MessageSummary(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetDateTime(3)));
        }
        return list.ToArray();
    }

    public async Task<(long Users, long Messages)> SeedAsync(string sql, CancellationToken ct)
    {
        await using (var cmd = DataSource.CreateCommand(sql))
        {
            cmd.CommandTimeout = 0;
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await using var count = DataSource.CreateCommand("SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM messages)");
        await using var r = await count.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return (r.GetInt64(0), r.GetInt64(1));
    }

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return DataSource.DisposeAsync();
    }
}

public static class MailStore
{
    /// <summary>The store for the configured engine; the caller disposes it.</summary>
    public static IMailStore Create(AppSettings settings) => settings.Engine switch
    {
        DbEngine.MariaDb => new MariaDbMailStore(settings),
        _ => new PostgresMailStore(settings),
    };

    /// <summary>A database that failed or did not answer (either driver), as opposed to a bug of ours.</summary>
    public static bool IsDatabaseFailure(Exception e) => e is DbException or InvalidOperationException or TimeoutException;
}
