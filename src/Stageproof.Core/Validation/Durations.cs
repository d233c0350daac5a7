using System.Globalization;

namespace Stageproof.Core.Validation;

/// <summary>The one duration grammar of configuration and options: a plain number of seconds, or a number with an
/// ms, s, m, h or d suffix (30, 30s, 2m, 4h, 7d, 500ms).</summary>
public static class Durations
{
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = default;
        var trimmed = text.Trim();
        var factor = 1.0;
        if (trimmed.Length > 2 && trimmed.EndsWith("ms", StringComparison.Ordinal))
        {
            factor = 0.001;
            trimmed = trimmed[..^2];
        }
        else if (trimmed.Length > 1 && char.IsAsciiLetter(trimmed[^1]))
        {
            factor = trimmed[^1] switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => double.NaN };
            trimmed = trimmed[..^1];
        }
        if (!double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value * factor)
            || Math.Abs(value * factor) > TimeSpan.MaxValue.TotalSeconds)
        {
            return false;
        }
        duration = TimeSpan.FromSeconds(value * factor);
        return true;
    }
}
