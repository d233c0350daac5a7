using System.CommandLine;
using Spectre.Console;
using Stageproof.Cli.Commands;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core;

namespace Stageproof.Cli;

/// <summary>Builds the command tree and maps every outcome to one exit code and one readable message.</summary>
public static class StageproofCli
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr,
        TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        var clock = time ?? TimeProvider.System;
        var root = new RootCommand("Stageproof proves every server patch in staging before it reaches production.");
        GlobalOptions.AddTo(root);
        var verbs = new VerbContext(stdout, stderr, clock);
        root.Subcommands.Add(InitCommand.Create(verbs));
        root.Subcommands.Add(ConfigCommand.Create(verbs));
        root.Subcommands.Add(FactsCommand.Create(verbs));
        root.Subcommands.Add(DriftCommand.Create(verbs));
        root.Subcommands.Add(CheckCommand.Create(verbs));
        root.Subcommands.Add(PatchSetCommand.Create(verbs));
        root.Subcommands.Add(ScanCommand.Create(verbs));
        root.Subcommands.Add(ApplyCommand.CreateApply(verbs));
        root.Subcommands.Add(ApplyCommand.CreateRollback(verbs));
        root.Subcommands.Add(StageCommand.Create(verbs));
        root.Subcommands.Add(PromoteCommand.CreatePromote(verbs));
        root.Subcommands.Add(PromoteCommand.CreateApprove(verbs));
        root.Subcommands.Add(RolloutCommand.Create(verbs));
        root.Subcommands.Add(UserCommand.Create(verbs));
        root.Subcommands.Add(TokenCommand.Create(verbs));
        root.Subcommands.Add(LoginCommand.CreateLogin(verbs));
        root.Subcommands.Add(LoginCommand.CreateLogout(verbs));
        root.Subcommands.Add(ComplianceCommand.Create(verbs));
        root.Subcommands.Add(AuditCommand.Create(verbs));
        root.Subcommands.Add(WebhookCommand.Create(verbs));
        root.Subcommands.Add(GcCommand.Create(verbs));
        root.Subcommands.Add(StateCommand.Create(verbs));
        root.Subcommands.Add(ServeCommand.Create(verbs));
        root.Subcommands.Add(WorkerCommand.Create(verbs));
        root.Subcommands.Add(LabCommand.Create(verbs));
        root.Subcommands.Add(DemoCommand.Create(verbs));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                await stderr.WriteLineAsync("error: " + error.Message).ConfigureAwait(false);
            }
            await stderr.WriteLineAsync("Run 'stageproof --help' for usage.").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        if (parse.CommandResult.Command.Name is "worker" or "serve")
        {
            // A stopping node lets its rollouts stop where they stand (a step in flight has its own timeout) before it exits.
            config.ProcessTerminationTimeout = TimeSpan.FromSeconds(60);
        }
        return await parse.InvokeAsync(config, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>What every verb's action needs to start a session.</summary>
internal sealed class VerbContext(TextWriter stdout, TextWriter stderr, TimeProvider time)
{
    /// <summary>
    /// Runs a verb's body in a session. Expected exceptions map to their exit codes; anything else is the outermost
    /// handler's: one line naming what failed (and its path), exit 3, the trace only with --debug. Nobody gets a
    /// stack trace for a state directory that is a file or a report path whose folder is missing.
    /// </summary>
    /// <param name="parse">The parsed command line.</param>
    /// <param name="body">The verb.</param>
    /// <param name="throughServer">The verb can run through --server (it reads <see cref="CliSession.Remote"/> when
    /// <see cref="CliSession.Server"/> is set); every other verb is refused there rather than run on a local state.</param>
    public async Task<int> RunAsync(ParseResult parse, Func<CliSession, Task<int>> body, bool throughServer = false)
    {
        var ui = new Ui(stdout, stderr, parse.GetValue(GlobalOptions.Json));
        var debug = parse.GetValue(GlobalOptions.Debug);
        CliSession? session = null;
        try
        {
            session = new CliSession(parse, stdout, time, ui);
            if (session.Server is not null && !throughServer)
            {
                throw new InputException($"{VerbName(parse)} does not run through --server yet; run it where the state is (or without --server and STAGEPROOF_SERVER)");
            }
            await session.AuthenticateAsync(CancellationToken.None).ConfigureAwait(false);
            return await body(session).ConfigureAwait(false);
        }
        catch (InputException e)
        {
            ui.Error(e.Message);
            return ExitCodes.BadInput;
        }
        catch (StageproofException e)
        {
            ui.Error(e.Message);
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            ui.Error("cancelled");
            return ExitCodes.Infrastructure;
        }
        catch (Exception e)
        {
            return Unexpected(ui, e, debug, session?.StateDirectory);
        }
        finally
        {
            if (session is not null)
            {
                try
                {
                    await session.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    Unexpected(ui, e, debug, session.StateDirectory);
                }
            }
        }
    }

    /// <summary>"patch freeze": the verb as typed, without the program's name.</summary>
    private static string VerbName(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result.Parent is System.CommandLine.Parsing.CommandResult parent; result = parent)
        {
            names.Insert(0, result.Command.Name);
        }
        return string.Join(' ', names);
    }

    private static int Unexpected(Ui ui, Exception e, bool debug, string? stateDirectory)
    {
        var (message, code) = UnexpectedError.Describe(e, stateDirectory);
        ui.Error(message + (debug ? "" : " (--debug shows the full trace)"));
        if (debug)
        {
            ui.Errors.WriteLine(e.ToString());
        }
        return code;
    }
}
