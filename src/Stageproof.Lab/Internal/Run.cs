using System.Diagnostics;
using System.Text;
using Stageproof.Core;
using Stageproof.Core.Hosts;

namespace Stageproof.Lab.Internal;

/// <summary>Runs programs on this machine with an argument vector (never through a shell of ours), with a timeout.</summary>
internal static class Run
{
    public static async Task<CommandResult> ExecAsync(string subject, string program, IEnumerable<string> arguments,
        TimeSpan timeout, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? environment = null,
        string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
        {
            psi.WorkingDirectory = workingDirectory;
        }
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["LC_ALL"] = "C";
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                psi.Environment[k] = v;
            }
        }
        var sw = Stopwatch.StartNew();
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InfrastructureException(subject, $"could not start {program}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InfrastructureException(subject, $"could not start {program}: {e.Message}", e);
        }
        using (process)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(cts.Token);
            var stderr = process.StandardError.ReadToEndAsync(cts.Token);
            try
            {
                await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
                return new CommandResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false), sw.Elapsed);
            }
            catch (OperationCanceledException)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }
                if (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }
                throw new InfrastructureException(subject, $"'{Describe(program, psi.ArgumentList)}' timed out after {timeout.TotalSeconds:0}s");
            }
        }
    }

    /// <summary>Runs a program and throws <see cref="InfrastructureException"/> naming the command when it fails.</summary>
    public static async Task<string> CheckedAsync(string subject, string program, IEnumerable<string> arguments,
        TimeSpan timeout, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? environment = null,
        string? workingDirectory = null)
    {
        var args = arguments.ToList();
        var r = await ExecAsync(subject, program, args, timeout, cancellationToken, environment, workingDirectory).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            throw new InfrastructureException(subject,
                $"'{Describe(program, args)}' exited with {r.ExitCode}: {Tail(r.StandardError + r.StandardOutput)}");
        }
        return r.StandardOutput;
    }

    /// <summary>
    /// Starts a program that daemonizes (sshd, an init script): its standard streams go to a log file, so the
    /// daemon never holds a pipe of ours open. Throws with the log's tail when it fails.
    /// </summary>
    public static async Task DaemonAsync(string subject, string logFile, string program, IEnumerable<string> arguments,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        var args = arguments.ToList();
        const string script = "log=$1; shift; exec \"$@\" </dev/null >>\"$log\" 2>&1";
        var r = await ExecAsync(subject, "/bin/sh", ["-c", script, "daemon", logFile, program, .. args], timeout, cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            var log = File.Exists(logFile) ? await File.ReadAllTextAsync(logFile, cancellationToken).ConfigureAwait(false) : "";
            throw new InfrastructureException(subject, $"'{Describe(program, args)}' exited with {r.ExitCode}: {Tail(log)}");
        }
    }

    public static string Describe(string program, IEnumerable<string> args) => ShellQuote.Join([program, .. args]);

    public static string Tail(string text, int lines = 8)
    {
        var all = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var sb = new StringBuilder();
        foreach (var l in all.Skip(Math.Max(0, all.Length - lines)))
        {
            sb.Append(l.TrimEnd()).Append(" | ");
        }
        return sb.Length > 3 ? sb.ToString(0, sb.Length - 3) : "(no output)";
    }
}
