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
        Human = Create(json ? stderr : stdout, pipeWidth: 160);
        // An error for a log or a pipe stays one line, however long its path: grep and CI logs read it whole.
        Errors = Create(stderr, pipeWidth: 32_767);
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
        Human.MarkupLine(markup ? text : Markup.Escape(Printable(text)));

    public void Error(string message) => Errors.MarkupLine("[red]error:[/] " + Markup.Escape(Printable(message)));

    /// <summary>Reads one line typed on the terminal without echoing it (a password, a token), the prompt on stderr;
    /// null when more than <paramref name="maxLength"/> characters were typed.</summary>
    public string? ReadHidden(string prompt, int maxLength)
    {
        Errors.Markup(Escape(prompt));
        var typed = new System.Text.StringBuilder();
        while (typed.Length <= maxLength)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                Errors.WriteLine();
                return typed.ToString();
            }
            if (key.Key == ConsoleKey.Backspace)
            {
                typed.Length = Math.Max(0, typed.Length - 1);
            }
            else if (!char.IsControl(key.KeyChar))
            {
                typed.Append(key.KeyChar);
            }
        }
        Errors.WriteLine();
        return null;
    }

    public void Warn(string message) => Errors.MarkupLine("[yellow]warning:[/] " + Markup.Escape(Printable(message)));

    /// <summary>Text for a markup string (a table cell, a narrated line): control characters escaped, then markup.</summary>
    public static string Escape(string? text) => Markup.Escape(Printable(text ?? ""));

    /// <summary>
    /// Text from outside (an --actor, a host's command output, a file name) shown as text: control characters other
    /// than newline and tab are written as \xNN / \uNNNN, so an escape sequence can neither recolour nor rewrite the
    /// operator's terminal.
    /// </summary>
    public static string Printable(string text)
    {
        if (!text.Any(IsControl))
        {
            return text;
        }
        var sb = new System.Text.StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (!IsControl(c))
            {
                sb.Append(c);
            }
            else if (c <= 0xff)
            {
                sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else
            {
                sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }
        return sb.ToString();
    }

    private static bool IsControl(char c) => c != '\n' && c != '\t' && (char.IsControl(c) || c is '\u2028' or '\u2029' or '\u200e' or '\u200f' or (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069'));

    private static IAnsiConsole Create(TextWriter writer, int pipeWidth)
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
            console.Profile.Width = pipeWidth;
        }
        return console;
    }
}
