using System.DirectoryServices.Protocols;
using System.Net;
using System.Text;

namespace AcmeMail;

/// <summary>What the directory said to a login.</summary>
public enum LdapLoginOutcome
{
    Accepted,
    Refused,
    /// <summary>The directory did not answer (down, unreachable, timed out): not the user's fault.</summary>
    Unavailable,
}

/// <summary>
/// Checks a login by binding to the directory as the user (auth.backend = ldap): the directory holds the password, not
/// acme-mail. One connection per login, closed after the bind, as mail front ends commonly do.
/// </summary>
public sealed class LdapLogin(Uri url, string userDnTemplate)
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Binds as the user's DN; an empty password is refused here, since LDAP takes it as an anonymous bind that succeeds.</summary>
    public Task<(LdapLoginOutcome Outcome, string? Detail)> CheckAsync(string user, string password, CancellationToken ct)
    {
        if (password.Length == 0)
        {
            return Task.FromResult<(LdapLoginOutcome, string?)>((LdapLoginOutcome.Refused, "empty password"));
        }
        // System.DirectoryServices.Protocols binds synchronously (over libldap).
        return Task.Run(() => Check(user, password), ct);
    }

    private (LdapLoginOutcome, string?) Check(string user, string password)
    {
        var dn = userDnTemplate.Replace("{user}", EscapeDnValue(user), StringComparison.Ordinal);
        var port = url.IsDefaultPort || url.Port <= 0 ? (url.Scheme == "ldaps" ? 636 : 389) : url.Port;
        using var connection = new LdapConnection(new LdapDirectoryIdentifier(url.Host, port, fullyQualifiedDnsHostName: false, connectionless: false))
        {
            AuthType = AuthType.Basic,
            Timeout = Timeout,
        };
        connection.SessionOptions.ProtocolVersion = 3;
        if (url.Scheme == "ldaps")
        {
            connection.SessionOptions.SecureSocketLayer = true;
        }
        try
        {
            connection.Bind(new NetworkCredential(dn, password));
            return (LdapLoginOutcome.Accepted, null);
        }
        catch (LdapException e) when (e.ErrorCode == 49) // invalidCredentials: a wrong password or no such user
        {
            return (LdapLoginOutcome.Refused, "invalid credentials");
        }
        catch (LdapException e)
        {
            return (LdapLoginOutcome.Unavailable, $"{e.Message.TrimEnd('.')} ({e.ErrorCode})");
        }
        catch (DirectoryOperationException e)
        {
            return (LdapLoginOutcome.Refused, e.Response?.ResultCode.ToString() ?? e.Message);
        }
    }

    /// <summary>An attribute value made safe inside a DN (RFC 4514): a name like "x,ou=admins" stays one value.</summary>
    public static string EscapeDnValue(string value)
    {
        var text = new StringBuilder(value.Length + 8);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is ',' or '+' or '"' or '\\' or '<' or '>' or ';' or '=' || (c == '#' && i == 0) || (c == ' ' && (i == 0 || i == value.Length - 1)))
            {
                text.Append('\\').Append(c);
            }
            else if (c == '\0')
            {
                text.Append("\\00");
            }
            else
            {
                text.Append(c);
            }
        }
        return text.ToString();
    }
}
