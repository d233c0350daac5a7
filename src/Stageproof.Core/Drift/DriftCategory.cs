using System.Text.Json.Serialization;

namespace Stageproof.Core.Drift;

/// <summary>What kind of difference a <see cref="DriftItem"/> is. Serialised as its kebab-case code ("package-version").</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DriftCategory>))]
public enum DriftCategory
{
    /// <summary>Operating system id, version, kernel or architecture.</summary>
    [JsonStringEnumMemberName("os")] Os,
    /// <summary>Both sides have the package, at different versions.</summary>
    [JsonStringEnumMemberName("package-version")] PackageVersion,
    /// <summary>One side lacks the package (<see cref="DriftItem.MissingOn"/> says which).</summary>
    [JsonStringEnumMemberName("package-missing")] PackageMissing,
    /// <summary>A tracked file's content differs.</summary>
    [JsonStringEnumMemberName("config-content")] ConfigContent,
    /// <summary>A tracked file's bytes differ but its values do not: only comments, whitespace, blank lines or order
    /// changed. Shown, never failing, and the file still counts as matching.</summary>
    [JsonStringEnumMemberName("config-cosmetic")] ConfigCosmetic,
    /// <summary>A tracked file's owner, group or mode differs.</summary>
    [JsonStringEnumMemberName("config-meta")] ConfigMeta,
    /// <summary>A tracked file exists on one side only.</summary>
    [JsonStringEnumMemberName("config-missing")] ConfigMissing,
    /// <summary>A service runs on one side and is stopped on the other, or exists on one side only.</summary>
    [JsonStringEnumMemberName("service-state")] ServiceState,
    /// <summary>A protocol/port listens on one side only.</summary>
    [JsonStringEnumMemberName("port")] Port,
    /// <summary>A database setting (or the server version) differs.</summary>
    [JsonStringEnumMemberName("db-setting")] DbSetting,
    /// <summary>A schema object exists on one side only or its definition differs.</summary>
    [JsonStringEnumMemberName("schema-object")] SchemaObject,
    /// <summary>A migration history row differs or exists on one side only.</summary>
    [JsonStringEnumMemberName("migration")] Migration,
    /// <summary>A host role exists in one environment only.</summary>
    [JsonStringEnumMemberName("host-missing")] HostMissing,
    /// <summary>A database exists in one environment only.</summary>
    [JsonStringEnumMemberName("database-missing")] DatabaseMissing,
}

/// <summary>
/// A group of categories that share keys, ignore rules and a fidelity figure. The serialised code is also the
/// category an ignore rule names ("package:linux-image-*").
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<DriftFamily>))]
public enum DriftFamily
{
    [JsonStringEnumMemberName("os")] Os,
    [JsonStringEnumMemberName("package")] Package,
    [JsonStringEnumMemberName("file")] File,
    [JsonStringEnumMemberName("service")] Service,
    [JsonStringEnumMemberName("port")] Port,
    [JsonStringEnumMemberName("setting")] Setting,
    [JsonStringEnumMemberName("schema")] Schema,
    [JsonStringEnumMemberName("migration")] Migration,
    [JsonStringEnumMemberName("host")] Host,
    [JsonStringEnumMemberName("database")] Database,
}

/// <summary>How much a difference matters for a patch proven on one side to behave the same on the other.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DriftSeverity>))]
public enum DriftSeverity
{
    [JsonStringEnumMemberName("info")] Info,
    [JsonStringEnumMemberName("low")] Low,
    [JsonStringEnumMemberName("medium")] Medium,
    [JsonStringEnumMemberName("high")] High,
}

/// <summary>One side of a comparison.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DriftSide>))]
public enum DriftSide
{
    [JsonStringEnumMemberName("left")] Left,
    [JsonStringEnumMemberName("right")] Right,
}

public static class DriftCategoryExtensions
{
    /// <summary>The family whose ignore rules and fidelity figure the category belongs to.</summary>
    public static DriftFamily Family(this DriftCategory category) => category switch
    {
        DriftCategory.Os => DriftFamily.Os,
        DriftCategory.PackageVersion or DriftCategory.PackageMissing => DriftFamily.Package,
        DriftCategory.ConfigContent or DriftCategory.ConfigCosmetic or DriftCategory.ConfigMeta or DriftCategory.ConfigMissing => DriftFamily.File,
        DriftCategory.ServiceState => DriftFamily.Service,
        DriftCategory.Port => DriftFamily.Port,
        DriftCategory.DbSetting => DriftFamily.Setting,
        DriftCategory.SchemaObject => DriftFamily.Schema,
        DriftCategory.Migration => DriftFamily.Migration,
        DriftCategory.HostMissing => DriftFamily.Host,
        DriftCategory.DatabaseMissing => DriftFamily.Database,
        _ => throw new ArgumentOutOfRangeException(nameof(category), category, null),
    };

    /// <summary>The kebab-case code, as printed and serialised: "package-version".</summary>
    public static string Code(this DriftCategory category) => category switch
    {
        DriftCategory.Os => "os",
        DriftCategory.PackageVersion => "package-version",
        DriftCategory.PackageMissing => "package-missing",
        DriftCategory.ConfigContent => "config-content",
        DriftCategory.ConfigCosmetic => "config-cosmetic",
        DriftCategory.ConfigMeta => "config-meta",
        DriftCategory.ConfigMissing => "config-missing",
        DriftCategory.ServiceState => "service-state",
        DriftCategory.Port => "port",
        DriftCategory.DbSetting => "db-setting",
        DriftCategory.SchemaObject => "schema-object",
        DriftCategory.Migration => "migration",
        DriftCategory.HostMissing => "host-missing",
        DriftCategory.DatabaseMissing => "database-missing",
        _ => throw new ArgumentOutOfRangeException(nameof(category), category, null),
    };

    /// <summary>The code used in ignore rules and output: "package", "file", ...</summary>
    public static string Code(this DriftFamily family) => family switch
    {
        DriftFamily.Os => "os",
        DriftFamily.Package => "package",
        DriftFamily.File => "file",
        DriftFamily.Service => "service",
        DriftFamily.Port => "port",
        DriftFamily.Setting => "setting",
        DriftFamily.Schema => "schema",
        DriftFamily.Migration => "migration",
        DriftFamily.Host => "host",
        DriftFamily.Database => "database",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, null),
    };

    public static string Code(this DriftSeverity severity) => severity switch
    {
        DriftSeverity.Info => "info",
        DriftSeverity.Low => "low",
        DriftSeverity.Medium => "medium",
        DriftSeverity.High => "high",
        _ => throw new ArgumentOutOfRangeException(nameof(severity), severity, null),
    };
}
