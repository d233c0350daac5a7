using System.Diagnostics;
using System.Security.Cryptography;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Facts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Hosts.Tests.Facts;

/// <summary>Collects the facts of this very machine through the local transport (real dpkg, real files).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HostFactsCollectorTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stageproof-facts-").FullName;
    private readonly HostConfig _host = new() { Name = "local", Transport = TransportKind.Local };

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<Manifest> CollectAsync(params string[] track) => await CollectAsync(false, track);

    private async Task<Manifest> CollectAsync(bool pendingUpgrades, params string[] track)
    {
        await using var transport = new LocalTransport("local");
        var sw = Stopwatch.StartNew();
        var m = await new HostFactsCollector { PendingUpgrades = pendingUpgrades }.CollectAsync(_host, transport, new DriftRules { Track = track }, "test", CancellationToken.None);
        output.WriteLine($"collect took {sw.ElapsedMilliseconds} ms");
        return m;
    }

    [SkippableFact]
    public async Task Collects_os_and_installed_packages_of_this_machine()
    {
        Requires.Executable("/usr/bin/dpkg-query");

        var m = await CollectAsync(pendingUpgrades: true);

        Assert.Equal("local", m.Target);
        Assert.Equal("test", m.Environment);
        Assert.NotNull(m.Os);
        Assert.False(string.IsNullOrEmpty(m.Os.Id));
        Assert.False(string.IsNullOrEmpty(m.Os.Kernel));
        Assert.False(string.IsNullOrEmpty(m.Os.Architecture));
        Assert.Contains(m.Packages, p => p.Name == "dpkg");
        Assert.All(m.PendingUpgrades, u => Assert.False(string.IsNullOrEmpty(u.CandidateVersion)));
        Assert.NotEmpty(m.Services);
        output.WriteLine($"{m.Packages.Count} packages, {m.PendingUpgrades.Count} upgrades ({m.PendingUpgrades.Count(u => u.Security)} security), " +
                         $"{m.Services.Count} services, {m.Ports.Count} ports");
    }

    [SkippableFact]
    public async Task Tracked_file_has_masked_content_but_the_real_digest_mode_and_owner()
    {
        var path = Path.Combine(_dir, "app.conf");
        await File.WriteAllTextAsync(path, "listen = 127.0.3.1\npassword = hunter2\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var m = await CollectAsync(path);

        var f = Assert.Single(m.Files);
        Assert.Equal(path, f.Path);
        Assert.Equal("listen = 127.0.3.1\npassword = ********\n", f.Content);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(path))), f.Sha256);
        Assert.Equal("0640", f.Mode);
        Assert.Equal(new FileInfo(path).Length, f.Size);
        Assert.Equal(Environment.UserName, f.Owner);
    }

    [SkippableFact]
    public async Task A_glob_picks_up_every_match_and_a_path_with_a_space_works()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "conf.d"));
        Directory.CreateDirectory(Path.Combine(_dir, "with space"));
        await File.WriteAllTextAsync(Path.Combine(_dir, "conf.d", "a.conf"), "a = 1\n");
        await File.WriteAllTextAsync(Path.Combine(_dir, "conf.d", "b.conf"), "b = 2\n");
        await File.WriteAllTextAsync(Path.Combine(_dir, "conf.d", "c.txt"), "c = 3\n");
        var spaced = Path.Combine(_dir, "with space", "my file.conf");
        await File.WriteAllTextAsync(spaced, "x = 'y z'\n");

        var m = await CollectAsync(Path.Combine(_dir, "conf.d", "*.conf"), spaced, Path.Combine(_dir, "missing.conf"));

        Assert.Equal(
            [Path.Combine(_dir, "conf.d", "a.conf"), Path.Combine(_dir, "conf.d", "b.conf"), spaced],
            m.Files.Select(f => f.Path).Order(StringComparer.Ordinal));
        Assert.Equal("x = 'y z'\n", m.Files.Single(f => f.Path == spaced).Content);
    }

    [SkippableFact]
    public async Task Binary_and_oversized_files_are_listed_without_content()
    {
        var bin = Path.Combine(_dir, "blob.bin");
        var big = Path.Combine(_dir, "big.conf");
        await File.WriteAllBytesAsync(bin, [0x7f, 0x45, 0x00, 0x01]);
        await File.WriteAllTextAsync(big, new string('x', 2000));
        await using var transport = new LocalTransport("local");

        var m = await new HostFactsCollector { PendingUpgrades = false }.CollectAsync(_host, transport,
            new DriftRules { Track = [bin, big], MaxContentBytes = 1000 }, null, CancellationToken.None);

        Assert.All(m.Files, f => Assert.Null(f.Content));
        Assert.Equal(2000, m.Files.Single(f => f.Path == big).Size);
        Assert.Equal(64, m.Files.Single(f => f.Path == bin).Sha256.Length);
    }

    [SkippableFact]
    public async Task Shell_syntax_in_a_tracked_pattern_is_never_executed()
    {
        var marker = Path.Combine(_dir, "pwned");
        var m = await CollectAsync(
            $"{_dir}/$(touch {marker})*", $"{_dir}/`touch {marker}`", $"{_dir}/x;touch {marker}", $"{_dir}/x' \"; touch {marker}");

        Assert.Empty(m.Files);
        Assert.False(File.Exists(marker));
    }

    [Theory]
    [InlineData("etc/passwd")]
    [InlineData("/etc/../etc/shadow")]
    [InlineData("/etc/acme/..")]
    [InlineData("/etc/a\nb")]
    [InlineData("/etc/a\0b")]
    [InlineData("")]
    public async Task A_hostile_tracked_path_is_rejected_before_anything_runs(string bad)
    {
        var transport = new CountingTransport();

        var e = await Assert.ThrowsAsync<InputException>(() => new HostFactsCollector().CollectAsync(
            _host, transport, new DriftRules { Track = ["/etc/ok.conf", bad] }, null, CancellationToken.None));

        Assert.Equal(0, transport.Calls);
        Assert.Contains("drift.track[1]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Output_without_facts_is_an_infrastructure_error_naming_the_host()
    {
        var transport = new CountingTransport { Result = new CommandResult(127, "", "sh: not found", TimeSpan.Zero) };

        var e = await Assert.ThrowsAsync<InfrastructureException>(() => new HostFactsCollector().CollectAsync(
            _host, transport, new DriftRules(), null, CancellationToken.None));

        Assert.Equal("local", e.Host);
        Assert.Contains("sh: not found", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_script_is_sent_as_a_constant_with_patterns_as_arguments()
    {
        var transport = new CountingTransport { Result = new CommandResult(0, FactsSamples.ScriptOutput(1, 0), "", TimeSpan.Zero) };

        await new HostFactsCollector().CollectAsync(_host with { Become = "sudo" }, transport,
            new DriftRules { Track = ["/etc/a b/*.conf"], MaxContentBytes = 10 }, null, CancellationToken.None);

        var sent = Assert.Single(transport.Commands);
        var expected = RemoteCommand.Script(FactsScript.Name, FactsScript.Text, "10", "1", "/etc/a b/*.conf").WithSudo();
        Assert.Equal(expected.ShellText, sent.ShellText);
    }

    private sealed class CountingTransport : ITransport
    {
        public int Calls => Commands.Count;
        public List<RemoteCommand> Commands { get; } = [];
        public CommandResult Result { get; init; } = new(0, "", "", TimeSpan.Zero);
        public string HostName => "local";

        public Task<CommandResult> RunAsync(RemoteCommand command, CommandOptions? options = null, CancellationToken cancellationToken = default)
        {
            Commands.Add(command);
            return Task.FromResult(Result);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
