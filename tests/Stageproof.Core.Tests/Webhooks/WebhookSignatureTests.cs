using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Stageproof.Core.Webhooks;

namespace Stageproof.Core.Tests.Webhooks;

public class WebhookSignatureTests
{
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("s3cret-for-tests");

    private static WebhookEvent Approval() => new()
    {
        Type = WebhookEventTypes.ApprovalGiven,
        At = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero),
        Actor = "erin",
        Environment = "prod",
        PatchDigest = new string('a', 64),
        Summary = "erin approved OPENSSL-7 (aaaaaaaaaaaa) for prod",
        Data = new Dictionary<string, string> { ["approval"] = "ap-1" },
    };

    [Fact]
    public void The_signature_is_the_hex_HMAC_SHA256_of_the_exact_body_as_any_receiver_computes_it()
    {
        var body = Encoding.UTF8.GetBytes(WebhookSignature.Body(Approval(), WebhookFormat.Json, "wh-1"));
        var header = WebhookSignature.Sign(Secret, body);

        // What a receiver in any language does: HMAC-SHA256(secret, raw body), lower-case hex, after "sha256=".
        using var hmac = new HMACSHA256(Secret);
        Assert.Equal("sha256=" + Convert.ToHexString(hmac.ComputeHash(body)).ToLowerInvariant(), header);
        Assert.True(WebhookSignature.Verify(Secret, body, header));
    }

    [Fact]
    public void A_changed_body_or_another_secret_does_not_verify()
    {
        var body = Encoding.UTF8.GetBytes(WebhookSignature.Body(Approval(), WebhookFormat.Json, "wh-1"));
        var header = WebhookSignature.Sign(Secret, body);
        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).Replace("prod", "qa", StringComparison.Ordinal));

        Assert.False(WebhookSignature.Verify(Secret, tampered, header));
        Assert.False(WebhookSignature.Verify(Encoding.UTF8.GetBytes("another"), body, header));
        Assert.False(WebhookSignature.Verify(Secret, body, null));
    }

    [Fact]
    public void The_json_body_carries_the_event_for_a_program()
    {
        var json = JsonDocument.Parse(WebhookSignature.Body(Approval(), WebhookFormat.Json, "wh-1")).RootElement;
        Assert.Equal("wh-1", json.GetProperty("id").GetString());
        Assert.Equal("approval.given", json.GetProperty("type").GetString());
        Assert.Equal("2026-11-30T12:00:00.000Z", json.GetProperty("at").GetString());
        Assert.Equal("erin", json.GetProperty("actor").GetString());
        Assert.Equal("prod", json.GetProperty("environment").GetString());
        Assert.Equal(new string('a', 64), json.GetProperty("patch_digest").GetString());
        Assert.Equal("ap-1", json.GetProperty("data").GetProperty("approval").GetString());
    }

    [Fact]
    public void The_slack_body_is_one_readable_line_of_text_and_nothing_else()
    {
        var e = Approval() with { Summary = "a summary\nover two lines" };
        var json = JsonDocument.Parse(WebhookSignature.Body(e, WebhookFormat.Slack, "wh-1")).RootElement;

        var property = Assert.Single(json.EnumerateObject());
        Assert.Equal("text", property.Name);
        Assert.Equal("[stageproof] approval.given prod: a summary over two lines (by erin)", property.Value.GetString());
    }
}
