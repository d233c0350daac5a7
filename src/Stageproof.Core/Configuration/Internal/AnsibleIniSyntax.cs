using System.Globalization;
using System.Text;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>
/// The two pieces of Python that Ansible's INI inventory plugin leans on, rewritten so that a value means here what it
/// means to Ansible: <c>shlex.split(line, comments=True)</c> for host lines and <c>ast.literal_eval</c> for values.
/// </summary>
internal static class AnsibleIniSyntax
{
    /// <summary>A word of a host line and the 1-based column where it starts.</summary>
    public readonly record struct Word(string Text, int Column);

    /// <summary>
    /// Python's shlex.split(line, comments=True) in POSIX mode: quotes are removed, a backslash escapes the next
    /// character (inside double quotes only '"' and '\'), and a '#' outside quotes ends the line — also in the middle
    /// of a word, so <c>a=x#y</c> is <c>a=x</c>. Returns the error shlex raises ("No closing quotation") as text.
    /// </summary>
    public static (List<Word> Words, string? Error) Split(string line)
    {
        var words = new List<Word>();
        var token = new StringBuilder();
        var state = ' ';          // ' ' between words, 'a' in a word, '"' or '\'' inside quotes
        var start = 0;
        var i = 0;
        void End()
        {
            words.Add(new Word(token.ToString(), start + 1));
            token.Clear();
            state = ' ';
        }
        while (i < line.Length)
        {
            var c = line[i];
            switch (state)
            {
                case ' ':
                    if (IsShlexSpace(c))
                    {
                        i++;
                        continue;
                    }
                    if (c == '#')
                    {
                        return (words, null);
                    }
                    start = i;
                    state = 'a';
                    continue; // read the same character as part of a word
                case 'a':
                    if (IsShlexSpace(c))
                    {
                        End();
                    }
                    else if (c == '#')
                    {
                        End();
                        return (words, null);
                    }
                    else if (c is '"' or '\'')
                    {
                        state = c;
                    }
                    else if (c == '\\')
                    {
                        if (i + 1 >= line.Length)
                        {
                            return (words, "No escaped character");
                        }
                        token.Append(line[++i]);
                    }
                    else
                    {
                        token.Append(c);
                    }
                    i++;
                    continue;
                case '\'':
                    if (c == '\'')
                    {
                        state = 'a';
                    }
                    else
                    {
                        token.Append(c);
                    }
                    i++;
                    continue;
                default: // inside double quotes
                    if (c == '"')
                    {
                        state = 'a';
                    }
                    else if (c == '\\' && i + 1 < line.Length)
                    {
                        var next = line[++i];
                        if (next is not ('"' or '\\'))
                        {
                            token.Append('\\');
                        }
                        token.Append(next);
                    }
                    else
                    {
                        token.Append(c);
                    }
                    i++;
                    continue;
            }
        }
        if (state is '"' or '\'')
        {
            return (words, "No closing quotation");
        }
        if (state == 'a')
        {
            End();
        }
        return (words, null);
    }

    private static bool IsShlexSpace(char c) => c is ' ' or '\t' or '\r' or '\n';

    /// <summary>
    /// Ansible's _parse_value: the value as Python's ast.literal_eval reads it (a number, a quoted string, True, False,
    /// None, a list, tuple or dict of those), or the text unchanged when it is not a literal. Results are string, long,
    /// double, bool, null, List&lt;object?&gt; or Dictionary&lt;string, object?&gt;.
    /// </summary>
    public static object? ParseValue(string text)
    {
        var parser = new LiteralParser(text.TrimStart(' ', '\t'));
        try
        {
            var value = parser.ParseExpression();
            parser.SkipSpaceAndComment();
            if (parser.AtEnd)
            {
                return value;
            }
            // "1, 2" is a tuple in Python, as "(1, 2)" is; Ansible prints it as a list.
            var items = new List<object?> { value };
            while (parser.TryComma())
            {
                parser.SkipSpaceAndComment();
                if (parser.AtEnd)
                {
                    return items;
                }
                items.Add(parser.ParseExpression());
                parser.SkipSpaceAndComment();
                if (parser.AtEnd)
                {
                    return items;
                }
            }
            return text;
        }
        catch (FormatException)
        {
            return text;
        }
    }

    private sealed class LiteralParser(string text)
    {
        /// <summary>Nesting beyond this is not a value anyone writes in an inventory (and would exhaust the stack).</summary>
        private const int MaxDepth = 64;

        private int _pos;
        private int _depth;

        public bool AtEnd => _pos >= text.Length;

        private char Peek(int ahead = 0) => _pos + ahead < text.Length ? text[_pos + ahead] : '\0';

        public bool TryComma()
        {
            if (Peek() != ',')
            {
                return false;
            }
            _pos++;
            return true;
        }

        private static FormatException NotALiteral() => new("not a Python literal");

        public void SkipSpaceAndComment()
        {
            while (!AtEnd && (text[_pos] is ' ' or '\t' or '\f'))
            {
                _pos++;
            }
            if (!AtEnd && text[_pos] == '#')
            {
                _pos = text.Length;
            }
        }

        // Inside brackets Python joins lines, so newlines are blanks there too.
        private void SkipBlanks(bool inBrackets)
        {
            while (true)
            {
                SkipSpaceAndComment();
                if (inBrackets && !AtEnd && text[_pos] is '\n' or '\r')
                {
                    _pos++;
                    continue;
                }
                return;
            }
        }

        public object? ParseExpression(bool inBrackets = false)
        {
            if (++_depth > MaxDepth)
            {
                throw NotALiteral();
            }
            try
            {
                return ParseSigned(inBrackets);
            }
            finally
            {
                _depth--;
            }
        }

        private object? ParseSigned(bool inBrackets)
        {
            SkipBlanks(inBrackets);
            if (Peek() is '+' or '-')
            {
                // literal_eval allows one sign in front of a number (not of True, not twice).
                var negative = Peek() == '-';
                _pos++;
                SkipBlanks(inBrackets);
                var number = ParseAtom(inBrackets);
                return number switch
                {
                    long l => negative ? -l : l,
                    double d => negative ? -d : d,
                    _ => throw NotALiteral(),
                };
            }
            return ParseAtom(inBrackets);
        }

        private object? ParseAtom(bool inBrackets)
        {
            SkipBlanks(inBrackets);
            var c = Peek();
            if (c is '[' or '(')
            {
                _pos++;
                var close = c == '[' ? ']' : ')';
                var items = new List<object?>();
                var sawComma = false;
                while (true)
                {
                    SkipBlanks(true);
                    if (Peek() == close)
                    {
                        _pos++;
                        break;
                    }
                    items.Add(ParseExpression(true));
                    SkipBlanks(true);
                    if (Peek() == ',')
                    {
                        _pos++;
                        sawComma = true;
                        continue;
                    }
                    if (Peek() != close)
                    {
                        throw NotALiteral();
                    }
                }
                // "(1)" is the number 1, "(1,)" a tuple; a tuple becomes a JSON list, as Ansible prints it.
                return c == '(' && items.Count == 1 && !sawComma ? items[0] : items;
            }
            if (c == '{')
            {
                _pos++;
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                while (true)
                {
                    SkipBlanks(true);
                    if (Peek() == '}')
                    {
                        _pos++;
                        return dict;
                    }
                    var key = ParseExpression(true);
                    SkipBlanks(true);
                    if (Peek() != ':')
                    {
                        throw NotALiteral(); // a set literal: Ansible cannot print one either
                    }
                    _pos++;
                    dict[KeyText(key)] = ParseExpression(true);
                    SkipBlanks(true);
                    if (Peek() == ',')
                    {
                        _pos++;
                    }
                    else if (Peek() != '}')
                    {
                        throw NotALiteral();
                    }
                }
            }
            if (char.IsAsciiDigit(c) || (c == '.' && char.IsAsciiDigit(Peek(1))))
            {
                return ParseNumber();
            }
            if (IsStringStart())
            {
                var sb = new StringBuilder();
                do
                {
                    sb.Append(ParseString());
                    SkipBlanks(inBrackets);
                }
                while (IsStringStart());
                return sb.ToString();
            }
            var word = ReadName();
            return word switch
            {
                "True" => true,
                "False" => false,
                "None" => null,
                _ => throw NotALiteral(),
            };
        }

        private static string KeyText(object? key) => key switch
        {
            null => "null",
            bool b => b ? "true" : "false",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            string s => s,
            _ => throw NotALiteral(),
        };

        private string ReadName()
        {
            var start = _pos;
            while (!AtEnd && (char.IsLetterOrDigit(text[_pos]) || text[_pos] == '_'))
            {
                _pos++;
            }
            return text[start.._pos];
        }

        private bool IsStringStart()
        {
            var i = _pos;
            var prefix = 0;
            while (i < text.Length && prefix < 2 && text[i] is 'r' or 'R' or 'b' or 'B' or 'u' or 'U')
            {
                i++;
                prefix++;
            }
            return i < text.Length && text[i] is '"' or '\'';
        }

        private string ParseString()
        {
            var raw = false;
            while (Peek() is 'r' or 'R' or 'b' or 'B' or 'u' or 'U')
            {
                raw |= Peek() is 'r' or 'R';
                _pos++;
            }
            var quote = Peek();
            var triple = Peek(1) == quote && Peek(2) == quote;
            _pos += triple ? 3 : 1;
            var sb = new StringBuilder();
            while (true)
            {
                if (AtEnd)
                {
                    throw NotALiteral();
                }
                var c = text[_pos];
                if (c == quote && (!triple || (Peek(1) == quote && Peek(2) == quote)))
                {
                    _pos += triple ? 3 : 1;
                    return sb.ToString();
                }
                if (c == '\n' && !triple)
                {
                    throw NotALiteral();
                }
                if (c == '\\' && _pos + 1 < text.Length)
                {
                    if (raw)
                    {
                        sb.Append(c).Append(text[_pos + 1]);
                        _pos += 2;
                        continue;
                    }
                    _pos++;
                    sb.Append(Escape());
                    continue;
                }
                sb.Append(c);
                _pos++;
            }
        }

        private string Escape()
        {
            var c = text[_pos++];
            switch (c)
            {
                case '\n': return "";
                case '\\': return "\\";
                case '\'': return "'";
                case '"': return "\"";
                case 'a': return "\a";
                case 'b': return "\b";
                case 'f': return "\f";
                case 'n': return "\n";
                case 'r': return "\r";
                case 't': return "\t";
                case 'v': return "\v";
                case 'x': return Hex(2);
                case 'u': return Hex(4);
                case 'U': return Hex(8);
                case >= '0' and <= '7':
                    var value = c - '0';
                    for (var n = 0; n < 2 && Peek() is >= '0' and <= '7'; n++)
                    {
                        value = value * 8 + (text[_pos++] - '0');
                    }
                    return char.ConvertFromUtf32(value);
                default:
                    return "\\" + c; // Python keeps an unknown escape as it is written
            }
        }

        private string Hex(int digits)
        {
            if (_pos + digits > text.Length || !int.TryParse(text.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code)
                || code > 0x10FFFF || code is >= 0xD800 and <= 0xDFFF)
            {
                throw NotALiteral();
            }
            _pos += digits;
            return char.ConvertFromUtf32(code);
        }

        private object ParseNumber()
        {
            if (Peek() == '0' && Peek(1) is 'x' or 'X' or 'o' or 'O' or 'b' or 'B')
            {
                var radix = char.ToLowerInvariant(Peek(1)) switch { 'x' => 16, 'o' => 8, _ => 2 };
                _pos += 2;
                if (Peek() == '_')
                {
                    _pos++; // Python allows one underscore after the prefix: 0x_1F
                }
                var digits = ReadDigits(ch => radix == 16 ? char.IsAsciiHexDigit(ch) : radix == 8 ? ch is >= '0' and <= '7' : ch is '0' or '1');
                try
                {
                    return Convert.ToInt64(digits, radix);
                }
                catch (Exception e) when (e is OverflowException or ArgumentException or FormatException)
                {
                    throw NotALiteral();
                }
            }
            var integer = ReadDigits(char.IsAsciiDigit, allowEmpty: Peek() == '.');
            var isFloat = false;
            var fraction = "";
            if (Peek() == '.')
            {
                isFloat = true;
                _pos++;
                fraction = char.IsAsciiDigit(Peek()) ? ReadDigits(char.IsAsciiDigit) : "";
            }
            var exponent = "";
            if (Peek() is 'e' or 'E' && (char.IsAsciiDigit(Peek(1)) || (Peek(1) is '+' or '-' && char.IsAsciiDigit(Peek(2)))))
            {
                isFloat = true;
                _pos++;
                var sign = Peek() is '+' or '-' ? text[_pos++].ToString() : "";
                exponent = "e" + sign + ReadDigits(char.IsAsciiDigit);
            }
            if (char.IsLetterOrDigit(Peek()) || Peek() == '_')
            {
                throw NotALiteral(); // "1x", "12abc", or a complex "1j" Ansible would not print as JSON
            }
            if (isFloat)
            {
                return double.Parse((integer.Length == 0 ? "0" : integer) + "." + (fraction.Length == 0 ? "0" : fraction) + exponent, CultureInfo.InvariantCulture);
            }
            // Python refuses a decimal with a leading zero ("0755"): a SyntaxError, so Ansible keeps the text.
            if (integer.Length > 1 && integer[0] == '0' && integer.Any(ch => ch != '0'))
            {
                throw NotALiteral();
            }
            return long.TryParse(integer, NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : throw NotALiteral();
        }

        /// <summary>Digits with single underscores between them, as Python writes 1_000.</summary>
        private string ReadDigits(Func<char, bool> isDigit, bool allowEmpty = false)
        {
            var sb = new StringBuilder();
            while (!AtEnd)
            {
                var c = text[_pos];
                if (isDigit(c))
                {
                    sb.Append(c);
                    _pos++;
                }
                else if (c == '_' && sb.Length > 0 && _pos + 1 < text.Length && isDigit(text[_pos + 1]))
                {
                    _pos++;
                }
                else
                {
                    break;
                }
            }
            if (sb.Length == 0 && !allowEmpty)
            {
                throw NotALiteral();
            }
            return sb.ToString();
        }
    }
}
