namespace Stageproof.Server;

/// <summary>How <c>stageproof serve</c> runs: where it listens, and the same configuration and state the CLI uses.</summary>
public sealed record ServerOptions
{
    public const string DefaultUrl = "http://127.0.0.1:7480";

    /// <summary>Semicolon-separated listen URLs (Kestrel's syntax); port 0 picks a free port.</summary>
    public string Urls { get; init; } = DefaultUrl;
    public required string ConfigPath { get; init; }
    /// <summary>The local state directory: the state itself for SQLite; beside a PostgreSQL state, the files that stay on
    /// this machine (dumps, snapshot repositories, the console's cookie keys).</summary>
    public required string StateDirectory { get; init; }
    /// <summary>Where the state is when not <see cref="StateDirectory"/> itself (a PostgreSQL database, --state given);
    /// null: stageproof.yaml's <c>state:</c>, else <see cref="StateDirectory"/>.</summary>
    public Core.State.StateLocation? State { get; init; }
    /// <summary>Request bodies above this are refused with 413 before they are read.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1024 * 1024;
    /// <summary>Login attempts one client address may make a minute; more get 429 (each name also locks after five failures).</summary>
    public int LoginsPerMinute { get; init; } = 20;
    /// <summary>With <c>jobs:</c>, also run rollout jobs here (<c>serve --worker</c>), as a <c>stageproof worker</c> does.</summary>
    public bool Worker { get; init; }
}
