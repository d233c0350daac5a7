using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Jobs;

namespace Stageproof.Application.Jobs;

/// <summary>
/// The jobs database and Quartz.NET's own tables on it. Quartz creates the tables its version needs when they are
/// missing (<c>ProvisionSchema</c>, from the DDL inside the Quartz package): the repository's
/// <c>database/tables/tables_postgres.sql</c> describes an older schema that Quartz 4.7.3 refuses at start. Nodes that
/// start together take turns under an advisory lock, so the tables are created once.
/// </summary>
public static class JobStoreSchema
{
    /// <summary>The Npgsql connection string for <paramref name="config"/>, its password read now.</summary>
    public static string ConnectionString(JobsConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new NpgsqlConnectionStringBuilder
        {
            Host = config.Host, Port = config.Port, Username = config.User, Database = config.Database, Password = config.Password(),
            // Fail fast when the server is gone rather than hang a node's check-in.
            Timeout = 15, CommandTimeout = 60,
        }.ConnectionString;
    }

    /// <summary>Holds the jobs database's schema lock until disposed: whoever holds it may create Quartz's tables.
    /// Also where an unreachable store or a refused login is reported, naming the store.</summary>
    public static async Task<IAsyncDisposable> LockAsync(JobsConfig config, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(config);
        // Unpooled: closing it must end the session, which is what lets go of a session-level advisory lock.
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString(config)) { Pooling = false }.ConnectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            await using var take = new NpgsqlCommand("SELECT pg_advisory_lock(hashtext('stageproof.quartz-schema'))", connection);
            await take.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new InfrastructureException(config.Store.Authority, $"jobs store {Shown(config)}: {e.Message}", e);
        }
    }

    /// <summary>The store as configured, for messages (it never holds a password).</summary>
    public static string Shown(JobsConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Store.GetComponents(UriComponents.SchemeAndServer | UriComponents.UserInfo | UriComponents.Path, UriFormat.Unescaped);
    }
}
