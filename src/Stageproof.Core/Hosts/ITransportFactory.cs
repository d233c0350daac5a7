using Stageproof.Core.Configuration;

namespace Stageproof.Core.Hosts;

/// <summary>Makes the transport a host's configuration asks for (ssh, local, chroot).</summary>
public interface ITransportFactory
{
    ITransport Create(HostConfig host);
}
