using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Npgsql;

namespace AcmeMail;

/// <summary>A migration problem that must stop the service from starting (exit code 1).</summary>
public sealed class MigrationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>One file <c>V{n}__{description}.sql</c> from the migrations directory.</summary>
public sealed record MigrationFile(int Version, string Description, string Path, string Checksum, string Sql);

/// <summary>A row of <c>schema_history</c>.</summary>
public sealed record AppliedMigration(int Version, string Description, string Checksum, DateTime InstalledOn, bool Success);

/// <summary>
/// Applies the shipped SQL migrations at start, in version order, each in its own transaction, and records them in
/// <c>schema_history</c> with the SHA-256 of the file. A session-level advisory lock serializes app hosts that start
/// at the same time against one database. An applied migration whose file changed stops the start, and so does an
/// applied migration newer than any this release ships (the database was migrated by a later release).
/// </summary>
public sealed partial class Migrator(NpgsqlDataSource dataSource, string directory, AppLog log)
{
    /// <summary>pg_advisory_lock key: the bytes of "ACMEMAIL".</summary>
    public const long AdvisoryLockKey = 0x41434D454D41494C;

    [GeneratedRegex(@"^V(?<v>[0-9]+)__(?<d>[A-Za-z0-9_\-]+)\.sql$", RegexOptions.CultureInvariant)]
    private static partial Regex FileName();

    public static IReadOnlyList<MigrationFile> ReadDirectory(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new MigrationException($"migrations directory {directory} does not exist");
        }
        var files = new List<MigrationFile>();
        foreach (var path in Directory.EnumerateFiles(directory, "*.sql"))
        {
            var name = System.IO.Path.GetFileName(path);
            var m = FileName().Match(name);
            if (!m.Success)
            {
                throw new MigrationException($"migration file name {name} does not match V<number>__<description>.sql");
            }
            var bytes = File.ReadAllBytes(path);
            files.Add(new MigrationFile(
                int.Parse(m.Groups["v"].Value, NumberStyles.None, CultureInfo.InvariantCulture),
                m.Groups["d"].Value.Replace('_', ' '),
                path,
                Convert.ToHexStringLower(SHA256.HashData(bytes)),
                File.ReadAllText(path)));
        }
        files.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < files.Count; i++)
        {
            if (files[i].Version == files[i - 1].Version)
            {
                throw new MigrationException($"two migrations have version {files[i].Version}: {files[i - 1].Path} and {files[i].Path}");
            }
        }
        return files;
    }

    /// <summary>Applies what is pending; returns the number of migrations applied by this call.</summary>
    public async Task<int> MigrateAsync(CancellationToken ct)
    {
        var files = ReadDirectory(directory);
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await ExecAsync(conn, $"SELECT pg_advisory_lock({AdvisoryLockKey})", ct);
        try
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
            var applied = await ReadHistoryAsync(conn, ct);
            var byVersion = applied.ToDictionary(a => a.Version);

            var newest = files.Count == 0 ? 0 : files[^1].Version;
            var newer = applied.Where(a => a.Version > newest).ToList();
            if (newer.Count > 0)
            {
                // Like Flyway's validation: a later release migrated this database (then the package was downgraded).
                // Its schema may not be what this release's code expects, so do not run against it.
                throw new MigrationException(
                    $"database schema is newer than this release ({string.Join(", ", newer.Select(a => $"V{a.Version} ({a.Description})"))} applied; " +
                    $"this release ships migrations up to V{newest}): install the newer release or restore the database");
            }
            foreach (var a in applied.Where(a => files.All(f => f.Version != a.Version)))
            {
                log.Warn($"migration V{a.Version} ({a.Description}) is recorded in schema_history but not shipped in {directory}");
            }

            var count = 0;
            foreach (var file in files)
            {
                if (byVersion.TryGetValue(file.Version, out var done))
                {
                    if (!done.Success)
                    {
                        throw new MigrationException($"migration V{file.Version} ({file.Description}) is recorded as failed; repair the database before starting");
                    }
                    if (!string.Equals(done.Checksum, file.Checksum, StringComparison.Ordinal))
                    {
                        throw new MigrationException(
                            $"migration V{file.Version} ({file.Description}) was changed after it was applied: " +
                            $"checksum in schema_history {done.Checksum}, file {file.Path} {file.Checksum}");
                    }
                    continue;
                }
                await ApplyAsync(conn, file, ct);
                count++;
            }
            log.Info(count == 0
                ? $"migrations: schema is up to date ({files.Count} applied)"
                : $"migrations: applied {count}, schema now at V{files[^1].Version}");
            return count;
        }
        finally
        {
            if (conn.State == System.Data.ConnectionState.Open)
            {
                await ExecAsync(conn, $"SELECT pg_advisory_unlock({AdvisoryLockKey})", CancellationToken.None);
            }
        }
    }

    private async Task ApplyAsync(NpgsqlConnection conn, MigrationFile file, CancellationToken ct)
    {
        log.Info($"migrations: applying V{file.Version} ({file.Description}) sha256 {file.Checksum}");
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

    public static async Task<List<AppliedMigration>> ReadHistoryAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var list = new List<AppliedMigration>();
        await using var cmd = new NpgsqlCommand("SELECT version, description, checksum, installed_on, success FROM schema_history ORDER BY version", conn);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new AppliedMigration(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetDateTime(3), r.GetBoolean(4)));
        }
        return list;
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
