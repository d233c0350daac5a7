using System.Globalization;
using System.Text.RegularExpressions;
using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;

namespace Stageproof.Hosts.Checks;

/// <summary>What a logs check read on one host: the text written since the marker and how it was found.</summary>
public sealed record LogRead(string File, string Host, string Text, long From, long Size, bool Rotated, bool Missing, bool Truncated);

/// <summary>Markers (inode and size) and reads from the marker on, through the host's transport.</summary>
public static class LogsReader
{
    private const string MarkScript = """
        f=$1
        if [ -f "$f" ]; then stat -L -c '%i %s' -- "$f"; else echo 'none 0'; fi
        """;

    // Reads from the marker's offset up to the size seen now (a line being written is left for next time),
    // from the start when the file was rotated (other inode) or truncated (smaller than the offset).
    private const string ReadScript = """
        f=$1; ino=$2; off=$3; max=$4
        if [ ! -f "$f" ]; then echo '@@missing 0 0'; exit 0; fi
        now=$(stat -L -c '%i %s' -- "$f") || exit 3
        cur=${now%% *}; size=${now##* }
        if [ "$cur" != "$ino" ] || [ "$size" -lt "$off" ]; then echo "@@rotated 0 $size"; off=0; else echo "@@from $off $size"; fi
        len=$((size - off))
        if [ "$len" -gt "$max" ]; then len=$max; fi
        if [ "$len" -gt 0 ]; then tail -c +$((off + 1)) -- "$f" | head -c "$len"; fi
        """;

    private static RemoteCommand Elevated(RemoteCommand command, HostConfig host) => host.Become == "sudo" ? command.WithSudo() : command;

    public static async Task<LogMarker> MarkAsync(ITransport transport, HostConfig host, string file, TimeSpan timeout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(host);
        var result = await transport.RunAsync(Elevated(RemoteCommand.Script("stageproof-log-mark", MarkScript, file), host),
            new CommandOptions { Timeout = timeout }, ct).ConfigureAwait(false);
        var parts = result.StandardOutput.Trim().Split(' ');
        if (!result.Succeeded || parts.Length != 2 || !long.TryParse(parts[1], CultureInfo.InvariantCulture, out var size))
        {
            throw new Core.InfrastructureException(host.Name, $"cannot mark {file}: exit {result.ExitCode} {result.StandardError.Trim()}");
        }
        return new LogMarker(parts[0], size);
    }

    public static async Task<LogRead> ReadSinceAsync(ITransport transport, HostConfig host, string file, LogMarker marker, int maxBytes,
        TimeSpan timeout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(marker);
        var inv = CultureInfo.InvariantCulture;
        var result = await transport.RunAsync(Elevated(RemoteCommand.Script("stageproof-log-read", ReadScript,
                file, marker.Inode, marker.Offset.ToString(inv), maxBytes.ToString(inv)), host),
            new CommandOptions { Timeout = timeout }, ct).ConfigureAwait(false);
        var output = result.StandardOutput;
        var newline = output.IndexOf('\n', StringComparison.Ordinal);
        var header = (newline < 0 ? output : output[..newline]).Split(' ');
        if (!result.Succeeded || header.Length != 3 || !header[0].StartsWith("@@", StringComparison.Ordinal))
        {
            throw new Core.InfrastructureException(host.Name, $"cannot read {file}: exit {result.ExitCode} {result.StandardError.Trim()}");
        }
        var from = long.Parse(header[1], inv);
        var size = long.Parse(header[2], inv);
        var text = newline < 0 ? "" : output[(newline + 1)..];
        return new LogRead(file, host.Name, text, from, size, header[0] == "@@rotated", header[0] == "@@missing", size - from > maxBytes);
    }

    /// <summary>Counts the lines written since the marker and those matching fail and warn patterns.</summary>
    internal static CheckSuiteRunner.Outcome Evaluate(LogsCheck check, LogRead read)
    {
        if (read.Missing)
        {
            return new CheckSuiteRunner.Outcome(CheckStatus.Failed, $"{read.File} does not exist");
        }
        var fail = check.Fail.Select(p => new Regex(p, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))).ToList();
        var warn = check.Warn.Select(p => new Regex(p, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))).ToList();
        var lines = read.Text.Split('\n');
        var count = 0;
        var errors = new List<string>();
        var warnings = new List<string>();
        foreach (var raw in lines)
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }
            count++;
            if (fail.Any(r => r.IsMatch(line)))
            {
                errors.Add(line);
            }
            else if (warn.Any(r => r.IsMatch(line)))
            {
                warnings.Add(line);
            }
        }
        var rate = count == 0 ? 0 : (double)errors.Count / count;
        var m = new Dictionary<string, double>
        {
            ["lines"] = count, ["errors"] = errors.Count, ["warnings"] = warnings.Count, ["error_rate"] = rate,
            ["bytes"] = read.Size - read.From,
        };
        var inv = CultureInfo.InvariantCulture;
        var scope = string.Create(inv, $"{read.File}: {count} new lines since the marker") + (read.Rotated ? " (file rotated or truncated since, read from its start)" : "")
            + (read.Truncated ? string.Create(inv, $" (only the first {check.MaxBytes} bytes read)") : "");
        var evidence = errors.Concat(warnings).Take(20).Select(l => l.Length > 500 ? l[..500] + "…" : l).ToList();
        if (errors.Count > 0)
        {
            return new CheckSuiteRunner.Outcome(CheckStatus.Failed,
                string.Create(inv, $"{scope}, {errors.Count} matching fail patterns ({(rate) * 100:0.00}%); first: {Short(errors[0])}"), m, null, evidence);
        }
        if (warnings.Count > 0)
        {
            return new CheckSuiteRunner.Outcome(CheckStatus.Warned,
                string.Create(inv, $"{scope}, {warnings.Count} matching warn patterns; first: {Short(warnings[0])}"), m, null, evidence);
        }
        return new CheckSuiteRunner.Outcome(CheckStatus.Passed, $"{scope}, none matching fail or warn patterns", m);
    }

    private static string Short(string line) => line.Length > 200 ? line[..200] + "…" : line;
}
