namespace Stageproof.Core.Hosts;

/// <summary>
/// A command for a host's shell. Built either from a program and its arguments (each quoted), or from a
/// script that is a constant of this program's source with its variable parts passed as quoted positional
/// parameters ($1, $2, ...). No caller ever concatenates input into shell text.
/// </summary>
public sealed class RemoteCommand
{
    private RemoteCommand(string text, string display)
    {
        ShellText = text;
        Display = display;
    }

    /// <summary>The exact text handed to <c>sh -c</c> on the host.</summary>
    public string ShellText { get; }

    /// <summary>A short form for logs and the audit trail.</summary>
    public string Display { get; }

    /// <summary>A program and its arguments, each quoted.</summary>
    public static RemoteCommand Exec(string program, params IEnumerable<string> arguments)
    {
        var words = new[] { program }.Concat(arguments).ToArray();
        var text = ShellQuote.Join(words);
        return new RemoteCommand(text, text);
    }

    /// <summary>
    /// A constant script run by <c>sh -c SCRIPT NAME ARGS...</c>: the script refers to its inputs as "$1", "$@" ...
    /// and never sees them spliced into its text.
    /// </summary>
    public static RemoteCommand Script(string name, string script, params IEnumerable<string> arguments)
    {
        var args = arguments.ToArray();
        var text = "sh -c " + ShellQuote.Quote(script) + " " + ShellQuote.Quote(name) +
                   (args.Length > 0 ? " " + ShellQuote.Join(args) : "");
        return new RemoteCommand(text, args.Length > 0 ? $"{name} {ShellQuote.Join(args)}" : name);
    }

    /// <summary>Prefixes the command with sudo (non-interactive) for hosts configured with <c>become: sudo</c>.</summary>
    public RemoteCommand WithSudo() => new("sudo -n -- sh -c " + ShellQuote.Quote(ShellText), "sudo " + Display);

    public override string ToString() => Display;
}
