using System.Net.Sockets;
using Renci.SshNet;
using Renci.SshNet.Common;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;

namespace Stageproof.Hosts.Transports;

/// <summary>
/// Runs commands over SSH (SSH.NET) with public-key authentication and host keys checked against known_hosts.
/// One connection per transport, opened on first use and reopened if it drops; commands run as
/// <c>env LC_ALL=C sh -c TEXT</c>, never through a login shell.
/// </summary>
public sealed class SshTransport : ITransport, IConnectAhead
{
    // Post-quantum hybrids cost several times more per connection here; curve25519 first, the rest as fallbacks.
    private const string PreferredKeyExchange = "curve25519-sha256";

    private static readonly string[] DefaultIdentities = ["id_ed25519", "id_ecdsa", "id_rsa"];

    private readonly HostConfig _host;
    private readonly SshSettings _settings;
    private readonly HostKeyPolicy _policy;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private readonly string _knownHostsPath;
    private SshClient? _client;
    /// <summary>The jump connections and forwards under <see cref="_client"/>, in the order opened.</summary>
    private List<IDisposable> _tunnel = [];
    private int _connectionsOpened;
    private bool _disposed;

    public SshTransport(HostConfig host, SshSettings settings, HostKeyPolicy policy, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(settings);
        if (string.IsNullOrWhiteSpace(host.Address))
        {
            throw new InputException($"host '{host.Name}': transport ssh needs an address");
        }
        _host = host;
        _settings = settings;
        _policy = policy;
        _time = timeProvider ?? TimeProvider.System;
        _knownHostsPath = host.KnownHosts ?? Path.Combine(HomeDirectory(), ".ssh", "known_hosts");
    }

    public string HostName => _host.Name;

    /// <summary>How many SSH connections this transport has opened (1 unless a connection dropped).</summary>
    public int ConnectionsOpened => Volatile.Read(ref _connectionsOpened);

    /// <summary>The key exchange the current connection negotiated, if connected.</summary>
    internal string? KeyExchangeAlgorithm => Volatile.Read(ref _client)?.ConnectionInfo.CurrentKeyExchangeAlgorithm;

    private string Endpoint => _host.Jumps.Count == 0 ? _host.Endpoint : $"{_host.Endpoint} (through {string.Join(", ", _host.Jumps.Select(j => j.Name))})";

    public async Task<CommandResult> RunAsync(RemoteCommand command, CommandOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var timeout = options?.Timeout ?? _settings.CommandTimeout;
        var effective = _host.Become == "sudo" ? command.WithSudo() : command;
        // Without input, stdin is /dev/null: SSH.NET sends no EOF for an input stream that was never written to.
        var text = "env LC_ALL=C sh -c " + ShellQuote.Quote(effective.ShellText) + (options?.StandardInput is { Length: > 0 } ? "" : " </dev/null");

        var client = await ConnectedClientAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await ExecuteAsync(client, text, command, timeout, options?.StandardInput, cancellationToken).ConfigureAwait(false);
        }
        catch (NotStartedException)
        {
            // The connection was gone before the command reached the host, so running it again cannot run it twice.
            client = await ConnectedClientAsync(cancellationToken, forceReconnect: client).ConfigureAwait(false);
            try
            {
                return await ExecuteAsync(client, text, command, timeout, options?.StandardInput, cancellationToken).ConfigureAwait(false);
            }
            catch (NotStartedException e)
            {
                throw new InfrastructureException(HostName, $"connection to {Endpoint} dropped again after reconnecting: {e.InnerException?.Message}", e.InnerException);
            }
        }
    }

    private async Task<CommandResult> ExecuteAsync(SshClient client, string text, RemoteCommand command, TimeSpan timeout,
        byte[]? standardInput, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        using var ssh = client.CreateCommand(text);
        using var timeoutCts = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutCts.Token);
        Task execution;
        try
        {
            execution = ssh.ExecuteAsync(linked.Token);
        }
        catch (Exception e) when (e is SshConnectionException or ObjectDisposedException or SocketException)
        {
            throw new NotStartedException(e);
        }
        try
        {
            if (standardInput is { Length: > 0 })
            {
                await WriteInputAsync(ssh, standardInput, linked.Token).ConfigureAwait(false);
            }
            await execution.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SshOperationTimeoutException && !cancellationToken.IsCancellationRequested)
        {
            throw new InfrastructureException(HostName, $"command '{command.Display}' timed out after {FormatSeconds(timeout)} on {Endpoint}", e);
        }
        catch (Exception e) when (e is SshConnectionException or SshException or SocketException or ObjectDisposedException)
        {
            throw new InfrastructureException(HostName,
                $"connection to {Endpoint} lost while running '{command.Display}' (it may or may not have completed): {e.Message}", e);
        }
        if (ssh.ExitStatus is null && ssh.ExitSignal is null)
        {
            throw new InfrastructureException(HostName,
                $"connection to {Endpoint} lost while running '{command.Display}' (it may or may not have completed): no exit status received");
        }
        var exitCode = ssh.ExitStatus ?? SignalExitCode(ssh.ExitSignal);
        return new CommandResult(exitCode, ssh.Result, ssh.Error, _time.GetElapsedTime(started));
    }

    private static async Task WriteInputAsync(SshCommand ssh, byte[] standardInput, CancellationToken cancellationToken)
    {
        // Disposing the stream sends EOF, so a command reading its input to the end finishes.
        using var input = ssh.CreateInputStream();
        try
        {
            await input.WriteAsync(standardInput, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SshException or ObjectDisposedException or IOException)
        {
            // The command exited without reading all its input; its exit status tells the story.
        }
    }

    public async Task ConnectAheadAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ConnectedClientAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StageproofException or OperationCanceledException)
        {
            // The first command connects again and reports what went wrong, where it is handled.
        }
    }

    private async Task<SshClient> ConnectedClientAsync(CancellationToken cancellationToken, SshClient? forceReconnect = null)
    {
        var current = Volatile.Read(ref _client);
        if (current is { IsConnected: true } && current != forceReconnect)
        {
            return current;
        }
        await _connectGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_client is { IsConnected: true } && _client != forceReconnect)
            {
                return _client;
            }
            _client?.Dispose();
            _client = null;
            var client = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _client, client);
            return client;
        }
        finally
        {
            _connectGate.Release();
        }
    }

    /// <summary>
    /// The connection to the host, through its jump hosts first when it has them (ProxyJump): each hop is reached by a
    /// forward from the hop before it, bound to 127.0.0.1 on a free port, and is authenticated and has its host key
    /// checked against its own known_hosts entry (its real address, not the forward's) like any host.
    /// </summary>
    private async Task<SshClient> ConnectAsync(CancellationToken cancellationToken)
    {
        DisposeTunnel();
        SshClient? previous = null;
        HostConfig? previousHop = null;
        var tunnel = new List<IDisposable>();
        try
        {
            foreach (var jump in _host.Jumps)
            {
                previous = await ConnectHopAsync(jump, previous, previousHop, tunnel, cancellationToken).ConfigureAwait(false);
                previousHop = jump;
                tunnel.Add(previous);
            }
            var client = await ConnectHopAsync(_host, previous, previousHop, tunnel, cancellationToken).ConfigureAwait(false);
            _tunnel = tunnel;
            return client;
        }
        catch
        {
            DisposeAll(tunnel);
            throw;
        }
    }

    private async Task<SshClient> ConnectHopAsync(HostConfig hop, SshClient? through, HostConfig? throughHop, List<IDisposable> tunnel,
        CancellationToken cancellationToken)
    {
        var isJump = !ReferenceEquals(hop, _host);
        var target = through is null ? $"{hop.Address}:{hop.Port}" : $"{hop.Address}:{hop.Port} through jump host {throughHop!.Name}";
        var (address, port) = (hop.Address!, hop.Port);
        if (through is not null)
        {
            var forward = new ForwardedPortLocal("127.0.0.1", 0, hop.Address!, (uint)hop.Port);
            try
            {
                through.AddForwardedPort(forward);
                forward.Start();
            }
            catch (Exception e) when (e is SshException or SocketException or ObjectDisposedException)
            {
                forward.Dispose();
                throw new InfrastructureException(HostName, $"cannot open a forward to {target}: {e.Message}", e);
            }
            tunnel.Add(forward);
            (address, port) = ("127.0.0.1", (int)forward.BoundPort);
        }

        var authentication = await AuthenticationAsync(hop, cancellationToken).ConfigureAwait(false);
        var info = new ConnectionInfo(address, port, hop.User, authentication.Method) { Timeout = _settings.ConnectTimeout };
        var knownHosts = hop.KnownHosts ?? _knownHostsPath;
        var policy = _policy == HostKeyPolicy.AcceptNew || hop.AcceptNewHostKeys ? HostKeyPolicy.AcceptNew : HostKeyPolicy.Strict;
        var verifier = new HostKeyVerifier(HostName, hop.Address!, hop.Port, knownHosts, policy, isJump ? hop.Name : null);
        PreferFirst(info.KeyExchangeAlgorithms, [PreferredKeyExchange]);
        PreferFirst(info.HostKeyAlgorithms, verifier.RecordedKeyTypes().SelectMany(AlgorithmsFor).ToList());

        var client = new SshClient(info);
        HostKeyException? refusal = null;
        client.HostKeyReceived += (_, e) =>
        {
            try
            {
                refusal = verifier.Verify(e.HostKey);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                refusal = new HostKeyException(HostName, $"cannot check the host key of {hop.Endpoint} against {knownHosts}: {ex.Message}");
            }
            e.CanTrust = refusal is null;
        };

        using var deadline = new CancellationTokenSource(_settings.ConnectTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            await client.ConnectAsync(linked.Token).ConfigureAwait(false);
            if (!isJump)
            {
                Interlocked.Increment(ref _connectionsOpened);
            }
            return client;
        }
        catch (Exception e)
        {
            client.Dispose();
            if (refusal is not null)
            {
                throw refusal;
            }
            if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            throw Describe(e, hop, target, through is not null, authentication.Description);
        }
    }

    private InfrastructureException Describe(Exception e, HostConfig hop, string target, bool forwarded, string keys) => e switch
    {
        SshAuthenticationException => new InfrastructureException(HostName,
            $"authentication refused for {hop.Endpoint} with {keys}", e),
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } => new InfrastructureException(HostName,
            $"connection refused by {target} (is sshd running and listening there?)", e),
        SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData } => new InfrastructureException(HostName,
            $"cannot resolve host name '{hop.Address}' (port {hop.Port})", e),
        SocketException { SocketErrorCode: SocketError.TimedOut } or OperationCanceledException or SshOperationTimeoutException =>
            new InfrastructureException(HostName, $"connection to {target} timed out after {FormatSeconds(_settings.ConnectTimeout)}", e),
        SocketException s => new InfrastructureException(HostName,
            $"cannot connect to {target}: {s.Message} ({s.SocketErrorCode})", e),
        SshConnectionException when forwarded => new InfrastructureException(HostName,
            $"cannot reach {target}: the jump host closed the forward ({e.Message}); is sshd listening there, and may the jump host " +
            "open it (AllowTcpForwarding, PermitOpen)?", e),
        _ => new InfrastructureException(HostName, $"SSH connection to {hop.Endpoint} failed: {e.Message}", e),
    };

    /// <summary>The keys offered, as OpenSSH offers them: the agent's first (unless IdentitiesOnly), then the identity files.</summary>
    private async Task<(AuthenticationMethod Method, string Description)> AuthenticationAsync(HostConfig hop, CancellationToken cancellationToken)
    {
        var sources = new List<IPrivateKeySource>();
        var described = new List<string>();
        string? agentProblem = null;
        var socket = hop.IdentityAgent ?? Environment.GetEnvironmentVariable("SSH_AUTH_SOCK");
        var useAgent = !hop.IdentitiesOnly && socket is { Length: > 0 } && socket != HostConfig.NoAgent;
        if (useAgent)
        {
            try
            {
                // One request: connecting lists the keys.
                var agent = await SshAgent.ConnectAsync(socket!, cancellationToken).ConfigureAwait(false);
                sources.AddRange(agent.Keys);
                described.Add($"{agent.Keys.Count} ssh-agent key(s) from {socket}");
            }
            catch (SshAgentUnavailableException e)
            {
                agentProblem = e.Message;
            }
        }
        if (hop.Identity is { } configured)
        {
            sources.Add(LoadIdentity(configured, hop));
            described.Add($"key {configured}");
        }
        else
        {
            foreach (var file in DefaultIdentities.Select(n => Path.Combine(HomeDirectory(), ".ssh", n)).Where(File.Exists))
            {
                // A default key that cannot be read without a passphrase is skipped, as ssh in batch mode skips it.
                if (TryLoadIdentity(file) is { } key)
                {
                    sources.Add(key);
                    described.Add($"key {file}");
                }
            }
        }
        if (sources.Count == 0)
        {
            var agentText = agentProblem ?? (useAgent ? $"the ssh-agent at {socket} holds no keys" : "no ssh-agent is used (SSH_AUTH_SOCK is not set)");
            throw new InfrastructureException(HostName,
                $"no key to offer {hop.Endpoint}: no identity is configured, {agentText}, and none of {string.Join(", ", DefaultIdentities)} " +
                $"can be read in {Path.Combine(HomeDirectory(), ".ssh")}");
        }
        var description = string.Join(" and ", described) + (agentProblem is null ? "" : $" ({agentProblem})");
        return (new PrivateKeyAuthenticationMethod(hop.User, [.. sources]), description);
    }

    private PrivateKeyFile LoadIdentity(string identity, HostConfig hop)
    {
        // As OpenSSH does ("UNPROTECTED PRIVATE KEY FILE"): a key others can read may already be someone else's.
        if (!OperatingSystem.IsWindows() && File.Exists(identity)
            && (File.GetUnixFileMode(identity) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                                                   | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0)
        {
            var mode = Convert.ToString((int)File.GetUnixFileMode(identity) & 0x1ff, 8).PadLeft(4, '0');
            throw new InfrastructureException(HostName,
                $"identity file {identity} is accessible by others (mode {mode}), so it is not used, as OpenSSH would not: chmod 600 {identity}");
        }
        try
        {
            return new PrivateKeyFile(identity);
        }
        catch (Exception e) when (e is SshException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InfrastructureException(HostName, $"cannot use identity file {identity} for {hop.Endpoint}: {e.Message}", e);
        }
    }

    private static PrivateKeyFile? TryLoadIdentity(string identity)
    {
        try
        {
            return new PrivateKeyFile(identity);
        }
        catch (Exception e) when (e is SshException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    private void DisposeTunnel()
    {
        var tunnel = _tunnel;
        _tunnel = [];
        DisposeAll(tunnel);
    }

    /// <summary>Forwards and jump connections, last opened first.</summary>
    private static void DisposeAll(List<IDisposable> tunnel)
    {
        for (var i = tunnel.Count - 1; i >= 0; i--)
        {
            tunnel[i].Dispose();
        }
    }

    private static string HomeDirectory() =>
        Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    private static IEnumerable<string> AlgorithmsFor(string keyType) =>
        keyType == "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [keyType];

    /// <summary>Moves the named entries (those present) to the front, keeping the relative order of the rest.</summary>
    private static void PreferFirst<TValue>(IDictionary<string, TValue> algorithms, IReadOnlyList<string> preferred)
    {
        if (preferred.Count == 0)
        {
            return;
        }
        // Removing and re-adding moves an entry to the end of the ordered dictionary.
        foreach (var name in algorithms.Keys.Where(k => !preferred.Contains(k)).ToList())
        {
            var value = algorithms[name];
            algorithms.Remove(name);
            algorithms.Add(name, value);
        }
    }

    private static int SignalExitCode(string? signal) => 128 + signal switch
    {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "SEGV" => 11,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        _ => 127,
    };

    private static string FormatSeconds(TimeSpan t) => $"{t.TotalSeconds:0.###}s";

    public async ValueTask DisposeAsync()
    {
        await _connectGate.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            _client?.Dispose();
            _client = null;
            DisposeTunnel();
        }
        finally
        {
            _connectGate.Release();
        }
    }

    /// <summary>The connection failed before the command was sent; carries the cause.</summary>
    private sealed class NotStartedException(Exception inner) : Exception(inner.Message, inner);
}
