using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.State;
using Stageproof.Core.Validation;

namespace Stageproof.Data;

/// <summary>
/// Opens the state every entry point uses (CLI, server, <c>state migrate</c>): a directory (SQLite) or a PostgreSQL
/// database, sealed under the audit key. The one place that knows which store a location means.
/// </summary>
public static class StateStores
{
    /// <summary>The PostgreSQL password, when the state is a database; wins over <c>state_password_file</c>.</summary>
    public const string PasswordVariable = "STAGEPROOF_STATE_PASSWORD";

    public const string DefaultDirectory = ".stageproof";

    /// <summary>Where the state is: <paramref name="stateOption"/> (<c>--state</c>) when given, else stageproof.yaml's
    /// <c>state:</c>, else <see cref="DefaultDirectory"/> in the working directory.</summary>
    /// <exception cref="InputException">--state is a malformed URL or carries a password.</exception>
    public static StateLocation Resolve(string? stateOption, StateSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (stateOption is not null)
        {
            return StateLocation.Parse(stateOption, "--state", Directory.GetCurrentDirectory());
        }
        return settings.Location ?? StateLocation.InDirectory(DefaultDirectory);
    }

    /// <summary>Opens the state at <paramref name="location"/>, keyed; the password and audit key as
    /// <paramref name="settings"/> say.</summary>
    public static async Task<IStateStore> OpenAsync(StateLocation location, StateSettings settings, TimeProvider time,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(settings);
        if (!location.IsPostgres)
        {
            return await SqliteStateStore.OpenKeyedAsync(location.Directory!, time, cancellationToken, settings.AuditKeyFile).ConfigureAwait(false);
        }
        var keyPath = AuditKeys.PathFor(settings.AuditKeyFile);
        return await PostgresStateStore.OpenAsync(ConnectionString(location, settings), location.ToString(), time,
            recorded => AuditKeys.LoadForDatabase(keyPath, recorded, location.ToString()), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The Npgsql connection string for a database location, with the password from
    /// <see cref="PasswordVariable"/> or the password file (none: PostgreSQL's own means, such as ~/.pgpass or peer).</summary>
    public static string ConnectionString(StateLocation location, StateSettings settings)
    {
        ArgumentNullException.ThrowIfNull(location);
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = location.Host,
            Port = location.Port,
            Database = location.Database,
            Username = location.User,
            Password = Password(settings),
            Timeout = 15,
            ApplicationName = "stageproof",
        };
        if (location.SslMode is { } mode)
        {
            builder.SslMode = Enum.Parse<SslMode>(mode.Replace("-", "", StringComparison.Ordinal), ignoreCase: true);
        }
        return builder.ConnectionString;
    }

    private static string? Password(StateSettings settings)
    {
        if (Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } password)
        {
            return password;
        }
        if (settings.PasswordFile is not { } file)
        {
            return null;
        }
        if (InputFiles.SharedMode(file) is { } mode)
        {
            throw new InputException($"state_password_file {file} may be read by others (mode {mode}); it must be its owner's alone: chmod 600 {file}");
        }
        var (text, problem) = InputFiles.ReadText(file, 4096);
        return text is null
            ? throw new InputException($"state_password_file {file}: {problem}")
            : text.TrimEnd('\r', '\n');
    }
}
