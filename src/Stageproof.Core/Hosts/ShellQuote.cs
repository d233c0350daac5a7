using System.Text;

namespace Stageproof.Core.Hosts;

/// <summary>POSIX shell quoting. Every value that reaches a remote shell passes through here.</summary>
public static class ShellQuote
{
    /// <summary>Quotes one word so that sh reads it back byte for byte, whatever it contains.</summary>
    public static string Quote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length > 0 && value.All(IsSafe))
        {
            return value;
        }
        var sb = new StringBuilder(value.Length + 2);
        sb.Append('\'');
        foreach (var c in value)
        {
            if (c == '\'')
            {
                sb.Append("'\\''");
            }
            else
            {
                sb.Append(c);
            }
        }
        sb.Append('\'');
        return sb.ToString();
    }

    public static string Join(IEnumerable<string> words) => string.Join(' ', words.Select(Quote));

    private static bool IsSafe(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '_' or '.' or '/' or ':' or '=' or '+' or ',' or '@' or '%';
}
