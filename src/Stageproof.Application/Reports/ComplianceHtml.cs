using System.Net;
using System.Text;
using Stageproof.Core.Compliance;
using static Stageproof.Application.Reports.ReportText;

namespace Stageproof.Application.Reports;

/// <summary>
/// The `compliance --html FILE` output: one self-contained page (inline CSS, no script, nothing loaded from anywhere;
/// a Content-Security-Policy forbids it) with the totals and, per environment, what each host has applied, owes,
/// has pending for security and has drifted since its last verified change. Every string is HTML-encoded.
/// </summary>
public static class ComplianceHtml
{
    public static string Render(ComplianceReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var t = report.Totals;
        var h = new StringBuilder(32 * 1024);
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<link rel=\"icon\" href=\"data:,\">\n")
            .Append("<title>").Append(E($"compliance {Time(report.GeneratedAt)}: {(report.Compliant ? "compliant" : "not compliant")}")).Append("</title>\n")
            .Append("<style>").Append(Css).Append("</style>\n</head>\n<body>\n<main>\n");

        h.Append("<section id=\"summary\" class=\"banner ").Append(report.Compliant ? "pass" : "fail").Append("\">\n")
            .Append("<div class=\"verdict\">").Append(report.Compliant ? "COMPLIANT" : "NOT COMPLIANT").Append("</div>\n<ul>\n");
        Li(h, $"{t.Environments} environment(s), {t.Hosts} host(s), {t.Applied} applied patch set(s)");
        Li(h, $"owed: {t.Owed} ({t.EmergencyBackfills} emergency back-fill(s))");
        Li(h, $"security updates pending: {t.SecurityUpdates} on {t.HostsWithSecurityUpdates} host(s)");
        Li(h, $"drifted since last verified: {t.DriftedHosts} host(s), {t.DriftItems} item(s)");
        Li(h, report.Lifecycle.Count > 0 ? "lifecycle: " + string.Join(" → ", report.Lifecycle) : "no lifecycle defined");
        Li(h, $"generated {Time(report.GeneratedAt)}");
        h.Append("</ul>\n</section>\n");

        foreach (var env in report.Environments)
        {
            h.Append("<section class=\"env\">\n<h2>").Append(E(env.Stage is { } s ? $"{env.Environment} (stage {s})" : env.Environment)).Append("</h2>\n");
            if (env.Owed.Count > 0)
            {
                h.Append("<ul class=\"owed\">\n");
                foreach (var o in env.Owed)
                {
                    h.Append("<li class=\"").Append(o.EmergencyBackfill ? "backfill" : "owe").Append("\"><b>").Append(E($"{o.PatchId} ({o.ShortDigest})")).Append("</b>: ")
                        .Append(E(o.Message));
                    if (o.Evidence.Count > 1)
                    {
                        h.Append("<br><small>").Append(E(string.Join("; ", o.Evidence))).Append("</small>");
                    }
                    h.Append("</li>\n");
                }
                h.Append("</ul>\n");
            }
            h.Append("<table>\n<thead><tr><th>host</th><th>applied</th><th>owed</th><th>security</th><th>drift</th></tr></thead>\n<tbody>\n");
            foreach (var host in env.Hosts)
            {
                h.Append("<tr><td><code>").Append(E(host.Host)).Append("</code></td><td>");
                if (host.Applied.Count == 0)
                {
                    h.Append("<span class=\"muted\">none</span>");
                }
                foreach (var a in host.Applied)
                {
                    h.Append("<div>").Append(E($"{a.PatchId} ")).Append("<code>").Append(E(a.ShortDigest)).Append("</code> ")
                        .Append("<span class=\"muted\">").Append(E(Time(a.At))).Append("</span>");
                    if (a.Emergency)
                    {
                        h.Append(" <span class=\"tag warn\">").Append(E(a.Rollout is null ? "emergency" : $"emergency ({a.Rollout})")).Append("</span>");
                    }
                    h.Append("</div>");
                }
                h.Append("</td><td>");
                if (host.Owed.Count == 0)
                {
                    h.Append("<span class=\"good\">none</span>");
                }
                foreach (var o in host.Owed)
                {
                    h.Append("<div class=\"").Append(o.EmergencyBackfill ? "warn" : "bad").Append("\">").Append(E($"{o.PatchId} {o.ShortDigest}"))
                        .Append(o.EmergencyBackfill ? " (emergency back-fill)" : "").Append("</div>");
                }
                h.Append("</td><td>");
                if (host.SecurityCollectedAt is null)
                {
                    h.Append("<span class=\"muted\">no manifest</span>");
                }
                else if (host.Security.Count == 0)
                {
                    h.Append("<span class=\"good\">none</span>");
                }
                foreach (var u in host.Security)
                {
                    h.Append("<div class=\"bad\"><code>").Append(E(u.Name)).Append("</code> ").Append(E($"{u.CurrentVersion ?? "(new)"} → {u.CandidateVersion}")).Append("</div>");
                }
                if (host.SecurityCollectedAt is { } at)
                {
                    h.Append("<div class=\"muted\"><small>").Append(E($"collected {Time(at)}")).Append("</small></div>");
                }
                h.Append("</td><td>");
                switch (host.Drift.Status)
                {
                    case "drifted":
                        h.Append("<div class=\"bad\">").Append(E($"{host.Drift.Count} item(s)")).Append("</div>");
                        foreach (var i in host.Drift.Items)
                        {
                            h.Append("<div><span class=\"tag\">").Append(E(Category(i.Category))).Append("</span> <code>").Append(E(i.Key))
                                .Append("</code>: ").Append(E($"{i.Before ?? "(absent)"} → {i.After ?? "(absent)"}")).Append("</div>");
                        }
                        if (host.Drift.Count > host.Drift.Items.Count)
                        {
                            h.Append("<div class=\"muted\">").Append(E($"… and {host.Drift.Count - host.Drift.Items.Count} more")).Append("</div>");
                        }
                        break;
                    case "none":
                        h.Append("<span class=\"good\">none</span>");
                        break;
                    default:
                        h.Append("<span class=\"muted\">").Append(E(host.Drift.Status.Replace('-', ' '))).Append("</span>");
                        break;
                }
                h.Append("</td></tr>\n");
            }
            h.Append("</tbody>\n</table>\n</section>\n");
        }

        h.Append("<footer>Generated by stageproof compliance · self-contained, no network</footer>\n</main>\n</body>\n</html>\n");
        return h.ToString();
    }

    private static string E(string? text) => WebUtility.HtmlEncode(Clean(text));

    private static void Li(StringBuilder h, string text) => h.Append("<li>").Append(E(text)).Append("</li>\n");

    private const string Css = """
        :root{--pass:#276749;--pass-bg:#f0fff4;--fail:#9b2c2c;--fail-bg:#fff5f5;--warn:#744210;--line:#e2e8f0;--muted:#718096}
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a202c;background:#f7fafc;margin:0}
        main{max-width:1200px;margin:0 auto;padding:18px}
        h2{font-size:18px;margin:0 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
        section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:14px 16px;margin:14px 0}
        .banner{border-width:2px}
        .banner.pass{background:var(--pass-bg);border-color:var(--pass)}
        .banner.fail{background:var(--fail-bg);border-color:var(--fail)}
        .banner.pass .verdict{color:var(--pass)}.banner.fail .verdict{color:var(--fail)}
        .verdict{font-size:32px;font-weight:800;letter-spacing:2px}
        table{border-collapse:collapse;width:100%;margin:6px 0}
        th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
        thead th{background:#edf2f7;font-weight:600}
        code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
        .tag{display:inline-block;font-size:11.5px;font-weight:700;border-radius:3px;padding:0 5px;background:#edf2f7}
        .tag.warn{background:#fefcbf;color:var(--warn)}
        ul.owed li.owe{color:var(--fail)}ul.owed li.backfill{color:var(--warn)}
        .muted{color:var(--muted)}.good{color:var(--pass)}.bad{color:var(--fail)}.warn{color:var(--warn)}
        footer{color:var(--muted);font-size:12px;text-align:center;margin-top:20px}
        """;
}
