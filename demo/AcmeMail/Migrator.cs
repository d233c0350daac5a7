using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace AcmeMail;

/// <summary>A migration problem that must stop the service from starting (exit code 1).</summary>
public sealed class MigrationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>One file <c>V{n}__{description}.sql</c> from the migrations directory.</summary>
public sealed record MigrationFile(int Version, string Description, string Path, string Checksum, string Sql);

/// <summary>A row of <c>schema_history</c>.</summary>
public sealed record AppliedMigration(int Version, string Description, string Checksum, DateTime InstalledOn, bool Success);

/// <summary>
/// Applies the shipped SQL migrations at start, in version order, and records them in <c>schema_history</c> with the
/// SHA-256 of the file. A lock held by the session serializes app hosts that start at the same time against one
/// database. An applied migration whose file changed stops the start, and so does an applied migration newer than any
/// this release ships (the database was migrated by a later release). How a file is applied (in a transaction on
/// PostgreSQL, statement by statement on MariaDB) is the store's.
/// </summary>
public sealed partial class Migrator(IMailStore store, string directory, AppLog log)
{
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
        await using var session = await store.OpenMigrationSessionAsync(ct);
        var applied = await session.ReadHistoryAsync(ct);
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
            log.Info($"migrations: applying V{file.Version} ({file.Description}) sha256 {file.Checksum}");
            await session.ApplyAsync(file, ct);
            count++;
        }
        log.Info(count == 0
            ? $"migrations: schema is up to date ({files.Count} applied)"
            : $"migrations: applied {count}, schema now at V{files[^1].Version}");
        return count;
    }

    /// <summary>The history as it is (the table is made when missing), read under the migration lock.</summary>
    public static async Task<List<AppliedMigration>> ReadHistoryAsync(IMailStore store, CancellationToken ct)
    {
        await using var session = await store.OpenMigrationSessionAsync(ct);
        return await session.ReadHistoryAsync(ct);
    }
}
