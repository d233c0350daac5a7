using System.CommandLine;
using Stageproof.Application.Estate;
using Stageproof.Application.Reports;
using System.Globalization;
using Spectre.Console;
using Stageproof.Core;
using Stageproof.Core.Compliance;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof compliance [--env ENV] [--html FILE]</c>: what is applied, owed, pending and drifted, per host.</summary>
internal static class ComplianceCommand
{
    public static Command Create(VerbContext verbs)
    {
        var env = new Option<string?>("--env") { Description = "Only this environment (default: every environment)" };
        var html = new Option<string?>("--html") { Description = "Also write a self-contained HTML report" };
        var command = new Command("compliance",
            "Per environment and host: patch sets applied (and by which lane), sets owed along the lifecycle, pending security updates, drift since the last verified change")
        {
            env, html,
        };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var only = parse.GetValue(env);
            var htmlFile = parse.GetValue(html) is { } h ? Infrastructure.OutputFiles.Check(h, "--html") : null;
            ComplianceReport report;
            if (session.Server is not null)
            {
                // The server builds it from its state, judges the scope and audits the read, as locally.
                report = await session.Remote.GetAsync<ComplianceReport>("compliance" + Query(only), ct).ConfigureAwait(false);
            }
            else
            {
                var config = session.Config;
                if (only is not null && !config.Environments.ContainsKey(only))
                {
                    throw new InputException($"--env: environment '{only}' is not defined (known: {string.Join(", ", config.Environments.Keys)})");
                }
                var compliance = new ComplianceWorkflow(config, await session.StoreAsync(ct).ConfigureAwait(false), session.Time);
                report = await compliance.BuildAsync(only, ct).ConfigureAwait(false);
                await compliance.AuditAsync(session.Actor, only, report, ct).ConfigureAwait(false);
            }

            if (htmlFile is { } file)
            {
                await Infrastructure.OutputFiles.WriteAsync(file, ComplianceHtml.Render(report), ct).ConfigureAwait(false);
                session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"HTML report: {Path.GetFullPath(file)}"));
            }
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(report);
            }
            else
            {
                Render(session.Ui.Human, report);
            }
            return report.Compliant ? ExitCodes.Ok : ExitCodes.Finding;
        }, throughServer: true));
        return command;
    }

    private static string Query(string? environment) => environment is null ? "" : "?environment=" + Uri.EscapeDataString(environment);

    private static string Time(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm'Z'", CultureInfo.InvariantCulture);

    internal static void Render(IAnsiConsole console, ComplianceReport report)
    {
        if (report.Lifecycle.Count == 0)
        {
            console.MarkupLine("[grey]no lifecycle defined: nothing can be owed (add lifecycle.stages to stageproof.yaml)[/]");
        }
        else
        {
            console.MarkupLine(Infrastructure.Ui.Escape("lifecycle: " + string.Join(" → ", report.Lifecycle)));
        }
        foreach (var env in report.Environments)
        {
            console.WriteLine();
            console.Write(new Rule(Infrastructure.Ui.Escape(env.Stage is { } s ? $"{env.Environment} (stage {s})" : env.Environment)).LeftJustified());
            var table = new Table().Border(TableBorder.Simple).AddColumns("host", "applied", "owed", "security", "drift");
            foreach (var h in env.Hosts)
            {
                var applied = h.Applied.Count == 0 ? "[grey]-[/]" : string.Join("\n", h.Applied.Select(a =>
                    Infrastructure.Ui.Escape($"{a.PatchId} {a.ShortDigest} {Time(a.At)}") + (a.Emergency ? " [yellow]emergency[/]" : "")));
                var owed = h.Owed.Count == 0 ? "[green]none[/]" : string.Join("\n", h.Owed.Select(o =>
                    (o.EmergencyBackfill ? "[yellow]" : "[red]") + Infrastructure.Ui.Escape($"{o.PatchId} {o.ShortDigest}") + "[/]"));
                var security = h.Security.Count == 0
                    ? (h.SecurityCollectedAt is null ? "[grey]no manifest[/]" : "[green]none[/]")
                    : string.Join("\n", h.Security.Select(u => Infrastructure.Ui.Escape($"{u.Name} {u.CurrentVersion ?? "(new)"} → {u.CandidateVersion}")).Prepend($"[red]{h.Security.Count}[/]"));
                var drift = h.Drift.Status switch
                {
                    "drifted" => $"[red]{h.Drift.Count} item(s)[/]\n" + string.Join("\n", h.Drift.Items.Select(i =>
                        Infrastructure.Ui.Escape($"{ReportText.Category(i.Category)} {i.Key}: {i.Before ?? "(absent)"} → {i.After ?? "(absent)"}"))),
                    "none" => "[green]none[/]",
                    var other => $"[grey]{Infrastructure.Ui.Escape(other.Replace('-', ' '))}[/]",
                };
                table.AddRow(Infrastructure.Ui.Escape(h.Host), applied, owed, security, drift);
            }
            console.Write(table);
            foreach (var o in env.Owed)
            {
                console.MarkupLine((o.EmergencyBackfill ? "[yellow]owed[/] " : "[red]owed[/] ") + Infrastructure.Ui.Escape($"{o.PatchId} ({o.ShortDigest}): {o.Message}"));
            }
        }
        var t = report.Totals;
        console.WriteLine();
        console.MarkupLine(Infrastructure.Ui.Escape($"{t.Environments} environment(s), {t.Hosts} host(s); {t.Applied} applied patch set(s)"));
        console.MarkupLine(Infrastructure.Ui.Escape($"owed: {t.Owed} ({t.EmergencyBackfills} emergency back-fill(s))"));
        console.MarkupLine(Infrastructure.Ui.Escape($"security updates pending: {t.SecurityUpdates} on {t.HostsWithSecurityUpdates} host(s)"));
        console.MarkupLine(Infrastructure.Ui.Escape($"drifted since last verified: {t.DriftedHosts} host(s), {t.DriftItems} item(s)"));
        console.MarkupLine(report.Compliant ? "[green]compliant[/]" : "[red]not compliant[/]");
    }
}
