using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Hosts.Transports;

namespace Stageproof.Hosts.Tests.Transports;

public sealed class TransportFactoryTests
{
    private readonly TransportFactory _factory = new(new SshSettings(), HostKeyPolicy.Strict);

    [Fact]
    public async Task Makes_the_transport_each_host_names()
    {
        await using var ssh = _factory.Create(new HostConfig { Name = "a", Address = "127.0.2.1", Port = 2222 });
        await using var local = _factory.Create(new HostConfig { Name = "b", Transport = TransportKind.Local });
        await using var chroot = _factory.Create(new HostConfig { Name = "c", Transport = TransportKind.Chroot, Root = "/" });

        Assert.IsType<SshTransport>(ssh);
        Assert.IsType<LocalTransport>(local);
        Assert.IsType<ChrootTransport>(chroot);
        Assert.Equal(["a", "b", "c"], new[] { ssh.HostName, local.HostName, chroot.HostName });
    }

    [Fact]
    public void An_ssh_host_without_address_or_a_chroot_host_without_root_is_bad_input_naming_the_host()
    {
        var ssh = Assert.Throws<InputException>(() => _factory.Create(new HostConfig { Name = "no-address" }));
        var chroot = Assert.Throws<InputException>(() => _factory.Create(new HostConfig { Name = "no-root", Transport = TransportKind.Chroot }));

        Assert.Contains("'no-address'", ssh.Message, StringComparison.Ordinal);
        Assert.Contains("'no-root'", chroot.Message, StringComparison.Ordinal);
    }
}
