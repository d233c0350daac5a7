using System.Text;
using Stageproof.Core;
using Stageproof.Core.Hosts;
using Stageproof.Core.Stage;

namespace Stageproof.Hosts.Facts;

/// <summary>Runs <see cref="BehaviourScript"/> on a host: once before a change, once (or more) after it.</summary>
public sealed class HostBehaviourCollector(TimeSpan timeout)
{
    /// <param name="before">The record from before the change: null to take that record; given, the logs' growth
    /// since is scanned for error lines.</param>
    /// <param name="suiteLogs">Log files the check suite already reads: not scanned again.</param>
    public async Task<HostBehaviour> CollectAsync(ITransport transport, HostBehaviour? before, IReadOnlyList<string> suiteLogs,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transport);
        var command = RemoteCommand.Script(BehaviourScript.Name, BehaviourScript.Text,
            [before is null ? "before" : "after", BehaviourScript.ErrorPattern, .. suiteLogs]);
        var options = new CommandOptions
        {
            Timeout = timeout,
            StandardInput = before is null ? null : Encoding.UTF8.GetBytes(before.LogsInput()),
        };
        var result = await transport.RunAsync(command, options, cancellationToken).ConfigureAwait(false);
        try
        {
            return HostBehaviour.Parse(result.StandardOutput);
        }
        catch (FormatException e)
        {
            throw new InfrastructureException(transport.HostName,
                $"recording what the host does (processes, logs, accounts, /etc) failed (exit {result.ExitCode}): {e.Message}; {Tail(result.StandardError)}");
        }
    }

    private static string Tail(string text) => text.Length <= 300 ? text.Trim() : "…" + text[^300..].Trim();
}
