using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Renci.SshNet;
using Renci.SshNet.Security;
using Stageproof.Core.Validation;

namespace Stageproof.Hosts.Transports;

/// <summary>
/// A client of an ssh-agent (draft-miller-ssh-agent) on its Unix socket: lists the agent's keys as SSH.NET key
/// sources whose signatures the agent makes, so private keys never leave it. Each request opens its own connection,
/// so the keys can sign from any thread. Strict: an answer that is not exactly what the protocol says is an error.
/// </summary>
public sealed class SshAgent
{
    private const byte Failure = 5;
    private const byte RequestIdentities = 11;
    private const byte IdentitiesAnswer = 12;
    private const byte SignRequest = 13;
    private const byte SignResponse = 14;
    private const uint RsaSha2256 = 2;
    private const uint RsaSha2512 = 4;

    // OpenSSH's agent refuses messages above 256 KiB (AGENT_MAX_LEN); a longer answer is not from an agent.
    private const int MaxMessageLength = 256 * 1024;

    /// <summary>How long one request waits for the agent's answer (or for room in its backlog) unless told otherwise.</summary>
    public static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(10);

    private readonly UnixDomainSocketEndPoint _endpoint;

    private SshAgent(string socketPath, TimeSpan requestTimeout)
    {
        SocketPath = socketPath;
        RequestTimeout = requestTimeout;
        _endpoint = new UnixDomainSocketEndPoint(socketPath);
    }

    /// <summary>How long one request waits for the agent's answer.</summary>
    public TimeSpan RequestTimeout { get; }

    public string SocketPath { get; }

    /// <summary>The keys the agent listed when it was connected (<see cref="KeysAsync"/> asks again).</summary>
    public IReadOnlyList<IPrivateKeySource> Keys { get; private set; } = [];

    /// <summary>
    /// The agent at <paramref name="socketPath"/>, once it has answered a request for its keys (kept in <see cref="Keys"/>):
    /// a missing, dead or foreign socket fails here, with <see cref="SshAgentUnavailableException"/>, not at the first signature.
    /// </summary>
    public static async Task<SshAgent> ConnectAsync(string socketPath, CancellationToken cancellationToken, TimeSpan? requestTimeout = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(socketPath);
        var agent = new SshAgent(socketPath, requestTimeout ?? DefaultRequestTimeout);
        agent.Keys = await agent.KeysAsync(cancellationToken).ConfigureAwait(false);
        return agent;
    }

    /// <summary>
    /// The agent's keys, in its order, for <c>new PrivateKeyAuthenticationMethod(user, keys)</c>. Only plain ed25519,
    /// ECDSA and RSA keys: certificates (…-cert-v01@openssh.com) are skipped, as Stageproof authenticates with keys;
    /// so are DSA keys, which OpenSSH no longer accepts, and security keys (sk-…), which want a touch per signature.
    /// </summary>
    public async Task<IReadOnlyList<IPrivateKeySource>> KeysAsync(CancellationToken cancellationToken)
    {
        var answer = new AgentReader(await ExchangeAsync([RequestIdentities], cancellationToken).ConfigureAwait(false), SocketPath);
        answer.ExpectType(IdentitiesAnswer, "a request for its keys");
        var count = answer.ReadUInt32();
        var keys = new List<IPrivateKeySource>();
        for (var i = 0u; i < count; i++)
        {
            var blob = answer.ReadString();
            var comment = Encoding.UTF8.GetString(answer.ReadString());
            var type = Encoding.ASCII.GetString(new AgentReader(blob, SocketPath).ReadString());
            if (Algorithms(type) is { Length: > 0 } algorithms)
            {
                keys.Add(new AgentKey(algorithms.Select(a => new AgentSignature(this, a.Name, a.Flags, blob, comment)).ToArray()));
            }
        }
        answer.ExpectEnd();
        return keys;
    }

    // RSA keys sign with SHA-2 when the server allows it (RFC 8332); SSH.NET offers the names in this order.
    private static (string Name, uint Flags)[] Algorithms(string keyType) => keyType switch
    {
        "ssh-ed25519" or "ecdsa-sha2-nistp256" or "ecdsa-sha2-nistp384" or "ecdsa-sha2-nistp521" => [(keyType, 0)],
        "ssh-rsa" => [("rsa-sha2-512", RsaSha2512), ("rsa-sha2-256", RsaSha2256), ("ssh-rsa", 0)],
        _ => [],
    };

    /// <summary>The agent's signature blob (string algorithm, string signature) of <paramref name="data"/>.</summary>
    private byte[] Sign(string algorithm, uint flags, byte[] keyBlob, string comment, byte[] data)
    {
        var request = new byte[1 + 4 + keyBlob.Length + 4 + data.Length + 4];
        request[0] = SignRequest;
        var rest = PutString(PutString(request.AsSpan(1), keyBlob), data);
        BinaryPrimitives.WriteUInt32BigEndian(rest, flags);

        var answer = new AgentReader(Exchange(request), SocketPath);
        if (answer.Type == Failure)
        {
            throw new SshAgentUnavailableException(SocketPath,
                $"the agent refused to sign with the key '{comment}' as {algorithm} (locked, or the key needs a confirmation that was denied)");
        }
        answer.ExpectType(SignResponse, "a signature request");
        var signature = answer.ReadString();
        answer.ExpectEnd();

        // An agent without RFC 8332 support answers an RSA SHA-2 request with an ssh-rsa (SHA-1) signature.
        var blob = new AgentReader(signature, SocketPath);
        var signedAs = Encoding.ASCII.GetString(blob.ReadString());
        blob.ReadString();
        blob.ExpectEnd();
        if (signedAs != algorithm)
        {
            throw new SshAgentUnavailableException(SocketPath, $"asked for a {algorithm} signature, the agent made a {signedAs} one");
        }
        return signature;
    }

    private static Span<byte> PutString(Span<byte> destination, byte[] value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)value.Length);
        value.CopyTo(destination[4..]);
        return destination[(4 + value.Length)..];
    }

    private static byte[] Framed(byte[] message)
    {
        var framed = new byte[4 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(framed, (uint)message.Length);
        message.CopyTo(framed, 4);
        return framed;
    }

    private int AnswerLength(byte[] header)
    {
        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        return length is > 0 and <= MaxMessageLength
            ? (int)length
            : throw new SshAgentUnavailableException(SocketPath, $"protocol error: an answer of {length} bytes (not an ssh-agent?)");
    }

    private static Socket NewSocket() => new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

    // SSH.NET signs synchronously, from its connecting thread: blocking I/O here ties up no other thread.
    private byte[] Exchange(byte[] message)
    {
        using var socket = NewSocket();
        // The send timeout also bounds a blocking connect that waits for room in the agent's backlog.
        socket.SendTimeout = socket.ReceiveTimeout = (int)RequestTimeout.TotalMilliseconds;
        try
        {
            socket.Connect(_endpoint);
        }
        catch (SocketException e)
        {
            throw Unreachable(e);
        }
        try
        {
            using var stream = new NetworkStream(socket);
            stream.Write(Framed(message));
            var header = new byte[4];
            stream.ReadExactly(header);
            var answer = new byte[AnswerLength(header)];
            stream.ReadExactly(answer);
            return answer;
        }
        catch (IOException e)
        {
            throw Broken(e);
        }
    }

    private async Task<byte[]> ExchangeAsync(byte[] message, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        using var socket = NewSocket();
        try
        {
            try
            {
                await socket.ConnectAsync(_endpoint, timeout.Token).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw Unreachable(e);
            }
            await using var stream = new NetworkStream(socket);
            await stream.WriteAsync(Framed(message), timeout.Token).ConfigureAwait(false);
            var header = new byte[4];
            await stream.ReadExactlyAsync(header, timeout.Token).ConfigureAwait(false);
            var answer = new byte[AnswerLength(header)];
            await stream.ReadExactlyAsync(answer, timeout.Token).ConfigureAwait(false);
            return answer;
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SshAgentUnavailableException(SocketPath, $"no answer within {RequestTimeout.TotalSeconds:0} s", e);
        }
        catch (IOException e)
        {
            throw Broken(e);
        }
    }

    private SshAgentUnavailableException Unreachable(SocketException e)
    {
        var (kind, description) = InputFiles.KindOf(SocketPath);
        var cause = kind switch
        {
            InputFiles.Kind.Missing => "no such socket (is the agent running, and SSH_AUTH_SOCK current?)",
            _ when description != "a socket" => $"it is {description}, not a socket",
            _ when e.SocketErrorCode == SocketError.ConnectionRefused =>
                "connection refused: no agent listens on this socket (an agent that was killed leaves it behind)",
            _ => e.Message,
        };
        return new SshAgentUnavailableException(SocketPath, cause, e);
    }

    private SshAgentUnavailableException Broken(IOException e) => new(SocketPath, e switch
    {
        EndOfStreamException => "the agent closed the connection without a complete answer",
        { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut or SocketError.WouldBlock } } =>
            $"no answer within {RequestTimeout.TotalSeconds:0} s",
        _ => e.Message,
    }, e);

    /// <summary>One of the agent's keys, with the signature algorithms it can make, most preferred first.</summary>
    private sealed class AgentKey(IReadOnlyCollection<HostAlgorithm> algorithms) : IPrivateKeySource
    {
        public IReadOnlyCollection<HostAlgorithm> HostKeyAlgorithms => algorithms;
    }

    /// <summary>
    /// A key as SSH.NET's public key authentication uses it: the name it offers, the public key blob, and
    /// <see cref="Sign"/>, whose result SSH.NET sends as the request's signature field as it is.
    /// </summary>
    private sealed class AgentSignature(SshAgent agent, string name, uint flags, byte[] keyBlob, string comment) : HostAlgorithm(name)
    {
        public override byte[] Data => keyBlob;

        public override byte[] Sign(byte[] data) => agent.Sign(Name, flags, keyBlob, comment, data);

        // SSH.NET verifies signatures only of server host keys, never of a client's own key.
        public override bool VerifySignature(byte[] data, byte[] signature) =>
            throw new NotSupportedException("an ssh-agent key only signs");
    }

    /// <summary>Reads an agent message (type byte, then uint32s and length-prefixed strings), failing on anything short.</summary>
    private sealed class AgentReader(byte[] buffer, string socketPath)
    {
        private int _position;

        public byte Type => buffer[0];

        public void ExpectType(byte type, string answering)
        {
            if (buffer[0] != type)
            {
                throw Garbage(buffer[0] == Failure
                    ? $"the agent answered {answering} with SSH_AGENT_FAILURE"
                    : $"message type {buffer[0]} in answer to {answering}, not {type}");
            }
            _position = 1;
        }

        public uint ReadUInt32()
        {
            if (buffer.Length - _position < 4)
            {
                throw Garbage("the message ends inside a number");
            }
            var value = BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(_position));
            _position += 4;
            return value;
        }

        public byte[] ReadString()
        {
            var length = ReadUInt32();
            if (length > (uint)(buffer.Length - _position))
            {
                throw Garbage($"a string of {length} bytes with {buffer.Length - _position} left in the message");
            }
            var value = buffer.AsSpan(_position, (int)length).ToArray();
            _position += (int)length;
            return value;
        }

        public void ExpectEnd()
        {
            if (_position != buffer.Length)
            {
                throw Garbage($"the message goes on for {buffer.Length - _position} more byte(s)");
            }
        }

        private SshAgentUnavailableException Garbage(string what) => new(socketPath, "protocol error: " + what);
    }
}

/// <summary>The ssh-agent at <see cref="SocketPath"/> could not be reached, failed a request or answered garbage.</summary>
public sealed class SshAgentUnavailableException(string socketPath, string cause, Exception? inner = null)
    : Exception($"ssh-agent at {socketPath}: {cause}", inner)
{
    public string SocketPath { get; } = socketPath;
}
