using System.Security.Cryptography;
using System.Text;

namespace Stageproof.Lab;

/// <summary>
/// The cn=config of a private OpenLDAP slapd for acme's directory, as <c>slapadd -n0</c> loads it: an mdb database for
/// <see cref="Suffix"/> with the ppolicy overlay, cn=Monitor readable by the config admin, and the two admins
/// (<see cref="ConfigAdminDn"/>, <see cref="DataAdminDn"/>) with {SSHA} hashes of the given passwords. The lab's
/// directories and the tests' own slapd are built from it.
/// </summary>
public static class SlapdLdif
{
    public const string Suffix = "dc=acme,dc=test";
    public const string People = "ou=people," + Suffix;
    public const string ConfigAdminDn = "cn=admin,cn=config";
    public const string DataAdminDn = "cn=admin," + Suffix;

    /// <summary>The configuration LDIF for a server whose mdb data lives under <c>directory/data</c> and whose pid and args
    /// files are in <paramref name="runDirectory"/> (by default <paramref name="directory"/> too).</summary>
    public static string Config(string directory, string configAdminPassword, string dataAdminPassword, string? runDirectory = null) => $$"""
        dn: cn=config
        objectClass: olcGlobal
        cn: config
        olcPidFile: {{runDirectory ?? directory}}/slapd.pid
        olcArgsFile: {{runDirectory ?? directory}}/slapd.args

        dn: cn=module{0},cn=config
        objectClass: olcModuleList
        cn: module{0}
        olcModulePath: /usr/lib/ldap
        olcModuleLoad: back_mdb
        olcModuleLoad: ppolicy

        dn: cn=schema,cn=config
        objectClass: olcSchemaConfig
        cn: schema

        include: file:///etc/ldap/schema/core.ldif

        include: file:///etc/ldap/schema/cosine.ldif

        include: file:///etc/ldap/schema/nis.ldif

        include: file:///etc/ldap/schema/inetorgperson.ldif

        dn: olcDatabase={-1}frontend,cn=config
        objectClass: olcDatabaseConfig
        objectClass: olcFrontendConfig
        olcDatabase: {-1}frontend
        olcSizeLimit: 500
        olcTimeLimit: 3600

        dn: olcDatabase={0}config,cn=config
        objectClass: olcDatabaseConfig
        olcDatabase: {0}config
        olcRootDN: {{ConfigAdminDn}}
        olcRootPW: {{Ssha(configAdminPassword)}}

        dn: olcDatabase={1}mdb,cn=config
        objectClass: olcDatabaseConfig
        objectClass: olcMdbConfig
        olcDatabase: {1}mdb
        olcSuffix: {{Suffix}}
        olcDbDirectory: {{directory}}/data
        olcDbMaxSize: 104857600
        olcDbNoSync: TRUE
        olcRootDN: {{DataAdminDn}}
        olcRootPW: {{Ssha(dataAdminPassword)}}
        olcDbIndex: objectClass eq
        olcDbIndex: uid eq
        olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
        olcAccess: {1}to * by * read

        dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
        objectClass: olcOverlayConfig
        objectClass: olcPPolicyConfig
        olcOverlay: {0}ppolicy
        olcPPolicyHashCleartext: TRUE

        dn: olcDatabase={2}monitor,cn=config
        objectClass: olcDatabaseConfig
        olcDatabase: {2}monitor
        olcAccess: {0}to * by dn.exact="{{ConfigAdminDn}}" read by * none

        """.Replace("\r\n", "\n", StringComparison.Ordinal);

    /// <summary>The {SSHA} form of a password (SHA-1 of password and a random salt, then the salt), as slappasswd writes it.</summary>
    public static string Ssha(string password)
    {
        var salt = RandomNumberGenerator.GetBytes(8);
#pragma warning disable CA5350 // {SSHA} is slapd's default password scheme; these are demo and test accounts
        var digest = SHA1.HashData([.. Encoding.UTF8.GetBytes(password), .. salt]);
#pragma warning restore CA5350
        return "{SSHA}" + Convert.ToBase64String([.. digest, .. salt]);
    }
}
