using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Stageproof.Testing;

/// <summary>One request a <see cref="WebhookReceiver"/> got: its headers (names lower-case) and exact body bytes.</summary>
public sealed record ReceivedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string Text => Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.GetValueOrDefault(name.ToLowerInvariant());
}

/// <summary>
/// A tiny HTTP/1.1 receiver on a 127.0.7.x address and a port the system picks, for webhook tests: it answers each
/// request with the next status of its script (the last one repeating), or — for <see cref="Hang"/> — never, until it is
/// disposed. At most <see cref="MaxRequests"/> requests are served; every connection is closed after one request.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    /// <summary>In a script: hold the request open and never answer.</summary>
    public const int Hang = -1;

    public const int MaxRequests = 50;

    private readonly TcpListener _listener;
    private readonly int[] _script;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentQueue<ReceivedRequest> _received = new();
    private readonly SemaphoreSlim _arrivals = new(0, int.MaxValue);
    private int _count;

    /// <param name="script">The status of each answer in turn; the last one repeats. Empty: always 200.</param>
    public WebhookReceiver(params int[] script)
    {
        _script = script.Length == 0 ? [200] : script;
        // A last octet of its own per process keeps parallel test runs on this machine apart.
        // STAGEPROOF_TEST_LOOPBACK=127.0.N moves it, with every server the tests start, into addresses of one's own.
        var address = IPAddress.Parse(Environment.GetEnvironmentVariable("STAGEPROOF_TEST_LOOPBACK") is { Length: > 0 } moved
            ? moved + ".50" : $"127.0.7.{(Environment.ProcessId % 250) + 2}");
        _listener = new TcpListener(address, 0);
        _listener.Start();
        var endpoint = (IPEndPoint)_listener.LocalEndpoint;
        Url = new Uri($"http://{endpoint.Address}:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}/hook");
        _loop = Task.Run(LoopAsync);
    }

    public Uri Url { get; }

    public IReadOnlyList<ReceivedRequest> Received => _received.ToList();

    /// <summary>Waits until <paramref name="count"/> requests have arrived, for at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<ReceivedRequest>> WaitForAsync(int count, TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        while (_received.Count < count)
        {
            try
            {
                await _arrivals.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{Url}: {_received.Count} request(s) arrived within {limit}, {count} expected");
            }
        }
        return Received;
    }

    private async Task LoopAsync()
    {
        var connections = new List<Task>();
        try
        {
            while (_count < MaxRequests && !_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
                var status = _script[Math.Min(_count, _script.Length - 1)];
                _count++;
                connections.Add(ServeAsync(client, status));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
        await Task.WhenAll(connections).ConfigureAwait(false);
    }

    private async Task ServeAsync(TcpClient client, int status)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                var request = await ReadAsync(stream, timeout.Token).ConfigureAwait(false);
                _received.Enqueue(request);
                _arrivals.Release();
                if (status == Hang)
                {
                    await Task.Delay(Timeout.Infinite, _stop.Token).ConfigureAwait(false);
                    return;
                }
                var answer = Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 {status.ToString(CultureInfo.InvariantCulture)} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                await stream.WriteAsync(answer, timeout.Token).ConfigureAwait(false);
                await stream.FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or InvalidDataException)
            {
                // The client went away, or the receiver is stopping.
            }
        }
    }

    private static async Task<ReceivedRequest> ReadAsync(NetworkStream stream, CancellationToken ct)
    {
        var buffer = new List<byte>();
        var one = new byte[4096];
        int headerEnd;
        while ((headerEnd = IndexOf(buffer, "\r\n\r\n"u8.ToArray())) < 0)
        {
            var n = await stream.ReadAsync(one, ct).ConfigureAwait(false);
            if (n == 0 || buffer.Count > 64 * 1024)
            {
                throw new InvalidDataException("no complete request head");
            }
            buffer.AddRange(one.AsSpan(0, n).ToArray());
        }
        var head = Encoding.ASCII.GetString(buffer.GetRange(0, headerEnd).ToArray()).Split("\r\n");
        var requestLine = head[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in head.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
            }
        }
        var length = headers.TryGetValue("content-length", out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : 0;
        var body = buffer.Skip(headerEnd + 4).ToList();
        while (body.Count < length)
        {
            var n = await stream.ReadAsync(one, ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new InvalidDataException("body cut short");
            }
            body.AddRange(one.AsSpan(0, n).ToArray());
        }
        return new ReceivedRequest(requestLine[0], requestLine.Length > 1 ? requestLine[1] : "", headers, body.Take(length).ToArray());
    }

    private static int IndexOf(List<byte> haystack, byte[] needle)
    {
        for (var i = 0; i + needle.Length <= haystack.Count; i++)
        {
            var match = true;
            for (var j = 0; j < needle.Length && match; j++)
            {
                match = haystack[i + j] == needle[j];
            }
            if (match)
            {
                return i;
            }
        }
        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Never keep a test run alive for a receiver.
        }
        _listener.Dispose();
        _stop.Dispose();
        _arrivals.Dispose();
    }
}
