namespace Stageproof.Core.Checks;

/// <summary>A named, validated check suite from <c>checks:</c> in stageproof.yaml.</summary>
public sealed record CheckSuite(string Name, IReadOnlyList<CheckDefinition> Checks)
{
    public CheckDefinition? Find(string name) => Checks.FirstOrDefault(c => c.Name == name);
}

/// <summary>The check types, as written in <c>type:</c>.</summary>
public static class CheckTypes
{
    public const string Http = "http", Tcp = "tcp", Command = "command", Service = "service", Auth = "auth", Load = "load",
        Logs = "logs", Sql = "sql", Schema = "schema", DbIntegrity = "db-integrity", Soak = "soak", Ldap = "ldap";

    public static readonly IReadOnlyList<string> All = [Http, Tcp, Command, Service, Auth, Load, Logs, Sql, Schema, DbIntegrity, Soak, Ldap];
}

/// <summary>One check of a suite. Every check has a name unique within its suite and a timeout.</summary>
public abstract record CheckDefinition
{
    public required string Name { get; init; }
    public abstract string Type { get; }
    /// <summary>Upper bound of one attempt (one request, one command, one query).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Host checks (http, tcp, command, service, auth, load, logs) run only on the environment's hosts of this role.</summary>
    public string? Role { get; init; }
}

/// <summary>Where an HTTP, auth, load or LDAP check goes: a port (and path) on each host of the environment, or one URL.</summary>
public sealed record HttpTarget
{
    public int? Port { get; init; }
    /// <summary>Absolute http(s) (or, for ldap checks, ldap(s)) URL; when set, the check runs once against it instead of against each host.</summary>
    public Uri? Url { get; init; }
    public string Scheme { get; init; } = "http";
}

/// <summary>One HTTP request: method, path (may hold ${var}), headers, and an optional JSON body of string values.</summary>
public sealed record HttpRequestSpec
{
    public string Method { get; init; } = "GET";
    public string Path { get; init; } = "/";
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
    /// <summary>A JSON object whose string values may hold ${var} placeholders, filled in JSON-escaped.</summary>
    public IReadOnlyDictionary<string, string>? Json { get; init; }
    public int ExpectStatus { get; init; } = 200;
    /// <summary>Variables taken from the JSON response: name → path such as <c>$.token</c>.</summary>
    public IReadOnlyDictionary<string, string> Extract { get; init; } = new Dictionary<string, string>();
}

public sealed record HttpCheck : CheckDefinition
{
    public override string Type => CheckTypes.Http;
    public required HttpTarget Target { get; init; }
    public HttpRequestSpec Request { get; init; } = new();
    public string? ExpectBody { get; init; }
    public string? ExpectBodyRegex { get; init; }
    /// <summary>Assertions such as <c>$.status == "ok"</c>.</summary>
    public IReadOnlyList<JsonAssertion> ExpectJson { get; init; } = [];
    public TimeSpan? MaxLatency { get; init; }
}

public sealed record TcpCheck : CheckDefinition
{
    public override string Type => CheckTypes.Tcp;
    public required int Port { get; init; }
    /// <summary>An address to use instead of each host's.</summary>
    public string? Address { get; init; }
}

public sealed record CommandCheck : CheckDefinition
{
    public override string Type => CheckTypes.Command;
    /// <summary>Program and arguments, each quoted; never a shell string.</summary>
    public required IReadOnlyList<string> Run { get; init; }
    public int ExpectExit { get; init; }
    public string? ExpectOutput { get; init; }
    public string? ExpectOutputRegex { get; init; }
}

public sealed record ServiceCheck : CheckDefinition
{
    public override string Type => CheckTypes.Service;
    public required string Service { get; init; }
    public bool ExpectRunning { get; init; } = true;
}

/// <summary>Where an auth sequence's credentials come from: never the YAML itself.</summary>
public sealed record CredentialSource
{
    /// <summary>Environment variable holding the password (with <see cref="AuthCheck.User"/>) or "user:password".</summary>
    public string? Env { get; init; }
    /// <summary>A secrets file of "user=password" lines (# comments); every account is used, clients rotate over them.</summary>
    public string? File { get; init; }
}

public sealed record AuthCheck : CheckDefinition
{
    public override string Type => CheckTypes.Auth;
    public required HttpTarget Target { get; init; }
    /// <summary>The user when the credential source holds only a password; otherwise a filter (null: every account).</summary>
    public string? User { get; init; }
    public required CredentialSource Credentials { get; init; }
    /// <summary>Requests in order; ${user}, ${password} and extracted variables are filled in.</summary>
    public required IReadOnlyList<HttpRequestSpec> Steps { get; init; }
}

public sealed record LoadCheck : CheckDefinition
{
    public override string Type => CheckTypes.Load;
    public required HttpTarget Target { get; init; }
    public int Clients { get; init; } = 4;
    public TimeSpan? Duration { get; init; }
    /// <summary>Total iterations over all clients.</summary>
    public int? Iterations { get; init; }
    /// <summary>Iterations run first and not recorded (JIT, connection pools and caches warm up on both sides).</summary>
    public int Warmup { get; init; }
    /// <summary>Name of an auth check of the suite whose sequence each iteration runs first (each step a sample).</summary>
    public string? Auth { get; init; }
    public IReadOnlyList<HttpRequestSpec> Requests { get; init; } = [];
    /// <summary>Largest tolerated share of failed requests in this run alone.</summary>
    public double MaxErrorRate { get; init; }
    public TimeSpan? MaxP95 { get; init; }
    /// <summary>Thresholds the stage gate applies when comparing with a baseline run.</summary>
    public LoadThresholds Compare { get; init; } = new();
}

public sealed record LogsCheck : CheckDefinition
{
    public override string Type => CheckTypes.Logs;
    public required string File { get; init; }
    /// <summary>Regular expressions; a line written since the marker that matches one fails the check.</summary>
    public IReadOnlyList<string> Fail { get; init; } = [];
    public IReadOnlyList<string> Warn { get; init; } = [];
    /// <summary>Largest tolerated increase of the error-line rate over the baseline (stage gate).</summary>
    public double MaxAddedErrorRate { get; init; } = 0.01;
    /// <summary>Most bytes read per host; the rest is reported as truncated.</summary>
    public int MaxBytes { get; init; } = 8 * 1024 * 1024;
}

public sealed record SqlCheck : CheckDefinition
{
    public override string Type => CheckTypes.Sql;
    public required string Database { get; init; }
    public required string Query { get; init; }
    /// <summary>The first column of the first row, as text.</summary>
    public string? Expect { get; init; }
    public int? ExpectRows { get; init; }
    /// <summary>Set when the query is a data continuity measure (<c>continuity:</c>): a stage records its first row at
    /// the rollback point and compares it after the change and after the rollback rehearsal.</summary>
    public ContinuityRule? Continuity { get; init; }
}

/// <summary>How a continuity query's first row may move across a change: each numeric column may fall by at most
/// <see cref="MaxLoss"/> of its value at the rollback point (growth is fine: the service keeps writing); every other
/// column (a checksum, a maximum id as text) must stay equal.</summary>
public sealed record ContinuityRule
{
    /// <summary>A fraction, 0 to 1 (0: no loss at all).</summary>
    public double MaxLoss { get; init; }
}

public sealed record SchemaCheck : CheckDefinition
{
    public override string Type => CheckTypes.Schema;
    public required string Database { get; init; }
    public string? ExpectDigest { get; init; }
    /// <summary>An environment whose database of the same name must have the same fingerprint.</summary>
    public string? SameAs { get; init; }
    /// <summary>Migration history must have no failed rows and no gaps in numeric versions.</summary>
    public bool MigrationsComplete { get; init; } = true;
}

public sealed record InvariantQuery(string Name, string Query);

public sealed record DbIntegrityCheck : CheckDefinition
{
    public override string Type => CheckTypes.DbIntegrity;
    public required string Database { get; init; }
    public bool Amcheck { get; init; } = true;
    public string PgAmcheck { get; init; } = "/usr/lib/postgresql/15/bin/pg_amcheck";
    /// <summary>Pass --install-missing so pg_amcheck creates the amcheck extension when absent.</summary>
    public bool InstallMissing { get; init; }
    /// <summary>Queries that must return zero rows.</summary>
    public IReadOnlyList<InvariantQuery> Invariants { get; init; } = [];
    /// <summary>A database of the environment that is a streaming replica of this one; its replay lag is bounded.</summary>
    public string? Replica { get; init; }
    public TimeSpan MaxReplicationLag { get; init; } = TimeSpan.FromSeconds(10);
}

public sealed record SoakCheck : CheckDefinition
{
    public override string Type => CheckTypes.Soak;
    public required IReadOnlyList<string> Checks { get; init; }
    public required TimeSpan Duration { get; init; }
    public required TimeSpan Interval { get; init; }
}

/// <summary>The search scope of an LDAP check.</summary>
public enum LdapScope
{
    Base,
    One,
    Sub,
}

/// <summary>
/// Binds to a directory as each account and searches. Once (no <see cref="Clients"/>, <see cref="Duration"/> or
/// <see cref="Iterations"/>): every account (the first 5) must bind and find at least <see cref="MinEntries"/> entries.
/// As a load: N clients bind and search in a loop, each operation a sample named "bind" or "search", so the stage
/// compares it with its baseline as it compares an HTTP load check.
/// </summary>
public sealed record LdapCheck : CheckDefinition
{
    public override string Type => CheckTypes.Ldap;
    /// <summary>A port on each host (scheme ldap or ldaps), or one ldap:// / ldaps:// URL; neither when <see cref="Directory"/> is set.</summary>
    public required HttpTarget Target { get; init; }
    /// <summary>The environment's directory of this name (environments.ENV.directories): the check runs once against its URL.</summary>
    public string? Directory { get; init; }
    /// <summary>The DN to bind as; ${user} is replaced by the account's name, DN-escaped (RFC 4514).</summary>
    public required string BindDn { get; init; }
    public required CredentialSource Credentials { get; init; }
    /// <summary>The user when the credential source holds only a password.</summary>
    public string? User { get; init; }
    /// <summary>The accounts of the credential source to use (empty: every one).</summary>
    public IReadOnlyList<string> Accounts { get; init; } = [];
    /// <summary>The search base; ${user} is replaced DN-escaped.</summary>
    public required string Base { get; init; }
    public LdapScope Scope { get; init; } = LdapScope.Sub;
    /// <summary>The search filter; ${user} is replaced filter-escaped (RFC 4515).</summary>
    public string Filter { get; init; } = "(objectClass=*)";
    /// <summary>Attributes to return (empty: none, DNs only).</summary>
    public IReadOnlyList<string> Attributes { get; init; } = [];
    /// <summary>Fewest entries a search must return to count as a success.</summary>
    public int MinEntries { get; init; } = 1;
    public int? Clients { get; init; }
    public TimeSpan? Duration { get; init; }
    /// <summary>Total iterations (bind then search) over all clients.</summary>
    public int? Iterations { get; init; }
    public int Warmup { get; init; }
    public double MaxErrorRate { get; init; }
    public TimeSpan? MaxP95 { get; init; }
    /// <summary>Thresholds the stage gate applies when comparing a load with its baseline run.</summary>
    public LoadThresholds Compare { get; init; } = new();

    /// <summary>A load (clients, duration or iterations given), not a single bind and search per account.</summary>
    public bool IsLoad => Clients is not null || Duration is not null || Iterations is not null;
}
