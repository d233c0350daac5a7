using Stageproof.Testing;
using System.Text.RegularExpressions;
using Stageproof.Application.Reports;

namespace Stageproof.Cli.Tests.Reports;

public sealed partial class StageHtmlTests
{
    [Fact]
    public void Fail_report_shows_verdict_reasons_charts_drift_logs_rehearsal_and_audit()
    {
        var result = StageSamples.Fail();
        var html = StageHtml.Render(result);

        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("class=\"banner fail\"", html, StringComparison.Ordinal);
        Assert.Contains(">FAIL<", html, StringComparison.Ordinal);
        foreach (var section in new[] { "verdict", "overview", "steps", "fidelity", "load", "checks", "changes", "soak", "rehearsal", "logs", "audit" })
        {
            Assert.Contains($"<section id=\"{section}\"", html, StringComparison.Ordinal);
        }
        // Two load checks, each with an ECDF and a percentile chart; the fidelity meter.
        Assert.Equal(2, Regex.Count(html, "<svg class=\"chart ecdf\""));
        Assert.Equal(2, Regex.Count(html, "<svg class=\"chart bars\""));
        Assert.Contains("p95 ratio", html, StringComparison.Ordinal);
        Assert.Contains("Mann–Whitney", html, StringComparison.Ordinal);
        Assert.Contains("DATA-LOSS RISK", html, StringComparison.Ordinal);
        Assert.Contains("acme.messages: 37 rows written since the change", html, StringComparison.Ordinal);
        Assert.Contains("<span class=\"add\">+lifetime = 300</span>", html, StringComparison.Ordinal);
        Assert.Contains("<span class=\"err\">2026-11-23T10:07:13Z indexer[812]: ERROR relation &quot;messages_fts_idx&quot; does not exist</span>", html, StringComparison.Ordinal);
        Assert.Contains("#1041 – #1077", html, StringComparison.Ordinal);
        Assert.Contains("rp-20261123-100312", html, StringComparison.Ordinal);
        Assert.Contains(result.PatchDigest, html, StringComparison.Ordinal);
        foreach (var reason in result.Reasons)
        {
            Assert.Contains(System.Net.WebUtility.HtmlEncode(reason.Subject), html, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Report_loads_nothing_from_anywhere()
    {
        foreach (var html in new[] { StageHtml.Render(StageSamples.Fail()), StageHtml.Render(StageSamples.Pass()) })
        {
            // No attribute or CSS reference to another resource: only data: is allowed (the empty favicon).
            var references = ReferenceAttribute().Matches(html).Select(m => m.Groups["v"].Value).ToList();
            Assert.All(references, v => Assert.StartsWith("data:", v, StringComparison.Ordinal));
            Assert.DoesNotMatch(@"url\s*\(", html);
            Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("@font-face", html, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("xmlns", html, StringComparison.Ordinal);
            // Any http(s):// left is text of the result (a check's target URL), never markup.
            foreach (Match m in Regex.Matches(html, "https?://"))
            {
                var before = html[..m.Index];
                Assert.True(before.LastIndexOf('>') > before.LastIndexOf('<'), $"URL inside a tag at {m.Index}: {html.Substring(Math.Max(0, m.Index - 60), 80)}");
            }
            Assert.Contains("Content-Security-Policy\" content=\"default-src 'none'", html, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Hostile_text_is_encoded()
    {
        var html = StageHtml.Render(StageSamples.Fail());
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;", html, StringComparison.Ordinal);
        Assert.DoesNotContain('\u0001', html);
        Assert.DoesNotContain('\u001b', html);
        Assert.DoesNotContain('\uD800', html);
    }

    [Fact]
    public void Pass_report_is_green_without_risk()
    {
        var html = StageHtml.Render(StageSamples.Pass());
        Assert.Contains("class=\"banner pass\"", html, StringComparison.Ordinal);
        Assert.Contains(">PASS<", html, StringComparison.Ordinal);
        Assert.DoesNotContain("DATA-LOSS RISK", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<section id=\"logs\"", html, StringComparison.Ordinal);
        Assert.Equal(1, Regex.Count(html, "<svg class=\"chart ecdf\""));
    }

    [GeneratedRegex("""(?:src|href|action|poster|data|xlink:href)\s*=\s*["']?(?<v>[^"'\s>]*)""", RegexOptions.IgnoreCase)]
    private static partial Regex ReferenceAttribute();
}
