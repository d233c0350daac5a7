using System.CommandLine;

namespace Stageproof.Cli.Infrastructure;

/// <summary>Options every verb accepts.</summary>
internal static class GlobalOptions
{
    public static readonly Option<string> Config = new("--config", "-c")
    {
        Description = "Configuration file",
        DefaultValueFactory = _ => "stageproof.yaml",
        Recursive = true,
    };

    public static readonly Option<string?> State = new("--state")
    {
        Description = "State: a directory (SQLite; default ./.stageproof, or stageproof.yaml's state:) or postgres://USER@HOST:PORT/DB " +
                      "(password from STAGEPROOF_STATE_PASSWORD or state_password_file, never in the URL)",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print one JSON document on stdout and nothing else there",
        Recursive = true,
    };

    public static readonly Option<string?> Actor = new("--actor")
    {
        Description = "Who is acting (default: the OS user). Once Stageproof has users, a name other than the OS user is a claim, refused where a role decides: use a token",
        Recursive = true,
    };

    public static readonly Option<string?> TokenFile = new("--token-file")
    {
        Description = "Act as the user whose API token this file holds (else STAGEPROOF_TOKEN; else the OS user)",
        Recursive = true,
    };

    public static readonly Option<string?> Server = new("--server")
    {
        Description = "Run the verb through this Stageproof server (http:// or https://; else STAGEPROOF_SERVER) as the token's user; " +
                      "the token: --token-file, STAGEPROOF_TOKEN, or 'stageproof login'",
        Recursive = true,
    };

    public static readonly Option<bool> AcceptNewHostKeys = new("--accept-new-host-keys")
    {
        Description = "Record the key of a host seen for the first time in its known_hosts file (a changed key is always refused)",
        Recursive = true,
    };

    public static readonly Option<bool> Debug = new("--debug")
    {
        Description = "Print the full trace of an unexpected error (by default: one line naming what failed)",
        Recursive = true,
    };

    public static void AddTo(Command root)
    {
        root.Options.Add(Debug);
        root.Options.Add(Config);
        root.Options.Add(State);
        root.Options.Add(Json);
        root.Options.Add(Actor);
        root.Options.Add(TokenFile);
        root.Options.Add(Server);
        root.Options.Add(AcceptNewHostKeys);
    }
}
