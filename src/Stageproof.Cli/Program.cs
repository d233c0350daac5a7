using Stageproof.Cli;

return await StageproofCli.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
