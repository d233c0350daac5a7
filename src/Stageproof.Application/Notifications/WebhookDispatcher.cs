using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Polly;
using Polly.Retry;
using Polly.Timeout;
using Stageproof.Core.Audit;
using Stageproof.Core.Webhooks;

namespace Stageproof.Application.Notifications;

/// <summary>
/// Sends events to the configured webhooks. <see cref="PublishAsync"/> writes one pending delivery per webhook that wants
/// the event — first, so a process killed mid-send leaves its record — then sends each in the background through a Polly
/// pipeline: the webhook's attempts, exponential backoff with jitter between them, its timeout on each. Every attempt's
/// status or error and the final state are written to the store, and the outcome to the audit chain. A process drains
/// what is still being sent with <see cref="DrainAsync"/> before it exits.
/// </summary>
public sealed class WebhookDispatcher : IEventPublisher, IAsyncDisposable
{
    private readonly IReadOnlyList<WebhookConfig> _webhooks;
    private readonly IWebhookDeliveryStore _deliveries;
    private readonly IAuditLog _audit;
    private readonly TimeProvider _time;
    private readonly HttpClient _http;
    private readonly Action<string> _warn;
    private readonly TimeSpan _backoff;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, (WebhookDelivery Delivery, Task Sending)> _inFlight = new(StringComparer.Ordinal);

    /// <param name="backoff">The first retry's delay; each next one doubles it, with jitter (tests shorten it).</param>
    /// <param name="warn">Told, in one line, what went wrong recording a delivery; publishing itself never throws.</param>
    public WebhookDispatcher(IReadOnlyList<WebhookConfig> webhooks, IWebhookDeliveryStore deliveries, IAuditLog audit, TimeProvider time,
        Action<string>? warn = null, TimeSpan? backoff = null, HttpMessageHandler? handler = null)
    {
        _webhooks = webhooks;
        _deliveries = deliveries;
        _audit = audit;
        _time = time;
        _warn = warn ?? (_ => { });
        _backoff = backoff ?? TimeSpan.FromSeconds(1);
        // Redirects are not followed: a signed body goes to the URL configured, nowhere else. Timeouts are Polly's.
        _http = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(30) })
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>Deliveries started by this process and not yet delivered or failed.</summary>
    public IReadOnlyList<WebhookDelivery> Pending => _inFlight.Values.Select(v => v.Delivery).OrderBy(d => d.CreatedAt).ToList();

    public async Task PublishAsync(WebhookEvent e, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(e);
        foreach (var webhook in _webhooks.Where(w => w.Wants(e.Type)))
        {
            try
            {
                await StartAsync(webhook, e, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The workflow that published goes on whatever happens here; the operator hears of it.
                _warn($"webhook {webhook.Name}: {e.Type} not recorded: {ex.Message}");
            }
        }
    }

    /// <summary>Sends a <c>webhook.test</c> event to <paramref name="webhook"/> and waits for its final state.</summary>
    public async Task<WebhookDelivery> SendTestAsync(WebhookConfig webhook, string actor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(webhook);
        var e = new WebhookEvent
        {
            Type = WebhookEventTypes.Test, At = _time.GetUtcNow(), Actor = actor,
            Summary = $"test event for webhook {webhook.Name}, sent by {actor}",
        };
        var (delivery, sending) = await StartAsync(webhook, e, cancellationToken).ConfigureAwait(false);
        await sending.WaitAsync(cancellationToken).ConfigureAwait(false);
        return _last.TryGetValue(delivery.Id, out var final) ? final : delivery;
    }

    private readonly ConcurrentDictionary<string, WebhookDelivery> _last = new(StringComparer.Ordinal);

    private async Task<(WebhookDelivery, Task)> StartAsync(WebhookConfig webhook, WebhookEvent e, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var id = $"wh-{now.UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        var delivery = new WebhookDelivery
        {
            Id = id, Webhook = webhook.Name, EventType = e.Type, Url = webhook.Url.ToString(), CreatedAt = now,
            Environment = e.Environment, PatchDigest = e.PatchDigest, Summary = e.Summary,
            Body = WebhookSignature.Body(e, webhook.Format, id),
        };
        await _deliveries.SaveDeliveryAsync(delivery, cancellationToken).ConfigureAwait(false);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Task.Run: the caller's continuation must never run the first send inline.
        var sending = Task.Run(async () =>
        {
            await started.Task.ConfigureAwait(false);
            try
            {
                await SendAsync(webhook, delivery, e.Actor).ConfigureAwait(false);
            }
            finally
            {
                _inFlight.TryRemove(id, out _);
            }
        }, CancellationToken.None);
        _inFlight[id] = (delivery, sending);
        started.SetResult();
        return (delivery, sending);
    }

    private async Task SendAsync(WebhookConfig webhook, WebhookDelivery delivery, string actor)
    {
        var body = Encoding.UTF8.GetBytes(delivery.Body);
        var signature = WebhookSignature.Sign(webhook.Secret, body);
        var attempts = new List<DeliveryAttempt>();
        var gate = new SemaphoreSlim(1, 1);
        async Task RecordAsync(DeliveryAttempt attempt)
        {
            await gate.WaitAsync().ConfigureAwait(false);
            try
            {
                attempts.Add(attempt);
                delivery = delivery with { Attempts = attempts.ToList() };
                _last[delivery.Id] = delivery;
                await _deliveries.SaveDeliveryAsync(delivery, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        }

        var pipeline = Pipeline(webhook);
        var outcome = DeliveryStatus.Failed;
        try
        {
            using var response = await pipeline.ExecuteAsync(async ct =>
            {
                var number = attempts.Count + 1;
                var at = _time.GetUtcNow();
                using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                request.Headers.Add(WebhookSignature.SignatureHeader, signature);
                request.Headers.Add(WebhookSignature.EventHeader, delivery.EventType);
                request.Headers.Add(WebhookSignature.DeliveryHeader, delivery.Id);
                request.Headers.Add(WebhookSignature.TimestampHeader, at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
                request.Headers.UserAgent.ParseAdd("Stageproof-Webhooks/1");
                try
                {
                    var answer = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
                    await RecordAsync(new DeliveryAttempt(number, at, (int)answer.StatusCode, null)).ConfigureAwait(false);
                    return answer;
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
                {
                    var error = _stopping.IsCancellationRequested ? "stopped: the process was exiting"
                        : ex is OperationCanceledException ? $"no answer within {Seconds(webhook.Timeout)}"
                        : ex.InnerException?.Message is { } inner ? $"{ex.Message} ({inner})" : ex.Message;
                    await RecordAsync(new DeliveryAttempt(number, at, null, error)).ConfigureAwait(false);
                    throw;
                }
            }, _stopping.Token).ConfigureAwait(false);
            outcome = response.IsSuccessStatusCode ? DeliveryStatus.Delivered : DeliveryStatus.Failed;
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Left pending: the record says so, and which attempts were made.
            return;
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException)
        {
            outcome = DeliveryStatus.Failed;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _warn($"webhook {webhook.Name}: delivery {delivery.Id}: {ex.Message}");
            outcome = DeliveryStatus.Failed;
        }
        delivery = delivery with { Status = outcome, FinishedAt = _time.GetUtcNow(), Attempts = attempts.ToList() };
        _last[delivery.Id] = delivery;
        try
        {
            await _deliveries.SaveDeliveryAsync(delivery, CancellationToken.None).ConfigureAwait(false);
            var last = attempts.LastOrDefault();
            await _audit.AppendAsync(new AuditEvent
            {
                Actor = actor,
                Action = outcome == DeliveryStatus.Delivered ? "webhook.delivered" : "webhook.failed",
                Target = webhook.Name,
                Outcome = $"{delivery.Id} ({delivery.EventType}) after {attempts.Count.ToString(CultureInfo.InvariantCulture)} attempt(s); last: " +
                          (last is null ? "none" : last.StatusCode is { } code ? $"HTTP {code.ToString(CultureInfo.InvariantCulture)}" : last.Error),
            }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _warn($"webhook {webhook.Name}: delivery {delivery.Id} {outcome.ToString().ToLowerInvariant()} but not recorded: {ex.Message}");
        }
    }

    /// <summary>Retry (outer) around a timeout (inner): each attempt has the webhook's whole timeout.</summary>
    private ResiliencePipeline<HttpResponseMessage> Pipeline(WebhookConfig webhook) =>
        new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = Math.Max(0, webhook.Attempts - 1),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _backoff,
                MaxDelay = TimeSpan.FromMinutes(1),
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutRejectedException>()
                    .HandleResult(r => !r.IsSuccessStatusCode),
                OnRetry = args =>
                {
                    args.Outcome.Result?.Dispose();
                    return default;
                },
            })
            .AddTimeout(webhook.Timeout)
            .Build();

    /// <summary>
    /// Waits at most <paramref name="limit"/> for the deliveries under way; those still unfinished then are stopped and
    /// returned (their records stay pending, with the attempts made).
    /// </summary>
    public async Task<IReadOnlyList<WebhookDelivery>> DrainAsync(TimeSpan limit, CancellationToken cancellationToken = default)
    {
        var sending = _inFlight.Values.Select(v => v.Sending).ToArray();
        if (sending.Length > 0)
        {
            using var timeout = new CancellationTokenSource(limit, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
            try
            {
                await Task.WhenAll(sending).WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // What is left is reported below.
            }
        }
        var left = Pending;
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_inFlight.Values.Select(v => v.Sending).ToArray()).WaitAsync(TimeSpan.FromSeconds(5), _time, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A send that ignores cancellation must not keep the process alive.
        }
        return left;
    }

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";

    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await DrainAsync(TimeSpan.Zero).ConfigureAwait(false);
        }
        _http.Dispose();
        _stopping.Dispose();
    }
}
