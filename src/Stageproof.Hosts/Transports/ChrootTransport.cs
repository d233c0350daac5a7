using Stageproof.Core;
using Stageproof.Core.Hosts;

namespace Stageproof.Hosts.Transports;

/// <summary>Runs commands inside a root directory with chroot(8). Needs root on this machine.</summary>
public sealed class ChrootTransport : ITransport
{
    private readonly string _root;

    public ChrootTransport(string hostName, string root)
    {
        HostName = hostName;
        if (!Path.IsPathFullyQualified(root) || !Directory.Exists(root))
        {
            throw new InfrastructureException(hostName, $"chroot root '{root}' does not exist or is not an absolute path");
        }
        _root = root;
    }

    public string HostName { get; }

    public Task<CommandResult> RunAsync(RemoteCommand command, CommandOptions? options = null, CancellationToken cancellationToken = default) =>
        ProcessRunner.RunAsync(HostName, "/usr/sbin/chroot", [_root, "/bin/sh", "-c", command.ShellText], options ?? new CommandOptions(), cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
