using Prometheus;
using Stageproof.Hosts.Transports;

namespace Stageproof.Server;

/// <summary>The server's SSH connections (<see cref="TransportPool"/>), read at scrape time: how many it opened, how
/// often a kept one was used again instead, and how many wait open now.</summary>
internal sealed class ConnectionMetrics
{
    public ConnectionMetrics(CollectorRegistry registry, TransportPool pool)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        var opened = factory.CreateCounter("stageproof_ssh_connections_opened_total", "SSH connections the server opened to hosts (facts)");
        var reused = factory.CreateCounter("stageproof_ssh_connections_reused_total", "Times a connection kept open (ssh.keep_open) was used again instead of logging in anew");
        var idle = factory.CreateGauge("stageproof_ssh_connections_idle", "SSH connections open and waiting for their next use");
        registry.AddBeforeCollectCallback(() =>
        {
            opened.IncTo(pool.Opened);
            reused.IncTo(pool.Reused);
            idle.Set(pool.Idle);
        });
    }
}
