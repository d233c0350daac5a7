using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Hosts.Tests.Transports;

public sealed class HostFanoutTests(ITestOutputHelper output) : IAsyncLifetime
{
    private SshdFixture? _a;
    private SshdFixture? _b;

    public async Task InitializeAsync()
    {
        if (Environment.UserName != "root" || !File.Exists(SshdFixture.SshdPath))
        {
            return; // the tests that need sshd call Requires and skip or fail there
        }
        _a = await SshdFixture.StartAsync();
        _b = await SshdFixture.StartAsync();
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (_a is not null)
            {
                await _a.DisposeAsync();
            }
        }
        finally
        {
            if (_b is not null)
            {
                await _b.DisposeAsync();
            }
        }
    }

    private static HostConfig Named(string name) => new() { Name = name, Transport = TransportKind.Local };

    [SkippableFact]
    public async Task Over_three_hosts_one_unreachable_the_other_two_report_results()
    {
        Requires.Root();
        Requires.Executable(SshdFixture.SshdPath);
        var settings = new SshSettings { Parallelism = 3, ConnectTimeout = TimeSpan.FromSeconds(5) };
        var factory = new TransportFactory(settings, HostKeyPolicy.Strict);
        var hosts = new[]
        {
            _a!.Host("app-1"),
            _a.Host("gone") with { Address = "127.0.2.250", Port = 2299 },
            _b!.Host("app-2"),
        };
        var reports = new List<FanoutProgress>();

        var outcomes = await HostFanout.RunAsync(hosts, settings, async (host, ct) =>
        {
            await using var transport = factory.Create(host);
            return (await transport.RunAsync(RemoteCommand.Exec("printf", "%s", host.Name), cancellationToken: ct)).StandardOutput;
        }, reports.Add);

        Assert.Equal(["app-1", "gone", "app-2"], outcomes.Select(o => o.Host.Name));
        Assert.Equal("app-1", outcomes[0].Value);
        Assert.Equal("app-2", outcomes[2].Value);
        Assert.False(outcomes[1].Succeeded);
        Assert.Contains("connection refused by 127.0.2.250:2299", outcomes[1].Error!.Message, StringComparison.Ordinal);
        Assert.Equal([1, 2, 3], reports.Select(r => r.Done));
        Assert.All(reports, r => Assert.Equal(3, r.Total));
        Assert.Equal(["app-1", "app-2", "gone"], reports.Select(r => r.Host).Order());
    }

    [SkippableFact]
    public async Task Fifty_hosts_connect_and_run_a_command_in_parallel()
    {
        Requires.Root();
        Requires.Executable(SshdFixture.SshdPath);
        var settings = new SshSettings { Parallelism = 50, ConnectTimeout = TimeSpan.FromSeconds(20) };
        var factory = new TransportFactory(settings, HostKeyPolicy.Strict);
        var hosts = Enumerable.Range(0, 50).Select(i => _a!.Host($"h{i}")).ToList();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var outcomes = await HostFanout.RunAsync(hosts, settings, async (host, ct) =>
        {
            await using var transport = factory.Create(host);
            return (await transport.RunAsync(RemoteCommand.Exec("printf", "%s", host.Name), cancellationToken: ct)).StandardOutput;
        });

        output.WriteLine($"50 parallel connect + command: {clock.ElapsedMilliseconds} ms");
        Assert.All(outcomes, o => Assert.Equal(o.Host.Name, o.Value));
    }

    [Fact]
    public async Task Never_runs_more_hosts_at_once_than_the_parallelism()
    {
        var hosts = Enumerable.Range(0, 20).Select(i => Named($"h{i}")).ToList();
        var running = 0;
        var peak = 0;
        var gate = new TaskCompletionSource();

        var run = HostFanout.RunAsync(hosts, 4, async (host, ct) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref peak, now);
            if (now == 4)
            {
                gate.TrySetResult();
            }
            await gate.Task.WaitAsync(ct);
            Interlocked.Decrement(ref running);
            return host.Name;
        });
        var outcomes = await run;

        Assert.Equal(4, peak);
        Assert.Equal(hosts.Select(h => h.Name), outcomes.Select(o => o.Value));
    }

    [Fact]
    public async Task A_bug_in_one_host_lets_the_others_finish_then_is_thrown()
    {
        var hosts = Enumerable.Range(0, 5).Select(i => Named($"h{i}")).ToList();
        var finished = 0;

        var e = await Assert.ThrowsAsync<AggregateException>(() => HostFanout.RunAsync(hosts, 2, async (host, ct) =>
        {
            await Task.Yield();
            if (host.Name == "h0")
            {
                throw new InvalidOperationException("bug");
            }
            Interlocked.Increment(ref finished);
            return 0;
        }));

        Assert.Equal(4, finished);
        Assert.IsType<InvalidOperationException>(Assert.Single(e.InnerExceptions));
    }

    [Fact]
    public async Task Infrastructure_failures_are_values()
    {
        var hosts = new[] { Named("a"), Named("b") };

        var outcomes = await HostFanout.RunAsync<int>(hosts, 2, (host, ct) =>
            host.Name == "a" ? throw new InfrastructureException("a", "down") : Task.FromResult(7));

        Assert.Equal("a: down", outcomes[0].Error!.Message);
        Assert.Equal(7, outcomes[1].Value);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
