using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Stageproof.Core;
using Stageproof.Lab;
using Stageproof.Testing;

namespace Stageproof.Lab.Tests;

/// <summary>The snapshot tests' own lab: 127.0.230.x / 240 / 250, ssh port 2622. After lab down, nothing of it
/// may be left mounted.</summary>
public sealed class SnapshotLabFixture() : SharedLab(230, 2622), IAsyncLifetime
{
    async Task IAsyncLifetime.DisposeAsync()
    {
        var dir = Directory;
        await DisposeAsync();
        if (CanRun)
        {
            var left = File.ReadAllLines("/proc/mounts").Where(l => l.Contains(dir, StringComparison.Ordinal)).ToList();
            Console.WriteLine($"after lab down: {left.Count} mounts under {dir}");
            Assert.Empty(left);
        }
    }
}

[Trait("Category", "Lab")] // needs a whole lab: left out of the fast tier (dotnet test --filter "Category!=Lab")
public sealed class LabSnapshotTests(SnapshotLabFixture fixture) : IClassFixture<SnapshotLabFixture>
{
    private LabManager Lab => fixture.Lab;

    [SkippableFact]
    public async Task Snapshot_then_change_then_restore_brings_the_host_back_exactly_with_sshd_and_acme_mail_answering()
    {
        fixture.Require();
        Assert.True(fixture.Up.AcmeMailInstalled, "acme-mail packages were not available (demo/AcmeMail/packaging/build-debs.sh)");
        var host = fixture.Up.Hosts.Single(h => h.Name == "prod-app-1");
        var other = fixture.Up.Hosts.Single(h => h.Name == "prod-app-2");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var health = new Uri($"http://{host.Address}:8080/health");

        await Ssh(host, "echo before > /etc/stageproof-kept");
        var snap = await Lab.SnapshotAsync(host.Name, "before_change", CancellationToken.None);
        Console.WriteLine($"SNAPSHOT of {host.Name} took {snap.Elapsed.TotalSeconds:0.00}s ({snap.Bytes / 1024 / 1024} MiB) -> {snap.Path}");
        Assert.True(Directory.Exists(Path.Combine(snap.Path, "etc")));
        Assert.Equal(["before_change"], Lab.ListSnapshots(host.Name).Select(s => s.Id));
        await Assert.ThrowsAsync<InputException>(() => Lab.SnapshotAsync(host.Name, "before_change", CancellationToken.None));

        // Change the host: a package upgrade (acme-mail 1.0 -> 1.1, restarted by its postinst), a new file, a removed
        // file, and a local configuration change that moves acme-mail off its port.
        await Ssh(host, "apt-get install -y -q -o Dpkg::Options::=--force-confold acme-mail=1.1-1 </dev/null");
        Assert.Equal("1.1", (await http.GetFromJsonAsync<JsonElement>(health)).GetProperty("version").GetString());
        await Ssh(host, "echo after > /etc/stageproof-added && rm /etc/stageproof-kept && " +
                        "sed -i 's/^listen.port = 8080$/listen.port = 8089/' /etc/acme-mail/host.d/host.conf && " +
                        "service acme-mail restart </dev/null >/dev/null 2>&1");
        Assert.False(await AnswersAsync(http, health));
        var otherBefore = await File.ReadAllTextAsync(Path.Combine(other.Root, "etc/hostname"));

        var restore = await Lab.RestoreSnapshotAsync(host.Name, "before_change", CancellationToken.None);
        Console.WriteLine($"RESTORE of {host.Name}: copy {restore.Copy.TotalSeconds:0.00}s (host running), outage {restore.Outage.TotalSeconds:0.00}s, " +
                          $"total {restore.Elapsed.TotalSeconds:0.00}s; {restore.ProcessesStopped} processes stopped, acme-mail started: {restore.AcmeMailStarted}");
        Assert.True(restore.AcmeMailStarted);

        // ssh answers with the same host key (StrictHostKeyChecking=yes against the lab's known_hosts).
        Assert.Equal(host.Name, (await Ssh(host, "cat /etc/hostname")).Trim());
        Assert.Equal("before", (await Ssh(host, "cat /etc/stageproof-kept")).Trim());
        Assert.Equal("absent", (await Ssh(host, "test -e /etc/stageproof-added && echo present || echo absent")).Trim());
        Assert.Equal("1.0-1", (await Ssh(host, "dpkg-query -W -f '${Version}' acme-mail")).Trim());
        Assert.Contains("listen.port = 8080", await Ssh(host, "cat /etc/acme-mail/host.d/host.conf"));
        var body = await http.GetFromJsonAsync<JsonElement>(health);
        Assert.Equal("1.0", body.GetProperty("version").GetString());

        // The host is mounted as before (no duplicate records), the restore left nothing behind, the neighbour was untouched.
        var root = host.Root;
        var mounts = File.ReadAllLines("/proc/mounts").Select(l => l.Split(' ')[1]).Where(m => m == root || m.StartsWith(root + "/", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, mounts.Count);
        using (var state = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Lab.Directory, "lab.json"))))
        {
            var recorded = state.RootElement.GetProperty("mounts").EnumerateArray().Select(e => e.GetString()!).ToList();
            Assert.Equal(recorded.Count, recorded.Distinct().Count());
            Assert.True(state.RootElement.GetProperty("hosts").EnumerateArray().All(h => h.GetProperty("restoring").ValueKind == JsonValueKind.Null));
        }
        var hostDir = Path.GetDirectoryName(root)!;
        Assert.Equal(["root", "upper", "work"], Directory.EnumerateDirectories(hostDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(otherBefore, await File.ReadAllTextAsync(Path.Combine(other.Root, "etc/hostname")));
        Assert.True((await Lab.StatusAsync()).Healthy);

        // A second restore of the same point works as well (the snapshot is not consumed).
        await Ssh(host, "echo again > /etc/stageproof-added");
        await Lab.RestoreSnapshotAsync(host.Name, "before_change", CancellationToken.None);
        Assert.Equal("absent", (await Ssh(host, "test -e /etc/stageproof-added && echo present || echo absent")).Trim());
        Assert.True(await AnswersAsync(http, health));

        Assert.True(await Lab.DeleteSnapshotAsync(host.Name, "before_change", CancellationToken.None));
        Assert.False(Directory.Exists(snap.Path));
        Assert.Empty(Lab.ListSnapshots(host.Name));
        Assert.False(await Lab.DeleteSnapshotAsync(host.Name, "before_change", CancellationToken.None));
    }

    [SkippableFact]
    public async Task The_apply_engine_finds_the_lab_from_its_configuration_and_snapshots_through_the_interface()
    {
        fixture.Require();
        Stageproof.Core.Patches.IHostSnapshots? snapshots = LabHostSnapshots.ForConfigFile(Lab.ConfigFile);
        Assert.NotNull(snapshots);
        Assert.Null(LabHostSnapshots.ForConfigFile(Path.Combine(Path.GetTempPath(), "no-lab-here", "stageproof.yaml")));
        Assert.True(snapshots.Covers("prod-app-2"));
        Assert.False(snapshots.Covers("db-1"));

        var host = fixture.Up.Hosts.Single(h => h.Name == "prod-app-2");
        var sw = Stopwatch.StartNew();
        var path = await snapshots.SnapshotAsync(host.Name, "point_1", CancellationToken.None);
        Console.WriteLine($"SNAPSHOT (interface) took {sw.Elapsed.TotalSeconds:0.00}s -> {path}");
        Assert.StartsWith(Path.Combine(Lab.Directory, "snapshots", "point_1"), path, StringComparison.Ordinal);
        await Ssh(host, "mkdir -p /opt/residue && echo x > /opt/residue/file && rm -f /etc/ssh/sshd_config.d/stageproof-listen.conf.bak");
        sw.Restart();
        await snapshots.RestoreAsync(host.Name, "point_1", CancellationToken.None);
        Console.WriteLine($"RESTORE (interface) took {sw.Elapsed.TotalSeconds:0.00}s");
        Assert.Equal("absent", (await Ssh(host, "test -e /opt/residue && echo present || echo absent")).Trim());
        await snapshots.DeleteAsync(host.Name, "point_1", CancellationToken.None);
        Assert.False(Directory.Exists(path));
    }

    [SkippableFact]
    public async Task A_restore_interrupted_during_the_outage_is_recorded_and_a_second_restore_recovers_the_host()
    {
        fixture.Require();
        var host = fixture.Up.Hosts.Single(h => h.Name == "prod-app-2");
        await Lab.SnapshotAsync(host.Name, "interrupted", CancellationToken.None);
        await Ssh(host, "echo changed > /etc/stageproof-interrupted");

        using var cts = new CancellationTokenSource();
        var restore = Lab.RestoreSnapshotAsync(host.Name, "interrupted", cts.Token);
        var sw = Stopwatch.StartNew();
        // The outage has begun once sshd refuses connections. Only a refusal says so: a connect that merely took long
        // (a busy machine once starved this loop) is no evidence, and cancelling then interrupted the restore before it
        // had begun. The bound is a hang guard, not a speed claim.
        while (!await RefusedAsync(host.Address, host.Port))
        {
            Assert.False(restore.IsCompleted, $"the restore ended before its outage was seen ({sw.Elapsed.TotalSeconds:0.0}s)");
            Assert.True(sw.Elapsed < TimeSpan.FromMinutes(3), "sshd never went down during the restore");
            await Task.Delay(5);
        }
        await Task.Delay(100);
        cts.Cancel();
        Console.WriteLine($"cancelled {sw.Elapsed.TotalSeconds:0.00}s into the restore, in its outage");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => restore);
        using (var state = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Lab.Directory, "lab.json"))))
        {
            var recorded = state.RootElement.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("name").GetString() == host.Name);
            Assert.Equal("interrupted", recorded.GetProperty("restoring").GetString());
        }
        var status = (await Lab.StatusAsync()).Hosts.Single(h => h.Name == host.Name);
        Console.WriteLine($"interrupted after {sw.Elapsed.TotalSeconds:0.00}s: {status}");

        var again = await Lab.RestoreSnapshotAsync(host.Name, "interrupted", CancellationToken.None);
        Console.WriteLine($"RESTORE after an interrupted one took {again.Elapsed.TotalSeconds:0.00}s");
        Assert.Equal("absent", (await Ssh(host, "test -e /etc/stageproof-interrupted && echo present || echo absent")).Trim());
        Assert.True((await Lab.StatusAsync()).Healthy);
        var root = host.Root;
        Assert.Equal(5, File.ReadAllLines("/proc/mounts").Select(l => l.Split(' ')[1]).Count(m => m == root || m.StartsWith(root + "/", StringComparison.Ordinal)));
        Assert.Equal(["root", "upper", "work"], Directory.EnumerateDirectories(Path.GetDirectoryName(root)!).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        await Lab.DeleteSnapshotAsync(host.Name, "interrupted", CancellationToken.None);
    }

    /// <summary>Whether a TCP connection to the address is refused now (nothing listens); false when it connects or
    /// takes longer than two seconds to tell.</summary>
    private static async Task<bool> RefusedAsync(string address, int port)
    {
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            await client.ConnectAsync(address, port).WaitAsync(TimeSpan.FromSeconds(2));
            return false;
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionRefused)
        {
            return true;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or TimeoutException)
        {
            return false;
        }
    }

    [SkippableFact]
    public async Task Hostile_or_unknown_names_are_refused_before_anything_is_touched()
    {
        fixture.Require();
        foreach (var id in new[] { "../escape", "a/b", "x y", "", "1starts-with-digit", "id\nnewline" })
        {
            await Assert.ThrowsAsync<InputException>(() => Lab.SnapshotAsync("prod-app-1", id, CancellationToken.None));
            await Assert.ThrowsAsync<InputException>(() => Lab.RestoreSnapshotAsync("prod-app-1", id, CancellationToken.None));
        }
        await Assert.ThrowsAsync<InputException>(() => Lab.SnapshotAsync("no-such-host", "ok", CancellationToken.None));
        await Assert.ThrowsAsync<InputException>(() => Lab.RestoreSnapshotAsync("prod-app-1", "never_taken", CancellationToken.None));
        Assert.False(Directory.Exists(Path.Combine(Lab.Directory, "escape")));
        Assert.DoesNotContain(Lab.ListSnapshots(), s => s.Id is "ok" or "never_taken");
    }

    private static bool Ok(HttpResponseMessage r) => (int)r.StatusCode == 200;

    private static async Task<bool> AnswersAsync(HttpClient http, Uri url)
    {
        try
        {
            using var r = await http.GetAsync(url);
            return Ok(r);
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }

    private async Task<string> Ssh(LabHost host, string command)
    {
        var (code, output) = await Probe.SshAsync(Lab, host, command);
        Assert.True(code == 0, $"{host.Name}: `{command}` exited {code}: {output}");
        return output;
    }
}
