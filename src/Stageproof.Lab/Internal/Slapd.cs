using System.Globalization;
using System.Text.RegularExpressions;
using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>
/// The mail estate's directory tier: Debian's slapd (its package and the dependencies the base image lacks, fetched once
/// with <c>apt-get download</c> into the cache and published in the lab repository), installed on each environment's
/// LDAP host like any package, so an update of it can be staged, applied and rolled back as Stageproof does any other.
/// Its cn=config is <see cref="SlapdLdif"/>'s (loaded with slapadd), its entries the demo's accounts or a clone's
/// source's; where it listens is this host's own line in <c>/etc/default/slapd</c>.
/// </summary>
internal static partial class Slapd
{
    public const string Package = "slapd";
    public const string Role = "ldap";
    public const string DefaultsFile = "/etc/default/slapd";
    private const string DataDirectory = "/var/lib/ldap";
    private const string RunDirectory = "/run/slapd";

    /// <summary>slapd and what it needs beyond the base image (perl-base too: the base may hold an older one than the
    /// archive's perl asks for).</summary>
    private static readonly string[] Debs =
        ["slapd", "libargon2-1", "libltdl7", "libodbc2", "libperl5.36", "perl", "perl-base", "perl-modules-5.36", "psmisc", "libgdbm6", "libgdbm-compat4"];

    /// <summary>The packages of this machine's Debian, downloaded once into the cache.</summary>
    public static async Task<IReadOnlyList<string>> EnsureDebsAsync(LabOptions options, IProgress<string>? progress, CancellationToken ct)
    {
        var cache = Path.Combine(options.CacheDirectory, $"slapd-debs-{options.Suite}");
        await CachedDirectory.EnsureAsync(cache, IsComplete, async tmp =>
        {
            progress?.Report($"slapd: apt-get download {string.Join(' ', Debs)} (once; cached in {cache})");
            await Run.CheckedAsync("slapd", "/usr/bin/apt-get", ["download", "-q", .. Debs], TimeSpan.FromMinutes(5), ct, workingDirectory: tmp).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        return System.IO.Directory.EnumerateFiles(cache, "*.deb").Order(StringComparer.Ordinal).ToList();
    }

    private static bool IsComplete(string cache) =>
        System.IO.Directory.Exists(cache) && Debs.All(d => System.IO.Directory.EnumerateFiles(cache, d + "_*.deb").Any());

    /// <summary>Installs slapd from the lab repository with no configuration of Debian's own (debconf's
    /// <c>slapd/no_configuration</c>), and without starting it (policy-rc.d denies); then builds its cn=config and loads
    /// the demo's accounts.</summary>
    public static async Task InstallAsync(HostRoots roots, HostState host, int port, string labDir, CancellationToken ct)
    {
        await roots.InRootAsync(host, ["/bin/sh", "-c", "echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections"], ct).ConfigureAwait(false);
        await roots.AptInstallAsync(host, Package, ct).ConfigureAwait(false);
        await ConfigureAsync(host, port, ct).ConfigureAwait(false);
        var (configPassword, adminPassword) = await LdapServer.EnsurePasswordsAsync(labDir, ct).ConfigureAwait(false);
        var config = In(host, "/tmp/stageproof-slapd-config.ldif");
        await WriteSecretAsync(config, SlapdLdif.Config(DataDirectory, configPassword, adminPassword, RunDirectory), ct).ConfigureAwait(false);
        try
        {
            System.IO.Directory.CreateDirectory(In(host, "/etc/ldap/slapd.d"));
            System.IO.Directory.CreateDirectory(In(host, DataDirectory + "/data")); // slapadd checks olcDbDirectory exists
            await roots.InRootAsync(host, ["/usr/sbin/slapadd", "-n0", "-F", "/etc/ldap/slapd.d", "-l", "/tmp/stageproof-slapd-config.ldif"], ct, TimeSpan.FromMinutes(1))
                .ConfigureAwait(false);
        }
        finally
        {
            File.Delete(config); // holds the admins' hashes
        }
        await LoadAsync(roots, host, LdapServer.SeedLdif(), ct).ConfigureAwait(false);
    }

    /// <summary>Replaces the directory's entries with <paramref name="ldif"/> (slapd stopped) and gives slapd's files to
    /// its user.</summary>
    public static async Task LoadAsync(HostRoots roots, HostState host, string ldif, CancellationToken ct)
    {
        var data = In(host, DataDirectory + "/data");
        if (System.IO.Directory.Exists(data))
        {
            System.IO.Directory.Delete(data, recursive: true);
        }
        System.IO.Directory.CreateDirectory(data);
        var file = In(host, "/tmp/stageproof-slapd-data.ldif");
        await WriteSecretAsync(file, ldif, ct).ConfigureAwait(false);
        try
        {
            await roots.InRootAsync(host, ["/usr/sbin/slapadd", "-q", "-n1", "-F", "/etc/ldap/slapd.d", "-l", "/tmp/stageproof-slapd-data.ldif"], ct, TimeSpan.FromMinutes(2))
                .ConfigureAwait(false);
        }
        finally
        {
            File.Delete(file); // the users' password hashes
        }
        await roots.InRootAsync(host, ["/bin/chown", "-R", "openldap:openldap", "/etc/ldap/slapd.d", DataDirectory], ct).ConfigureAwait(false);
    }

    /// <summary>The directory's entries as LDIF, read with slapcat while slapd runs (mdb allows it).</summary>
    public static Task<string> ExportAsync(HostRoots roots, HostState host, CancellationToken ct) =>
        roots.InRootAsync(host, ["/usr/sbin/slapcat", "-n1", "-F", "/etc/ldap/slapd.d"], ct, TimeSpan.FromMinutes(2));

    /// <summary>Writes where this host's slapd listens: its own address and <paramref name="port"/> only (never every
    /// address: the environments share the machine's loopback). No ldapi socket: nothing in the lab uses it, and slapd 2.5
    /// with two listeners that runs out of descriptors can mute both for good instead of resuming when clients leave.</summary>
    public static async Task ConfigureAsync(HostState host, int port, CancellationToken ct)
    {
        var path = In(host, DefaultsFile);
        var text = await File.ReadAllTextAsync(path, ct).ConfigureAwait(false);
        var line = $"SLAPD_SERVICES=\"{LdapServer.Url(host.Address, port)}/\"";
        if (!ServicesLine().IsMatch(text))
        {
            throw new InfrastructureException(host.Name, $"{DefaultsFile} has no SLAPD_SERVICES line to set");
        }
        await File.WriteAllTextAsync(path, ServicesLine().Replace(text, line, 1), ct).ConfigureAwait(false);
    }

    /// <summary>Starts slapd through its init script, lets later package upgrades restart it (policy-rc.d allow list)
    /// and waits until it accepts connections.</summary>
    public static async Task StartAsync(HostRoots roots, HostState host, int port, CancellationToken ct)
    {
        await BaseImage.AllowStartsAsync(host.Root, Package, ct).ConfigureAwait(false);
        System.IO.Directory.CreateDirectory(roots.LogDir);
        await Run.DaemonAsync(host.Name, Path.Combine(roots.LogDir, host.Name + ".slapd.log"), "/usr/sbin/chroot",
            [host.Root, "/usr/sbin/service", Package, "start"], TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
        if (!await Net.WaitUntilAsync(c => Net.TcpOpenAsync(host.Address, port, c), TimeSpan.FromSeconds(30), ct).ConfigureAwait(false))
        {
            throw new InfrastructureException(host.Name, $"slapd did not answer on {host.Address}:{port.ToString(CultureInfo.InvariantCulture)} within 30s");
        }
    }

    /// <summary>Installed and enabled (the lab started it once).</summary>
    public static bool Enabled(string root) => BaseImage.ServiceEnabled(root, Package);

    private static async Task WriteSecretAsync(string path, string text, CancellationToken ct)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the lab runs on Linux");
        }
        await using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), ct).ConfigureAwait(false);
    }

    private static string In(HostState host, string path) => Path.Combine(host.Root, path.TrimStart('/'));

    [GeneratedRegex("^SLAPD_SERVICES=.*$", RegexOptions.Multiline)]
    private static partial Regex ServicesLine();
}
