namespace Stageproof.Core.Configuration;

/// <summary>The whole of stageproof.yaml after validation. Paths are absolute (resolved against the file's folder).</summary>
public sealed record StageproofConfig
{
    /// <summary>The file this configuration was read from.</summary>
    public required string SourceFile { get; init; }
    public IReadOnlyDictionary<string, HostConfig> Hosts { get; init; } = new Dictionary<string, HostConfig>();
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Groups { get; init; } = new Dictionary<string, IReadOnlyList<string>>();
    public IReadOnlyDictionary<string, EnvironmentConfig> Environments { get; init; } = new Dictionary<string, EnvironmentConfig>();
    public DriftRules Drift { get; init; } = new();
    public SshSettings Ssh { get; init; } = new();
    /// <summary>Check suites by name, typed and validated.</summary>
    public IReadOnlyDictionary<string, Checks.CheckSuite> Checks { get; init; } = new Dictionary<string, Checks.CheckSuite>();
    /// <summary>Stages, their gates and rollout policies, and the emergency lane.</summary>
    public Lifecycle.LifecycleConfig Lifecycle { get; init; } = new();
    /// <summary>How the stage's drift step weighs what a change did beyond the set (stage.policy), per environment.</summary>
    public StageConfig Stage { get; init; } = new();
    /// <summary>Where events are sent (<c>webhooks:</c>), secrets already read.</summary>
    public IReadOnlyList<Webhooks.WebhookConfig> Webhooks { get; init; } = [];
    /// <summary>Where the state is (<c>state:</c>) and how to reach it.</summary>
    public StateSettings State { get; init; } = new();
    /// <summary><c>server:</c> what only <c>stageproof serve</c> uses (single sign-on), secrets already read.</summary>
    public ServerConfig Server { get; init; } = new();
    /// <summary>The durable job store (<c>jobs:</c>) rollouts run through; null: they run in the process that starts them.</summary>
    public Jobs.JobsConfig? Jobs { get; init; }
    /// <summary>The Ansible inventory the hosts were partly read from, if any.</summary>
    public string? InventoryFile { get; init; }
    /// <summary>What the reader noticed without refusing it, each at its file and line: what Ansible only warns about,
    /// connection variables Stageproof does not honour, inventory hosts left out.</summary>
    public IReadOnlyList<InputProblem> Warnings { get; init; } = [];
    /// <summary>Where each host and each of its values was written (a value not listed is a default).</summary>
    public IReadOnlyDictionary<string, HostOrigin> Origins { get; init; } = new Dictionary<string, HostOrigin>();
    /// <summary>Inventory hosts Stageproof cannot reach as written (say a winrm connection) that no environment uses:
    /// left out of <see cref="Hosts"/> and the groups, with the reason.</summary>
    public IReadOnlyDictionary<string, SkippedHost> SkippedHosts { get; init; } = new Dictionary<string, SkippedHost>();

    /// <summary>The check suite an environment names; an environment without one has an empty suite.</summary>
    public Checks.CheckSuite SuiteOf(string environment) =>
        Environment(environment).Checks is { } name && Checks.TryGetValue(name, out var suite) ? suite : new Checks.CheckSuite("(none)", []);

    public EnvironmentConfig Environment(string name) =>
        Environments.TryGetValue(name, out var env) ? env
            : throw new InputException($"{SourceFile}: environment '{name}' is not defined (known: {string.Join(", ", Environments.Keys)})");

    public HostConfig Host(string name) =>
        Hosts.TryGetValue(name, out var host) ? host
            : throw new InputException($"{SourceFile}: host '{name}' is not defined (known: {string.Join(", ", Hosts.Keys)})");

    /// <summary>The hosts of an environment, group names expanded, in configuration order.</summary>
    public IReadOnlyList<HostConfig> HostsOf(string environment) =>
        Environment(environment).Hosts.Select(Host).ToList();
}

public enum TransportKind { Ssh, Local, Chroot }

/// <summary>Where a value was written: a file, its line (0 when the whole file or nothing more precise) and key.</summary>
public sealed record ValueSource(string File, int Line, string Key)
{
    public override string ToString() => Line > 0 ? $"{File}:{Line}" : File;
}

/// <summary>Where a host and its values came from, and what of it is shown but not yet used.</summary>
public sealed record HostOrigin
{
    public required ValueSource Definition { get; init; }
    /// <summary>Field (transport, address, port, user, identity, known_hosts, become, role, root) → where it was set.</summary>
    public IReadOnlyDictionary<string, ValueSource> Values { get; init; } = new Dictionary<string, ValueSource>();
    /// <summary>The ProxyJump list as written (ansible_ssh_common_args/extra_args, jump:, or ssh_config), if any.</summary>
    public string? Jump { get; init; }
    public ValueSource? JumpSource { get; init; }
}

/// <summary>An inventory host left out of the configuration, and why.</summary>
public sealed record SkippedHost(string Name, string Reason, ValueSource Source);

public sealed record HostConfig
{
    public required string Name { get; init; }
    public TransportKind Transport { get; init; } = TransportKind.Ssh;
    public string? Address { get; init; }
    public int Port { get; init; } = 22;
    public string User { get; init; } = "root";
    public string? Identity { get; init; }
    public string? KnownHosts { get; init; }
    /// <summary>"sudo" when commands must be elevated; null when the user is already root.</summary>
    public string? Become { get; init; }
    /// <summary>Used to pair hosts across environments (prod's app hosts with staging's app hosts).</summary>
    public string? Role { get; init; }
    /// <summary>For the chroot transport: the root directory.</summary>
    public string? Root { get; init; }
    /// <summary>The hosts passed through to reach this one (ProxyJump), first to last; each is reached, and its key
    /// checked, like any host.</summary>
    public IReadOnlyList<HostConfig> Jumps { get; init; } = [];
    /// <summary>The ssh-agent socket: null for $SSH_AUTH_SOCK, <see cref="NoAgent"/> for no agent.</summary>
    public string? IdentityAgent { get; init; }
    /// <summary>Only <see cref="Identity"/>, no agent keys (ssh_config IdentitiesOnly yes).</summary>
    public bool IdentitiesOnly { get; init; }
    /// <summary>Record an unknown host key and go on (ssh_config StrictHostKeyChecking accept-new); a changed key is
    /// refused whatever this says.</summary>
    public bool AcceptNewHostKeys { get; init; }

    public const string NoAgent = "none";

    /// <summary>user@address:port, as a person would type it.</summary>
    public string Endpoint => $"{User}@{(Address is { } a && a.Contains(':', StringComparison.Ordinal) ? $"[{a}]" : Address)}:{Port}";
}

public sealed record EnvironmentConfig
{
    public required string Name { get; init; }
    /// <summary>Host names, group names already expanded.</summary>
    public IReadOnlyList<string> Hosts { get; init; } = [];
    /// <summary>Database name → its connection string in the one-string form of <see cref="Databases.DatabaseEndpoint"/>
    /// (a plain Npgsql connection string, or "mariadb:…" / "mysql:…").</summary>
    public IReadOnlyDictionary<string, string> Databases { get; init; } = new Dictionary<string, string>();
    public string? MirrorOf { get; init; }
    /// <summary>An environment of twins of these hosts that a stage leaves on the old version and loads in the same
    /// seconds as these, so latency is judged against it rather than against a baseline taken minutes earlier.</summary>
    public string? Control { get; init; }
    /// <summary>Name of the check suite in <see cref="StageproofConfig.Checks"/>.</summary>
    public string? Checks { get; init; }
    /// <summary>LDAP directories whose facts are collected with the environment's: name → where and how to read them.</summary>
    public IReadOnlyDictionary<string, DirectoryConfig> Directories { get; init; } = new Dictionary<string, DirectoryConfig>();
}

/// <summary>An LDAP directory of an environment (<c>environments.ENV.directories.NAME</c>): its URL, a DN allowed to
/// read cn=config, the file holding that DN's password (0600; never the YAML), and the bases whose entries are counted.</summary>
public sealed record DirectoryConfig(Uri Url, string BindDn, string PasswordFile, IReadOnlyList<string> Bases)
{
    /// <summary>Set when an apply that reaches the directory's host takes a rollback point of its entries.</summary>
    public DirectoryRollbackConfig? Rollback { get; init; }

    /// <summary>Whether <paramref name="host"/> serves this directory: it is the rollback's <c>host</c>, or (none given)
    /// the host the URL names by address or by name.</summary>
    public bool ServedBy(HostConfig host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return Rollback?.Host is { } named
            ? string.Equals(named, host.Name, StringComparison.Ordinal)
            : string.Equals(Url.Host, host.Address, StringComparison.OrdinalIgnoreCase)
              || string.Equals(Url.Host, host.Name, StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary>How a directory's entries are exported for a rollback point and restored: bound as <see cref="BindDn"/>, a DN
/// that may read and write every entry under the bases (the database's rootDN), its password in <see cref="PasswordFile"/>.</summary>
public sealed record DirectoryRollbackConfig(string BindDn, string PasswordFile, string? Host);

public sealed record DriftRules
{
    /// <summary>Tracked config paths; may contain shell globs (*, ?, [...]).</summary>
    public IReadOnlyList<string> Track { get; init; } = [];
    /// <summary>Ignore rules "category:pattern", e.g. "file:/etc/hostname", "package:linux-image-*".</summary>
    public IReadOnlyList<string> Ignore { get; init; } = [];
    /// <summary>How tracked files are read to compare their values (glob → format), before the formats known by name.</summary>
    public IReadOnlyList<ConfigFiles.FormatRule> Formats { get; init; } = [];
    public double MinFidelity { get; init; } = 0.98;
    /// <summary>A difference of this severity or worse fails a comparison whatever the fidelity (null: only the figure
    /// counts). One hand-edited config file barely moves a figure over hundreds of items, yet it is what breaks a rollout.</summary>
    public Drift.DriftSeverity? FailOn { get; init; } = Drift.DriftSeverity.High;
    /// <summary>Text content of a tracked file is kept up to this size; larger files keep only their digest.</summary>
    public int MaxContentBytes { get; init; } = 65536;
    /// <summary>Keys whose values are masked in stored content (regular expressions, case-insensitive). A pattern must
    /// match the key's last word or words (DB_PASSWORD, keystorePass), so PasswordAuthentication or token_lifetime,
    /// settings about a secret, keep their values. <c>stageproof init</c>'s template lists exactly these.</summary>
    public IReadOnlyList<string> SecretKeys { get; init; } =
    [
        "pass(word|wd|phrase)?",    // a word of the key: DB_PASS, keystorePass, auth-user-pass (not bypass)
        @"\w*passw(or)?d",          // also glued to a prefix: PGPASSWORD, rootpasswd
        "pwd",
        "(bind|root)pw",            // LDAP
        "credentials?",
        "secret",
        "client[_.-]?secret",
        "token",
        "auth[_.-]?token",
        "authtok",                  // sssd ldap_default_authtok
        "(api|access|secret|private|auth|app|encryption|signing|master|preshared|validation|decryption|nonce|logged[_-]?in)[_.-]?key",
        "salt",
        "requirepass",              // redis
        "masterauth",
    ];
}

public sealed record SshSettings
{
    /// <summary>How many hosts are contacted at once.</summary>
    public int Parallelism { get; init; } = 16;
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>How long a long-lived process (the server) keeps a host's idle connection open for the next verb, as
    /// OpenSSH's ControlPersist does; zero closes it after each use. A CLI process closes its connections when it ends.</summary>
    public TimeSpan KeepOpen { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary><c>stage:</c> the drift step's policy for all environments, and overrides per environment.</summary>
public sealed record StageConfig
{
    public Stage.StagePolicy Policy { get; init; } = new();
    public IReadOnlyDictionary<string, Stage.StagePolicy> Environments { get; init; } = new Dictionary<string, Stage.StagePolicy>();
    /// <summary>What a host is known to do beyond any set ("process:GLOB", "log:GLOB", ...): such behaviour findings pass,
    /// named with the rule (<see cref="Stage.BehaviourChanges.AllowCategories"/>).</summary>
    public IReadOnlyList<string> Allow { get; init; } = [];

    public Stage.StagePolicy PolicyFor(string environment) => Environments.GetValueOrDefault(environment) ?? Policy;
}
