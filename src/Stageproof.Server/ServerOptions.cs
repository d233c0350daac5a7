namespace Stageproof.Server;

/// <summary>How <c>stageproof serve</c> runs: where it listens, and the same configuration and state the CLI uses.</summary>
public sealed record ServerOptions
{
    public const string DefaultUrl = "http://127.0.0.1:7480";

    /// <summary>Semicolon-separated listen URLs (Kestrel's syntax); port 0 picks a free port.</summary>
    public string Urls { get; init; } = DefaultUrl;
    public required string ConfigPath { get; init; }
    public required string StateDirectory { get; init; }
    /// <summary>Request bodies above this are refused with 413 before they are read.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1024 * 1024;
    /// <summary>Login attempts one client address may make a minute; more get 429 (each name also locks after five failures).</summary>
    public int LoginsPerMinute { get; init; } = 20;
    /// <summary>With <c>jobs:</c>, also run rollout jobs here (<c>serve --worker</c>), as a <c>stageproof worker</c> does.</summary>
    public bool Worker { get; init; }
}
