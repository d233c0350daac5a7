using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Stageproof.Core.Checks;

/// <summary>
/// What an ldap check's DNs, filter and attributes may look like, and how an account name is put into them:
/// <c>${user}</c> is the only variable, escaped as RFC 4514 (DNs) or RFC 4515 (filters) say, so a name such as
/// <c>*)(uid=*</c> is searched for literally and never widens a filter.
/// </summary>
public static partial class LdapSyntax
{
    /// <summary>The placeholder an account name replaces.</summary>
    public const string UserVariable = "${user}";

    /// <summary>Attributes that hold secrets: never requested by a check, never read by the facts.</summary>
    public static readonly IReadOnlyList<string> SecretAttributes = ["userPassword", "olcRootPW", "authPassword", "userPKCS12", "olcDbACLPasswd"];

    /// <summary>Why a DN (possibly holding ${user}) cannot be used, or null.</summary>
    public static string? DnError(string dn)
    {
        ArgumentNullException.ThrowIfNull(dn);
        if (VariableError(dn) is { } variable)
        {
            return variable;
        }
        var text = dn.Replace(UserVariable, "x", StringComparison.Ordinal);
        if (text.Length == 0 || text.Any(char.IsControl))
        {
            return $"{Show(dn)} is not a DN (empty, or a control character)";
        }
        // Each RDN is attribute=value; commas inside values must be escaped.
        foreach (var rdn in SplitUnescaped(text, ','))
        {
            var eq = rdn.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !AttributeName().IsMatch(rdn[..eq].Trim()) || rdn[(eq + 1)..].Trim().Length == 0)
            {
                return $"{Show(dn)} is not a DN: {Show(rdn.Trim())} is not attribute=value";
            }
        }
        return null;
    }

    /// <summary>Why a search filter (possibly holding ${user}) cannot be used, or null.</summary>
    public static string? FilterError(string filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (VariableError(filter) is { } variable)
        {
            return variable;
        }
        var text = filter.Replace(UserVariable, "x", StringComparison.Ordinal);
        if (!text.StartsWith('(') || !text.EndsWith(')') || text.Any(char.IsControl))
        {
            return $"{Show(filter)} is not an LDAP filter: it must be parenthesised, e.g. \"(uid=${{user}})\"";
        }
        var depth = 0;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '\\': i++; break;
                case '(': depth++; break;
                case ')':
                    depth--;
                    if (depth < 0 || (depth == 0 && i != text.Length - 1))
                    {
                        return $"{Show(filter)} is not an LDAP filter: a ')' at {i + 1} closes nothing";
                    }
                    break;
            }
        }
        return depth == 0 ? null : $"{Show(filter)} is not an LDAP filter: {depth} '(' not closed";
    }

    /// <summary>Why an attribute cannot be requested (not a name, or a secret), or null.</summary>
    public static string? AttributeError(string attribute)
    {
        ArgumentNullException.ThrowIfNull(attribute);
        if (!AttributeName().IsMatch(attribute))
        {
            return $"{Show(attribute)} is not an attribute name";
        }
        return SecretAttributes.Contains(attribute, StringComparer.OrdinalIgnoreCase)
            ? $"{attribute} holds secrets: a check never reads it (a bind proves the password)"
            : null;
    }

    /// <summary>A DN template with ${user} replaced, escaped per RFC 4514.</summary>
    public static string FillDn(string template, string user)
    {
        ArgumentNullException.ThrowIfNull(template);
        return template.Replace(UserVariable, EscapeDnValue(user), StringComparison.Ordinal);
    }

    /// <summary>A filter template with ${user} replaced, escaped per RFC 4515.</summary>
    public static string FillFilter(string template, string user)
    {
        ArgumentNullException.ThrowIfNull(template);
        return template.Replace(UserVariable, EscapeFilterValue(user), StringComparison.Ordinal);
    }

    /// <summary>RFC 4514: , + " \ &lt; &gt; ; = escaped; a leading # or space and a trailing space too.</summary>
    public static string EscapeDnValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var sb = new StringBuilder(value.Length + 8);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is ',' or '+' or '"' or '\\' or '<' or '>' or ';' or '=' || (c == '#' && i == 0) || (c == ' ' && (i == 0 || i == value.Length - 1)))
            {
                sb.Append('\\').Append(c);
            }
            else if (c == '\0')
            {
                sb.Append("\\00");
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    /// <summary>RFC 4515: * ( ) \ NUL as \2a \28 \29 \5c \00.</summary>
    public static string EscapeFilterValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var sb = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            if (c is '*' or '(' or ')' or '\\' or '\0')
            {
                sb.Append('\\').Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    private static string? VariableError(string text)
    {
        foreach (Match m in Variable().Matches(text))
        {
            if (m.Value != UserVariable)
            {
                return $"{Show(m.Value)} is not a variable of an ldap check (only ${{user}}, the account's name)";
            }
        }
        return null;
    }

    private static IEnumerable<string> SplitUnescaped(string text, char separator)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == separator)
            {
                yield return text[start..i];
                start = i + 1;
            }
        }
        yield return text[start..];
    }

    private static string Show(string text) => Validation.Names.Show(text);

    [GeneratedRegex(@"^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)$", RegexOptions.CultureInvariant)]
    private static partial Regex AttributeName();

    [GeneratedRegex(@"\$\{[^}]*\}", RegexOptions.CultureInvariant)]
    private static partial Regex Variable();
}
