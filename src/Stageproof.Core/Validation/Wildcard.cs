namespace Stageproof.Core.Validation;

/// <summary>
/// The simplest glob: <c>*</c> is any text (slashes included) and <c>?</c> one character, nothing else special — as
/// ssh_config's Host patterns, and the stage's process and allow rules over command lines and paths, want it.
/// (Shell-style globs over paths, where * stops at '/', are Core.Drift's.)
/// </summary>
public static class Wildcard
{
    public static bool IsMatch(string pattern, string text, bool ignoreCase = false)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(text);
        bool Same(char a, char b) => ignoreCase ? char.ToLowerInvariant(a) == char.ToLowerInvariant(b) : a == b;
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || Same(pattern[p], text[t])))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
            {
                // Backtrack: the last * takes one more character.
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }
}
