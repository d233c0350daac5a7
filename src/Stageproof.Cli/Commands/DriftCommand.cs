using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stageproof.Application.Estate;
using Stageproof.Core;
using Stageproof.Core.Drift;

namespace Stageproof.Cli.Commands;

internal static class DriftCommand
{
    public static Command Create(VerbContext verbs)
    {
        var left = new Argument<string>("A") { Description = "Environment, host, NAME@TIME or stored manifest digest (the reference, e.g. prod)" };
        var right = new Argument<string>("B") { Description = "The same kinds of thing (the one checked, e.g. staging)" };
        var stored = new Option<bool>("--stored") { Description = "Compare the latest stored manifests instead of collecting now" };
        var minFidelity = new Option<double?>("--min-fidelity") { Description = "Override drift.min_fidelity for this run" };
        var command = new Command("drift", "Show how B differs from A, item by item, with a fidelity figure (exit 1 below the threshold)")
        {
            left, right, stored, minFidelity,
        };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var threshold = parse.GetValue(minFidelity) ?? session.Config.Drift.MinFidelity;
            if (threshold is < 0 or > 1)
            {
                throw new InputException($"--min-fidelity must be between 0 and 1, not {threshold}");
            }
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var workflow = new DriftWorkflow(session.Config, store, session.Time, await session.EventsAsync(ct).ConfigureAwait(false),
                await session.FactsCollectorAsync(ct).ConfigureAwait(false), session.FactsProgress());
            var outcome = await workflow.CompareAsync(parse.GetValue(left)!, parse.GetValue(right)!, parse.GetValue(stored), threshold,
                session.Actor, announce: true, ct).ConfigureAwait(false);
            if (outcome.Failures.Count > 0)
            {
                foreach (var f in outcome.Failures)
                {
                    session.Ui.Error($"{f.Target}: {f.Message}");
                }
                session.Ui.Error("drift not computed: the facts of every host are needed for a fair comparison");
                return ExitCodes.Infrastructure;
            }

            if (session.Ui.Json)
            {
                session.Ui.WriteJson(outcome.Document);
            }
            else
            {
                DriftView.Render(session.Ui.Human, outcome.Report!, threshold, outcome.Below, session.Config.Drift.FailOn);
            }
            return outcome.Below ? ExitCodes.Finding : ExitCodes.Ok;
        }));
        return command;
    }
}

/// <summary>Renders drift for people: the differences, the unified diffs of config files, the figures.</summary>
internal static class DriftView
{
    public static void Render(IAnsiConsole console, DriftReport report, double threshold, bool below, DriftSeverity? failOn)
    {
        console.Write(new Rule($"[bold]Drift[/] {Infrastructure.Ui.Escape(report.Left)} → {Infrastructure.Ui.Escape(report.Right)}").LeftJustified());
        var items = new Table().Border(TableBorder.Rounded)
            .AddColumns("pair", "category", "item", Infrastructure.Ui.Escape(report.Left), Infrastructure.Ui.Escape(report.Right), "severity");
        foreach (var item in report.Unpaired)
        {
            AddItem(items, "-", item);
        }
        foreach (var (left, right, pairItems) in report.Pairs)
        {
            foreach (var item in pairItems)
            {
                AddItem(items, $"{left} ↔ {right}", item);
            }
        }
        if (report.Items == 0)
        {
            console.MarkupLine("[green]No differences.[/]");
        }
        else
        {
            console.Write(items);
        }

        foreach (var (left, right, pairItems) in report.Pairs)
        {
            foreach (var item in pairItems.Where(i => i.Diff is not null || i.Format is not null))
            {
                console.MarkupLine($"[bold]{Infrastructure.Ui.Escape(item.Key)}[/] ({Infrastructure.Ui.Escape(left)} ↔ {Infrastructure.Ui.Escape(right)}): " +
                    Infrastructure.Ui.Escape(item.Format ?? ""));
                if (item.Category == DriftCategory.ConfigCosmetic)
                {
                    console.MarkupLine("  [green]cosmetic: the same values; only comments, whitespace, blank lines or order differ[/]");
                }
                foreach (var value in item.Values ?? [])
                {
                    console.MarkupLine($"  [yellow]{Infrastructure.Ui.Escape(value.ToString())}[/]");
                }
                foreach (var line in (item.Diff ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    var color = line.StartsWith('+') ? "green" : line.StartsWith('-') ? "red" : line.StartsWith('@') ? "cyan" : "grey";
                    console.MarkupLine($"  [{color}]{Infrastructure.Ui.Escape(line)}[/]");
                }
            }
        }

        var figures = new Table().Border(TableBorder.Simple).AddColumns("family", "compared", "matching", "fidelity");
        foreach (var f in report.Families.Where(f => f.Compared > 0))
        {
            figures.AddRow(f.Family.Code(), N(f.Compared), N(f.Matching), Percent(f.Fidelity));
        }
        figures.AddRow("[bold]overall[/]", N(report.Families.Sum(f => f.Compared)), N(report.Families.Sum(f => f.Matching)), $"[bold]{Percent(report.Fidelity)}[/]");
        console.Write(figures);
        var reasons = new List<string>();
        if (report.Fidelity < threshold)
        {
            reasons.Add($"fidelity {Percent(report.Fidelity)} is below the minimum {Percent(threshold)}");
        }
        if (report.MissingCounterpart)
        {
            reasons.Add("a role or database has no counterpart");
        }
        if (failOn is { } level && report.MaxSeverity >= level)
        {
            reasons.Add($"a {report.MaxSeverity!.Value.Code()}-severity difference (fail_on: {level.Code()})");
        }
        console.MarkupLine(below
            ? $"[red]{Infrastructure.Ui.Escape(report.Right)} is not a faithful mirror of {Infrastructure.Ui.Escape(report.Left)}[/]: {Infrastructure.Ui.Escape(string.Join("; ", reasons))}."
            : $"[green]Fidelity {Percent(report.Fidelity)}[/] (minimum {Percent(threshold)}){(failOn is null ? "" : $", nothing of {failOn.Value.Code()} severity")}.");
    }

    private static void AddItem(Table table, string pair, DriftItem item)
    {
        var severity = item.Severity switch
        {
            DriftSeverity.High => "[red]high[/]",
            DriftSeverity.Medium => "[yellow]medium[/]",
            DriftSeverity.Low => "low",
            _ => "info",
        };
        table.AddRow(Infrastructure.Ui.Escape(pair), item.Category.Code(), Infrastructure.Ui.Escape(item.Key),
            Infrastructure.Ui.Escape(Short(item.Left) ?? "(absent)"), Infrastructure.Ui.Escape(Short(item.Right) ?? "(absent)"), severity);
    }

    private static string? Short(string? value) => value is { Length: > 60 } ? value[..57] + "..." : value;

    private static string N(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Percent(double f) => f.ToString("0.0%", CultureInfo.InvariantCulture);
}
