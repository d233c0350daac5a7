using System.Diagnostics;

namespace Stageproof.Testing;

/// <summary>How the fixtures run a server's tools (initdb, pg_ctl, mariadb-install-db, slapadd, chown): to the end,
/// from /tmp, bounded in time.</summary>
public static class FixtureProcess
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/> (two minutes at most unless
    /// <paramref name="timeout"/> says otherwise) and returns its standard output; a non-zero exit or the timeout throws
    /// with the command line and what it printed.</summary>
    public static async Task<string> RunAsync(string file, IReadOnlyList<string> args, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/tmp",
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(120));
        var stdout = p.StandardOutput.ReadToEndAsync(limit.Token);
        var stderr = p.StandardError.ReadToEndAsync(limit.Token);
        try
        {
            await p.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} timed out");
        }
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{file} {string.Join(' ', args)} exited {p.ExitCode}: {await stdout.ConfigureAwait(false)}{await stderr.ConfigureAwait(false)}");
        }
        return await stdout.ConfigureAwait(false);
    }
}
