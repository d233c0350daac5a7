namespace Stageproof.Core.State;

/// <summary>
/// Where the state is: a directory (SQLite, the embedded default) or a PostgreSQL database named by
/// <c>postgres://USER@HOST:PORT/DB</c> (or <c>postgresql://</c>). A URL never carries the password: it would sit in
/// shell history, process lists and stageproof.yaml; the password comes from <c>STAGEPROOF_STATE_PASSWORD</c> or
/// <c>state_password_file</c>.
/// </summary>
public sealed record StateLocation
{
    public const int DefaultPort = 5432;

    private static readonly string[] SslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

    private StateLocation()
    {
    }

    /// <summary>The state directory, for a SQLite state; null for PostgreSQL.</summary>
    public string? Directory { get; private init; }

    public string? Host { get; private init; }
    public int Port { get; private init; } = DefaultPort;
    public string? Database { get; private init; }
    public string? User { get; private init; }
    /// <summary>The URL's <c>sslmode</c>, when given (libpq's names).</summary>
    public string? SslMode { get; private init; }

    public bool IsPostgres => Database is not null;

    public static StateLocation InDirectory(string directory) => new() { Directory = Path.GetFullPath(directory) };

    public static bool LooksLikeUrl(string text) =>
        text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads <paramref name="text"/> given by <paramref name="source"/> (e.g. "--state", "stageproof.yaml:3 state");
    /// a relative directory is resolved against <paramref name="baseDirectory"/>.</summary>
    /// <exception cref="InputException">A URL that is malformed, lacks a user, host or database, or carries a password.</exception>
    public static StateLocation Parse(string text, string source, string baseDirectory)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new InputException($"{source}: empty; give a state directory or postgres://USER@HOST:PORT/DB");
        }
        if (!LooksLikeUrl(text))
        {
            if (text.Contains("://", StringComparison.Ordinal))
            {
                throw new InputException($"{source}: '{text}' is neither a directory nor a postgres://USER@HOST:PORT/DB URL");
            }
            return InDirectory(Path.Combine(baseDirectory, text));
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            throw new InputException($"{source}: not a valid URL; expected postgres://USER@HOST:PORT/DB");
        }
        var userInfo = uri.UserInfo;
        if (userInfo.Contains(':', StringComparison.Ordinal))
        {
            // Never echo the URL: it holds the password.
            throw new InputException($"{source}: the state URL carries a password, which is refused (it would sit in shell history, " +
                                     "process lists or stageproof.yaml); remove it and set STAGEPROOF_STATE_PASSWORD or state_password_file");
        }
        var user = Uri.UnescapeDataString(userInfo);
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        var host = uri.Host;
        if (user.Length == 0)
        {
            throw new InputException($"{source}: {Show(uri)} names no user; expected postgres://USER@HOST:PORT/DB");
        }
        if (host.Length == 0)
        {
            throw new InputException($"{source}: {Show(uri)} names no host; expected postgres://USER@HOST:PORT/DB");
        }
        if (database.Length == 0 || database.Contains('/', StringComparison.Ordinal))
        {
            throw new InputException($"{source}: {Show(uri)} names no database (or more than one path segment); expected postgres://USER@HOST:PORT/DB");
        }
        string? sslMode = null;
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var (name, value) = pair.IndexOf('=', StringComparison.Ordinal) is var eq and >= 0
                ? (Uri.UnescapeDataString(pair[..eq]), Uri.UnescapeDataString(pair[(eq + 1)..]))
                : (Uri.UnescapeDataString(pair), "");
            if (name != "sslmode")
            {
                throw new InputException($"{source}: URL parameter '{name}' is not supported (only sslmode)");
            }
            if (!SslModes.Contains(value, StringComparer.Ordinal))
            {
                throw new InputException($"{source}: sslmode '{value}' is not one of {string.Join(", ", SslModes)}");
            }
            sslMode = value;
        }
        return new StateLocation
        {
            Host = host.Trim('[', ']'),
            Port = uri.Port > 0 ? uri.Port : DefaultPort,
            Database = database,
            User = user,
            SslMode = sslMode,
        };
    }

    /// <summary>The directory, or the URL (which never holds a password).</summary>
    public override string ToString() => IsPostgres
        ? $"postgres://{Uri.EscapeDataString(User!)}@{(Host!.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port}/{Uri.EscapeDataString(Database!)}" +
          (SslMode is null ? "" : $"?sslmode={SslMode}")
        : Directory!;

    private static string Show(Uri uri) => $"{uri.Scheme}://{uri.Authority}{uri.AbsolutePath}";
}
