using Stageproof.Cli;
using Stageproof.Core;

namespace Stageproof.Server.Tests;

/// <summary>The real CLI, run in this process on an estate's configuration and state.</summary>
internal static class EstateCli
{
    /// <summary>Exit code and output, whatever they are.</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> RawAsync(string configPath, string statePath, string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await StageproofCli.RunAsync(["--config", configPath, "--state", statePath, .. args], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Standard output; a failure fails the test with its output.</summary>
    public static async Task<string> OkAsync(string configPath, string statePath, string[] args)
    {
        var (code, stdout, stderr) = await RawAsync(configPath, statePath, args);
        Assert.True(code == ExitCodes.Ok, $"stageproof {string.Join(' ', args)}: exit {code}\n{stdout}\n{stderr}");
        return stdout;
    }
}
