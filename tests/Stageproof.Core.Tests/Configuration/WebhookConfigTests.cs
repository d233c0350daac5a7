using Stageproof.Core.Webhooks;

namespace Stageproof.Core.Tests.Configuration;

public sealed class WebhookConfigTests : IDisposable
{
    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Secret(string name = "hook.secret", string text = "s3cret\n", UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = _temp.Write(name, text);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
        return path;
    }

    [Fact]
    public void A_webhook_is_read_with_its_secret_and_the_defaults()
    {
        Secret();
        var config = _temp.Load("""
            webhooks:
              - name: ops-chat
                url: https://chat.example.net/hooks/stageproof
                events: [approval.given, rollout.failed]
                secret_file: hook.secret
                format: slack
              - { name: audit-sink, url: "http://127.0.7.9:8080/in", events: ["*"], secret_file: hook.secret, timeout: 2s, attempts: 5 }
            """);

        var chat = config.Webhooks[0];
        Assert.Equal("ops-chat", chat.Name);
        Assert.Equal(WebhookFormat.Slack, chat.Format);
        Assert.Equal(TimeSpan.FromSeconds(5), chat.Timeout);
        Assert.Equal(3, chat.Attempts);
        Assert.Equal("s3cret"u8.ToArray(), chat.Secret);
        Assert.True(chat.Wants("rollout.failed"));
        Assert.False(chat.Wants("stage.verdict"));

        var sink = config.Webhooks[1];
        Assert.Equal((TimeSpan.FromSeconds(2), 5, WebhookFormat.Json), (sink.Timeout, sink.Attempts, sink.Format));
        Assert.True(sink.Wants("drift.threshold"));
    }

    [Fact]
    public void An_unknown_event_is_refused_at_its_line_with_a_suggestion()
    {
        Secret();
        var problem = _temp.SingleProblem("""
            webhooks:
              - name: ops
                url: https://chat.example.net/x
                events:
                  - approval.given
                  - rollout.finnished
                secret_file: hook.secret
            """);

        Assert.Equal((6, "webhooks[0].events[1]"), (problem.Line, problem.Key));
        Assert.Contains("unknown event 'rollout.finnished' (did you mean 'rollout.finished'?)", problem.Message, StringComparison.Ordinal);
        Assert.StartsWith($"{_temp.ConfigPath}:6:", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_key_and_a_url_that_is_not_http_are_refused_at_their_lines()
    {
        Secret();
        var problems = _temp.Problems("""
            webhooks:
              - name: ops
                url: ftp://files.example.net/x
                events: ["*"]
                secret_file: hook.secret
                retries: 4
            """);

        Assert.Contains(problems, p => p.Line == 3 && p.Key == "webhooks[0].url" && p.Message.Contains("not an http:// or https:// URL", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Line == 6 && p.Key == "webhooks[0].retries" && p.Message.StartsWith("unknown key 'retries'", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_secret_file_is_named_with_its_line_and_key()
    {
        var problem = _temp.SingleProblem("""
            webhooks:
              - name: ops
                url: https://chat.example.net/x
                events: ["*"]
                secret_file: nowhere.secret
            """);

        Assert.Equal((5, "webhooks[0].secret_file"), (problem.Line, problem.Key));
        Assert.Contains($"{Path.Combine(_temp.Directory, "nowhere.secret")}: file not found", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_secret_file_its_group_may_read_is_refused()
    {
        var path = Secret(mode: UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var problem = _temp.SingleProblem("""
            webhooks:
              - name: ops
                url: https://chat.example.net/x
                events: ["*"]
                secret_file: hook.secret
            """);

        Assert.Equal((5, "webhooks[0].secret_file"), (problem.Line, problem.Key));
        Assert.Contains($"{path} may be read by others (mode 0640)", problem.Message, StringComparison.Ordinal);
        Assert.Contains("chmod 600", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_webhook_without_its_required_keys_is_refused()
    {
        var problems = _temp.Problems("""
            webhooks:
              - name: ops
                format: teams
            """);

        Assert.Contains(problems, p => p.Key == "webhooks[0].url" && p.Message == "is required");
        Assert.Contains(problems, p => p.Key == "webhooks[0].events" && p.Message == "is required");
        Assert.Contains(problems, p => p.Key == "webhooks[0].secret_file" && p.Message == "is required");
        Assert.Contains(problems, p => p.Line == 3 && p.Key == "webhooks[0].format" && p.Message.Contains("(json, slack)", StringComparison.Ordinal));
    }
}
