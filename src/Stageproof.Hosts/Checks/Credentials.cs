using Stageproof.Core.Checks;

namespace Stageproof.Hosts.Checks;

/// <summary>One account an auth sequence logs in with.</summary>
public sealed record Account(string User, string Password)
{
    public override string ToString() => $"Account {{ User = {User} }}";
}

/// <summary>Reads the accounts of an auth check from an environment variable or a secrets file (never from the YAML).</summary>
public static class Credentials
{
    /// <summary>The accounts, or the reason there are none. A secrets file readable by group or others is refused.</summary>
    public static (IReadOnlyList<Account> Accounts, string? Error) Load(CredentialSource source, string? user)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Env is { } variable)
        {
            var value = Environment.GetEnvironmentVariable(variable);
            if (string.IsNullOrEmpty(value))
            {
                return ([], $"environment variable {variable} is not set");
            }
            if (user is not null)
            {
                return ([new Account(user, value)], null);
            }
            var colon = value.IndexOf(':', StringComparison.Ordinal);
            return colon > 0 ? ([new Account(value[..colon], value[(colon + 1)..])], null)
                : ([], $"environment variable {variable} holds a password but the check names no user (set user:, or put user:password in the variable)");
        }
        var file = source.File!;
        string[] lines;
        try
        {
            if (!OperatingSystem.IsWindows())
            {
                var mode = File.GetUnixFileMode(file);
                if ((mode & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
                {
                    return ([], $"secrets file {file} is readable or writable by group or others (mode {Convert.ToString((int)mode, 8)}); chmod 600 it");
                }
            }
            lines = File.ReadAllLines(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ([], $"cannot read secrets file {file}: {(e is FileNotFoundException or DirectoryNotFoundException ? "not found" : e.Message)}");
        }
        var accounts = new List<Account>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return ([], $"secrets file {file}: line {i + 1} is not user=password");
            }
            var name = line[..eq].Trim();
            if (user is null || name == user)
            {
                accounts.Add(new Account(name, line[(eq + 1)..]));
            }
        }
        return accounts.Count > 0 ? (accounts, null)
            : ([], user is null ? $"secrets file {file} holds no user=password line" : $"secrets file {file} has no line for user {user}");
    }
}
