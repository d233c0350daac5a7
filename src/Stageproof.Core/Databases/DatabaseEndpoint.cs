using System.Text.RegularExpressions;
using Stageproof.Core.Validation;

namespace Stageproof.Core.Databases;

/// <summary>The database servers Stageproof speaks to. <see cref="MySql"/> uses the MariaDB adapter (MySqlConnector).</summary>
public enum DatabaseEngine
{
    Postgres,
    MariaDb,
    MySql,
}

/// <summary>
/// A database of an environment as the rest of Stageproof carries it: one string. A plain connection string is
/// PostgreSQL (as it always was); any other engine is the connection string prefixed with its engine and a colon
/// (<c>mariadb:Server=…</c>), which is also what <c>{ engine: mariadb, connection: "…" }</c> in stageproof.yaml
/// becomes. Keeping one string means apply requests, rollout jobs and check environments carry the engine without
/// changing shape.
/// </summary>
public sealed partial record DatabaseEndpoint(DatabaseEngine Engine, string ConnectionString)
{
    /// <summary>The engine names accepted in stageproof.yaml.</summary>
    public static readonly IReadOnlyList<string> EngineNames = ["postgres", "mariadb", "mysql"];

    /// <summary>The name stageproof.yaml uses for <paramref name="engine"/>.</summary>
    public static string NameOf(DatabaseEngine engine) => engine switch
    {
        DatabaseEngine.MariaDb => "mariadb",
        DatabaseEngine.MySql => "mysql",
        _ => "postgres",
    };

    /// <summary>The engine a name means (postgresql is postgres); null when unknown.</summary>
    public static DatabaseEngine? EngineNamed(string name) => name switch
    {
        "postgres" or "postgresql" => DatabaseEngine.Postgres,
        "mariadb" => DatabaseEngine.MariaDb,
        "mysql" => DatabaseEngine.MySql,
        _ => null,
    };

    /// <summary>The one-string form: the connection string itself for PostgreSQL, else "engine:connection".</summary>
    public override string ToString() => Engine == DatabaseEngine.Postgres ? ConnectionString : $"{NameOf(Engine)}:{ConnectionString}";

    /// <summary>Reads the one-string form.</summary>
    /// <exception cref="InputException">The string starts with an engine prefix Stageproof does not know.</exception>
    public static DatabaseEndpoint Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return TryParse(value, out var endpoint, out var problem) ? endpoint : throw new InputException(problem!);
    }

    /// <summary>Reads the one-string form; false with a one-line problem when its prefix names no known engine.</summary>
    public static bool TryParse(string value, out DatabaseEndpoint endpoint, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(value);
        problem = null;
        var m = Prefix().Match(value);
        if (!m.Success)
        {
            endpoint = new DatabaseEndpoint(DatabaseEngine.Postgres, value);
            return true;
        }
        var name = m.Groups[1].Value;
        if (EngineNamed(name.ToLowerInvariant()) is not { } engine)
        {
            endpoint = new DatabaseEndpoint(DatabaseEngine.Postgres, value);
            problem = $"unknown database engine '{Names.Excerpt(name)}' (known: {string.Join(", ", EngineNames)})";
            return false;
        }
        endpoint = new DatabaseEndpoint(engine, value[m.Length..]);
        return true;
    }

    // "word:" before any '=' or ';' (a connection string's first key has neither a colon nor starts one), and not a URL.
    [GeneratedRegex(@"^\s*([A-Za-z][A-Za-z0-9_-]*):(?!//)")]
    private static partial Regex Prefix();
}
