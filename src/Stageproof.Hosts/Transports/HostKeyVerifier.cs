using Stageproof.Core;

namespace Stageproof.Hosts.Transports;

/// <summary>
/// Decides whether a host key presented during key exchange is trusted, against a known_hosts file and a policy.
/// A key that differs from the recorded one is refused under every policy. For a jump host on the way to
/// <paramref name="hostName"/>, <paramref name="jumpHost"/> names it in every refusal.
/// </summary>
internal sealed class HostKeyVerifier(string hostName, string address, int port, string knownHostsPath, HostKeyPolicy policy, string? jumpHost = null)
{
    private readonly string _prefix = jumpHost is null ? "" : $"jump host {jumpHost}: ";

    /// <summary>Key types known_hosts holds for this host, so the key exchange can ask for those first.</summary>
    public IReadOnlyList<string> RecordedKeyTypes() =>
        KnownHosts.Load(knownHostsPath).Lookup(address, port).Where(k => !k.Revoked).Select(k => k.KeyType).Distinct().ToList();

    /// <summary>Null when the key is trusted (and recorded, under AcceptNew); otherwise the reason to refuse.</summary>
    public HostKeyException? Verify(byte[] blob)
    {
        var knownHosts = KnownHosts.Load(knownHostsPath);
        var recorded = knownHosts.Lookup(address, port);
        var presentedType = KnownHosts.KeyTypeOf(blob);
        var presented = $"{KnownHosts.Fingerprint(blob)} ({presentedType})";
        var where = KnownHosts.HostPattern(address, port);

        if (recorded.FirstOrDefault(k => k.Revoked && k.Matches(blob)) is { } revoked)
        {
            return new HostKeyException(hostName,
                $"{_prefix}the host key of {where} is marked @revoked in {revoked.FileName}:{revoked.Line}: {presented}. Refusing to connect.");
        }
        var valid = recorded.Where(k => !k.Revoked).ToList();
        if (valid.Any(k => k.Matches(blob)))
        {
            return null;
        }
        if (valid.Count > 0)
        {
            var old = string.Join(", ", valid.Select(k => $"{k.Fingerprint} ({k.KeyType}, {k.FileName}:{k.Line})"));
            return new HostKeyException(hostName,
                $"{_prefix}WARNING: the host key of {where} has CHANGED. known_hosts records {old}, but the host presented {presented}. " +
                "Someone could be eavesdropping on you right now (a possible man-in-the-middle attack), or the host was reinstalled. " +
                $"Refusing to connect under every policy; if the change is expected, verify the new fingerprint on the host and remove the old entry " +
                $"(ssh-keygen -R '{where}' -f {knownHostsPath}).");
        }
        if (policy == HostKeyPolicy.AcceptNew)
        {
            knownHosts.Append(address, port, blob);
            return null;
        }
        return new HostKeyException(hostName,
            $"{_prefix}the host key of {where} is not in known_hosts ({knownHostsPath}); the host presented {presented}. " +
            "Verify this fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then pass --accept-new-host-keys to record it.");
    }
}
