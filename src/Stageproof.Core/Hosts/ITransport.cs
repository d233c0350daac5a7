namespace Stageproof.Core.Hosts;

/// <summary>Runs commands on one host. Implementations: ssh, local, chroot.</summary>
public interface ITransport : IAsyncDisposable
{
    /// <summary>The host's name in the configuration.</summary>
    string HostName { get; }

    /// <summary>Runs a command built from validated, quoted parts. A non-zero exit is a value, not an exception;
    /// an unreachable host or a timeout throws <see cref="InfrastructureException"/>.</summary>
    Task<CommandResult> RunAsync(RemoteCommand command, CommandOptions? options = null, CancellationToken cancellationToken = default);
}

/// <summary>A transport whose connection can be opened ahead of its first command (SSH: key exchange and
/// authentication), so a caller can overlap that wait with other work.</summary>
public interface IConnectAhead
{
    /// <summary>Opens the connection now; a failure is not thrown here but met again by the first command.</summary>
    Task ConnectAheadAsync(CancellationToken cancellationToken);
}

public sealed record CommandOptions
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>Bytes written to the command's standard input, if any.</summary>
    public byte[]? StandardInput { get; init; }
}

public sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError, TimeSpan Elapsed)
{
    public bool Succeeded => ExitCode == 0;
}
