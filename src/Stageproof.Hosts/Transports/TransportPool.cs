using System.Text.Json;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;

namespace Stageproof.Hosts.Transports;

/// <summary>
/// Keeps SSH connections open between verbs in a long-lived process (the server, a worker), as OpenSSH's ControlPersist does:
/// <see cref="Create"/> hands out an idle connection to the same host entry (its name, address, port, user, keys,
/// known_hosts and jumps) or a new one; disposing what it handed out returns the connection, and one left idle for
/// <c>ssh.keep_open</c> is closed. A connection that dropped while idle is reopened by its transport on the next
/// command. Local and chroot hosts, and a keep_open of zero, are not pooled.
/// </summary>
public sealed class TransportPool : ITransportFactory, IAsyncDisposable
{
    private readonly ITransportFactory _inner;
    private readonly TimeSpan _keepOpen;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    /// <summary>Idle connections per host identity, oldest first: the last is handed out next, the first expire first.</summary>
    private readonly Dictionary<string, List<(ITransport Transport, long IdleSince)>> _idle = new(StringComparer.Ordinal);
    private readonly ITimer? _sweeper;
    private int _opened;
    private int _reused;
    private bool _disposed;

    public TransportPool(ITransportFactory inner, TimeSpan keepOpen, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _keepOpen = keepOpen;
        _time = timeProvider ?? TimeProvider.System;
        if (keepOpen > TimeSpan.Zero)
        {
            // Swept a few times per keep_open, so a connection outlives it by a fraction at most.
            var period = TimeSpan.FromTicks(Math.Clamp(keepOpen.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(15).Ticks));
            _sweeper = _time.CreateTimer(_ => CloseExpired(), null, period, period);
        }
    }

    /// <summary>Connections this pool had its factory open.</summary>
    public int Opened => Volatile.Read(ref _opened);

    /// <summary>Times an idle connection was handed out again instead of opening one.</summary>
    public int Reused => Volatile.Read(ref _reused);

    /// <summary>Connections open and waiting for their next use.</summary>
    public int Idle
    {
        get
        {
            lock (_gate)
            {
                return _idle.Values.Sum(idle => idle.Count);
            }
        }
    }

    public ITransport Create(HostConfig host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (host.Transport != TransportKind.Ssh || _keepOpen <= TimeSpan.Zero)
        {
            return _inner.Create(host);
        }
        var key = IdentityOf(host);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_idle.TryGetValue(key, out var idle) && idle.Count > 0)
            {
                var (transport, _) = idle[^1];
                idle.RemoveAt(idle.Count - 1);
                _reused++;
                return new Lease(this, key, transport);
            }
        }
        Interlocked.Increment(ref _opened);
        return new Lease(this, key, _inner.Create(host));
    }

    /// <summary>Closes every idle connection; a connection still in use is closed when it is returned.</summary>
    public async ValueTask DisposeAsync()
    {
        List<ITransport> closing;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            closing = _idle.Values.SelectMany(idle => idle.Select(i => i.Transport)).ToList();
            _idle.Clear();
        }
        if (_sweeper is not null)
        {
            await _sweeper.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var transport in closing)
        {
            await CloseQuietlyAsync(transport).ConfigureAwait(false);
        }
    }

    /// <summary>The host's whole entry (address, port, user, keys, known_hosts, jumps, name): a connection is reused only
    /// for the entry it was opened for.</summary>
    private static string IdentityOf(HostConfig host) => JsonSerializer.Serialize(host);

    private async ValueTask ReturnAsync(string key, ITransport transport)
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                if (!_idle.TryGetValue(key, out var idle))
                {
                    _idle[key] = idle = [];
                }
                idle.Add((transport, _time.GetTimestamp()));
                return;
            }
        }
        await CloseQuietlyAsync(transport).ConfigureAwait(false);
    }

    private void CloseExpired()
    {
        var expired = new List<ITransport>();
        lock (_gate)
        {
            foreach (var idle in _idle.Values)
            {
                // Oldest first, so the expired are a prefix.
                var count = idle.FindIndex(i => _time.GetElapsedTime(i.IdleSince) < _keepOpen) is var kept and >= 0 ? kept : idle.Count;
                expired.AddRange(idle.Take(count).Select(i => i.Transport));
                idle.RemoveRange(0, count);
            }
        }
        foreach (var transport in expired)
        {
            // The timer's thread does not wait: closing a connection sends its disconnect and returns.
            _ = CloseQuietlyAsync(transport).AsTask();
        }
    }

    private static async ValueTask CloseQuietlyAsync(ITransport transport)
    {
        try
        {
            await transport.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            // A connection that is already gone has nothing left to close.
        }
    }

    /// <summary>One use of a pooled connection: disposing it returns the connection instead of closing it.</summary>
    private sealed class Lease(TransportPool pool, string key, ITransport transport) : ITransport, IConnectAhead
    {
        private int _returned;

        public string HostName => transport.HostName;

        public Task<CommandResult> RunAsync(RemoteCommand command, CommandOptions? options = null, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _returned) != 0, this);
            return transport.RunAsync(command, options, cancellationToken);
        }

        public Task ConnectAheadAsync(CancellationToken cancellationToken) =>
            transport is IConnectAhead ahead ? ahead.ConnectAheadAsync(cancellationToken) : Task.CompletedTask;

        public ValueTask DisposeAsync() =>
            Interlocked.Exchange(ref _returned, 1) == 0 ? pool.ReturnAsync(key, transport) : ValueTask.CompletedTask;
    }
}
