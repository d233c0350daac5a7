using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Stageproof.Core;

namespace Stageproof.Hosts.Facts;

/// <summary>
/// Decides whether a setting's key names a secret. A key is secret when one of the <c>drift.secret_keys</c> patterns
/// (case-insensitive) matches the whole of its last word or words: the match must end where the key ends and begin
/// where a word of the key begins (at the key's start, after <c>_ - . : /</c> or a space, or at a change from lower
/// to upper case). So <c>DB_PASSWORD</c>, <c>spring.datasource.password</c>, <c>keystorePass</c> and
/// <c>db password</c> are secret, while <c>PasswordAuthentication</c>, <c>password_min_length</c> and
/// <c>token_lifetime</c> — settings about a secret, whose last word is not one — are not. nginx's
/// <c>proxy_pass</c> family and Apache's <c>ProxyPass</c> name where a request is passed, not a password, and are
/// never secret.
/// </summary>
internal sealed partial class SecretKeyMatcher
{
    /// <summary>Only the last words within this many characters are tried, which keeps every key check cheap.</summary>
    private const int LastWordsLength = 128;

    // Only a pattern the non-backtracking engine cannot run (a lookaround or backreference) runs backtracking, bounded.
    private static readonly TimeSpan BacktrackingTimeout = TimeSpan.FromMilliseconds(100);
    private static readonly ConcurrentDictionary<string, SecretKeyMatcher> Cache = new(StringComparer.Ordinal);

    private readonly Regex _lastWords;

    private SecretKeyMatcher(Regex lastWords) => _lastWords = lastWords;

    [GeneratedRegex("^(?:(?:proxy|fastcgi|uwsgi|scgi|grpc|memcached)_pass|ProxyPass)$",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.NonBacktracking)]
    private static partial Regex PassesRequests();

    public static SecretKeyMatcher For(IReadOnlyList<string> secretKeys)
    {
        return Cache.GetOrAdd(string.Join('\n', secretKeys), _ =>
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
            var whole = "^(?:" + string.Join('|', secretKeys.Select(k => $"(?:{k})")) + ")$";
            const RegexOptions options = RegexOptions.IgnoreCase | RegexOptions.CultureInvariant;
            try
            {
                return new SecretKeyMatcher(new Regex(whole, options | RegexOptions.NonBacktracking));
            }
            catch (NotSupportedException)
            {
                return new SecretKeyMatcher(new Regex(whole, options, BacktrackingTimeout));
            }
        });
    }

    public bool IsSecret(ReadOnlySpan<char> key)
    {
        key = key.Trim();
        if (key.IsEmpty || PassesRequests().IsMatch(key))
        {
            return false;
        }
        for (var i = Math.Max(0, key.Length - LastWordsLength); i < key.Length; i++)
        {
            if (StartsWord(key, i) && MatchesWhole(key[i..]))
            {
                return true;
            }
        }
        return false;
    }

    private bool MatchesWhole(ReadOnlySpan<char> lastWords)
    {
        try
        {
            return _lastWords.IsMatch(lastWords);
        }
        catch (RegexMatchTimeoutException)
        {
            // A pattern that cannot decide in time errs on the side of hiding the value.
            return true;
        }
    }

    private static bool StartsWord(ReadOnlySpan<char> key, int i)
    {
        if (IsSeparator(key[i]))
        {
            return false;
        }
        if (i == 0 || IsSeparator(key[i - 1]))
        {
            return true;
        }
        var (before, here) = (key[i - 1], key[i]);
        // "apiKey", "db2Password"; and "DBPassword", where an acronym ends before an upper-lower pair.
        return char.IsUpper(here) && (char.IsLower(before) || char.IsDigit(before) ||
                                      (char.IsUpper(before) && i + 1 < key.Length && char.IsLower(key[i + 1])));
    }

    private static bool IsSeparator(char c) => c is '_' or '-' or '.' or ':' or '/' or ' ' or '\t';
}
