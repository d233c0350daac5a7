using Microsoft.Data.Sqlite;

namespace Stageproof.Cli.Infrastructure;

/// <summary>What the outermost handler says about an exception no verb expected: one line, and the exit code.</summary>
internal static class UnexpectedError
{
    public static (string Message, int ExitCode) Describe(Exception e, string? stateDirectory = null)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            e = aggregate.InnerExceptions[0];
        }
        var message = OneLine(e.Message);
        return e switch
        {
            // YAML or JSON nested deeper than the runtime's stack allows: the input's fault, not the machine's.
            InsufficientExecutionStackException => ("input nested too deeply to read", Core.ExitCodes.BadInput),
            UnauthorizedAccessException => ("permission denied: " + message, Core.ExitCodes.Infrastructure),
            SqliteException => ($"state store{(stateDirectory is null ? "" : " " + stateDirectory)}: {message}", Core.ExitCodes.Infrastructure),
            // A PostgreSQL state that went away mid-verb (restart, network): the message names the server's answer.
            Npgsql.NpgsqlException => ($"state store (PostgreSQL): {message}", Core.ExitCodes.Infrastructure),
            IOException => ("i/o error: " + message, Core.ExitCodes.Infrastructure),
            _ => ($"unexpected {e.GetType().Name}: {message}", Core.ExitCodes.Infrastructure),
        };
    }

    private static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
