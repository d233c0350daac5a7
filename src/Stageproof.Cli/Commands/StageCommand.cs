using System.CommandLine;
using Spectre.Console;
using Stageproof.Application.Staging;
using Stageproof.Cli.Features;
using Stageproof.Core;
using Stageproof.Core.Stage;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof stage D --env ENV</c>: prove a patch set in an environment, with evidence.</summary>
internal static class StageCommand
{
    public static Command Create(VerbContext verbs)
    {
        var digest = new Argument<string>("D") { Description = "The frozen patch set's digest, or a unique prefix of it" };
        var env = new Option<string>("--env") { Description = "The environment to prove it in (usually staging)", Required = true };
        var acceptDrift = new Option<bool>("--accept-drift") { Description = "Go on although the environment does not mirror its mirror_of (needs --reason; recorded)" };
        var reason = new Option<string?>("--reason") { Description = "Why (recorded in the audit log and the result)" };
        var junit = new Option<string?>("--junit") { Description = "Also write the result as JUnit XML (one test case per step and check)" };
        var html = new Option<string?>("--html") { Description = "Also write a self-contained HTML report" };
        var command = new Command("stage", "Prove a patch set in an environment: fidelity, baseline, apply, compare, drift, soak, rollback rehearsal, verdict")
        {
            digest, env, acceptDrift, reason, junit, html,
        };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            // Checked before the run: a report path that cannot be written is a typo to fix now, not after the verdict.
            var junitFile = parse.GetValue(junit) is { } j ? Infrastructure.OutputFiles.Check(j, "--junit") : null;
            var htmlFile = parse.GetValue(html) is { } h ? Infrastructure.OutputFiles.Check(h, "--html") : null;
            var result = await new StageService(session).RunAsync(new StageOptions
            {
                Digest = parse.GetValue(digest)!,
                Environment = parse.GetValue(env)!,
                AcceptDrift = parse.GetValue(acceptDrift),
                Reason = parse.GetValue(reason),
            }, ct).ConfigureAwait(false);
            await WriteReportsAsync(result, junitFile, htmlFile, session.Ui, ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(result);
            }
            else
            {
                Render(session.Ui.Human, result);
            }
            return result.Verdict == StageVerdict.Pass ? ExitCodes.Ok : ExitCodes.Finding;
        }));
        return command;
    }

    /// <summary>Writes the requested reports. A report that cannot be written after all is an error line, never the
    /// end of the verb: the verdict (and its exit code) is what the run was for, and it is stored either way.</summary>
    internal static async Task WriteReportsAsync(StageResult result, string? junit, string? html, Infrastructure.Ui ui, CancellationToken ct)
    {
        foreach (var (file, what, render) in new (string?, string, Func<StageResult, string>)[]
                 {
                     (junit, "JUnit XML", Application.Reports.StageJUnit.Render), (html, "HTML report", Application.Reports.StageHtml.Render),
                 })
        {
            if (file is null)
            {
                continue;
            }
            try
            {
                await Infrastructure.OutputFiles.WriteAsync(file, render(result), ct).ConfigureAwait(false);
                ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"{what}: {Path.GetFullPath(file)}"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                ui.Error($"could not write the {what} to {Path.GetFullPath(file)}: {e.Message} (the verdict is stored: stageproof compliance)");
            }
        }
    }

    internal static void Render(IAnsiConsole console, StageResult result)
    {
        console.WriteLine();
        var pass = result.Verdict == StageVerdict.Pass;
        console.Write(new Rule(pass
            ? $"[bold green]PASS[/] {Infrastructure.Ui.Escape(result.PatchId)} in {Infrastructure.Ui.Escape(result.Environment)}"
            : $"[bold red]FAIL[/] {Infrastructure.Ui.Escape(result.PatchId)} in {Infrastructure.Ui.Escape(result.Environment)}").LeftJustified());
        var table = new Table().Border(TableBorder.Simple).AddColumns("step", "status", "took", "summary");
        foreach (var s in result.Steps)
        {
            var colour = s.Status switch { StepStatus.Passed => "green", StepStatus.Warned => "yellow", StepStatus.Skipped => "grey", _ => "red" };
            table.AddRow(Infrastructure.Ui.Escape(s.Name), $"[{colour}]{s.Status.ToString().ToLowerInvariant()}[/]",
                s.Duration.TotalSeconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + "s", Infrastructure.Ui.Escape(s.Summary));
        }
        console.Write(table);
        foreach (var r in result.Reasons)
        {
            console.MarkupLine($"[red]reason[/] {Infrastructure.Ui.Escape(r.Step)}: {Infrastructure.Ui.Escape(r.Subject)}: {Infrastructure.Ui.Escape(r.Evidence)}");
        }
        foreach (var line in result.Rehearsal?.Story ?? [])
        {
            console.MarkupLine($"[blue]rollback story[/] {Infrastructure.Ui.Escape(line)}");
        }
        foreach (var w in result.Warnings)
        {
            console.MarkupLine($"[yellow]warning[/] {Infrastructure.Ui.Escape(w.Step)}: {Infrastructure.Ui.Escape(w.Subject)}: {Infrastructure.Ui.Escape(w.Evidence)}");
        }
        console.MarkupLine(Infrastructure.Ui.Escape($"evidence: stage result {result.Id} stored for {result.PatchDigest[..12]} in {result.Environment}; audit events {result.AuditFrom}..{result.AuditTo}"));
    }
}
