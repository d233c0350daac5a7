using System.Diagnostics;
using System.Text;

namespace Stageproof.Testing;

/// <summary>A <c>stageproof</c> child process (the CLI built beside the tests) whose output is kept for the failure
/// message; disposing kills it and its children.</summary>
public sealed class StageproofProcess : IDisposable
{
    private readonly StringBuilder _output = new();
    private readonly Process _process;
    private readonly List<string> _lines = [];

    private StageproofProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }
    public int Id => _process.Id;
    public bool Exited => _process.HasExited;
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

    public static StageproofProcess Start(string name, string workingDirectory, IReadOnlyList<string> args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        // As in the test hosts (tests/Directory.Build.props): a server or worker that lives for one test does not
        // run long enough to repay dynamic PGO's instrumentation.
        psi.Environment["DOTNET_TieredPGO"] = "0";
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "stageproof.dll"));
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }
        var process = new Process { StartInfo = psi };
        var child = new StageproofProcess(name, process);
        process.OutputDataReceived += (_, e) => child.Add(e.Data);
        process.ErrorDataReceived += (_, e) => child.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
            _lines.Add(line);
        }
    }

    /// <summary>The first output line that matches, waited for at most <paramref name="limit"/> (fails with the output).</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan limit)
    {
        var until = DateTimeOffset.UtcNow + limit;
        while (DateTimeOffset.UtcNow < until)
        {
            lock (_output)
            {
                if (_lines.FirstOrDefault(match) is { } line)
                {
                    return line;
                }
            }
            if (_process.HasExited)
            {
                _process.WaitForExit();
                Assert.Fail($"{Name} exited ({_process.ExitCode}) before it was ready:\n{Output}");
            }
            await Task.Delay(100);
        }
        Assert.Fail($"{Name} was not ready within {limit}:\n{Output}");
        return "";
    }

    /// <summary>SIGTERM, as a service manager stops it; returns its exit code once it has exited (within
    /// <paramref name="limit"/>).</summary>
    public async Task<int> TerminateAsync(TimeSpan limit)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(limit);
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    /// <summary>Waits at most <paramref name="limit"/> for it to exit on its own; true when it did.</summary>
    public bool WaitForExit(TimeSpan limit) => _process.WaitForExit(limit);

    /// <summary>Its exit code, once it has exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>SIGKILL: the process dies where it stands, as a machine that loses power.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
            _process.WaitForExit(10_000);
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        _process.Dispose();
    }
}
