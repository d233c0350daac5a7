using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Stageproof.Core.Manifests;

/// <summary>The canonical JSON form of a manifest and its SHA-256 digest.</summary>
public static class ManifestJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        WriteIndented = false,
    };

    private static readonly JsonSerializerOptions Indented = new(Options) { WriteIndented = true };

    /// <summary>Sorts every collection so equal states serialise identically.</summary>
    public static Manifest Normalize(Manifest m) => m with
    {
        Packages = m.Packages.OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Architecture, StringComparer.Ordinal).ToList(),
        PendingUpgrades = m.PendingUpgrades.OrderBy(p => p.Name, StringComparer.Ordinal).ToList(),
        Files = m.Files.OrderBy(f => f.Path, StringComparer.Ordinal).ToList(),
        Services = m.Services.OrderBy(s => s.Name, StringComparer.Ordinal).ToList(),
        Ports = m.Ports.OrderBy(p => p.Protocol, StringComparer.Ordinal).ThenBy(p => p.Port).ThenBy(p => p.Address, StringComparer.Ordinal).Distinct().ToList(),
        Database = m.Database is null ? null : m.Database with
        {
            Settings = new SortedDictionary<string, string>(m.Database.Settings.ToDictionary(), StringComparer.Ordinal),
            Schema = m.Database.Schema with
            {
                Objects = m.Database.Schema.Objects.OrderBy(o => o.Kind, StringComparer.Ordinal).ThenBy(o => o.Name, StringComparer.Ordinal).ToList(),
                Migrations = m.Database.Schema.Migrations.OrderBy(r => r.Version, StringComparer.Ordinal).ToList(),
            },
        },
        Directory = m.Directory is null ? null : m.Directory with
        {
            Modules = m.Directory.Modules.Order(StringComparer.Ordinal).ToList(),
            Overlays = m.Directory.Overlays.Order(StringComparer.Ordinal).ToList(),
            Settings = new SortedDictionary<string, string>(m.Directory.Settings.ToDictionary(), StringComparer.Ordinal),
            EntryCounts = new SortedDictionary<string, long>(m.Directory.EntryCounts.ToDictionary(), StringComparer.Ordinal),
            Schema = m.Directory.Schema with
            {
                AttributeTypes = m.Directory.Schema.AttributeTypes.Order(StringComparer.Ordinal).ToList(),
                ObjectClasses = m.Directory.Schema.ObjectClasses.Order(StringComparer.Ordinal).ToList(),
            },
        },
    };

    /// <summary>The stored form: normalised, with the time.</summary>
    public static string Serialize(Manifest m, bool indented = false) =>
        JsonSerializer.Serialize(Normalize(m), indented ? Indented : Options);

    public static Manifest Deserialize(string json) =>
        JsonSerializer.Deserialize<Manifest>(json, Options) ?? throw new InvalidDataException("empty manifest");

    /// <summary>SHA-256 over the canonical JSON without the collection time: same state, same digest.</summary>
    public static string Digest(Manifest m)
    {
        var canonical = JsonSerializer.Serialize(Normalize(m) with { CollectedAt = default }, Options);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }
}
