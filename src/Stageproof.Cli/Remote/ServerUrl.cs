using Stageproof.Core;

namespace Stageproof.Cli.Remote;

/// <summary>A Stageproof server's base URL as the CLI names it: http or https, no query, no trailing slash
/// ("https://stageproof.example.com", "http://127.0.0.1:5080/stageproof"). Credentials are keyed by <see cref="Text"/>.</summary>
internal sealed record ServerUrl(string Text)
{
    /// <summary>Reads <paramref name="value"/> given by <paramref name="source"/> (--server, STAGEPROOF_SERVER, a
    /// credentials file); anything but an absolute http(s) URL is bad input naming the source.</summary>
    public static ServerUrl Parse(string value, string source)
    {
        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new InputException($"{source}: '{Infrastructure.Ui.Printable(value)}' is not an http:// or https:// URL (e.g. https://stageproof.example.com)");
        }
        if (uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
        {
            throw new InputException($"{source}: '{Infrastructure.Ui.Printable(value)}': give the server's base URL only, without user, query or fragment");
        }
        return new ServerUrl(uri.GetLeftPart(UriPartial.Path).TrimEnd('/'));
    }

    public override string ToString() => Text;
}
