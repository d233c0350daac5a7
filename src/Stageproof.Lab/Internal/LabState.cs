using System.Text.Json;
using System.Text.Json.Serialization;

namespace Stageproof.Lab.Internal;

/// <summary>
/// LABDIR/lab.json: everything the lab created, written before each action so that <c>lab down</c> can clean
/// up after a half-failed <c>up</c> or a killed process.
/// </summary>
internal sealed class LabState
{
    public int Version { get; set; } = 1;
    public string Directory { get; set; } = "";
    public string BaseImage { get; set; } = "";
    public int SshPort { get; set; }
    public int PostgresPort { get; set; }
    public int AcmeMailPort { get; set; }
    public int AddressOctet { get; set; }
    /// <summary>"standard" or "mail" (<see cref="LabEstate"/>); a lab.json older than the field is standard.</summary>
    public string Estate { get; set; } = "standard";
    public int MariaDbPort { get; set; }
    public int LdapPort { get; set; }
    public bool AcmeMail { get; set; }

    [JsonIgnore] public bool IsMail => Estate == "mail";

    /// <summary>The port of the environments' database: PostgreSQL's, or MariaDB's on the mail estate.</summary>
    [JsonIgnore] public int DatabasePort => IsMail ? MariaDbPort : PostgresPort;
    /// <summary>Mount points in the order they were (about to be) mounted.</summary>
    public List<string> Mounts { get; set; } = [];
    public List<HostState> Hosts { get; set; } = [];
    public List<EnvState> Environments { get; set; } = [];
    /// <summary>Host snapshots (LABDIR/snapshots/ID/HOST), recorded before the copy starts.</summary>
    public List<SnapshotState> Snapshots { get; set; } = [];

    public static string PathIn(string labDir) => System.IO.Path.Combine(labDir, "lab.json");

    public static LabState? Load(string labDir)
    {
        var path = PathIn(labDir);
        return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllText(path), LabStateJson.Default.LabState) : null;
    }
}

internal sealed class HostState
{
    public string Name { get; set; } = "";
    public string Environment { get; set; } = "";
    public string Role { get; set; } = "app";
    public string Address { get; set; } = "";
    public string HostDir { get; set; } = "";
    /// <summary>Overlay lower layers, top first (a clone's snapshot, then the base).</summary>
    public List<string> Lower { get; set; } = [];
    public int? SshdPid { get; set; }
    public bool AcmeMail { get; set; }
    /// <summary>Set while a snapshot restore is replacing this host's root (services stopped, mounts removed);
    /// a host left with it set was interrupted midway: <c>lab down</c> cleans it up, or the restore is repeated.</summary>
    public string? Restoring { get; set; }

    [JsonIgnore] public string Root => System.IO.Path.Combine(HostDir, "root");
    [JsonIgnore] public string Upper => System.IO.Path.Combine(HostDir, "upper");
}

internal sealed class SnapshotState
{
    public string Id { get; set; } = "";
    public string Host { get; set; } = "";
    public string Path { get; set; } = "";
    public DateTimeOffset CreatedUtc { get; set; }
    /// <summary>False until the copy finished and was synced; an incomplete snapshot is never restored.</summary>
    public bool Complete { get; set; }
    public long Bytes { get; set; }
}

internal sealed class EnvState
{
    public string Name { get; set; } = "";
    public int Octet { get; set; }
    public string? MirrorOf { get; set; }
    /// <summary>The environment this one was cloned from by <c>lab clone</c>; null for the standard ones (and for
    /// clones recorded by a lab.json older than this field).</summary>
    public string? ClonedFrom { get; set; }
    /// <summary>The clone made as this environment's control (<c>lab clone SRC DST --control</c>): a stage of this
    /// environment loads it in the same seconds and judges latency against it.</summary>
    public string? Control { get; set; }
    /// <summary>When the lab created the environment; default (0001-01-01) in a lab.json older than this field.</summary>
    public DateTimeOffset CreatedUtc { get; set; }
    public List<string> Hosts { get; set; } = [];
    /// <summary>The environment's database server: PostgreSQL on .5, or MariaDB on .6 on the mail estate.</summary>
    public string DatabaseAddress { get; set; } = "";
    /// <summary>The environment's slapd on the mail estate (.7); empty otherwise.</summary>
    public string DirectoryAddress { get; set; } = "";
    public string DataDir { get; set; } = "";
    public string SocketDir { get; set; } = "";
    public bool Seeded { get; set; }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LabState))]
internal sealed partial class LabStateJson : JsonSerializerContext;

/// <summary>Serialises every change to the state and writes lab.json atomically after it.</summary>
internal sealed class StateStore(string labDir, LabState state)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public LabState State { get; } = state;

    public async Task UpdateAsync(Action<LabState> change, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            change(State);
            var path = LabState.PathIn(labDir);
            var tmp = path + ".tmp";
            await File.WriteAllTextAsync(tmp, JsonSerializer.Serialize(State, LabStateJson.Default.LabState), CancellationToken.None).ConfigureAwait(false);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            _gate.Release();
        }
    }
}
