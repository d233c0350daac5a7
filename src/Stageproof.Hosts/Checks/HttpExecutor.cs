using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Stageproof.Core.Checks;

namespace Stageproof.Hosts.Checks;

/// <summary>The outcome of one HTTP request: status (0 when none came back), body (bounded), latency and any error.</summary>
public sealed record HttpOutcome(int Status, string Body, TimeSpan Latency, string? Error, string Description)
{
    public bool Answered => Error is null;
}

/// <summary>
/// Sends the requests checks describe. ${name} placeholders are filled from variables: URL-escaped in paths,
/// JSON-escaped in bodies (the body is built as a JSON object, never as text), refused in headers when they hold
/// line breaks. Every request has its own timeout and reads at most <see cref="MaxBodyBytes"/> of the answer.
/// </summary>
public sealed partial class HttpExecutor : IDisposable
{
    public const int MaxBodyBytes = 1024 * 1024;

    private readonly HttpClient _client;
    private readonly bool _ownsClient;

    public HttpExecutor(HttpClient? client = null)
    {
        _ownsClient = client is null;
        _client = client ?? CreateClient();
    }

    /// <summary>A client that ignores proxy settings (checks talk to the hosts themselves) and never follows redirects.</summary>
    public static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        MaxConnectionsPerServer = 1024,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        UseCookies = false,
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_-]*)\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();

    public async Task<HttpOutcome> SendAsync(Uri baseUri, HttpRequestSpec spec, IReadOnlyDictionary<string, string> variables, TimeSpan timeout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(baseUri);
        ArgumentNullException.ThrowIfNull(spec);
        string path;
        try
        {
            path = Fill(spec.Path, variables, Uri.EscapeDataString);
        }
        catch (KeyNotFoundException e)
        {
            return new HttpOutcome(0, "", TimeSpan.Zero, e.Message, $"{spec.Method} {spec.Path}");
        }
        // A check with a url and no path of its own requests the url as it is; a path replaces the url's path.
        var uri = spec.Path == "/" && baseUri.PathAndQuery != "/" ? baseUri : new Uri(baseUri, path);
        var description = $"{spec.Method} {uri}";
        using var request = new HttpRequestMessage(new HttpMethod(spec.Method), uri);
        try
        {
            foreach (var (name, value) in spec.Headers)
            {
                var filled = Fill(value, variables, v => v.Any(char.IsControl) ? throw new KeyNotFoundException("a variable holds a line break") : v);
                request.Headers.TryAddWithoutValidation(name, filled);
            }
            if (spec.Json is { } json)
            {
                var body = new JsonObject();
                foreach (var (key, value) in json)
                {
                    body[key] = Fill(value, variables, v => v);
                }
                request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            }
        }
        catch (KeyNotFoundException e)
        {
            return new HttpOutcome(0, "", TimeSpan.Zero, e.Message, description);
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        var sw = Stopwatch.StartNew();
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
            var body = await ReadBoundedAsync(response.Content, cts.Token).ConfigureAwait(false);
            sw.Stop();
            return new HttpOutcome((int)response.StatusCode, body, sw.Elapsed, null, description);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new HttpOutcome(0, "", sw.Elapsed, $"no answer within {timeout.TotalSeconds:0.###}s", description);
        }
        catch (HttpRequestException e)
        {
            var why = e.HttpRequestError switch
            {
                HttpRequestError.ConnectionError => $"cannot connect ({e.Message})",
                // Dropped after the request went out (reset before the headers): the same broken-off answer as below.
                HttpRequestError.ResponseEnded => BrokeOff(e),
                _ when e.InnerException is IOException => BrokeOff(e),
                _ => e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message,
            };
            return new HttpOutcome(0, "", sw.Elapsed, why, description);
        }
        catch (IOException e)
        {
            // The connection dropped while the body was read (HttpIOException: ResponseEnded, or a reset): an answer the
            // service did not finish is a failed request, as a refused connection is, never the end of the run.
            return new HttpOutcome(0, "", sw.Elapsed, BrokeOff(e), description);
        }
    }

    private static string BrokeOff(Exception e) => $"the answer broke off ({(e.InnerException ?? e).Message})";

    private static async Task<string> ReadBoundedAsync(HttpContent content, CancellationToken ct)
    {
        await using var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var buffer = new byte[MaxBodyBytes];
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), ct).ConfigureAwait(false)) > 0)
        {
            total += read;
        }
        return Encoding.UTF8.GetString(buffer, 0, total);
    }

    /// <summary>Replaces ${name} with the variable's value passed through <paramref name="encode"/>.</summary>
    public static string Fill(string template, IReadOnlyDictionary<string, string> variables, Func<string, string> encode)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(variables);
        ArgumentNullException.ThrowIfNull(encode);
        return Placeholder().Replace(template, m => variables.TryGetValue(m.Groups[1].Value, out var value)
            ? encode(value)
            : throw new KeyNotFoundException($"variable ${{{m.Groups[1].Value}}} is not defined (known: {string.Join(", ", variables.Keys.Where(k => k != "password"))})"));
    }

    /// <summary>Takes variables out of a JSON answer by the step's extract paths.</summary>
    public static (Dictionary<string, string> Values, string? Error) Extract(string body, IReadOnlyDictionary<string, string> extract)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (extract.Count == 0)
        {
            return (values, null);
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            return (values, "the answer is not JSON");
        }
        using (doc)
        {
            foreach (var (name, path) in extract)
            {
                var assertion = JsonAssertion.Parse(path + " exists").Assertion!;
                var (holds, found) = assertion.Evaluate(doc.RootElement);
                if (!holds)
                {
                    return (values, $"the answer has no {path}");
                }
                values[name] = found.Length >= 2 && found[0] == '"' ? JsonSerializer.Deserialize<string>(found)! : found;
            }
        }
        return (values, null);
    }

    public void Dispose()
    {
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }

    internal static string Short(string body, int max = 200)
    {
        var oneLine = body.ReplaceLineEndings(" ");
        return oneLine.Length <= max ? oneLine : oneLine[..max] + "…";
    }
}
