using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;

namespace Stageproof.Hosts.Transports;

/// <summary>Makes the transport each host's configuration names: ssh, local or chroot.</summary>
public sealed class TransportFactory(SshSettings settings, HostKeyPolicy policy, TimeProvider? timeProvider = null) : ITransportFactory
{
    public ITransport Create(HostConfig host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return host.Transport switch
        {
            TransportKind.Ssh => new SshTransport(host, settings, policy, timeProvider),
            TransportKind.Local => new LocalTransport(host.Name),
            TransportKind.Chroot => new ChrootTransport(host.Name,
                host.Root ?? throw new InputException($"host '{host.Name}': transport chroot needs a root directory")),
            _ => throw new InputException($"host '{host.Name}': unknown transport '{host.Transport}'"),
        };
    }
}
