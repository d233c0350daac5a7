using System.Diagnostics;
using System.Net.Sockets;

namespace Stageproof.Testing;

/// <summary>A real ssh-agent in the foreground (-D) on a socket in its own temp folder; disposing kills it by pid.</summary>
public sealed class SshAgentProcess : IAsyncDisposable
{
    public const string AgentPath = "/usr/bin/ssh-agent";
    public const string AddPath = "/usr/bin/ssh-add";

    /// <summary>Runs a tool to completion (with SSH_AUTH_SOCK set when given) and fails the test on a non-zero exit.</summary>
    public static async Task RunAsync(string path, string[] arguments, string? authSock = null)
    {
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        if (authSock is not null)
        {
            psi.Environment["SSH_AUTH_SOCK"] = authSock;
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {path}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{path} {string.Join(' ', arguments)} exited with {p.ExitCode}: {await stdout}{stderr}");
    }

    private readonly Process _process;

    private SshAgentProcess(string directory, Process process)
    {
        Directory = directory;
        _process = process;
    }

    public string Directory { get; }
    public string SocketPath => Path.Combine(Directory, "agent.sock");

    public static async Task<SshAgentProcess> StartAsync()
    {
        Requires.Executable(AgentPath);
        Requires.Executable(AddPath);
        Requires.Executable(SshdFixture.KeygenPath);
        var directory = Path.Combine(Path.GetTempPath(), "stageproof-agent-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        var psi = new ProcessStartInfo(AgentPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-D", "-a", Path.Combine(directory, "agent.sock") })
        {
            psi.ArgumentList.Add(a);
        }
        // A key added with -c asks this program to confirm each use: it always says no, and at once.
        psi.Environment["SSH_ASKPASS"] = "/bin/false";
        psi.Environment["SSH_ASKPASS_REQUIRE"] = "force";
        var agent = new SshAgentProcess(directory, Process.Start(psi) ?? throw new InvalidOperationException("could not start ssh-agent"));
        try
        {
            agent._process.BeginOutputReadLine();
            agent._process.BeginErrorReadLine();
            await agent.WaitUntilListeningAsync();
            return agent;
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    // Listening, not merely bound: the socket file exists a moment before the agent accepts connections.
    private async Task WaitUntilListeningAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(_process.HasExited, $"ssh-agent exited with {(_process.HasExited ? _process.ExitCode : 0)}");
            try
            {
                using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await probe.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
                return;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(20);
            }
        }
    }

    public Task AddAsync(string keyPath, params string[] options) => RunAsync(AddPath, ["-q", .. options, keyPath], SocketPath);

    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        finally
        {
            _process.Dispose();
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}
