using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Stageproof.Core;

namespace Stageproof.Hosts.Facts;

/// <summary>
/// Masks the values of secret settings in stored file content: in lines shaped <c>key = value</c>,
/// <c>key: value</c>, <c>KEY=value</c> (also <c>export KEY=value</c>, a quoted key, or a commented-out line)
/// whose key matches one of the secret-key patterns (case-insensitive, anywhere in the key), the value
/// becomes <see cref="Mask"/>.
/// </summary>
public static partial class SecretMasker
{
    public const string Mask = "********";

    private static readonly ConcurrentDictionary<string, Regex> KeyPatterns = new(StringComparer.Ordinal);

    [GeneratedRegex("""^(?<prefix>[ \t]*(?:[#;][ \t]*)?(?:export[ \t]+)?(?<q>["']?)(?<key>[A-Za-z0-9_.\-]+)\k<q>[ \t]*[=:][ \t]*)(?<value>[^\r\n]*)""",
        RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex Assignment();

    /// <summary>Returns <paramref name="content"/> with secret values replaced; line endings are kept.</summary>
    public static string Apply(string content, IReadOnlyList<string> secretKeys)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(secretKeys);
        if (secretKeys.Count == 0 || content.Length == 0)
        {
            return content;
        }
        var keys = KeyRegex(secretKeys);
        return Assignment().Replace(content, m =>
        {
            var value = m.Groups["value"].Value;
            return value.Trim().Length > 0 && keys.IsMatch(m.Groups["key"].Value)
                ? m.Groups["prefix"].Value + Mask
                : m.Value;
        });
    }

    private static Regex KeyRegex(IReadOnlyList<string> secretKeys)
    {
        var joined = string.Join('\n', secretKeys);
        return KeyPatterns.GetOrAdd(joined, cacheKey =>
        {
            foreach (var k in secretKeys)
            {
                try
                {
                    new Regex(k, RegexOptions.CultureInvariant).IsMatch("");
                }
                catch (ArgumentException e)
                {
                    throw new InputException($"drift.secret_keys: '{k}' is not a valid regular expression: {e.Message}");
                }
            }
            return new Regex(string.Join('|', secretKeys.Select(k => $"(?:{k})")),
                RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Compiled);
        });
    }
}
