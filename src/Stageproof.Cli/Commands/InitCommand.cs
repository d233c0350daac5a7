using System.CommandLine;
using Stageproof.Core;
using Stageproof.Core.Configuration;

namespace Stageproof.Cli.Commands;

internal static class InitCommand
{
    public static Command Create(VerbContext verbs)
    {
        var force = new Option<bool>("--force") { Description = "Overwrite an existing file" };
        var command = new Command("init", "Write a commented example stageproof.yaml") { force };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            if (File.Exists(session.ConfigPath) && !parse.GetValue(force))
            {
                throw new InputException($"{session.ConfigPath} already exists; pass --force to overwrite it");
            }
            Infrastructure.OutputFiles.Check(session.ConfigPath, "--config");
            await Infrastructure.OutputFiles.WriteAsync(session.ConfigPath, ConfigTemplate.Example, ct).ConfigureAwait(false);
            await session.AuditAsync("config.init", session.ConfigPath, "written", cancellationToken: ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { written = session.ConfigPath });
            }
            else
            {
                session.Ui.Say($"Wrote {session.ConfigPath}. Edit the hosts and environments, then run 'stageproof facts prod'.");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
