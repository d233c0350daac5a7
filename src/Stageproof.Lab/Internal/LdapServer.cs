using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Stageproof.Core;

namespace Stageproof.Lab.Internal;

/// <summary>
/// The mail estate's directory, as its clients see it: acme's suffix and people, the URL of an environment's directory
/// (its LDAP host's slapd, <see cref="Slapd"/>), the admins' passwords and the demo's accounts, user01..user50 with
/// password-01..password-50 as {SSHA} hashes — the accounts acme-mail's seed makes, so a login checks the same password
/// against either backend. The admins' passwords are made per lab and kept in LABDIR/secrets (0600): Stageproof reads the
/// directory's facts with the config admin's and exports and restores its entries with the data admin's.
/// </summary>
internal static class LdapServer
{
    public const string Suffix = SlapdLdif.Suffix;
    public const string People = SlapdLdif.People;
    public const string ConfigAdminDn = SlapdLdif.ConfigAdminDn;
    public const string DataAdminDn = SlapdLdif.DataAdminDn;
    public const string UserDnTemplate = "uid={user}," + People;
    public const string ConfigPasswordFile = "secrets/ldap-config.pw";
    public const string AdminPasswordFile = "secrets/ldap-admin.pw";

    public static string Url(string address, int port) => $"ldap://{address}:{port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The admins' passwords of this lab (one pair for every environment, so a clone's directory is the
    /// source's): made on first use and kept 0600 in LABDIR/secrets.</summary>
    public static async Task<(string Config, string Admin)> EnsurePasswordsAsync(string labDir, CancellationToken ct)
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
