using System.Text;
using Stageproof.Application.Notifications;
using Stageproof.Core.Configuration;
using Stageproof.Core.Webhooks;
using Stageproof.Data;
using Stageproof.Testing;

namespace Stageproof.Notifications.Tests;

/// <summary>The dispatcher against a real HTTP receiver on 127.0.7.x and a real state store.</summary>
public sealed class WebhookDispatcherTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("stageproof-webhooks-").FullName;
    private SqliteStateStore _store = null!;

    public async Task InitializeAsync()
    {
        var secret = Path.Combine(_dir, "hook.secret");
        await File.WriteAllTextAsync(secret, "a-secret-only-the-receiver-knows\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        _store = await SqliteStateStore.OpenAsync(Path.Combine(_dir, ".stageproof"), TimeProvider.System);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private IReadOnlyList<WebhookConfig> Webhooks(string yaml) =>
        ConfigLoader.Parse("webhooks:\n" + yaml, Path.Combine(_dir, "stageproof.yaml")).Webhooks;

    private WebhookDispatcher Dispatcher(IReadOnlyList<WebhookConfig> webhooks, List<string>? warnings = null) =>
        new(webhooks, _store, _store, TimeProvider.System, w => warnings?.Add(w), backoff: TimeSpan.FromMilliseconds(20));

    private static WebhookEvent Approved() => new()
    {
        Type = WebhookEventTypes.ApprovalGiven, At = DateTimeOffset.UtcNow, Actor = "erin", Environment = "prod",
        PatchDigest = new string('c', 64), Summary = "erin approved OPENSSL-7 for prod",
    };

    private byte[] SecretFromFile() => Encoding.UTF8.GetBytes(File.ReadAllText(Path.Combine(_dir, "hook.secret")).TrimEnd('\n'));

    [Fact]
    public async Task A_delivery_arrives_signed_with_the_secret_from_the_file_and_is_recorded_delivered()
    {
        await using var receiver = new WebhookReceiver(200);
        await using var dispatcher = Dispatcher(Webhooks($"  - {{ name: ops, url: '{receiver.Url}', events: [approval.given], secret_file: hook.secret }}\n"));

        await dispatcher.PublishAsync(Approved());
        Assert.Empty(await dispatcher.DrainAsync(Bound));

        var request = Assert.Single(receiver.Received);
        Assert.Equal("POST", request.Method);
        Assert.True(WebhookSignature.Verify(SecretFromFile(), request.Body, request.Header(WebhookSignature.SignatureHeader)),
            $"signature {request.Header(WebhookSignature.SignatureHeader)} does not verify for {request.Text}");
        Assert.Equal("approval.given", request.Header(WebhookSignature.EventHeader));
        Assert.True(long.TryParse(request.Header(WebhookSignature.TimestampHeader), out _));
        Assert.Contains("\"summary\":\"erin approved OPENSSL-7 for prod\"", request.Text, StringComparison.Ordinal);

        var delivery = Assert.Single(await _store.ListDeliveriesAsync());
        Assert.Equal(request.Header(WebhookSignature.DeliveryHeader), delivery.Id);
        Assert.Equal(DeliveryStatus.Delivered, delivery.Status);
        Assert.Equal([200], delivery.Attempts.Select(a => a.StatusCode));
        Assert.Contains(await _store.ReadAllAsync(), e => e.Action == "webhook.delivered" && e.Target == "ops" && e.Outcome!.StartsWith(delivery.Id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_receiver_that_fails_twice_gets_the_third_try_and_the_delivery_is_delivered_after_three_attempts()
    {
        await using var receiver = new WebhookReceiver(500, 500, 200);
        await using var dispatcher = Dispatcher(Webhooks($"  - {{ name: flaky, url: '{receiver.Url}', events: ['*'], secret_file: hook.secret }}\n"));

        await dispatcher.PublishAsync(Approved());
        Assert.Empty(await dispatcher.DrainAsync(Bound));

        Assert.Equal(3, receiver.Received.Count);
        // The same delivery, the same bytes, the same valid signature each time.
        Assert.Single(receiver.Received.Select(r => r.Header(WebhookSignature.DeliveryHeader)).Distinct());
        Assert.All(receiver.Received, r => Assert.True(WebhookSignature.Verify(SecretFromFile(), r.Body, r.Header(WebhookSignature.SignatureHeader))));
        var delivery = Assert.Single(await _store.ListDeliveriesAsync());
        Assert.Equal(DeliveryStatus.Delivered, delivery.Status);
        Assert.Equal([500, 500, 200], delivery.Attempts.Select(a => a.StatusCode));
        Assert.Equal([1, 2, 3], delivery.Attempts.Select(a => a.Number));
    }

    [Fact]
    public async Task A_receiver_that_never_answers_leaves_the_delivery_failed_and_the_publisher_did_not_wait_for_it()
    {
        await using var receiver = new WebhookReceiver(WebhookReceiver.Hang);
        await using var dispatcher = Dispatcher(Webhooks($"  - {{ name: mute, url: '{receiver.Url}', events: ['*'], secret_file: hook.secret, timeout: 1s, attempts: 2 }}\n"));

        await dispatcher.PublishAsync(Approved());

        // Publishing returned with the delivery recorded and nothing answered yet: the workflow goes on.
        var pending = Assert.Single(await _store.ListDeliveriesAsync());
        Assert.Equal(DeliveryStatus.Pending, pending.Status);
        Assert.Single(dispatcher.Pending);

        Assert.Empty(await dispatcher.DrainAsync(Bound));
        var failed = Assert.Single(await _store.ListDeliveriesAsync());
        Assert.Equal(DeliveryStatus.Failed, failed.Status);
        Assert.Equal(2, failed.Attempts.Count);
        Assert.All(failed.Attempts, a => Assert.Equal((null, "no answer within 1s"), (a.StatusCode, a.Error)));
        Assert.Equal(2, receiver.Received.Count);
        Assert.Contains(await _store.ReadAllAsync(), e => e.Action == "webhook.failed" && e.Target == "mute");
    }

    [Fact]
    public async Task A_delivery_still_under_way_when_the_process_stops_stays_pending_and_is_named()
    {
        await using var receiver = new WebhookReceiver(WebhookReceiver.Hang);
        await using var dispatcher = Dispatcher(Webhooks($"  - {{ name: slow, url: '{receiver.Url}', events: ['*'], secret_file: hook.secret, timeout: 60s }}\n"));

        await dispatcher.PublishAsync(Approved());
        await receiver.WaitForAsync(1, Bound);
        var left = await dispatcher.DrainAsync(TimeSpan.FromMilliseconds(100));

        var named = Assert.Single(left);
        var stored = Assert.Single(await _store.ListDeliveriesAsync());
        Assert.Equal((named.Id, DeliveryStatus.Pending), (stored.Id, stored.Status));
    }

    [Fact]
    public async Task Only_the_webhooks_that_want_an_event_get_it_and_a_slack_webhook_gets_one_line_of_text()
    {
        await using var receiver = new WebhookReceiver(200);
        await using var dispatcher = Dispatcher(Webhooks(
            $"  - {{ name: chat, url: '{receiver.Url}', events: [approval.given], secret_file: hook.secret, format: slack }}\n" +
            $"  - {{ name: rollouts, url: '{receiver.Url}', events: [rollout.failed], secret_file: hook.secret }}\n"));

        await dispatcher.PublishAsync(Approved());
        Assert.Empty(await dispatcher.DrainAsync(Bound));

        var delivery = Assert.Single(await _store.ListDeliveriesAsync());
        Assert.Equal("chat", delivery.Webhook);
        var request = Assert.Single(receiver.Received);
        Assert.Equal("{\"text\":\"[stageproof] approval.given prod: erin approved OPENSSL-7 for prod (by erin)\"}", request.Text);
    }
}
