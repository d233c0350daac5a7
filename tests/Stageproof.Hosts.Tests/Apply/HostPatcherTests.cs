using System.Diagnostics;
using Stageproof.Core;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Apply;

/// <summary>The host-side scripts that need no root: conf edits, file writes, and saving and restoring files.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostPatcherTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "stageproof-patcher-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly HostPatcher _patcher = new(new LocalTransport("local"), TimeSpan.FromSeconds(30));

    public HostPatcherTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    [Fact]
    public async Task Key_edits_replace_the_live_line_keep_comments_and_append_missing_keys()
    {
        await File.WriteAllTextAsync(P("app.conf"), "# app\n#session.lifetime = 60\ndb.pool_size = 20\nlog.level=info\n");
        await _patcher.WriteFileAsync(new PatchFile
        {
            Path = P("app.conf"),
            Set = new Dictionary<string, string> { ["db.pool_size"] = "40", ["session.lifetime"] = "30", ["db.connection"] = "Host=db;Port=5432;Password=a b" },
        }, CancellationToken.None);

        var text = await File.ReadAllTextAsync(P("app.conf"));
        Assert.Equal("# app\n#session.lifetime = 60\ndb.pool_size = 40\nlog.level=info\nsession.lifetime = 30\ndb.connection = Host=db;Port=5432;Password=a b\n", text);
        Assert.Equal("30", PatchScope.ConfValues(text)["session.lifetime"]);
    }

    [Fact]
    public async Task Whole_content_is_written_atomically_with_the_given_mode_and_shell_text_in_it_stays_text()
    {
        var content = "line $(touch " + P("pwned") + ")\n`id`\n";
        await _patcher.WriteFileAsync(new PatchFile { Path = P("x.conf"), Content = content, Mode = "0600" }, CancellationToken.None);

        Assert.Equal(content, await File.ReadAllTextAsync(P("x.conf")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("x.conf")));
        Assert.False(File.Exists(P("pwned")));
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public async Task Saved_files_come_back_and_files_that_did_not_exist_are_removed()
    {
        await File.WriteAllTextAsync(P("a.conf"), "a = 1\n");
        await File.WriteAllTextAsync(P("b.conf"), "b = 1\n");
        File.SetUnixFileMode(P("b.conf"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var point = P("point");

        var (saved, absent) = await _patcher.SaveFilesAsync(point, [P("*.conf"), P("new.list")], CancellationToken.None);
        Assert.Equal([P("a.conf"), P("b.conf")], saved);
        Assert.Equal([P("new.list")], absent);

        await File.WriteAllTextAsync(P("a.conf"), "a = 2\n");
        File.Delete(P("b.conf"));
        await File.WriteAllTextAsync(P("new.list"), "deb x\n");

        // The restore script also runs dpkg, which needs root; here only its file half is exercised.
        var restore = await new LocalTransport("local").RunAsync(Core.Hosts.RemoteCommand.Exec("tar", "-xpPf", Path.Combine(point, "files.tar")));
        Assert.True(restore.Succeeded, restore.StandardError);
        Assert.Equal("a = 1\n", await File.ReadAllTextAsync(P("a.conf")));
        Assert.Equal("b = 1\n", await File.ReadAllTextAsync(P("b.conf")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("b.conf")));
        Assert.Equal(P("new.list") + "\n", await File.ReadAllTextAsync(Path.Combine(point, "absent.list")));
    }

    /// <summary>Holds dpkg's frontend lock on this machine (an fcntl lock, as dpkg takes it) for three seconds under
    /// a process named perl, then lets go by ending.</summary>
    private const string HoldDpkgLock = """
        use Fcntl; $| = 1;
        open(my $f, "+<", "/var/lib/dpkg/lock-frontend") or die "open: $!";
        my $lock = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0);
        fcntl($f, F_SETLK, $lock) or die "lock: $!";
        print "held\n"; sleep 3;
        """;

    [SkippableFact]
    public async Task A_restore_waits_while_a_process_it_cannot_name_holds_dpkg_s_lock_then_runs_dpkg()
    {
        // This machine's own dpkg, with nothing to restore: the point has no .debs, no packages to purge and no files,
        // so the restore runs `dpkg --configure -a` alone. Its lock is held by a process the wait for a running
        // apt or dpkg does not recognise (it is not named either), as a dpkg started just after that wait would be.
        Requires.Root();
        Requires.Executable("/usr/bin/perl");
        var point = P("point");
        Directory.CreateDirectory(point);
        using var holder = Process.Start(new ProcessStartInfo("/usr/bin/perl", ["-e", HoldDpkgLock]) { RedirectStandardOutput = true })!;
        try
        {
            Assert.Equal("held", await holder.StandardOutput.ReadLineAsync());

            await _patcher.RestoreAsync(new HostPoint { Host = "local", Directory = point, ManifestBefore = "" }, CancellationToken.None);

            // dpkg could only run once the lock was free, and the lock is held until its holder ends.
            Assert.True(holder.HasExited);
        }
        finally
        {
            if (!holder.HasExited)
            {
                holder.Kill();
            }
        }
    }

    [Fact]
    public void Apt_simulation_output_gives_old_and_new_versions()
    {
        const string output = """
            NOTE: This is only a simulation!
            Inst acme-mail [1.0-1] (1.1-1 stageproof-lab:./ [amd64])
            Inst libfoo2:amd64 (2.0-1 Debian:12.8/stable [amd64])
            Conf acme-mail (1.1-1 stageproof-lab:./ [amd64])
            Inst openssl [3.0.14-1~deb12u2] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64]) []
            """;
        var changes = HostPatcher.ParseSimulation(output);
        Assert.Equal([
            new PackageChange("acme-mail", "1.0-1", "1.1-1"),
            new PackageChange("libfoo2", null, "2.0-1"),
            new PackageChange("openssl", "3.0.14-1~deb12u2", "3.0.15-1~deb12u1")], changes);
    }

    [Fact]
    public async Task Hostile_values_are_refused_before_any_command_runs()
    {
        var e = await Assert.ThrowsAsync<InputException>(() => _patcher.InstalledVersionsAsync(["acme-mail;reboot"], CancellationToken.None));
        Assert.Contains("acme-mail;reboot", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InputException>(() => _patcher.WriteFileAsync(new PatchFile { Path = "/etc/../etc/passwd", Content = "x" }, CancellationToken.None));
        await Assert.ThrowsAsync<InputException>(() => _patcher.SimulateAsync([new PatchPackage("acme-mail", "1.1\nreboot")], CancellationToken.None));
    }
}
