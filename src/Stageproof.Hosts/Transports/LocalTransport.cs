using Stageproof.Core.Hosts;

namespace Stageproof.Hosts.Transports;

/// <summary>Runs commands on this machine with /bin/sh.</summary>
public sealed class LocalTransport(string hostName) : ITransport
{
    public string HostName { get; } = hostName;

    public Task<CommandResult> RunAsync(RemoteCommand command, CommandOptions? options = null, CancellationToken cancellationToken = default) =>
        ProcessRunner.RunAsync(HostName, "/bin/sh", ["-c", command.ShellText], options ?? new CommandOptions(), cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
