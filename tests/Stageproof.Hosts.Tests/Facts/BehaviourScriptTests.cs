using System.Diagnostics;
using Stageproof.Core.Drift;
using Stageproof.Core.Patches;
using Stageproof.Core.Stage;
using Stageproof.Hosts.Facts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Facts;

/// <summary>
/// The behaviour script in a tiny root (this machine's tools and their libraries, its own /proc mount) through the
/// chroot transport: a helper started in the root, the errors it logs, a setuid file, a user and an edited /etc file
/// are seen; the machine's own processes, which the root's /proc also shows, are not.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class BehaviourScriptTests : IDisposable
{
    private static readonly string[] Binaries =
    [
        "/bin/sh", "/usr/bin/stat", "/usr/bin/sed", "/usr/bin/cut", "/usr/bin/tr", "/usr/bin/awk", "/usr/bin/readlink", "/usr/bin/find",
        "/usr/bin/sort", "/usr/bin/md5sum", "/usr/bin/mktemp", "/usr/bin/xargs", "/usr/bin/cat", "/usr/bin/rm", "/usr/bin/tail",
        "/usr/bin/head", "/usr/bin/grep", "/usr/bin/date", "/usr/bin/sleep", "/usr/bin/setsid",
    ];

    private const string Marker = "stageproof-behaviour-test";

    private readonly TinyRoot _tiny = new();
    private bool _procMounted;
    private Process? _helper;

    public void Dispose()
    {
        if (_helper is { HasExited: false })
        {
            _helper.Kill();
            _helper.WaitForExit(10_000);
        }
        _helper?.Dispose();
        if (_procMounted)
        {
            TinyRoot.RunAsync("/usr/bin/umount", "-l", Path.Combine(Root, "proc")).GetAwaiter().GetResult();
        }
        _tiny.Dispose();
    }

    [SkippableFact]
    public async Task A_helper_started_in_theRoot_its_errors_a_setuid_file_a_user_and_an_edited_etc_file_are_seen_and_the_machines_processes_are_not()
    {
        TinyRoot.Require();
        await BuildRootAsync();
        await using var transport = new ChrootTransport("tiny", Root);
        var collector = new HostBehaviourCollector(TimeSpan.FromSeconds(60));
        string[] named = ["/var/log/named.log"];

        var before = await collector.CollectAsync(transport, null, named, CancellationToken.None);

        // The change: a helper in its own session, errors in two logs (one a check reads), a setuid copy of sh, a user,
        // and the conffile of the package edited.
        _helper = Process.Start(new ProcessStartInfo("/usr/sbin/chroot",
            [Root, "/usr/bin/setsid", "/bin/sh", "-c", $"while :; do echo \"ERROR {Marker}: sync refused\" >> /var/log/helper.log; sleep 1; done", Marker]))!;
        await File.AppendAllTextAsync(Path.Combine(Root, "var/log/named.log"), "ERROR the check reads this one\n");
        await File.AppendAllTextAsync(Path.Combine(Root, "var/log/other.log"), "all fine\nTraceback (most recent call last):\n");
        File.Copy(Path.Combine(Root, "bin/sh"), Path.Combine(Root, "usr/local/bin/helper"));
        File.SetUnixFileMode(Path.Combine(Root, "usr/local/bin/helper"), (UnixFileMode)0b100_111_101_101);
        await File.AppendAllTextAsync(Path.Combine(Root, "etc/passwd"), "sync:x:1002:1002::/nonexistent:/usr/sbin/nologin\n");
        await File.AppendAllTextAsync(Path.Combine(Root, "etc/acme-mail/mail.conf"), "extra: 1\n");
        var deadline = Stopwatch.StartNew();
        while (!File.Exists(Path.Combine(Root, "var/log/helper.log")) && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }

        var after = await collector.CollectAsync(transport, before, named, CancellationToken.None);

        var helper = Assert.Single(after.Processes, p => p.CommandLine.Contains(Marker, StringComparison.Ordinal));
        Assert.Equal("root", helper.User);
        Assert.DoesNotContain(after.Processes, p => p.Executable.EndsWith("/dotnet", StringComparison.Ordinal)); // this test runs outside the root
        Assert.Contains(after.LogErrors, e => e.Path == "/var/log/helper.log" && e.Line == $"ERROR {Marker}: sync refused");
        Assert.Contains(after.LogErrors, e => e.Path == "/var/log/other.log" && e.Line.StartsWith("Traceback", StringComparison.Ordinal));
        Assert.DoesNotContain(after.LogErrors, e => e.Path == "/var/log/named.log");
        Assert.DoesNotContain(after.LogErrors, e => e.Line == "all fine");

        var set = new PatchSet { Id = "P-1", Title = "t", Reason = "r", Severity = PatchSeverity.Low, Author = "a", Packages = [new PatchPackage("acme-mail", "1.1-1")] };
        var items = BehaviourChanges.Classify("tiny", before, after, set, new HashSet<string> { "acme-mail" }, new HashSet<string>(), IgnoreRules.None, new StagePolicy());
        Assert.Contains(items, i => i is { Category: "process", Status: StepStatus.Failed } && i.Key.Contains(Marker, StringComparison.Ordinal));
        Assert.Contains(items, i => i is { Category: "log", Key: "/var/log/helper.log", Status: StepStatus.Failed });
        Assert.Contains(items, i => i is { Category: "privileged", Key: "/usr/local/bin/helper", Status: StepStatus.Failed } && i.After!.StartsWith("4755 ", StringComparison.Ordinal));
        Assert.Contains(items, i => i is { Category: "account", Key: "user sync", Status: StepStatus.Warned });
        Assert.Contains(items, i => i is { Category: "etc", Key: "/etc/acme-mail/mail.conf", Expected: true });
        Assert.Contains("a file of acme-mail", items.Single(i => i.Key == "/etc/acme-mail/mail.conf").Why, StringComparison.Ordinal);
    }

    private string Root => _tiny.Path;

    private async Task BuildRootAsync()
    {
        await _tiny.AddProgramsAsync(Binaries);
        foreach (var dir in new[] { "proc", "tmp", "var/log", "var/lib/dpkg/info", "etc/acme-mail", "usr/local/bin" })
        {
            Directory.CreateDirectory(Path.Combine(Root, dir));
        }
        await TinyRoot.RunAsync("/usr/bin/mount", "-t", "proc", "proc", Path.Combine(Root, "proc"));
        _procMounted = true;
        await File.WriteAllTextAsync(Path.Combine(Root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        await File.WriteAllTextAsync(Path.Combine(Root, "etc/group"), "root:x:0:\n");
        await File.WriteAllTextAsync(Path.Combine(Root, "etc/acme-mail/mail.conf"), "token: abc\n");
        await File.WriteAllTextAsync(Path.Combine(Root, "var/lib/dpkg/info/acme-mail.list"), "/.\n/etc\n/etc/acme-mail\n/etc/acme-mail/mail.conf\n");
        await File.WriteAllTextAsync(Path.Combine(Root, "var/log/named.log"), "started\n");
    }
}
