namespace Stageproof.Hosts.Transports;

/// <summary>What to do with a host whose key is not in known_hosts. A changed key is refused under every policy.</summary>
public enum HostKeyPolicy
{
    /// <summary>Refuse unknown hosts; the operator verifies the fingerprint first.</summary>
    Strict,

    /// <summary>Record an unknown host's key in known_hosts and accept it (--accept-new-host-keys).</summary>
    AcceptNew,
}
