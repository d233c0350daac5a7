using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;

namespace Stageproof.Cli.Tests;

/// <summary>What the lab tests do through a lab directory: freeze a patch set, run a command on a host over SSH.</summary>
internal static class LabCli
{
    /// <summary>Writes <paramref name="yaml"/> to <paramref name="file"/>, freezes it with the CLI, and returns its digest.</summary>
    public static async Task<string> FreezeAsync(string labDirectory, string file, string yaml)
    {
        await File.WriteAllTextAsync(file, yaml);
        var run = await CliRun.InAsync(labDirectory, "--json", "patch", "freeze", file);
        Assert.True(run.ExitCode == 0, run.ToString());
        return run.Json.GetProperty("digest").GetString()!;
    }

    /// <summary>Runs a command on a lab host (host key checked), asserts it succeeded, and returns its trimmed output.</summary>
    public static async Task<string> OnHostAsync(string labDirectory, string host, RemoteCommand command)
    {
        var config = ConfigLoader.Load(Path.Combine(labDirectory, "stageproof.yaml"));
        await using var t = new TransportFactory(config.Ssh, HostKeyPolicy.Strict).Create(config.Host(host));
        var r = await t.RunAsync(command, new CommandOptions { Timeout = TimeSpan.FromMinutes(3) });
        Assert.True(r.Succeeded, $"{host}: {command}: {r.StandardError}");
        return r.StandardOutput.Trim();
    }
}
