using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Renci.SshNet;
using Renci.SshNet.Common;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Transports;

/// <summary>Against a real ssh-agent per test (on a Unix socket in a temp folder) and a real sshd on 127.0.2.x.</summary>
public sealed class SshAgentTests(SshdFixture sshd) : IClassFixture<SshdFixture>
{

    [SkippableFact]
    public async Task An_ed25519_key_that_only_the_agent_holds_lists_and_logs_in()
    {
        sshd.Require();
        await using var agent = await SshAgentProcess.StartAsync();
        var copy = Path.Combine(agent.Directory, "id_ed25519");
        File.Copy(sshd.ClientKeyPath, copy); // keeps its mode 0600, without which ssh-add refuses the key
        await agent.AddAsync(copy);
        File.Delete(copy);

        var keys = await (await SshAgent.ConnectAsync(agent.SocketPath, CancellationToken.None)).KeysAsync(CancellationToken.None);

        var algorithm = Assert.Single(Assert.Single(keys).HostKeyAlgorithms);
        Assert.Equal("ssh-ed25519", algorithm.Name);
        Assert.Equal(PublicKeyBlob(sshd.ClientKeyPath), algorithm.Data);
        Assert.Equal("ok\n", RunEchoOk(keys));
    }

    [SkippableFact]
    public async Task An_rsa_key_in_the_agent_logs_in_with_an_rsa_sha2_signature()
    {
        sshd.Require();
        await using var agent = await SshAgentProcess.StartAsync();
        var key = Path.Combine(agent.Directory, "id_rsa");
        await RunAsync(SshdFixture.KeygenPath, ["-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", "agent-rsa", "-f", key]);
        await File.AppendAllTextAsync(Path.Combine(sshd.Directory, "authorized_keys"), await File.ReadAllTextAsync(key + ".pub"));
        await agent.AddAsync(key);
        File.Delete(key);

        var keys = await (await SshAgent.ConnectAsync(agent.SocketPath, CancellationToken.None)).KeysAsync(CancellationToken.None);

        var algorithms = Assert.Single(keys).HostKeyAlgorithms;
        Assert.Equal(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"], algorithms.Select(a => a.Name));
        Assert.Equal("ok\n", RunEchoOk(keys));
        // Each name gets a signature of its own hash (the agent's flags), made by the key the blob holds.
        var data = "stageproof"u8.ToArray();
        using var rsa = RsaOf(algorithms.First().Data);
        foreach (var (algorithm, hash) in algorithms.Zip([HashAlgorithmName.SHA512, HashAlgorithmName.SHA256, HashAlgorithmName.SHA1]))
        {
            var position = 0;
            var blob = algorithm.Sign(data);
            Assert.Equal(algorithm.Name, Encoding.ASCII.GetString(ReadString(blob, ref position)));
            Assert.True(rsa.VerifyData(data, ReadString(blob, ref position), hash, RSASignaturePadding.Pkcs1), algorithm.Name);
            Assert.Equal(blob.Length, position);
        }
    }

    [SkippableFact]
    public async Task A_key_the_server_does_not_accept_fails_authentication_without_hanging()
    {
        sshd.Require();
        await using var agent = await SshAgentProcess.StartAsync();
        var stranger = Path.Combine(agent.Directory, "stranger");
        await SshdFixture.GenerateKeyAsync(stranger);
        await agent.AddAsync(stranger);

        var keys = await (await SshAgent.ConnectAsync(agent.SocketPath, CancellationToken.None)).KeysAsync(CancellationToken.None);

        var run = Task.Run(() => RunEchoOk(keys));
        await Assert.ThrowsAsync<SshAuthenticationException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_socket_path_that_does_not_exist_is_reported_with_the_path()
    {
        var missing = Path.Combine(Path.GetTempPath(), "stageproof-no-agent-" + Guid.NewGuid().ToString("N")[..8], "agent.sock");

        var e = await Assert.ThrowsAsync<SshAgentUnavailableException>(() => SshAgent.ConnectAsync(missing, CancellationToken.None));

        Assert.Equal(missing, e.SocketPath);
        Assert.Contains(missing, e.Message, StringComparison.Ordinal);
        Assert.Contains("no such socket", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_killed_agent_is_reported_by_connect_keys_and_sign()
    {
        sshd.Require();
        await using var agent = await SshAgentProcess.StartAsync();
        await agent.AddAsync(sshd.ClientKeyPath);
        var connected = await SshAgent.ConnectAsync(agent.SocketPath, CancellationToken.None);
        var keys = await connected.KeysAsync(CancellationToken.None);

        await agent.KillAsync();

        var onConnect = await Assert.ThrowsAsync<SshAgentUnavailableException>(() => SshAgent.ConnectAsync(agent.SocketPath, CancellationToken.None));
        var onKeys = await Assert.ThrowsAsync<SshAgentUnavailableException>(() => connected.KeysAsync(CancellationToken.None));
        // SSH.NET lets the exception from Sign through its Connect.
        var onSign = Assert.Throws<SshAgentUnavailableException>(() => RunEchoOk(keys));
        foreach (var e in new[] { onConnect, onKeys, onSign })
        {
            Assert.Contains(agent.SocketPath, e.Message, StringComparison.Ordinal);
            Assert.Contains("connection refused: no agent listens on this socket", e.Message, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task A_signature_the_agent_refuses_is_an_error_naming_the_key()
    {
        await using var agent = await SshAgentProcess.StartAsync();
        var key = Path.Combine(agent.Directory, "id_confirm");
        await SshdFixture.GenerateKeyAsync(key);
        await agent.AddAsync(key, "-c");

        var keys = await (await SshAgent.ConnectAsync(agent.SocketPath, CancellationToken.None)).KeysAsync(CancellationToken.None);
        var algorithm = Assert.Single(Assert.Single(keys).HostKeyAlgorithms);

        var e = Assert.Throws<SshAgentUnavailableException>(() => algorithm.Sign([1, 2, 3]));
        Assert.Equal($"ssh-agent at {agent.SocketPath}: the agent refused to sign with the key 'stageproof-test' as ssh-ed25519 "
                     + "(locked, or the key needs a confirmation that was denied)", e.Message);
    }

    [SkippableFact]
    public async Task An_empty_agent_has_no_keys()
    {
        await using var agent = await SshAgentProcess.StartAsync();

        var keys = await (await SshAgent.ConnectAsync(agent.SocketPath, CancellationToken.None)).KeysAsync(CancellationToken.None);

        Assert.Empty(keys);
    }

    [Fact]
    public async Task A_path_that_is_not_a_socket_is_reported_as_such()
    {
        var file = Path.GetTempFileName();
        try
        {
            var e = await Assert.ThrowsAsync<SshAgentUnavailableException>(() => SshAgent.ConnectAsync(file, CancellationToken.None));

            Assert.Equal($"ssh-agent at {file}: it is a regular file, not a socket", e.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 1, 5 }, "protocol error: the agent answered a request for its keys with SSH_AGENT_FAILURE")]
    [InlineData(new byte[] { 0, 0, 0, 1, 99 }, "protocol error: message type 99 in answer to a request for its keys, not 12")]
    [InlineData(new byte[] { 0, 0, 0, 3, 12, 0, 0 }, "protocol error: the message ends inside a number")]
    [InlineData(new byte[] { 0, 0, 0, 9, 12, 0, 0, 0, 1, 0, 0, 0, 9 }, "protocol error: a string of 9 bytes with 0 left in the message")]
    [InlineData(new byte[] { 0, 0, 0, 6, 12, 0, 0, 0, 0, 7 }, "protocol error: the message goes on for 1 more byte(s)")]
    [InlineData(new byte[] { 0x48, 0x54, 0x54, 0x50 }, "protocol error: an answer of 1213486160 bytes (not an ssh-agent?)")]
    [InlineData(new byte[] { 0, 0, 0, 5, 12 }, "the agent closed the connection without a complete answer")]
    public async Task Garbage_from_the_socket_is_a_protocol_error(byte[] answer, string cause)
    {
        await using var fake = FakeAgent.Start(answer);

        var e = await Assert.ThrowsAsync<SshAgentUnavailableException>(() => SshAgent.ConnectAsync(fake.SocketPath, CancellationToken.None));

        Assert.Equal($"ssh-agent at {fake.SocketPath}: {cause}", e.Message);
    }

    [Fact]
    public async Task An_agent_that_never_answers_times_out_after_the_request_timeout_and_says_so()
    {
        // Ten seconds unless told otherwise; this waits one (the wait itself is what is tested, not its length).
        Assert.Equal(TimeSpan.FromSeconds(10), SshAgent.DefaultRequestTimeout);
        await using var fake = FakeAgent.Start(answer: null);
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<SshAgentUnavailableException>(() => SshAgent.ConnectAsync(fake.SocketPath, CancellationToken.None, TimeSpan.FromSeconds(1)));

        Assert.Equal($"ssh-agent at {fake.SocketPath}: no answer within 1 s", e.Message);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
    }

    private string RunEchoOk(IReadOnlyList<IPrivateKeySource> keys)
    {
        var info = new ConnectionInfo(sshd.Address, sshd.Port, "root", new PrivateKeyAuthenticationMethod("root", keys.ToArray()))
        {
            Timeout = TimeSpan.FromSeconds(10),
        };
        using var client = new SshClient(info);
        client.HostKeyReceived += (_, e) => e.CanTrust = e.HostKey.SequenceEqual(sshd.HostKeyBlob);
        client.Connect();
        return client.RunCommand("echo ok").Result;
    }

    // An ssh-rsa public key blob: string "ssh-rsa", mpint e, mpint n (RFC 4253 6.6).
    private static RSA RsaOf(byte[] blob)
    {
        var position = 0;
        Assert.Equal("ssh-rsa", Encoding.ASCII.GetString(ReadString(blob, ref position)));
        var exponent = ReadString(blob, ref position);
        var modulus = ReadString(blob, ref position);
        // An mpint carries a leading zero when its top bit is set; RSAParameters wants the bare magnitude.
        return RSA.Create(new RSAParameters { Exponent = exponent.SkipWhile(b => b == 0).ToArray(), Modulus = modulus.SkipWhile(b => b == 0).ToArray() });
    }

    private static byte[] ReadString(byte[] buffer, ref int position)
    {
        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(position));
        position += 4 + length;
        return buffer[(position - length)..position];
    }

    private static byte[] PublicKeyBlob(string privateKeyPath) =>
        Convert.FromBase64String(SshdFixture.PublicKeyOf(privateKeyPath).Split(' ')[1]);

    private static Task RunAsync(string path, string[] arguments) => SshAgentProcess.RunAsync(path, arguments);

    /// <summary>A Unix socket that answers any request with fixed bytes (then closes), or never answers.</summary>
    private sealed class FakeAgent : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;
        private readonly string _directory;

        private FakeAgent(string directory, Socket listener, byte[]? answer)
        {
            _directory = directory;
            _listener = listener;
            _serving = ServeAsync(answer);
        }

        public string SocketPath => Path.Combine(_directory, "agent.sock");

        public static FakeAgent Start(byte[]? answer)
        {
            var directory = Path.Combine(Path.GetTempPath(), "stageproof-fake-agent-" + Guid.NewGuid().ToString("N")[..12]);
            System.IO.Directory.CreateDirectory(directory);
            var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(Path.Combine(directory, "agent.sock")));
            listener.Listen();
            return new FakeAgent(directory, listener, answer);
        }

        private async Task ServeAsync(byte[]? answer)
        {
            try
            {
                while (true)
                {
                    using var connection = await _listener.AcceptAsync(_stop.Token);
                    var request = new byte[5];
                    await connection.ReceiveAsync(request, _stop.Token);
                    if (answer is null)
                    {
                        await Task.Delay(Timeout.Infinite, _stop.Token);
                    }
                    else
                    {
                        await connection.SendAsync(answer, _stop.Token);
                        connection.Shutdown(SocketShutdown.Both);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // Disposed.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _serving;
            _listener.Dispose();
            _stop.Dispose();
            System.IO.Directory.Delete(_directory, recursive: true);
        }
    }
}
