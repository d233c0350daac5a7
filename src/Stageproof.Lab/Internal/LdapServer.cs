using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>
/// One OpenLDAP slapd per environment of the mail estate, from this machine's Debian binaries: its own cn=config
/// (LABDIR/ldap/ENV/slapd.d, built with slapadd -n0: an mdb database for <see cref="Suffix"/> with the ppolicy overlay,
/// cn=Monitor, an admin of cn=config) seeded with the demo's accounts, user01..user50 with password-01..password-50 as
/// {SSHA} hashes — the accounts acme-mail's seed makes, so a login checks the same password against either backend.
/// The admins' passwords are made per lab and kept in LABDIR/secrets (0600): Stageproof reads the directory's facts
/// with the config admin's.
/// </summary>
internal static class LdapServer
{
    public const string Slapd = "/usr/sbin/slapd";
    public const string Slapadd = "/usr/sbin/slapadd";
    public const string Slapcat = "/usr/sbin/slapcat";
    public const string Suffix = SlapdLdif.Suffix;
    public const string People = SlapdLdif.People;
    public const string ConfigAdminDn = SlapdLdif.ConfigAdminDn;
    public const string UserDnTemplate = "uid={user}," + People;
    public const string ConfigPasswordFile = "secrets/ldap-config.pw";
    public const string AdminPasswordFile = "secrets/ldap-admin.pw";

    public static string Url(string address, int port) => $"ldap://{address}:{port.ToString(CultureInfo.InvariantCulture)}";

    public static string DirectoryOf(string labDir, string environment) => Path.Combine(labDir, "ldap", environment);

    private static string PidFile(string dir) => Path.Combine(dir, "slapd.pid");

    /// <summary>Builds the environment's directory (config and data) and starts it. <paramref name="dataLdif"/>: the
    /// entries to load (a clone's, from slapcat); null: the demo's seed.</summary>
    public static async Task InitAsync(string labDir, EnvState env, int port, string? dataLdif, CancellationToken ct)
    {
        var subject = $"{env.Name}-ldap";
        foreach (var tool in new[] { Slapd, Slapadd, Slapcat })
        {
            if (!File.Exists(tool))
            {
                throw new InfrastructureException(subject, $"{tool} not found (apt-get install slapd)");
            }
        }
        var dir = DirectoryOf(labDir, env.Name);
        System.IO.Directory.CreateDirectory(Path.Combine(dir, "slapd.d"));
        System.IO.Directory.CreateDirectory(Path.Combine(dir, "data"));
        var (configPassword, adminPassword) = await EnsurePasswordsAsync(labDir, ct).ConfigureAwait(false);
        var config = Path.Combine(dir, "config.ldif");
        var data = Path.Combine(dir, "data.ldif");
        await File.WriteAllTextAsync(config, SlapdLdif.Config(dir, configPassword, adminPassword), ct).ConfigureAwait(false);
        if (dataLdif is null)
        {
            await File.WriteAllTextAsync(data, SeedLdif(), ct).ConfigureAwait(false);
        }
        else
        {
            File.Copy(dataLdif, data, overwrite: true);
        }
        try
        {
            await Run.CheckedAsync(subject, Slapadd, ["-n0", "-F", Path.Combine(dir, "slapd.d"), "-l", config], TimeSpan.FromMinutes(1), ct).ConfigureAwait(false);
            await Run.CheckedAsync(subject, Slapadd, ["-q", "-n1", "-F", Path.Combine(dir, "slapd.d"), "-l", data], TimeSpan.FromMinutes(2), ct).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(config); // holds the admins' hashes
        }
        await StartAsync(labDir, env, port, ct).ConfigureAwait(false);
    }

    /// <summary>Starts slapd (it detaches itself once its configuration is read) and waits until it accepts connections.</summary>
    public static async Task StartAsync(string labDir, EnvState env, int port, CancellationToken ct)
    {
        var subject = $"{env.Name}-ldap";
        var dir = DirectoryOf(labDir, env.Name);
        await Run.DaemonAsync(subject, Path.Combine(dir, "slapd.log"), Slapd, ["-h", Url(env.DirectoryAddress, port) + "/", "-F", Path.Combine(dir, "slapd.d")],
            TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        if (!await Net.WaitUntilAsync(c => Net.TcpOpenAsync(env.DirectoryAddress, port, c), TimeSpan.FromSeconds(30), ct).ConfigureAwait(false))
        {
            throw new InfrastructureException(subject, $"slapd did not answer on {env.DirectoryAddress}:{port} within 30s");
        }
    }

    /// <summary>Stops the slapd of a directory folder by its pid file (SIGTERM, SIGKILL after 20 s). True if one was running.</summary>
    public static Task<bool> StopAsync(string dir, CancellationToken ct) => Processes.StopByPidFileAsync(PidFile(dir), TimeSpan.FromSeconds(20), ct);

    /// <summary>Exports an environment's entries (slapcat reads the mdb database while slapd runs) for a clone to load.</summary>
    public static async Task<string> ExportAsync(string labDir, string environment, string scratch, CancellationToken ct)
    {
        var file = Path.Combine(scratch, $"{environment}-{Guid.NewGuid():N}.ldif");
        await Run.CheckedAsync($"{environment}-ldap", Slapcat, ["-n1", "-F", Path.Combine(DirectoryOf(labDir, environment), "slapd.d"), "-l", file],
            TimeSpan.FromMinutes(2), ct).ConfigureAwait(false);
        return file;
    }

    /// <summary>The admins' passwords of this lab (one pair for every environment, so a clone's directory is the
    /// source's): made on first use and kept 0600 in LABDIR/secrets.</summary>
    private static async Task<(string Config, string Admin)> EnsurePasswordsAsync(string labDir, CancellationToken ct)
    {
        async Task<string> Ensure(string relative)
        {
            var path = Path.Combine(labDir, relative);
            if (File.Exists(path))
            {
                return (await File.ReadAllTextAsync(path, ct).ConfigureAwait(false)).Trim();
            }
            if (OperatingSystem.IsWindows())
            {
                throw new PlatformNotSupportedException("the lab runs on Linux");
            }
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            await using var stream = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            await stream.WriteAsync(Encoding.UTF8.GetBytes(password + "\n"), ct).ConfigureAwait(false);
            return password;
        }
        await Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return (await Ensure(ConfigPasswordFile).ConfigureAwait(false), await Ensure(AdminPasswordFile).ConfigureAwait(false));
        }
        finally
        {
            Gate.Release();
        }
    }

    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>The organisation, its people and user01..user50 (password-NN), as acme-mail's seed names them.</summary>
    public static string SeedLdif()
    {
        var sb = new StringBuilder($"dn: {Suffix}\nobjectClass: dcObject\nobjectClass: organization\no: acme\ndc: acme\n\n" +
                                   $"dn: {People}\nobjectClass: organizationalUnit\nou: people\n\n");
        for (var i = 1; i <= 50; i++)
        {
            var uid = string.Create(CultureInfo.InvariantCulture, $"user{i:00}");
            var password = string.Create(CultureInfo.InvariantCulture, $"password-{i:00}");
            sb.Append(CultureInfo.InvariantCulture, $"dn: uid={uid},{People}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {SlapdLdif.Ssha(password)}\n\n");
        }
        return sb.ToString();
    }
}
