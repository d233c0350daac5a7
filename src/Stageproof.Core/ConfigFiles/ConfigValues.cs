using Stageproof.Core.Manifests;

namespace Stageproof.Core.ConfigFiles;

/// <summary>One value that differs between two versions of a config file. A null side is a key that is not set there.</summary>
public sealed record ValueChange(string Key, string? Before, string? After)
{
    /// <summary>added, removed, changed, or masked (a secret's value: whether it changed cannot be seen).</summary>
    public string Kind => Before is null ? "added" : After is null ? "removed" : Before == After ? "masked" : "changed";

    public override string ToString() => Kind switch
    {
        "added" => $"{Key} added ({After})",
        "removed" => $"{Key} removed (was {Before})",
        "masked" => $"{Key} is a masked secret: whether it changed cannot be seen",
        _ => $"{Key}: {Before} → {After}",
    };
}

/// <summary>
/// Two versions of a tracked file compared by their values. <see cref="Format"/> is how they were read, Bytes when
/// they could not be (<see cref="Note"/> says why); <see cref="Changes"/> are the values added, removed or changed.
/// </summary>
public sealed record ConfigComparison(ConfigFormat Format, string Note, IReadOnlyList<ValueChange> Changes)
{
    /// <summary>Both sides parsed and every value is the same: only comments, whitespace, blank lines or order changed.</summary>
    public bool Cosmetic => Format != ConfigFormat.Bytes && Changes.Count == 0;
}

/// <summary>Compares two versions of a config file by the values their format gives them.</summary>
public static class ConfigValues
{
    /// <summary>What the facts collector writes in place of a secret's value (Hosts.Facts.SecretMasker).</summary>
    public const string SecretMask = "********";

    /// <summary>
    /// Compares two versions of <paramref name="path"/>, whose bytes differ. A value masked as a secret cannot be
    /// compared, so a difference nothing else explains is reported on the masked keys, never called cosmetic.
    /// </summary>
    public static ConfigComparison Compare(string path, ConfigFileInfo? before, ConfigFileInfo? after, ConfigFormats formats)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(formats);
        var (format, source) = formats.Resolve(path);
        if (format == ConfigFormat.Bytes)
        {
            return Bytes($"compared by bytes: {source}");
        }
        if (before?.Content is not { } left || after?.Content is not { } right)
        {
            return Bytes("compared by bytes: the content of one side was not kept (absent, binary or over max_content_bytes)");
        }
        var l = ConfigParser.Parse(format, left);
        var r = ConfigParser.Parse(format, right);
        if (l.Error is not null || r.Error is not null)
        {
            var (side, error) = l.Error is not null ? ("before", l.Error) : ("after", r.Error!);
            return Bytes($"compared by bytes, not as {format.Code()} ({source}): in the {side} version, {error}");
        }
        var note = $"read as {format.Code()} ({source})";
        var changes = Changes(l.Values!, r.Values!);
        if (changes.Count == 0)
        {
            var masked = l.Values!.Where(v => v.Value.Value.Contains(SecretMask, StringComparison.Ordinal))
                .Select(v => new ValueChange(v.Value.Display, v.Value.Value, v.Value.Value))
                .ToList();
            return new ConfigComparison(format, note, masked);
        }
        return new ConfigComparison(format, note, changes);

        static ConfigComparison Bytes(string why) => new(ConfigFormat.Bytes, why, []);
    }

    /// <summary>The values that differ between two parsed files, ordered by key.</summary>
    public static IReadOnlyList<ValueChange> Changes(ParsedValues before, ParsedValues after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var changes = new List<ValueChange>();
        foreach (var key in before.Keys.Union(after.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var b = before.GetValueOrDefault(key);
            var a = after.GetValueOrDefault(key);
            if (b?.Value != a?.Value)
            {
                changes.Add(new ValueChange((a ?? b)!.Display, b?.Value, a?.Value));
            }
        }
        return changes;
    }
}
