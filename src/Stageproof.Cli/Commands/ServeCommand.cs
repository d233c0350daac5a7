using System.CommandLine;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Stageproof.Core;
using Stageproof.Server;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof serve [--urls URL]</c>: the API over the same stageproof.yaml and state, until stopped.</summary>
internal static class ServeCommand
{
    public static Command Create(VerbContext verbs)
    {
        var urls = new Option<string>("--urls") { Description = $"Where to listen, ';'-separated (default {ServerOptions.DefaultUrl}; port 0 picks one)", DefaultValueFactory = _ => ServerOptions.DefaultUrl };
        var command = new Command("serve", "Serve the API (/api/v1, /openapi/v1.json, /healthz, /readyz, /metrics) until stopped; callers authenticate with API tokens") { urls };
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
            var options = new ServerOptions { Urls = listen, ConfigPath = session.ConfigPath, StateDirectory = session.StateDirectory };
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
                session.Ui.Say($"Stageproof serves {string.Join(", ", addresses)} (state {session.StateDirectory}); stop with Ctrl-C");
                await session.AuditAsync("serve.start", string.Join(" ", addresses), cancellationToken: ct).ConfigureAwait(false);
                await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
