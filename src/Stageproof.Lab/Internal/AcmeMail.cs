using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>
/// The demo service on the lab: its packages (built once by demo/AcmeMail/packaging/build-debs.sh into the
/// cache), installed on every app host from the lab repository, configured, seeded and started.
/// </summary>
internal static class AcmeMail
{
    public const string Package = "acme-mail";
    public const string InitialVersion = "1.0-1";
    private const string BuildScript = "demo/AcmeMail/packaging/build-debs.sh";

    /// <summary>The built packages, building them first when the cache holds none for the current sources;
    /// empty when the sources are not in this tree (acme-mail is then left out of the lab).</summary>
    public static async Task<IReadOnlyList<string>> EnsureDebsAsync(LabOptions options, IProgress<string>? progress, CancellationToken ct)
    {
        var root = options.RepositoryRoot ?? FindRepositoryRoot();
        var script = root is null ? null : Path.Combine(root, BuildScript);
        if (script is null || !File.Exists(script))
        {
            progress?.Report($"acme-mail: {BuildScript} not found; the lab is built without acme-mail");
            return [];
        }
        var appDir = Path.GetDirectoryName(Path.GetDirectoryName(script))!;
        var cache = Path.Combine(options.CacheDirectory, $"acme-mail-debs-{SourceHash(appDir)}");
        await CachedDirectory.EnsureAsync(cache, IsComplete, async tmp =>
        {
            progress?.Report($"acme-mail: building packages with {BuildScript} (once; cached in {cache})");
            await Run.CheckedAsync("acme-mail", "/bin/bash", [script, tmp], TimeSpan.FromMinutes(20), ct).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        return System.IO.Directory.EnumerateFiles(cache, "*.deb").Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>A cache holds every version the lab publishes (1.0, the baseline, and 1.1).</summary>
    private static bool IsComplete(string cache) =>
        System.IO.Directory.Exists(cache) &&
        File.Exists(Path.Combine(cache, "acme-mail_1.0-1_amd64.deb")) &&
        File.Exists(Path.Combine(cache, "acme-mail_1.1-1_amd64.deb"));

    /// <summary>The host's drop-in: <paramref name="backendSettings"/> (its database and logins, one setting a line)
    /// and where it listens.</summary>
    public static string ConfigFile(string backendSettings, string address, int port) =>
        "# This host's own acme-mail settings (written by `stageproof lab up`); read after acme-mail.conf,\n" +
        "# so the conffile itself stays the same on every host and drift shows only real differences.\n" +
        backendSettings +
        $"listen.address = {address}\n" +
        $"listen.port = {port.ToString(CultureInfo.InvariantCulture)}\n";

    /// <summary>Installs the initial version without starting it (policy-rc.d denies, STAGEPROOF_NO_START) and
    /// writes the host's configuration.</summary>
    public static async Task InstallAsync(HostRoots roots, HostState host, string backendSettings, int port, CancellationToken ct)
    {
        await roots.AptInstallAsync(host, $"{Package}={InitialVersion}", ct, "STAGEPROOF_NO_START=1").ConfigureAwait(false);
        await ConfigureAsync(host, backendSettings, port, ct).ConfigureAwait(false);
    }

    /// <summary>Writes the host's own settings into the drop-in that acme-mail reads after its conffile.</summary>
    public static Task ConfigureAsync(HostState host, string backendSettings, int port, CancellationToken ct)
    {
        var dropIn = Path.Combine(host.Root, "etc/acme-mail/host.d");
        System.IO.Directory.CreateDirectory(dropIn);
        return File.WriteAllTextAsync(Path.Combine(dropIn, "host.conf"), ConfigFile(backendSettings, host.Address, port), ct);
    }

    /// <summary>Migrates the schema and loads the demo data (idempotent), through one host of the environment.</summary>
    public static Task SeedAsync(HostRoots roots, HostState host, CancellationToken ct) =>
        roots.InRootAsync(host, ["/usr/bin/acme-mail", "--seed"], ct, TimeSpan.FromMinutes(10));

    /// <summary>Starts the service and lets later package upgrades restart it (policy-rc.d allow list).</summary>
    public static async Task StartAsync(HostRoots roots, HostState host, int port, CancellationToken ct)
    {
        await BaseImage.AllowStartsAsync(host.Root, Package, ct).ConfigureAwait(false);
        System.IO.Directory.CreateDirectory(roots.LogDir);
        var url = HealthUrl(host.Address, port);
        // The init script can report a failed start while the daemon is still exec'ing under load (its status
        // check races start-stop-daemon --background); "start" is idempotent, so try again before giving up.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await Run.DaemonAsync(host.Name, Path.Combine(roots.LogDir, host.Name + ".acme-mail.log"), "/usr/sbin/chroot",
                    [host.Root, "/usr/sbin/service", Package, "start"], TimeSpan.FromSeconds(90), ct).ConfigureAwait(false);
                break;
            }
            catch (InfrastructureException e)
            {
                if (await Net.WaitUntilAsync(async c => await Net.HttpStatusAsync(url, c).ConfigureAwait(false) == 200,
                        TimeSpan.FromSeconds(10), ct).ConfigureAwait(false))
                {
                    break;
                }
                if (attempt >= 3)
                {
                    var log = Path.Combine(host.Root, "var/log/acme-mail/acme-mail.log");
                    var tail = File.Exists(log) ? Run.Tail(await File.ReadAllTextAsync(log, ct).ConfigureAwait(false), 5) : "(no log)";
                    throw new InfrastructureException(host.Name, $"{e.Message}; acme-mail.log: {tail}", e);
                }
            }
        }
        if (!await Net.WaitUntilAsync(async c => await Net.HttpStatusAsync(url, c).ConfigureAwait(false) == 200, TimeSpan.FromSeconds(60), ct).ConfigureAwait(false))
        {
            throw new InfrastructureException(host.Name, $"acme-mail did not answer 200 on {url} within 60s (see {host.Root}/var/log/acme-mail/acme-mail.log)");
        }
    }

    public static string HealthUrl(string address, int port) => $"http://{address}:{port.ToString(CultureInfo.InvariantCulture)}/health";

    internal static string? FindRepositoryRoot()
    {
        foreach (var start in new[] { System.IO.Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Stageproof.slnx")))
                {
                    return dir.FullName;
                }
            }
        }
        return null;
    }

    /// <summary>Digest of the service's sources (not bin/obj), so changed sources rebuild the packages.</summary>
    private static string SourceHash(string appDir)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var files = System.IO.Directory.EnumerateFiles(appDir, "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(appDir, f)).Order(StringComparer.Ordinal);
        foreach (var rel in files)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(rel + "\0"));
            sha.AppendData(File.ReadAllBytes(Path.Combine(appDir, rel)));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..12];
    }
}
