using System.Globalization;
using Spectre.Console;
using Stageproof.Application.Staging;
using Stageproof.Cli.Commands;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core;
using Stageproof.Core.Checks;
using Stageproof.Core.Manifests;
using Stageproof.Core.Stage;

namespace Stageproof.Cli.Features;

/// <summary><c>stage D --env ENV</c> from the CLI: the application's <see cref="StageWorkflow"/> as this session's actor,
/// its progress printed as it happens.</summary>
internal sealed class StageService(CliSession session)
{
    public async Task<StageResult> RunAsync(StageOptions options, CancellationToken ct)
    {
        var engines = await session.EnginesAsync(ct).ConfigureAwait(false);
        var workflow = new StageWorkflow(engines, session.Actor, new Progress(session.Ui), CollectAsync);
        return await workflow.RunAsync(options, ct).ConfigureAwait(false);
    }

    /// <summary>An environment's facts collected now and stored, as <c>drift</c> collects an operand.</summary>
    private async Task<IReadOnlyList<Manifest>> CollectAsync(string environment, CancellationToken ct)
    {
        var operands = await session.DriftOperandsAsync(ct).ConfigureAwait(false);
        var (side, failures) = await operands.ResolveAsync(environment, storedOnly: false, ct).ConfigureAwait(false);
        return failures.FirstOrDefault() is { } failure ? throw new InfrastructureException(failure.Target, failure.Message) : side.Manifests;
    }

    /// <summary>Each step's heading and verdict, every check and every reason for FAIL, as they happen.</summary>
    private sealed class Progress(Ui ui) : IStageProgress
    {
        public IProgress<string> Engine { get; } = new SyncProgress<string>(line => ui.Errors.MarkupLine(Ui.Escape(line)));

        public void StepStarted(int number, string step, string what, TimeSpan elapsed)
        {
            ui.Human.WriteLine();
            ui.Human.MarkupLine($"[bold]{number}. {Ui.Escape(step)}[/] — {Ui.Escape(what)} [grey]({elapsed.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)}s)[/]");
        }

        public void StepEnded(string step, StepStatus status, string summary)
        {
            var colour = status switch { StepStatus.Passed => "green", StepStatus.Warned => "yellow", StepStatus.Skipped => "grey", _ => "red" };
            ui.Human.MarkupLine($"  [{colour}]{status.ToString().ToUpperInvariant()}[/] {Ui.Escape(summary)}");
        }

        public void Failed(string step, string subject, string evidence) =>
            ui.Human.MarkupLine($"  [red]FAIL[/] {Ui.Escape(step)}: {Ui.Escape(subject)}: {Ui.Escape(evidence)}");

        public void Checked(CheckResult r) =>
            ui.Human.MarkupLine($"    {CheckCommand.Badge(r.Status)} {Ui.Escape(r.Name)} [grey]({Ui.Escape(r.Type)}, {Ui.Escape(r.Target)})[/] {Ui.Escape(r.Message)}");
    }
}
