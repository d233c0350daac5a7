using System.Globalization;

namespace Stageproof.Core.Lifecycle;

/// <summary>What a password must be: long enough. Length is what makes a password hard to guess; composition rules
/// mostly make it hard to remember.</summary>
public static class PasswordPolicy
{
    public const int MinimumLength = 12;

    /// <summary>Why <paramref name="password"/> is refused (one line, never the password), or null when it is acceptable.</summary>
    public static string? Error(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        var length = new StringInfo(password).LengthInTextElements;
        return length < MinimumLength ? $"the password has {length} characters; at least {MinimumLength} are needed" : null;
    }
}
