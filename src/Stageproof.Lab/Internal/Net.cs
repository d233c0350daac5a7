using System.Net.Sockets;

namespace Stageproof.Lab.Internal;

/// <summary>Readiness probes: TCP connect and HTTP status, polled against a deadline.</summary>
internal static class Net
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(3) };

    public static async Task<bool> TcpOpenAsync(string address, int port, CancellationToken ct)
    {
        using var client = new TcpClient();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await client.ConnectAsync(address, port, cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
    }

    public static async Task<int?> HttpStatusAsync(string url, CancellationToken ct)
    {
        try
        {
            using var response = await Http.GetAsync(url, ct).ConfigureAwait(false);
            return (int)response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Polls <paramref name="probe"/> until it holds or the deadline passes.</summary>
    public static async Task<bool> WaitUntilAsync(Func<CancellationToken, Task<bool>> probe, TimeSpan within, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + within;
        var delay = 20;
        while (true)
        {
            if (await probe(ct).ConfigureAwait(false))
            {
                return true;
            }
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }
            await Task.Delay(delay, ct).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 250);
        }
    }
}
