using System.Text;
using Stageproof.Core;
using Stageproof.Core.Webhooks;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>Webhooks end to end: the real command line, a real receiver on 127.0.7.x.</summary>
public class WebhookCliTests
{
    private const string Set = """
        id: OPENSSL-7
        title: openssl security update
        reason: CVE fix
        severity: low
        author: carol
        commands:
          post: ["true"]
        """;

    private static string Config(Uri url, string events = "[approval.given, approval.refused]") => $"""
        hosts:
          web-1: {"{ transport: local }"}
        environments:
          prod: {"{ hosts: [web-1] }"}
        lifecycle:
          stages:
            - environment: prod
              approvals: 1
        webhooks:
          - name: ops
            url: {url}
            events: {events}
            secret_file: hook.secret
        """;

    private static byte[] WriteSecret(Scratch scratch)
    {
        var path = scratch.Write("hook.secret", "cli-webhook-secret\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return Encoding.UTF8.GetBytes(File.ReadAllText(path).TrimEnd('\n'));
    }

    [Fact]
    public async Task Approve_delivers_approval_given_signed_with_the_secret_and_webhook_deliveries_shows_it()
    {
        using var scratch = new Scratch();
        await using var receiver = new WebhookReceiver(200);
        var secret = WriteSecret(scratch);
        scratch.Write("stageproof.yaml", Config(receiver.Url));
        scratch.Write("set.yaml", Set);
        var tokens = await CliRun.ApproversAsync(scratch);
        var freeze = await CliRun.InAsync(scratch.Dir, "--token-file", tokens["carol"], "--json", "patch", "freeze", Path.Combine(scratch.Dir, "set.yaml"));
        Assert.True(freeze.ExitCode == ExitCodes.Ok, freeze.ToString());
        var digest = freeze.Json.GetProperty("digest").GetString()!;

        var approve = await CliRun.InAsync(scratch.Dir, "--token-file", tokens["erin"], "approve", digest[..12], "--env", "prod");
        Assert.True(approve.ExitCode == ExitCodes.Ok, approve.ToString());

        // The verb drained its delivery before it returned: the receiver has it, signed with the file's secret.
        var request = Assert.Single(receiver.Received);
        Assert.Equal("approval.given", request.Header(WebhookSignature.EventHeader));
        Assert.True(WebhookSignature.Verify(secret, request.Body, request.Header(WebhookSignature.SignatureHeader)), request.Text);
        Assert.Contains($"\"patch_digest\":\"{digest}\"", request.Text, StringComparison.Ordinal);
        Assert.Contains("\"actor\":\"erin\"", request.Text, StringComparison.Ordinal);

        var deliveries = await CliRun.InAsync(scratch.Dir, "--json", "webhook", "deliveries");
        Assert.True(deliveries.ExitCode == ExitCodes.Ok, deliveries.ToString());
        var delivery = Assert.Single(deliveries.Json.EnumerateArray());
        Assert.Equal(request.Header(WebhookSignature.DeliveryHeader), delivery.GetProperty("id").GetString());
        Assert.Equal(("ops", "approval.given", "delivered"),
            (delivery.GetProperty("webhook").GetString(), delivery.GetProperty("event").GetString(), delivery.GetProperty("status").GetString()));
        Assert.Equal(200, Assert.Single(delivery.GetProperty("attempts").EnumerateArray()).GetProperty("statusCode").GetInt32());

        var human = await CliRun.InAsync(scratch.Dir, "webhook", "deliveries");
        Assert.Contains("approval.given", human.Stdout, StringComparison.Ordinal);
        Assert.Contains("delivered", human.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Webhook_test_sends_a_signed_test_event_and_is_audited()
    {
        using var scratch = new Scratch();
        await using var receiver = new WebhookReceiver(500, 200);
        var secret = WriteSecret(scratch);
        scratch.Write("stageproof.yaml", Config(receiver.Url));

        var test = await CliRun.InAsync(scratch.Dir, "webhook", "test", "ops");

        Assert.True(test.ExitCode == ExitCodes.Ok, test.ToString());
        Assert.Contains("delivered after 2: 500, 200", test.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, receiver.Received.Count);
        Assert.All(receiver.Received, r => Assert.True(WebhookSignature.Verify(secret, r.Body, r.Header(WebhookSignature.SignatureHeader))));
        var audit = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.Contains(audit.Json.EnumerateArray(), e => e.GetProperty("action").GetString() == "webhook.test" && e.GetProperty("target").GetString() == "ops");
    }

    [Fact]
    public async Task An_unknown_event_in_the_configuration_is_one_line_naming_file_line_and_key_and_nothing_is_sent()
    {
        using var scratch = new Scratch();
        await using var receiver = new WebhookReceiver(200);
        WriteSecret(scratch);
        var config = scratch.Write("stageproof.yaml", Config(receiver.Url, "[approval.given, rollout.exploded]"));

        var test = await CliRun.InAsync(scratch.Dir, "webhook", "test", "ops");

        Assert.True(test.ExitCode == ExitCodes.BadInput, test.ToString());
        var line = Assert.Single(test.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(line.Contains($"{config}:12:", StringComparison.Ordinal), line);
        Assert.Contains("webhooks[0].events[1]: unknown event 'rollout.exploded'", line, StringComparison.Ordinal);
        Assert.Empty(receiver.Received);
        Assert.False(Directory.Exists(Path.Combine(scratch.Dir, ".stageproof")) && (await CliRun.InAsync(scratch.Dir, "--json", "webhook", "deliveries")).Json.GetArrayLength() > 0);
    }
}
