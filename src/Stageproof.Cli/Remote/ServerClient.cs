using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Manifests;

namespace Stageproof.Cli.Remote;

/// <summary>
/// The CLI's one way to a Stageproof server (<c>/api/v1</c>, Bearer token). Every failure becomes the CLI's own
/// exception: unreachable, timed out or a 5xx → <see cref="InfrastructureException"/> naming the URL (exit 3); 401 →
/// <see cref="InputException"/> with the server's reason (exit 2); 403 → <see cref="RefusedException"/> with the rule,
/// worded as a local refusal (exit 1); other 4xx → <see cref="InputException"/> with the server's detail (exit 2).
/// </summary>
internal sealed class ServerClient : IDisposable
{
    /// <summary>How long one request may take before the server counts as not answering.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(100);

    /// <summary>Largest answer read; the audit log of a busy estate is well under it.</summary>
    private const long MaxAnswerBytes = 256L * 1024 * 1024;

    private readonly HttpClient _http;
    private readonly string _tokenSource;

    /// <param name="server">The server's base URL (see <see cref="ServerUrl"/>).</param>
    /// <param name="token">The API token presented.</param>
    /// <param name="tokenSource">Where the token came from, for the message when the server refuses it.</param>
    public ServerClient(ServerUrl server, string token, string tokenSource)
    {
        Server = server;
        _tokenSource = tokenSource;
        // Redirects are not followed: the token would not go with them, and the user should name the real URL.
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false })
        {
            BaseAddress = new Uri(server.Text + "/"),
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
            MaxResponseContentBufferSize = MaxAnswerBytes,
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
    }

    public ServerUrl Server { get; }

    /// <summary>GET <c>/api/v1/{path}</c>, its JSON answer read as <typeparamref name="T"/>.</summary>
    public Task<T> GetAsync<T>(string path, CancellationToken ct) =>
        SendAsync<T>(() => new HttpRequestMessage(HttpMethod.Get, "api/v1/" + path), ct);

    /// <summary>POST <paramref name="body"/> as JSON to <c>/api/v1/{path}</c>, its JSON answer read as <typeparamref name="T"/>.</summary>
    public Task<T> PostAsync<T>(string path, object body, CancellationToken ct) =>
        SendAsync<T>(() => new HttpRequestMessage(HttpMethod.Post, "api/v1/" + path) { Content = JsonContent.Create(body, options: ManifestJson.Options) }, ct);

    /// <summary>DELETE <c>/api/v1/{path}</c>; the answer's body, if any, is not read.</summary>
    public Task DeleteAsync(string path, CancellationToken ct) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, "api/v1/" + path), ct);

    /// <summary>DELETE <c>/api/v1/{path}</c>, its JSON answer read as <typeparamref name="T"/>.</summary>
    public Task<T> DeleteAsync<T>(string path, CancellationToken ct) =>
        SendAsync<T>(() => new HttpRequestMessage(HttpMethod.Delete, "api/v1/" + path), ct);

    /// <summary>POST <paramref name="text"/> as <paramref name="mediaType"/> to <c>/api/v1/{path}</c>, its JSON answer read as <typeparamref name="T"/>.</summary>
    public Task<T> PostTextAsync<T>(string path, string text, string mediaType, CancellationToken ct) =>
        SendAsync<T>(() => new HttpRequestMessage(HttpMethod.Post, "api/v1/" + path) { Content = new StringContent(text, System.Text.Encoding.UTF8, mediaType) }, ct);

    /// <summary>GET <c>/api/v1/{path}</c>, its answer as text (a report, an export).</summary>
    public Task<string> GetTextAsync(string path, CancellationToken ct) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Get, "api/v1/" + path), ct);

    /// <summary>
    /// POST <paramref name="body"/> as JSON to <c>/api/v1/{path}</c> asking for JSON lines (<c>application/x-ndjson</c>),
    /// each read as <typeparamref name="T"/> and handed to <paramref name="onLine"/> as it arrives. <see cref="Timeout"/>
    /// bounds the silence between lines, not the whole answer: a long collection goes on while it reports.
    /// </summary>
    public async Task PostLinesAsync<T>(string path, object body, Action<T> onLine, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(onLine);
        using var silence = CancellationTokenSource.CreateLinkedTokenSource(ct);
        silence.CancelAfter(Timeout);
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, "api/v1/" + path) { Content = JsonContent.Create(body, options: ManifestJson.Options) };
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/x-ndjson"));
            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, silence.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw Failure(response, await response.Content.ReadAsStringAsync(silence.Token).ConfigureAwait(false));
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(silence.Token).ConfigureAwait(false));
            while (await reader.ReadLineAsync(silence.Token).ConfigureAwait(false) is { } line)
            {
                silence.CancelAfter(Timeout);
                if (line.Length == 0)
                {
                    continue;
                }
                onLine(Read<T>(line));
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new InfrastructureException(Server.Text, $"said nothing for {Timeout.TotalSeconds:0}s");
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            throw new InfrastructureException(Server.Text, Reason(e));
        }
    }

    private async Task<T> SendAsync<T>(Func<HttpRequestMessage> request, CancellationToken ct) =>
        Read<T>(await SendAsync(request, ct).ConfigureAwait(false));

    /// <summary>An answer (or one line of it) read as <typeparamref name="T"/>; anything else is the server's failure.</summary>
    private T Read<T>(string text)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(text, ManifestJson.Options)
                   ?? throw new InfrastructureException(Server.Text, "answered with an empty document");
        }
        catch (JsonException e)
        {
            throw new InfrastructureException(Server.Text, $"answered with something that is not Stageproof's JSON ({e.Message})");
        }
    }

    /// <summary>Sends the request; the answer's text when it succeeded, else the CLI's exception for the failure.</summary>
    private async Task<string> SendAsync(Func<HttpRequestMessage> request, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        try
        {
            using var message = request();
            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? text : throw Failure(response, text);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new InfrastructureException(Server.Text, $"no answer within {Timeout.TotalSeconds:0}s");
        }
        catch (HttpRequestException e)
        {
            throw new InfrastructureException(Server.Text, Reason(e));
        }
    }

    /// <summary>The innermost message (e.g. "Connection refused (127.0.0.1:5080)") rather than "An error occurred while sending the request".</summary>
    private static string Reason(Exception e)
    {
        var inner = e;
        for (var depth = 0; inner.InnerException is not null && depth < 8; depth++)
        {
            inner = inner.InnerException;
        }
        return inner.Message;
    }

    private StageproofException Failure(HttpResponseMessage response, string text)
    {
        var (detail, rule) = Problem(text);
        var status = (int)response.StatusCode;
        return response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => new InputException($"{Server.Text} refused the token from {_tokenSource}: {detail ?? "not authenticated"}"),
            HttpStatusCode.Forbidden => Refused(rule ?? GateRules.Role, detail ?? "your role does not allow this"),
            // The gate's "not ready" (no PASS before, approvals, the window, a held lock) is a refusal, as locally.
            HttpStatusCode.Conflict when rule is not null => Refused(rule, detail ?? "refused"),
            >= HttpStatusCode.InternalServerError => new InfrastructureException(Server.Text, $"answered {status} {response.ReasonPhrase}" + (detail is null ? "" : ": " + detail)),
            >= HttpStatusCode.BadRequest => new InputException(detail ?? $"{Server.Text} answered {status} {response.ReasonPhrase}"),
            _ when response.Headers.Location is { } location => new InfrastructureException(Server.Text, $"answered {status}, redirecting to {location}; give that URL to --server"),
            _ => new InfrastructureException(Server.Text, $"answered {status} {response.ReasonPhrase}"),
        };
    }

    /// <summary>A refusal worded exactly as a local one: the server's detail already reads "refused by rule RULE: …".</summary>
    private static RefusedException Refused(string rule, string detail)
    {
        var prefix = $"refused by rule {rule}: ";
        return new RefusedException(rule, detail.StartsWith(prefix, StringComparison.Ordinal) ? detail[prefix.Length..] : detail);
    }

    /// <summary>The "detail" and "rule" of an RFC 9457 problem; nulls when the answer is not one.</summary>
    private static (string? Detail, string? Rule) Problem(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, null);
            }
            return (Text(root, "detail"), Text(root, "rule"));
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public void Dispose() => _http.Dispose();
}
