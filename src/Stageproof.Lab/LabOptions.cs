namespace Stageproof.Lab;

/// <summary>
/// Where and how the lab is built. Addresses: environment i gets 127.0.(AddressOctet + 10·i).x — prod, qa,
/// staging, then clones — with app hosts on .11, .12, ... and the environment's PostgreSQL on .5 (the mail estate: MariaDB on .6, an LDAP host with slapd on .7, a proxy on .9).
/// Tests move <see cref="AddressOctet"/> (e.g. 110) so they never collide with a lab the user runs.
/// </summary>
public sealed record LabOptions
{
    /// <summary>The lab directory (LABDIR): host roots, databases, repository, keys, lab.json, stageproof.yaml.</summary>
    public required string Directory { get; init; }

    /// <summary>Number of prod app hosts (1–50).</summary>
    public int AppHosts { get; init; } = 2;

    public int SshPort { get; init; } = 2222;
    public int PostgresPort { get; init; } = 5432;
    public int AcmeMailPort { get; init; } = 8080;

    /// <summary>Third octet of prod's addresses; qa is +10, staging +20, clones +30, +40, ...</summary>
    public int AddressOctet { get; init; } = 10;

    /// <summary>Holds the debootstrapped base images and the built acme-mail packages, shared by every lab.</summary>
    public string CacheDirectory { get; init; } = "/var/cache/stageproof";

    /// <summary>The Stageproof source tree (for demo/AcmeMail/packaging/build-debs.sh); null: searched upward
    /// from the current directory and from this program's directory.</summary>
    public string? RepositoryRoot { get; init; }

    /// <summary>Install acme-mail on the app hosts when its packages exist or can be built.</summary>
    public bool InstallAcmeMail { get; init; } = true;

    /// <summary>Debian suite of the base image.</summary>
    public string Suite { get; init; } = "bookworm";

    /// <summary>Debian archive for debootstrap; null: the first Debian main archive in this machine's apt sources.</summary>
    public string? Mirror { get; init; }

    /// <summary>Give the hosts this machine's own Debian archives (its suite, updates and security, component main)
    /// beside the lab repository, so `scan --security` finds the real pending updates of a real minbase system.</summary>
    public bool Upstream { get; init; }

    /// <summary>How many hosts are set up at once.</summary>
    public int Parallelism { get; init; } = 8;

    /// <summary>What serves the app hosts: <see cref="LabEstate.Standard"/> (PostgreSQL per environment, database logins)
    /// or <see cref="LabEstate.Mail"/> (MariaDB on .6 and an LDAP host with slapd on .7 per environment: acme-mail keeps
    /// its mail in MariaDB and authenticates against the directory).</summary>
    public LabEstate Estate { get; init; } = LabEstate.Standard;

    public int MariaDbPort { get; init; } = 3306;
    public int LdapPort { get; init; } = 389;
}

/// <summary>The shape of the lab's estate (<c>lab up --estate</c>).</summary>
public enum LabEstate
{
    /// <summary>acme-mail on PostgreSQL, logins checked against its database.</summary>
    Standard,

    /// <summary>A mail estate as run in the field: acme-mail on MariaDB, logins bound against OpenLDAP.</summary>
    Mail,
}
