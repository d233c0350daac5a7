using System.Text.RegularExpressions;
using Stageproof.Core.Drift;

namespace Stageproof.Core.ConfigFiles;

/// <summary>How a tracked file is read to compare its values. <see cref="Bytes"/> compares the content as it is.</summary>
public enum ConfigFormat
{
    Bytes,
    /// <summary><c>key = value</c> (or <c>key: value</c>) lines, optionally under <c>[section]</c> headers: acme-mail, my.cnf, php.ini.</summary>
    Ini,
    /// <summary>Shell assignments <c>KEY=value</c>, optionally after <c>export</c>: /etc/default/*, .env files.</summary>
    Shell,
    /// <summary>OpenSSH's <c>Keyword value</c> lines with <c>Match</c> (and ssh_config's <c>Host</c>) blocks.</summary>
    Sshd,
    /// <summary>systemd unit files and drop-ins: <c>[Section]</c> and <c>Key=Value</c>.</summary>
    Systemd,
    Yaml,
    Json,
    /// <summary>nginx's <c>directive args;</c> and <c>name args { … }</c> blocks: /etc/nginx/**.</summary>
    Nginx,
}

/// <summary>One <c>drift.formats</c> entry: the tracked paths a glob matches are parsed as a format.</summary>
public sealed record FormatRule(string Glob, ConfigFormat Format);

public static class ConfigFormatCodes
{
    public static IReadOnlyList<string> All { get; } = ["bytes", "ini", "shell", "sshd", "systemd", "yaml", "json", "nginx"];

    public static string Code(this ConfigFormat format) => format switch
    {
        ConfigFormat.Bytes => "bytes",
        ConfigFormat.Ini => "ini",
        ConfigFormat.Shell => "shell",
        ConfigFormat.Sshd => "sshd",
        ConfigFormat.Systemd => "systemd",
        ConfigFormat.Yaml => "yaml",
        ConfigFormat.Json => "json",
        ConfigFormat.Nginx => "nginx",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
    };

    public static ConfigFormat? Parse(string code) => code switch
    {
        "bytes" => ConfigFormat.Bytes,
        "ini" => ConfigFormat.Ini,
        "shell" => ConfigFormat.Shell,
        "sshd" => ConfigFormat.Sshd,
        "systemd" => ConfigFormat.Systemd,
        "yaml" => ConfigFormat.Yaml,
        "json" => ConfigFormat.Json,
        "nginx" => ConfigFormat.Nginx,
        _ => null,
    };
}

/// <summary>
/// Which format a tracked path is read as: the first <c>drift.formats</c> rule whose glob matches it, else what its
/// name says (<see cref="Known"/>), else bytes.
/// </summary>
public sealed class ConfigFormats
{
    private readonly List<(Regex Glob, FormatRule Rule)> _declared;

    public ConfigFormats(IEnumerable<FormatRule> declared)
    {
        ArgumentNullException.ThrowIfNull(declared);
        _declared = declared.Select(r => (Glob.ToRegex(r.Glob), r)).ToList();
    }

    public static ConfigFormats None { get; } = new([]);

    /// <summary>
    /// Formats known by a path's name, in order. A known format is only a guess: a file that does not parse as it
    /// (a .conf that is nginx's, not key = value) is compared by bytes, and the report says so.
    /// </summary>
    public static IReadOnlyList<FormatRule> Known { get; } =
    [
        new("**.json", ConfigFormat.Json),
        new("**.yaml", ConfigFormat.Yaml),
        new("**.yml", ConfigFormat.Yaml),
        new("/etc/nginx/**", ConfigFormat.Nginx),
        new("**/sshd_config", ConfigFormat.Sshd),
        new("**/ssh_config", ConfigFormat.Sshd),
        new("/etc/ssh/sshd_config.d/*.conf", ConfigFormat.Sshd),
        new("/etc/ssh/ssh_config.d/*.conf", ConfigFormat.Sshd),
        new("**.service", ConfigFormat.Systemd),
        new("**.socket", ConfigFormat.Systemd),
        new("**.timer", ConfigFormat.Systemd),
        new("**.path", ConfigFormat.Systemd),
        new("**.mount", ConfigFormat.Systemd),
        new("**.target", ConfigFormat.Systemd),
        new("**.slice", ConfigFormat.Systemd),
        new("**/systemd/**.conf", ConfigFormat.Systemd),
        new("/etc/default/*", ConfigFormat.Shell),
        new("/etc/environment", ConfigFormat.Shell),
        new("**.env", ConfigFormat.Shell),
        new("**.ini", ConfigFormat.Ini),
        new("**.cnf", ConfigFormat.Ini),
        new("**.conf", ConfigFormat.Ini),
    ];

    private static readonly List<(Regex Glob, FormatRule Rule)> KnownGlobs = Known.Select(r => (Glob.ToRegex(r.Glob), r)).ToList();

    /// <summary>The format of <paramref name="path"/> and where it came from ("drift.formats '/etc/x/*'" or "its name").</summary>
    public (ConfigFormat Format, string Source) Resolve(string path)
    {
        foreach (var (glob, rule) in _declared)
        {
            if (glob.IsMatch(path))
            {
                return (rule.Format, $"drift.formats '{rule.Glob}'");
            }
        }
        foreach (var (glob, rule) in KnownGlobs)
        {
            if (glob.IsMatch(path))
            {
                return (rule.Format, "its name");
            }
        }
        return (ConfigFormat.Bytes, "no format is known for it");
    }
}
