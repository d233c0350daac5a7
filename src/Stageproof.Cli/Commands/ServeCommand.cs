using System.CommandLine;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Stageproof.Application.Identity;
using Stageproof.Core;
using Stageproof.Server;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof serve [--urls URL]</c>: the API over the same stageproof.yaml and state, until stopped.</summary>
internal static class ServeCommand
{
    public static Command Create(VerbContext verbs)
    {
        var urls = new Option<string>("--urls") { Description = $"Where to listen, ';'-separated (default {ServerOptions.DefaultUrl}; port 0 picks one)", DefaultValueFactory = _ => ServerOptions.DefaultUrl };
        var initAdmin = new Option<string?>("--init-admin") { Description = "First create this admin with a password (only on a state without users)" };
        var passwordFile = new Option<string?>("--password-file") { Description = "The first admin's password, from a file only you can read (default: ask on the terminal)" };
        var worker = new Option<bool>("--worker") { Description = "With jobs: in stageproof.yaml, also run rollout jobs here (as 'stageproof worker' does)" };
        var command = new Command("serve", "Serve the web console and the API (/api/v1, /openapi/v1.json, /healthz, /readyz, /metrics) until stopped") { urls, initAdmin, passwordFile, worker };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var listen = parse.GetValue(urls)!;
            foreach (var url in listen.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                {
                    throw new InputException($"--urls: {Core.Validation.Names.Show(url)} is not an http:// or https:// URL");
                }
            }
            if (parse.GetValue(initAdmin) is { } admin)
            {
                var password = parse.GetValue(passwordFile) is { } path
                    ? await UserCommand.ReadPasswordFileAsync(path, ct).ConfigureAwait(false)
                    : UserCommand.ReadPasswordFromTerminal(session, admin);
                var store = await session.StoreAsync(ct).ConfigureAwait(false);
                await Bootstrap.InitAdminAsync(store, admin, password, session.Time, ct).ConfigureAwait(false);
                session.Ui.Say($"{admin}: the first admin, with a password; log in at the console or create a token with 'stageproof token create {admin}'");
            }
            else if (parse.GetValue(passwordFile) is not null)
            {
                throw new InputException("--password-file: only with --init-admin NAME");
            }
            var options = new ServerOptions { Urls = listen, ConfigPath = session.ConfigPath, StateDirectory = session.StateDirectory, State = session.StateLocation, Worker = parse.GetValue(worker) };
            var app = await StageproofServer.BuildAsync(options, session.Time, ct).ConfigureAwait(false);
            await using (app.ConfigureAwait(false))
            {
                try
                {
                    await app.StartAsync(ct).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    throw new InputException($"--urls {listen}: {e.Message}");
                }
                var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
                session.Ui.Say($"Stageproof serves {string.Join(", ", addresses)} (state {session.StateLocation}); stop with Ctrl-C");
                await session.AuditAsync("serve.start", string.Join(" ", addresses), cancellationToken: ct).ConfigureAwait(false);
                await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
