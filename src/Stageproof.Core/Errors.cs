namespace Stageproof.Core;

/// <summary>Base of every expected failure; carries the exit code the command line maps it to.</summary>
public abstract class StageproofException(string message, int exitCode, Exception? inner = null)
    : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>One problem in an input file, located precisely.</summary>
public sealed record InputProblem(string File, int Line, int Column, string Key, string Message)
{
    public override string ToString() =>
        Line > 0 ? $"{File}:{Line}:{Column}: {Key}: {Message}" : $"{File}: {Key}: {Message}";
}

/// <summary>Bad input or configuration (exit 2). Holds every problem found, not just the first.</summary>
public sealed class InputException : StageproofException
{
    public InputException(IReadOnlyList<InputProblem> problems)
        : base(string.Join(Environment.NewLine, problems), ExitCodes.BadInput) => Problems = problems;

    public InputException(string message) : base(message, ExitCodes.BadInput) => Problems = [];

    public IReadOnlyList<InputProblem> Problems { get; }
}

/// <summary>A host could not be reached, refused authentication, or a command timed out (exit 3).</summary>
public class InfrastructureException(string host, string message, Exception? inner = null)
    : StageproofException($"{host}: {message}", ExitCodes.Infrastructure, inner)
{
    public string Host { get; } = host;
}

/// <summary>The host presented a key that is unknown or differs from the recorded one.</summary>
public sealed class HostKeyException(string host, string message) : InfrastructureException(host, message);

/// <summary>A rule refused the action (no evidence, no approval, a held lock, a role): exit code 1, nothing changed.
/// The message names the rule.</summary>
public sealed class RefusedException(string rule, string message)
    : StageproofException($"refused by rule {rule}: {message}", ExitCodes.Finding)
{
    public string Rule { get; } = rule;

    /// <summary>The refusal's own words, without the "refused by rule R: " the message begins with.</summary>
    public string Reason { get; } = message;
}
