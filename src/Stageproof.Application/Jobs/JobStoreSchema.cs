using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Jobs;

namespace Stageproof.Application.Jobs;

/// <summary>Quartz.NET's own tables on the jobs database, created from Quartz's PostgreSQL script when absent.</summary>
public static class JobStoreSchema
{
    /// <summary>The Npgsql connection string for <paramref name="config"/>, its password read now.</summary>
    public static string ConnectionString(JobsConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new NpgsqlConnectionStringBuilder
        {
            Host = config.Host, Port = config.Port, Username = config.User, Database = config.Database, Password = config.Password(),
            // A worker's connections are few and long-lived; fail fast when the server is gone rather than hang a step.
            Timeout = 15, CommandTimeout = 60,
        }.ConnectionString;
    }

    /// <summary>Creates Quartz's tables unless they exist. Every node calls this at start: an advisory lock inside one
    /// transaction makes concurrent starts create them once.</summary>
    public static async Task EnsureAsync(JobsConfig config, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(config);
        try
        {
            await using var connection = new NpgsqlConnection(ConnectionString(config));
            await connection.OpenAsync(ct).ConfigureAwait(false);
            await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('stageproof.quartz-schema'))", connection, tx))
            {
                await lockCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await using (var exists = new NpgsqlCommand("SELECT to_regclass('qrtz_locks') IS NOT NULL", connection, tx))
            {
                if (await exists.ExecuteScalarAsync(ct).ConfigureAwait(false) is true)
                {
                    return;
                }
            }
            await using (var create = new NpgsqlCommand(Script(), connection, tx))
            {
                await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            throw new InfrastructureException(config.Store.Authority, $"jobs store {Shown(config)}: {e.Message}", e);
        }
    }

    /// <summary>The store as configured, for messages (it never holds a password).</summary>
    public static string Shown(JobsConfig config) => config.Store.GetComponents(UriComponents.SchemeAndServer | UriComponents.UserInfo | UriComponents.Path, UriFormat.Unescaped);

    private static string Script()
    {
        using var stream = typeof(JobStoreSchema).Assembly.GetManifestResourceStream("Stageproof.Jobs.tables_postgres.sql")
            ?? throw new InvalidOperationException("the Quartz PostgreSQL script is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
