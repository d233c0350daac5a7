using System.Text.Json;
using Spectre.Console;
using Stageproof.Core.Manifests;

namespace Stageproof.Cli.Infrastructure;

/// <summary>
/// The one place commands write to. People get Spectre tables and narration on stdout; with --json, stdout gets
/// exactly one JSON document and everything meant for people (progress included) goes to stderr.
/// </summary>
internal sealed class Ui
{
    /// <summary>The manifests' conventions (camelCase, enums as codes, nulls omitted), indented for reading.</summary>
    private static readonly JsonSerializerOptions JsonOptions = new(ManifestJson.Options) { WriteIndented = true };

    private readonly TextWriter _stdout;

    public Ui(TextWriter stdout, TextWriter stderr, bool json)
    {
        _stdout = stdout;
        Json = json;
        Human = Create(json ? stderr : stdout);
        Errors = Create(stderr);
    }

    public bool Json { get; }

    /// <summary>Where output for people goes (stdout, or stderr under --json).</summary>
    public IAnsiConsole Human { get; }

    /// <summary>Error messages: always stderr.</summary>
    public IAnsiConsole Errors { get; }

    public void WriteJson<T>(T document)
    {
        _stdout.WriteLine(JsonSerializer.Serialize(document, JsonOptions));
        _stdout.Flush();
    }

    /// <summary>A line of narration; markup-escaped unless <paramref name="markup"/> is set.</summary>
    public void Say(string text, bool markup = false) =>
        Human.MarkupLine(markup ? text : Markup.Escape(text));

    public void Error(string message) => Errors.MarkupLine("[red]error:[/] " + Markup.Escape(message));

    public void Warn(string message) => Errors.MarkupLine("[yellow]warning:[/] " + Markup.Escape(message));

    private static IAnsiConsole Create(TextWriter writer)
    {
        var interactive = ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected
                          || ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!interactive)
        {
            // Logs and pipes have no width; 80 columns would fold every table into an unreadable column of words.
            console.Profile.Width = 160;
        }
        return console;
    }
}
