using System.Diagnostics;
using Stageproof.Core;
using Stageproof.Core.Hosts;

namespace Stageproof.Hosts.Transports;

/// <summary>Runs a local process with arguments passed as a vector (never through a shell of ours), with a timeout.</summary>
internal static class ProcessRunner
{
    public static async Task<CommandResult> RunAsync(string host, string fileName, IReadOnlyList<string> arguments,
        CommandOptions options, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? environment = null,
        string? standardInputFile = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["LC_ALL"] = "C";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }
        var sw = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InfrastructureException(host, $"could not start {fileName}");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            if (options.StandardInput is { } input)
            {
                await process.StandardInput.BaseStream.WriteAsync(input, timeout.Token).ConfigureAwait(false);
            }
            if (standardInputFile is not null)
            {
                // Streamed, not read into memory: a database dump may be larger than this machine's RAM.
                await using var file = File.OpenRead(standardInputFile);
                await file.CopyToAsync(process.StandardInput.BaseStream, timeout.Token).ConfigureAwait(false);
            }
            process.StandardInput.Close();
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            return new CommandResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false), sw.Elapsed);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new InfrastructureException(host, $"command timed out after {options.Timeout.TotalSeconds:0}s");
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
    }
}
