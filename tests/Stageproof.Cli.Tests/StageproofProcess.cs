using System.Diagnostics;
using System.Text;

namespace Stageproof.Cli.Tests;

/// <summary>The stageproof program as its own process (so it can be killed, or hold a lock while another runs), with
/// what it printed kept for the assertions.</summary>
internal sealed class StageproofProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private StageproofProcess(Process process) => _process = process;

    public static StageproofProcess Start(string directory, params string[] args)
    {
        var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "stageproof"))
        {
            WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        var started = new StageproofProcess(Process.Start(psi)!);
        started._process.OutputDataReceived += (_, e) => started.Append(e.Data);
        started._process.ErrorDataReceived += (_, e) => started.Append(e.Data);
        started._process.BeginOutputReadLine();
        started._process.BeginErrorReadLine();
        return started;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    /// <summary>Standard output and error as printed so far, interleaved.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    /// <summary>SIGKILL to the process and its children: no cleanup, no finally; returns once it is gone.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>Kills it when it is still running (a test that failed half-way leaves nothing behind).</summary>
    public void Stop()
    {
        if (!_process.HasExited)
        {
            Kill();
        }
    }

    public void Dispose()
    {
        Stop();
        _process.Dispose();
    }
}
