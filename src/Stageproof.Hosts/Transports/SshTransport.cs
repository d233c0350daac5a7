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
    private readonly string _address;
    private readonly string _knownHostsPath;
    private SshClient? _client;
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
        _address = host.Address;
        _knownHostsPath = host.KnownHosts ?? Path.Combine(HomeDirectory(), ".ssh", "known_hosts");
    }

    public string HostName => _host.Name;

    /// <summary>How many SSH connections this transport has opened (1 unless a connection dropped).</summary>
    public int ConnectionsOpened => Volatile.Read(ref _connectionsOpened);

    /// <summary>The key exchange the current connection negotiated, if connected.</summary>
    internal string? KeyExchangeAlgorithm => Volatile.Read(ref _client)?.ConnectionInfo.CurrentKeyExchangeAlgorithm;

    private string Endpoint => $"{_host.User}@{_address}:{_host.Port}";

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

    private async Task<SshClient> ConnectAsync(CancellationToken cancellationToken)
    {
        var identity = ResolveIdentity();
        // As OpenSSH does ("UNPROTECTED PRIVATE KEY FILE"): a key others can read may already be someone else's.
        if (!OperatingSystem.IsWindows() && File.Exists(identity)
            && (File.GetUnixFileMode(identity) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                                                   | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0)
        {
            var mode = Convert.ToString((int)File.GetUnixFileMode(identity) & 0x1ff, 8).PadLeft(4, '0');
            throw new InfrastructureException(HostName,
                $"identity file {identity} is accessible by others (mode {mode}), so it is not used, as OpenSSH would not: chmod 600 {identity}");
        }
        PrivateKeyFile key;
        try
        {
            key = new PrivateKeyFile(identity);
        }
        catch (Exception e) when (e is SshException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InfrastructureException(HostName, $"cannot use identity file {identity} for {Endpoint}: {e.Message}", e);
        }

        var info = new ConnectionInfo(_address, _host.Port, _host.User, new PrivateKeyAuthenticationMethod(_host.User, key))
        {
            Timeout = _settings.ConnectTimeout,
        };
        var verifier = new HostKeyVerifier(HostName, _address, _host.Port, _knownHostsPath, _policy);
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
                refusal = new HostKeyException(HostName, $"cannot check the host key of {Endpoint} against {_knownHostsPath}: {ex.Message}");
            }
            e.CanTrust = refusal is null;
        };

        using var deadline = new CancellationTokenSource(_settings.ConnectTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            await client.ConnectAsync(linked.Token).ConfigureAwait(false);
            Interlocked.Increment(ref _connectionsOpened);
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
            throw Describe(e, identity);
        }
    }

    private InfrastructureException Describe(Exception e, string identity) => e switch
    {
        SshAuthenticationException => new InfrastructureException(HostName,
            $"authentication refused for {Endpoint} with key {identity}", e),
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } => new InfrastructureException(HostName,
            $"connection refused by {_address}:{_host.Port} (is sshd running and listening there?)", e),
        SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData } => new InfrastructureException(HostName,
            $"cannot resolve host name '{_address}' (port {_host.Port})", e),
        SocketException { SocketErrorCode: SocketError.TimedOut } or OperationCanceledException or SshOperationTimeoutException =>
            new InfrastructureException(HostName, $"connection to {_address}:{_host.Port} timed out after {FormatSeconds(_settings.ConnectTimeout)}", e),
        SocketException s => new InfrastructureException(HostName,
            $"cannot connect to {_address}:{_host.Port}: {s.Message} ({s.SocketErrorCode})", e),
        _ => new InfrastructureException(HostName, $"SSH connection to {Endpoint} failed: {e.Message}", e),
    };

    private string ResolveIdentity()
    {
        if (_host.Identity is { } configured)
        {
            return configured;
        }
        var sshDir = Path.Combine(HomeDirectory(), ".ssh");
        return DefaultIdentities.Select(n => Path.Combine(sshDir, n)).FirstOrDefault(File.Exists)
               ?? throw new InfrastructureException(HostName,
                   $"no identity configured for {Endpoint} and none of {string.Join(", ", DefaultIdentities)} exists in {sshDir}");
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
        }
        finally
        {
            _connectGate.Release();
        }
    }

    /// <summary>The connection failed before the command was sent; carries the cause.</summary>
    private sealed class NotStartedException(Exception inner) : Exception(inner.Message, inner);
}
