using System.CommandLine;
using Stageproof.Cli.Remote;
using Stageproof.Core;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof login --server URL</c> and <c>stageproof logout [--server URL]</c>: keep a token for a server,
/// so later <c>--server URL</c> commands present it without STAGEPROOF_TOKEN or --token-file.</summary>
internal static class LoginCommand
{
    /// <summary>Longest token read from the terminal; a real one is about 60 characters.</summary>
    private const int MaxTypedToken = 4096;

    /// <summary>What <c>GET /api/v1/me</c> answers.</summary>
    private sealed record Me(string Name, string? AuthenticatedBy, string? Role);

    public static Command CreateLogin(VerbContext verbs)
    {
        var command = new Command("login", "Check an API token against a server (--server URL) and keep it for later --server commands " +
                                           "(the token: --token-file, STAGEPROOF_TOKEN, or typed on the terminal)");
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var server = session.Server ?? throw new InputException("login: give the server with --server URL (or STAGEPROOF_SERVER)");
            var (token, source) = session.PresentedToken() ?? Typed(session.Ui, server);
            if (token.Length == 0)
            {
                throw new InputException($"{source}: the token is empty");
            }
            using var client = new ServerClient(server, token, source);
            var me = await client.GetAsync<Me>("me", ct).ConfigureAwait(false);
            var credentials = CredentialStore.Default();
            credentials.Save(server, token);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { server = server.Text, user = me.Name, authenticatedBy = me.AuthenticatedBy, role = me.Role, file = credentials.Path });
            }
            else
            {
                session.Ui.Say($"Logged in to {server} as {me.Name} ({me.AuthenticatedBy ?? "?"}{(me.Role is null ? "" : ", " + me.Role)}); " +
                               $"the token is kept in {credentials.Path} (0600)");
            }
            return ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }

    public static Command CreateLogout(VerbContext verbs)
    {
        var command = new Command("logout", "Forget the token kept for a server (--server URL; without it, the only server logged in to)");
        command.SetAction((parse, ct) => verbs.RunAsync(parse, session =>
        {
            var credentials = CredentialStore.Default();
            var server = session.Server;
            if (server is null)
            {
                var stored = credentials.Read();
                if (stored.Count > 1)
                {
                    throw new InputException($"--server: logged in to {string.Join(", ", stored.Keys.Order(StringComparer.Ordinal))}; say which to log out of");
                }
                if (stored.Count == 0)
                {
                    session.Ui.Say($"Not logged in to any server ({credentials.Path} keeps no token)");
                    return Task.FromResult(ExitCodes.Ok);
                }
                server = new ServerUrl(stored.Keys.Single());
            }
            session.Ui.Say(credentials.Remove(server)
                ? $"Logged out of {server}: its token is no longer kept in {credentials.Path}"
                : $"Not logged in to {server}: nothing to forget");
            return Task.FromResult(ExitCodes.Ok);
        }, throughServer: true));
        return command;
    }

    /// <summary>The token typed on the terminal, not echoed. Without a terminal there is nobody to ask: bad input.</summary>
    private static (string Text, string Source) Typed(Infrastructure.Ui ui, ServerUrl server)
    {
        if (Console.IsInputRedirected)
        {
            throw new InputException($"login: no token for {server}: give --token-file FILE or STAGEPROOF_TOKEN (standard input is not a terminal to type it on)");
        }
        var typed = ui.ReadHidden($"API token for {server} (not shown): ", MaxTypedToken)
            ?? throw new InputException($"login: the token typed is longer than {MaxTypedToken} characters; an API token is about 60");
        return (typed.Trim(), "the terminal");
    }
}
