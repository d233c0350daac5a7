using System.Text;
using Stageproof.Core.Validation;
using Stageproof.Core.Webhooks;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Configuration.Internal;

internal sealed partial class ConfigReader
{
    private static readonly string[] WebhookKeys = ["name", "url", "events", "secret_file", "format", "timeout", "attempts"];
    private readonly List<WebhookConfig> _webhooks = [];

    /// <summary>A secret file holds a key, not a document: anything larger is not what it should be.</summary>
    private const long MaxSecretBytes = 4096;

    /// <summary>webhooks: [ { name, url, events, secret_file, format, timeout, attempts } ]; the secret is read now, so a
    /// missing or shared secret is refused before anything runs.</summary>
    private void ReadWebhooks(YamlNode node, string path)
    {
        if (YamlWalker.IsNull(node))
        {
            return;
        }
        if (node is not YamlSequenceNode sequence)
        {
            _yaml.Report(node, path, $"expected a list of webhooks ('- name: NAME' lines), got {YamlWalker.Describe(node)}");
            return;
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var item in sequence.Children)
        {
            var itemPath = $"{path}[{index++}]";
            if (ReadWebhook(item, itemPath) is not { } webhook)
            {
                continue;
            }
            if (!names.Add(webhook.Name))
            {
                _yaml.Report(item, itemPath + ".name", $"webhook '{webhook.Name}' is defined twice");
                continue;
            }
            _webhooks.Add(webhook);
        }
    }

    private WebhookConfig? ReadWebhook(YamlNode node, string path)
    {
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return null;
        }
        var before = _problems.Count;
        string? name = null;
        Uri? url = null;
        List<string>? events = null;
        (string Path, byte[] Secret)? secret = null;
        var format = WebhookFormat.Json;
        var timeout = TimeSpan.FromSeconds(5);
        var attempts = 3;
        foreach (var (key, _, value, keyPath) in _yaml.Entries(mapping, path, WebhookKeys))
        {
            switch (key)
            {
                case "name":
                    name = _yaml.RequiredString(value, keyPath);
                    if (name is not null && Names.IdentifierError(name, "webhook name") is { } error)
                    {
                        _yaml.Report(value, keyPath, error);
                        name = null;
                    }
                    break;
                case "url":
                    url = ReadWebhookUrl(value, keyPath);
                    break;
                case "events":
                    events = ReadWebhookEvents(value, keyPath);
                    break;
                case "secret_file":
                    secret = ReadSecretFile(value, keyPath);
                    break;
                case "format":
                    switch (_yaml.RequiredString(value, keyPath))
                    {
                        case "json": format = WebhookFormat.Json; break;
                        case "slack": format = WebhookFormat.Slack; break;
                        case { } other: _yaml.Report(value, keyPath, $"{Names.Show(other)} is not a format (json, slack)"); break;
                    }
                    break;
                case "timeout" when _yaml.Seconds(value, keyPath, 300) is { } t:
                    timeout = t;
                    break;
                case "attempts" when _yaml.Int(value, keyPath, 1, 10) is { } n:
                    attempts = n;
                    break;
            }
        }
        foreach (var (required, present) in new[] { ("name", name is not null), ("url", url is not null), ("events", events is not null), ("secret_file", secret is not null) })
        {
            if (!present && !mapping.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == required))
            {
                _yaml.Report(node, $"{path}.{required}", "is required");
            }
        }
        if (_problems.Count > before || name is null || url is null || events is null || secret is null)
        {
            return null;
        }
        return new WebhookConfig
        {
            Name = name, Url = url, Events = events, SecretFile = secret.Value.Path, Secret = secret.Value.Secret,
            Format = format, Timeout = timeout, Attempts = attempts,
            Source = new ValueSource(_file, (int)node.Start.Line, path),
        };
    }

    private Uri? ReadWebhookUrl(YamlNode node, string path)
    {
        var text = _yaml.RequiredString(node, path);
        if (text is null)
        {
            return null;
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.Host.Length == 0)
        {
            _yaml.Report(node, path, $"{Names.Show(text)} is not an http:// or https:// URL");
            return null;
        }
        if (url.UserInfo.Length > 0)
        {
            _yaml.Report(node, path, "a URL with a user or password in it would be shown wherever deliveries are; the signature is the authentication");
            return null;
        }
        return url;
    }

    private List<string>? ReadWebhookEvents(YamlNode node, string path)
    {
        if (_yaml.StringList(node, path) is not { } items)
        {
            return null;
        }
        var events = new List<string>();
        foreach (var (value, itemNode, itemPath) in items)
        {
            if (value != WebhookEventTypes.Any && !WebhookEventTypes.All.Contains(value))
            {
                var suggestion = YamlWalker.Suggest(value, WebhookEventTypes.All);
                _yaml.Report(itemNode, itemPath, $"unknown event {Names.Show(value)}" + (suggestion is null
                    ? $" (events: {string.Join(", ", WebhookEventTypes.All)}, or \"*\")"
                    : $" (did you mean '{suggestion}'?)"));
                continue;
            }
            events.Add(value);
        }
        if (items.Count == 0)
        {
            _yaml.Report(node, path, $"names no event (events: {string.Join(", ", WebhookEventTypes.All)}, or \"*\")");
            return null;
        }
        return events;
    }

    /// <summary>The secret file's text without its trailing line break: a regular file of this user's alone.</summary>
    private (string, byte[])? ReadSecretFile(YamlNode node, string path, string what = "signing secret")
    {
        if (ReadPath(node, path) is not { } file)
        {
            return null;
        }
        if (InputFiles.SharedMode(file) is { } mode)
        {
            _yaml.Report(node, path, $"{file} may be read by others (mode {mode}); a {what} must be its owner's alone: chmod 600 {file}");
            return null;
        }
        var (text, problem) = InputFiles.ReadText(file, MaxSecretBytes);
        if (text is null)
        {
            _yaml.Report(node, path, $"{file}: {problem}");
            return null;
        }
        var secret = text.TrimEnd('\r', '\n');
        if (secret.Trim().Length == 0)
        {
            _yaml.Report(node, path, $"{file} is empty; it must hold the {what}");
            return null;
        }
        return (file, Encoding.UTF8.GetBytes(secret));
    }
}
