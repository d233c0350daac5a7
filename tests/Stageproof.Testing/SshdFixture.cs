using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Stageproof.Core.Configuration;

namespace Stageproof.Testing;

/// <summary>
/// A real, private sshd on its own 127.0.2.x address and a free port, with a fresh ed25519 host key, a client key
/// in authorized_keys and a known_hosts file that holds the host key. Runs in the foreground (-D -e) so this
/// fixture owns the process; disposing kills it (and its session children) and removes its directory.
/// Use as an xunit class fixture, or <see cref="StartAsync"/> with <c>await using</c>.
/// Tests call <see cref="Require"/> first: it skips (or fails under CI=true) when the machine lacks root or sshd.
/// </summary>
public sealed class SshdFixture : IAsyncLifetime, IAsyncDisposable
{
    public const string SshdPath = "/usr/sbin/sshd";
    public const string KeygenPath = "/usr/bin/ssh-keygen";

    private static int _nextAddress;

    private readonly StringBuilder _log = new();
    private Process? _process;
    private Exception? _startFailure;
    private bool _started;

    public SshdFixture() => Address = $"127.0.2.{1 + (Interlocked.Increment(ref _nextAddress) - 1) % 200}";

    public string Address { get; }
    public int Port { get; private set; }
    public string Directory { get; private set; } = "";
    public string ClientKeyPath => Path.Combine(Directory, "client_ed25519");
    public string HostKeyPath => Path.Combine(Directory, "host_ed25519");
    public string KnownHostsPath => Path.Combine(Directory, "known_hosts");
    /// <summary>The host public key as its .pub file holds it: "ssh-ed25519 BASE64".</summary>
    public string HostPublicKey { get; private set; } = "";
    public byte[] HostKeyBlob => Convert.FromBase64String(HostPublicKey.Split(' ')[1]);

    /// <summary>Everything sshd has logged so far (-e sends its log to stderr).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>How many logins sshd accepted ("Accepted publickey" log lines).</summary>
    public int AcceptedLogins => Log.Split('\n').Count(l => l.Contains("Accepted publickey", StringComparison.Ordinal));

    /// <summary>How many sessions ended with the client disconnecting ("Disconnected from user" log lines).</summary>
    public int Disconnects => Log.Split('\n').Count(l => l.Contains("Disconnected from user", StringComparison.Ordinal));

    /// <summary>The disconnects once at least <paramref name="atLeast"/> have been logged, or after 10 s whatever have.</summary>
    public async Task<int> DisconnectsAsync(int atLeast)
    {
        var deadline = Stopwatch.StartNew();
        while (Disconnects < atLeast && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20).ConfigureAwait(false);
        }
        return Disconnects;
    }

    /// <summary>
    /// The accepted logins once at least <paramref name="atLeast"/> have been logged, or after 10 s whatever has. sshd's
    /// unprivileged child hands its log lines to the monitor through a pipe, so the line for a login can reach stderr
    /// after the client already runs commands on that connection: a count read at once may be one short.
    /// </summary>
    public async Task<int> AcceptedLoginsAsync(int atLeast)
    {
        var deadline = Stopwatch.StartNew();
        while (AcceptedLogins < atLeast && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20).ConfigureAwait(false);
        }
        return AcceptedLogins;
    }

    /// <summary>A host entry for this sshd: root, the client key, the fixture's known_hosts.</summary>
    public HostConfig Host(string name = "sshd-test") => new()
    {
        Name = name,
        Transport = TransportKind.Ssh,
        Address = Address,
        Port = Port,
        User = "root",
        Identity = ClientKeyPath,
        KnownHosts = KnownHostsPath,
    };

    public static async Task<SshdFixture> StartAsync(CancellationToken cancellationToken = default)
    {
        var fixture = new SshdFixture();
        await fixture.StartCoreAsync(cancellationToken).ConfigureAwait(false);
        return fixture;
    }

    /// <summary>Skips the test (fails it under CI=true) without root or sshd; fails it if sshd did not start.</summary>
    public void Require()
    {
        Requires.Root();
        Requires.Executable(SshdPath);
        Requires.Executable(KeygenPath);
        if (_startFailure is not null)
        {
            throw new InvalidOperationException($"the test sshd on {Address} did not start: {_startFailure.Message}", _startFailure);
        }
        if (!_started)
        {
            throw new InvalidOperationException("the test sshd was never started");
        }
    }

    async Task IAsyncLifetime.InitializeAsync()
    {
        if (!CanRun())
        {
            return; // Require() reports it in the test, as a skip or (under CI) a failure.
        }
        try
        {
            await StartCoreAsync(CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Reported by Require() inside each test, where xunit shows it against the test.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _startFailure = e;
        }
    }

    async Task IAsyncLifetime.DisposeAsync() => await DisposeAsync().ConfigureAwait(false);

    private static bool CanRun() =>
        File.Exists(SshdPath) && File.Exists(KeygenPath) && Environment.UserName == "root";

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        Directory = Path.Combine(Path.GetTempPath(), "stageproof-sshd-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(Directory);
        try
        {
            // sshd refuses to start without its privilege separation directory.
            System.IO.Directory.CreateDirectory("/run/sshd");
            await GenerateKeyAsync(HostKeyPath, cancellationToken).ConfigureAwait(false);
            await GenerateKeyAsync(ClientKeyPath, cancellationToken).ConfigureAwait(false);
            HostPublicKey = PublicKeyOf(HostKeyPath);
            File.Copy(ClientKeyPath + ".pub", Path.Combine(Directory, "authorized_keys"));
            Port = FreePort(Address);
            File.WriteAllText(KnownHostsPath, $"[{Address}]:{Port} {HostPublicKey}\n");
            var config = Path.Combine(Directory, "sshd_config");
            File.WriteAllText(config, string.Join('\n',
                $"ListenAddress {Address}",
                $"Port {Port}",
                $"HostKey {HostKeyPath}",
                $"AuthorizedKeysFile {Path.Combine(Directory, "authorized_keys")}",
                $"PidFile {Path.Combine(Directory, "sshd.pid")}",
                "StrictModes no",
                "UsePAM no",
                "MaxStartups 200:30:300",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "LogLevel INFO",
                // sshd runs commands with root's own shell, and bash run by sshd with SHLVL < 2 sources ~/.bashrc: on
                // this machine that is pyenv init, ~280 ms a command, which says nothing about the hosts under test.
                "SetEnv SHLVL=1",
                ""));

            var psi = new ProcessStartInfo(SshdPath)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "-D", "-e", "-f", config })
            {
                psi.ArgumentList.Add(a);
            }
            var process = new Process { StartInfo = psi };
            process.ErrorDataReceived += (_, e) => Append(e.Data);
            process.OutputDataReceived += (_, e) => Append(e.Data);
            process.Start();
            _process = process;
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            await WaitUntilReadyAsync(process, TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
            _started = true;
        }
        catch
        {
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            _log.Append(line).Append('\n');
        }
    }

    // Ready means sshd accepted a TCP connection and sent its identification line.
    private async Task WaitUntilReadyAsync(Process process, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        Exception? last = null;
        while (deadline.Elapsed < limit)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"sshd exited with {process.ExitCode} before listening on {Address}:{Port}:\n{Log}");
            }
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attempt.CancelAfter(TimeSpan.FromSeconds(2));
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Parse(Address), Port, attempt.Token).ConfigureAwait(false);
                var buffer = new byte[4];
                var stream = tcp.GetStream();
                var read = 0;
                while (read < 4)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(read), attempt.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }
                    read += n;
                }
                if (read == 4 && Encoding.ASCII.GetString(buffer) == "SSH-")
                {
                    return;
                }
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                last = e;
            }
            // Poll interval, not a wait for a guessed duration: the loop ends as soon as sshd answers.
            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken).ConfigureAwait(false);
        }
        throw new TimeoutException($"sshd on {Address}:{Port} not ready after {limit.TotalSeconds}s ({last?.Message}):\n{Log}");
    }

    /// <summary>Makes an ed25519 key pair without a passphrase at <paramref name="path"/> (and path.pub).</summary>
    public static async Task GenerateKeyAsync(string path, CancellationToken cancellationToken = default)
    {
        var psi = new ProcessStartInfo(KeygenPath)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-q", "-t", "ed25519", "-N", "", "-C", "stageproof-test", "-f", path })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start ssh-keygen");
        var stderr = p.StandardError.ReadToEndAsync(cancellationToken);
        await p.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await p.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"ssh-keygen failed for {path}: {await stderr.ConfigureAwait(false)}");
        }
    }

    /// <summary>"type base64" of a key pair's .pub file, without the comment.</summary>
    public static string PublicKeyOf(string privateKeyPath)
    {
        var parts = File.ReadAllText(privateKeyPath + ".pub").Trim().Split(' ');
        return $"{parts[0]} {parts[1]}";
    }

    /// <summary>A port nothing listens on at <paramref name="address"/> right now.</summary>
    public static int FreePort(string address)
    {
        using var listener = new TcpListener(IPAddress.Parse(address), 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        var process = _process;
        _process = null;
        if (process is not null)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
            {
                Console.Error.WriteLine($"SshdFixture: could not stop sshd on {Address}:{Port}: {e.Message}");
            }
            process.Dispose();
        }
        if (Directory.Length > 0 && System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}
