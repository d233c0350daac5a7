using System.Text.RegularExpressions;

namespace Stageproof.Hosts.Facts;

// The shapes SecretMasker recognises, one rule per method. Every pattern here is non-backtracking: a 1 MB line
// costs a few linear passes, whatever its content.
public static partial class SecretMasker
{
    private const RegexOptions Linear = RegexOptions.CultureInvariant | RegexOptions.NonBacktracking;

    /// <summary>A whole line <c>key = value</c>: after indentation, a comment sign, a YAML "- ", "export" or a PHP "$";
    /// the key quoted, or bare and of up to four words (more words make a sentence).</summary>
    [GeneratedRegex("""^[ \t]*(?:(?:#+|;+)[ \t]*)?(?:-[ \t]+)?(?:export[ \t]+)?\$?(?:"(?<key>[^"]+)"|'(?<key>[^']+)'|(?<key>[A-Za-z0-9_.\-]+(?:[ \t]+[A-Za-z0-9_.\-]+){0,3}))[ \t]*(?<sep>=>|::?|=)[ \t]*(?<value>.*)$""", Linear)]
    private static partial Regex SettingLine();

    /// <summary>A whole line <c>keyword value</c> (redis.conf, slapd.conf, nginx): one value, quoted or a single word.</summary>
    [GeneratedRegex("""^[ \t]*(?<key>[A-Za-z][A-Za-z0-9_.\-]*)[ \t]+(?<value>"[^"]*"|'[^']*'|[^ \t]+)[ \t]*$""", Linear)]
    private static partial Regex KeywordLine();

    /// <summary>YAML block scalar header, possibly tagged: "|", "&gt;-", "!vault |".</summary>
    [GeneratedRegex("""^(?:![^ \t]*[ \t]+)?[|>][0-9+\-]*[ \t]*(?:#.*)?$""", Linear)]
    private static partial Regex BlockScalarHeader();

    /// <summary>A value that only names another variable holds no secret: ${DB_PASSWORD}, {{ vault_db_password }}.</summary>
    [GeneratedRegex("""^(?:\$\{[A-Za-z_][A-Za-z0-9_.]*\}|\{\{[ \t]*[A-Za-z_][A-Za-z0-9_.]*[ \t]*\}\})$""", Linear)]
    private static partial Regex VariableReference();

    /// <summary>The key of a <c>key=value</c> pair anywhere in a line; the value is read by hand from the '='
    /// (so a pair nested in another's value, <c>Environment="PASSWORD=x"</c>, is found too).</summary>
    [GeneratedRegex("""(?<key>[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=""", Linear)]
    private static partial Regex PairKey();

    /// <summary>A quoted key and its value: JSON and dictionaries ("k": v, 'k' =&gt; v), subscripts (['k'] = v).</summary>
    [GeneratedRegex("""(?:"(?<key>[^"\\\r\n]+)"|'(?<key>[^'\\\r\n]+)')[ \t]*(?:=>|:|\][ \t]*=|=)[ \t]*(?:"(?<value>(?:[^"\\]|\\.)*)"|'(?<value>(?:[^'\\]|\\.)*)'|(?<value>[^\s,;{}\[\]"']+))""", Linear)]
    private static partial Regex QuotedKeyPair();

    /// <summary>An XML element on one line: &lt;password&gt;x&lt;/password&gt;, &lt;entry key="password"&gt;x&lt;/entry&gt;.</summary>
    [GeneratedRegex("""<(?<tag>[A-Za-z_][A-Za-z0-9_.:\-]*)(?<attrs>[ \t][^<>]*)?>(?<value>[^<]+)</(?<close>[A-Za-z_][A-Za-z0-9_.:\-]*)[ \t]*>""", Linear)]
    private static partial Regex XmlElement();

    /// <summary>A line that only opens an element, whose body follows on the next lines.</summary>
    [GeneratedRegex("""^[ \t]*<(?<tag>[A-Za-z_][A-Za-z0-9_.:\-]*)(?<attrs>[ \t][^<>]*[^/<>])?>[ \t]*$""", Linear)]
    private static partial Regex XmlOpeningTagLine();

    /// <summary>An attribute that names the element's setting: key="ApiKey", name="password".</summary>
    [GeneratedRegex("""(?:^|[ \t])(?:key|name)[ \t]*=[ \t]*(?:"(?<name>[^"]*)"|'(?<name>[^']*)')""", Linear | RegexOptions.IgnoreCase)]
    private static partial Regex NamingAttribute();

    /// <summary>PHP define('DB_PASSWORD', 'x').</summary>
    [GeneratedRegex("""\bdefine[ \t]*\([ \t]*(?:'(?<key>[^']*)'|"(?<key>[^"]*)")[ \t]*,[ \t]*(?:'(?<value>(?:[^'\\]|\\.)*)'|"(?<value>(?:[^"\\]|\\.)*)")""", Linear | RegexOptions.IgnoreCase)]
    private static partial Regex PhpDefine();

    /// <summary>The password of scheme://user:password@host (the last '@' of the authority ends it).</summary>
    [GeneratedRegex("""[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#"'<>]*:(?<value>[^\s/?#"'<>]+)@""", Linear)]
    private static partial Regex UrlPassword();

    /// <summary>An HTTP Authorization header's credentials, wherever the header is written (nginx, curl, a script).</summary>
    [GeneratedRegex("""\bAuthorization["']?[ \t]*[:=]?[ \t]*["']?[ \t]*(?:Basic|Bearer|Token)[ \t]+(?<value>[^\s"';,]+)""", Linear | RegexOptions.IgnoreCase)]
    private static partial Regex AuthorizationHeader();

    /// <summary>Secrets recognisable by shape alone: AWS access key IDs, GitHub tokens.</summary>
    [GeneratedRegex("""\b(?:(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b""", Linear)]
    private static partial Regex KnownTokenShape();

    /// <summary>The first line of a private key in PEM (or an OpenVPN static key).</summary>
    [GeneratedRegex("""-----BEGIN [A-Z0-9 ]*(?:PRIVATE KEY(?: BLOCK)?|OpenVPN Static key V1)-----""", Linear)]
    private static partial Regex PemBegin();

    /// <summary>A whole private key on one line, its line breaks escaped (a JSON string, an .env value).</summary>
    [GeneratedRegex("""-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?<value>[^\-]+)-----END """, Linear)]
    private static partial Regex InlinePem();

    [GeneratedRegex("""[^ \t]+""", Linear)]
    private static partial Regex Word();

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    /// <summary>Empty, or only a reference to another variable.</summary>
    private static bool HidesNothing(ReadOnlySpan<char> value)
    {
        value = value.Trim().TrimEnd(",;").TrimEnd();
        if (value.Length >= 2 && value[0] is '"' or '\'' && value[^1] == value[0])
        {
            value = value[1..^1].Trim();
        }
        return value.IsEmpty || VariableReference().IsMatch(value);
    }

    /// <summary>An opening brace or bracket, or a one-line object or list: its members are judged by their own keys.</summary>
    private static bool IsStructure(ReadOnlySpan<char> value)
    {
        value = value.Trim().TrimEnd(',').TrimEnd();
        return value is "{" or "[" ||
               (value.Length >= 2 && ((value[0] == '{' && value[^1] == '}') || (value[0] == '[' && value[^1] == ']')));
    }

    private sealed partial class Scan
    {
        private readonly record struct Pair(string Key, int KeyStart, int ValueStart, int ValueEnd);

        /// <summary>A setting line with a secret key: masks its value to the end of the line, or opens a YAML block.</summary>
        private bool MaskSettingLine(string line, int at)
        {
            var m = SettingLine().Match(line);
            if (!m.Success)
            {
                return false;
            }
            var key = m.Groups["key"];
            var quoted = key.Index > 0 && line[key.Index - 1] is '"' or '\'';
            // "The password: see the wiki" is prose; "db password = x" is a setting.
            var multiWord = !quoted && key.ValueSpan.ContainsAny(" \t");
            if ((multiWord && m.Groups["sep"].ValueSpan[0] == ':') || !keys.IsSecret(key.ValueSpan))
            {
                return false;
            }
            var value = m.Groups["value"];
            if (BlockScalarHeader().IsMatch(value.ValueSpan))
            {
                _block = BlockKind.Indented;
                _blockKeyColumn = quoted ? key.Index - 1 : key.Index;
                return true;
            }
            if (HidesNothing(value.ValueSpan) || IsStructure(value.ValueSpan))
            {
                return false;
            }
            MaskRange(at + value.Index, at + line.Length);
            return true;
        }

        /// <summary><c>requirepass x</c>: masks the value (not nginx's closing ';').</summary>
        private bool MaskKeywordLine(string line, int at)
        {
            var m = KeywordLine().Match(line);
            var value = m.Groups["value"];
            // "password =" is a setting without a value, not the keyword "password" with the value "=".
            if (!m.Success || value.ValueSpan is "=" or ":" or "=>" or "::" || !keys.IsSecret(m.Groups["key"].ValueSpan))
            {
                return false;
            }
            var length = value.Length > 1 && value.ValueSpan[^1] == ';' ? value.Length - 1 : value.Length;
            if (HidesNothing(value.ValueSpan[..length]))
            {
                return false;
            }
            MaskRange(at + value.Index, at + value.Index + length);
            return true;
        }

        private void MaskWithinLine(string line, int at)
        {
            MaskPairs(line, at);
            MaskQuotedKeyPairs(line, at);
            MaskXmlElements(line, at);
            MaskGroup(PhpDefine(), line, at, requireSecretKey: true);
            MaskGroup(UrlPassword(), line, at, requireSecretKey: false);
            MaskGroup(AuthorizationHeader(), line, at, requireSecretKey: false);
            MaskGroup(InlinePem(), line, at, requireSecretKey: false);
            MaskNetrc(line, at);
            MaskRedisAclUser(line, at);
            foreach (var token in KnownTokenShape().EnumerateMatches(line))
            {
                MaskRange(at + token.Index, at + token.Index + token.Length);
            }
        }

        /// <summary>Masks each match's "value" group; with <paramref name="requireSecretKey"/>, only where its "key"
        /// group is a secret key.</summary>
        private void MaskGroup(Regex rule, string line, int at, bool requireSecretKey)
        {
            for (var m = rule.Match(line); m.Success; m = m.NextMatch())
            {
                var value = m.Groups["value"];
                if ((!requireSecretKey || keys.IsSecret(m.Groups["key"].ValueSpan)) && !HidesNothing(value.ValueSpan))
                {
                    MaskRange(at + value.Index, at + value.Index + value.Length);
                }
            }
        }

        /// <summary><c>key=value</c> pairs: connection strings (<c>;</c>), URL queries (<c>?</c>, <c>&amp;</c>),
        /// <c>Environment=</c> and command lines (spaces), XML attributes (quotes); and the <c>value</c> attribute
        /// of an element whose <c>key</c> or <c>name</c> attribute is a secret key.</summary>
        private void MaskPairs(string line, int at)
        {
            var pairs = new List<Pair>();
            PairValues? values = null;
            foreach (var m in PairKey().EnumerateMatches(line))
            {
                var afterEquals = m.Index + m.Length;
                if (afterEquals < line.Length && line[afterEquals] is '=' or '>')
                {
                    continue; // "==" or "=>": a comparison or an arrow, not a pair
                }
                var key = line.AsSpan(m.Index, m.Length - 1).TrimEnd(" \t").ToString();
                var inQuery = m.Index > 0 && line[m.Index - 1] is '?' or '&';
                values ??= new PairValues(line);
                var (start, end) = values.After(afterEquals, inQuery);
                pairs.Add(new Pair(key, m.Index, start, end));
            }
            for (var i = 0; i < pairs.Count; i++)
            {
                var pair = pairs[i];
                var value = line.AsSpan(pair.ValueStart, pair.ValueEnd - pair.ValueStart);
                if (keys.IsSecret(pair.Key) && !HidesNothing(value))
                {
                    MaskRange(at + pair.ValueStart, at + pair.ValueEnd);
                }
                var namesSetting = pair.Key.Equals("key", StringComparison.OrdinalIgnoreCase) ||
                                   pair.Key.Equals("name", StringComparison.OrdinalIgnoreCase);
                if (namesSetting && keys.IsSecret(value))
                {
                    MaskValueAttributeNear(line, at, pairs, i);
                }
            }
        }

        /// <summary>&lt;add key="ApiKey" value="x"/&gt;: the "value" attribute of the same element (a few attributes
        /// away at most, no '&lt;' or '&gt;' between).</summary>
        private void MaskValueAttributeNear(string line, int at, List<Pair> pairs, int named)
        {
            const int reach = 8;
            foreach (var step in (ReadOnlySpan<int>)[-1, 1])
            {
                for (var j = named + step; j >= 0 && j < pairs.Count && Math.Abs(j - named) <= reach; j += step)
                {
                    var (left, right) = step > 0 ? (pairs[j - 1], pairs[j]) : (pairs[j], pairs[j + 1]);
                    if (line.AsSpan(left.ValueEnd, Math.Max(0, right.KeyStart - left.ValueEnd)).ContainsAny("<>"))
                    {
                        break;
                    }
                    var candidate = pairs[j];
                    if (candidate.Key.Equals("value", StringComparison.OrdinalIgnoreCase) &&
                        !HidesNothing(line.AsSpan(candidate.ValueStart, candidate.ValueEnd - candidate.ValueStart)))
                    {
                        MaskRange(at + candidate.ValueStart, at + candidate.ValueEnd);
                    }
                }
            }
        }

        /// <summary>One-line JSON and dictionaries: masks the value (inside its quotes) of a secret key.</summary>
        private void MaskQuotedKeyPairs(string line, int at) => MaskGroup(QuotedKeyPair(), line, at, requireSecretKey: true);

        private void MaskXmlElements(string line, int at)
        {
            for (var m = XmlElement().Match(line); m.Success; m = m.NextMatch())
            {
                var value = m.Groups["value"];
                if (m.Groups["tag"].ValueSpan.SequenceEqual(m.Groups["close"].ValueSpan) &&
                    NamesSecret(m.Groups["tag"].ValueSpan, m.Groups["attrs"].Value) && !HidesNothing(value.ValueSpan))
                {
                    var inner = value.ValueSpan;
                    var lead = inner.Length - inner.TrimStart().Length;
                    MaskRange(at + value.Index + lead, at + value.Index + inner.TrimEnd().Length);
                }
            }
        }

        /// <summary>A secret element name, or a key="..." / name="..." attribute naming a secret.</summary>
        private bool NamesSecret(ReadOnlySpan<char> tag, string attributes)
        {
            if (keys.IsSecret(tag))
            {
                return true;
            }
            for (var m = NamingAttribute().Match(attributes); m.Success; m = m.NextMatch())
            {
                if (keys.IsSecret(m.Groups["name"].ValueSpan))
                {
                    return true;
                }
            }
            return false;
        }

        /// <summary>A line that only opens a secret element (OpenVPN's &lt;auth-user-pass&gt;): its body follows.</summary>
        private void StartElementBlock(string line)
        {
            var m = XmlOpeningTagLine().Match(line);
            if (m.Success && NamesSecret(m.Groups["tag"].ValueSpan, m.Groups["attrs"].Value))
            {
                _block = BlockKind.Element;
                _blockCloseTag = "</" + m.Groups["tag"].Value + ">";
            }
        }

        private static bool OpensPemBlock(string line)
        {
            var begin = PemBegin().Match(line);
            return begin.Success && line.IndexOf("-----END ", begin.Index + begin.Length, StringComparison.Ordinal) < 0;
        }

        /// <summary>netrc: <c>machine h login u password p</c>, keywords and values alternating on a line
        /// ("default" stands alone).</summary>
        private void MaskNetrc(string line, int at)
        {
            var trimmed = line.AsSpan().TrimStart(" \t");
            if (!(trimmed.StartsWith("machine ") || trimmed.StartsWith("login ") || trimmed.StartsWith("default ") || trimmed is "default"))
            {
                return;
            }
            var valueIsSecret = false;
            var expectKeyword = true;
            foreach (var word in Word().EnumerateMatches(line))
            {
                var text = line.AsSpan(word.Index, word.Length);
                if (expectKeyword)
                {
                    valueIsSecret = keys.IsSecret(text);
                    expectKeyword = text is "default";
                }
                else
                {
                    if (valueIsSecret)
                    {
                        MaskRange(at + word.Index, at + word.Index + word.Length);
                    }
                    expectKeyword = true;
                }
            }
        }

        /// <summary>A redis ACL rule, <c>user NAME on &gt;password ~* +@all</c>: what follows the sign of a password
        /// (&gt;, &lt;) or of a password's SHA-256 (#, !).</summary>
        private void MaskRedisAclUser(string line, int at)
        {
            if (!line.AsSpan().TrimStart(" \t").StartsWith("user "))
            {
                return;
            }
            foreach (var word in Word().EnumerateMatches(line))
            {
                var rule = line.AsSpan(word.Index, word.Length);
                var isPassword = rule.Length > 1 && rule[0] is '>' or '<';
                var isHash = rule.Length == 65 && rule[0] is '#' or '!' && !rule[1..].ContainsAnyExcept(HexDigits);
                if (isPassword || isHash)
                {
                    MaskRange(at + word.Index + 1, at + word.Index + word.Length);
                }
            }
        }

        /// <summary>A record of a credential file known by name; comments and blank lines are left alone.</summary>
        private void MaskCredentialRecord(string line, int at)
        {
            var trimmed = line.AsSpan().TrimStart(" \t");
            if (trimmed.IsEmpty || trimmed[0] == '#')
            {
                return;
            }
            var fieldsBefore = credentialFile == CredentialFile.PgPass ? 4 : 1;
            var colons = 0;
            for (var i = 0; i < line.Length; i++)
            {
                if (line[i] == '\\' && credentialFile == CredentialFile.PgPass)
                {
                    i++; // an escaped ':' or '\' belongs to its field
                }
                else if (line[i] == ':' && ++colons == fieldsBefore)
                {
                    MaskRange(at + i + 1, at + line.Length);
                    return;
                }
            }
        }

        /// <summary>Reads the values of a line's pairs: a quoted value's inside, or up to the next separator (in a URL
        /// query also '&amp;' and '#'). The stops are searched through <see cref="NextStop"/>, so a line of a million
        /// '=' costs linear time, not quadratic.</summary>
        private sealed class PairValues(string line)
        {
            private readonly NextStop _plainEnd = new(line, static c => c is ' ' or '\t' or ';' or '"' or '\'' or '<' or '>');
            private readonly NextStop _queryEnd = new(line, static c => c is ' ' or '\t' or ';' or '"' or '\'' or '<' or '>' or '&' or '#');
            private readonly NextStop _doubleQuote = new(line, static c => c == '"');
            private readonly NextStop _singleQuote = new(line, static c => c == '\'');

            public (int Start, int End) After(int equals, bool inQuery)
            {
                var start = equals;
                while (start < line.Length && line[start] is ' ' or '\t')
                {
                    start++;
                }
                return start < line.Length && line[start] is '"' or '\''
                    ? (start + 1, (line[start] == '"' ? _doubleQuote : _singleQuote).From(start + 1))
                    : (start, (inQuery ? _queryEnd : _plainEnd).From(start));
            }
        }

        /// <summary>The first stop character at or after a position (or the line's end). The stretch searched last
        /// is remembered: asked again from inside it, the answer is known.</summary>
        private sealed class NextStop(string line, Func<char, bool> isStop)
        {
            private int _searchedFrom = int.MaxValue;
            private int _stop = -1;

            public int From(int start)
            {
                if (start < _searchedFrom || start > _stop)
                {
                    _searchedFrom = start;
                    _stop = start;
                    while (_stop < line.Length && !isStop(line[_stop]))
                    {
                        _stop++;
                    }
                }
                return _stop;
            }
        }
    }
}
