using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Stageproof.Lab;
using Stageproof.Testing;

namespace AcmeMail.Tests;

/// <summary>
/// acme-mail's packages as the lab gets them: built by build-debs.sh once per source tree into the lab's package cache
/// (<see cref="LabPackages.AcmeMailDebsAsync"/>), so these tests read the very bytes every lab installs, and do not
/// build them a second time (≈1.5 min) when a lab, the demo or an earlier run already did for these sources. Without
/// root the cache is a directory of the system's temp directory instead of /var/cache/stageproof.
/// </summary>
public sealed class DebsFixture : IAsyncLifetime
{
    /// <summary>Scratch space of this run (extracted packages); the cache itself is never written into.</summary>
    public string OutDir { get; } = Directory.CreateTempSubdirectory("acme-debs-").FullName;
    public string? DebDirectory { get; private set; }
    /// <summary>Why the packages could not be built, if they could not.</summary>
    public string? Failure { get; private set; }
    public string Deb(string version) => Path.Combine(DebDirectory ?? OutDir, $"acme-mail_{version}-1_amd64.deb");

    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Stageproof.slnx")))
            {
                return d.FullName;
            }
        }
        throw new InvalidOperationException("repository root (Stageproof.slnx) not found above " + AppContext.BaseDirectory);
    }

    public async Task InitializeAsync()
    {
        if (!File.Exists("/usr/bin/dpkg-deb"))
        {
            return;
        }
        try
        {
            var cache = Environment.IsPrivilegedProcess ? null : Path.Combine(Path.GetTempPath(), "stageproof-cache");
            var debs = await LabPackages.AcmeMailDebsAsync(RepoRoot(), cache);
            DebDirectory = debs.Count > 0 ? Path.GetDirectoryName(debs[0]) : null;
            Failure = DebDirectory is null ? "no packages built (demo/AcmeMail/packaging/build-debs.sh not found)" : null;
        }
        catch (Exception e) when (e is Stageproof.Core.StageproofException or IOException or UnauthorizedAccessException)
        {
            Failure = e.Message;
        }
    }

    /// <summary>Fails the calling test, with the reason, when the packages could not be built.</summary>
    public void Require() => Assert.True(Failure is null && DebDirectory is not null, $"build-debs.sh failed: {Failure}");

    public Task DisposeAsync()
    {
        Directory.Delete(OutDir, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>One build-debs.sh run, and one MariaDB server, shared by the packaging tests and the bad-package tests.</summary>
[CollectionDefinition("debs")]
public sealed class DebsCollection : ICollectionFixture<DebsFixture>, ICollectionFixture<MariaDbFixture>;

[Trait("Category", "Packaging")]
[Collection("debs")]
public sealed class PackagingTests(DebsFixture debs, MariaDbFixture maria)
{
    private void NeedDebs()
    {
        Requires.Executable("/usr/bin/dpkg-deb");
        debs.Require();
    }

    private static async Task<string> DpkgDebAsync(params string[] args) => (await Proc.RunAsync("dpkg-deb", args)).Check("dpkg-deb " + string.Join(' ', args)).Stdout;

    [SkippableTheory]
    [InlineData("1.0")]
    [InlineData("1.1")]
    public async Task Each_version_is_a_real_deb_with_control_fields_and_a_conffile(string version)
    {
        NeedDebs();
        var deb = debs.Deb(version);
        Assert.True(File.Exists(deb), deb);
        Assert.Equal($"{version}-1", (await DpkgDebAsync("-f", deb, "Version")).Trim());
        Assert.Equal("acme-mail", (await DpkgDebAsync("-f", deb, "Package")).Trim());
        Assert.Equal("amd64", (await DpkgDebAsync("-f", deb, "Architecture")).Trim());
        Assert.DoesNotContain("dotnet", await DpkgDebAsync("-f", deb, "Depends"), StringComparison.Ordinal);
        Assert.Equal("/etc/acme-mail/acme-mail.conf", (await DpkgDebAsync("-I", deb, "conffiles")).Trim());
        foreach (var script in new[] { "postinst", "prerm", "postrm" })
        {
            Assert.StartsWith("#!/bin/sh", await DpkgDebAsync("-I", deb, script), StringComparison.Ordinal);
        }

        var listing = (await Proc.RunAsync("dpkg", "-c", deb)).Check("dpkg -c").Stdout;
        string[] expected =
        [
            "-rwxr-xr-x root/root .* ./usr/lib/acme-mail/acme-mail$",
            "-rw-r--r-- root/root .* ./usr/share/acme-mail/defaults.conf$",
            "-rw-r--r-- root/root .* ./usr/share/acme-mail/seed.sql$",
            "-rw-r--r-- root/root .* ./usr/share/acme-mail/migrations/V1__initial_schema.sql$",
            "-rw-r--r-- root/root .* ./usr/share/acme-mail/seed-mariadb.sql$",
            "-rw-r--r-- root/root .* ./usr/share/acme-mail/migrations/mariadb/V1__initial_schema.sql$",
            "-rw-r--r-- root/root .* ./etc/acme-mail/acme-mail.conf$",
            "-rwxr-xr-x root/root .* ./etc/init.d/acme-mail$",
        ];
        foreach (var pattern in expected)
        {
            Assert.Matches(new System.Text.RegularExpressions.Regex(pattern, System.Text.RegularExpressions.RegexOptions.Multiline), listing);
        }
        Assert.DoesNotContain(".pdb", listing, StringComparison.Ordinal);
        Assert.DoesNotContain(".dll", listing, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Both_versions_ship_the_same_migrations_and_conffile()
    {
        NeedDebs();
        var a = await ExtractAsync("1.0");
        var b = await ExtractAsync("1.1");
        foreach (var rel in new[]
        {
            "usr/share/acme-mail/migrations/V1__initial_schema.sql", "usr/share/acme-mail/migrations/mariadb/V1__initial_schema.sql",
            "etc/acme-mail/acme-mail.conf", "usr/share/acme-mail/seed.sql", "usr/share/acme-mail/seed-mariadb.sql",
        })
        {
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(a, rel)), await File.ReadAllBytesAsync(Path.Combine(b, rel)));
        }
    }

    /// <summary>The build-time switch, end to end: the published 1.0 binary has the bug, the 1.1 binary the fix.</summary>
    [SkippableFact]
    public async Task Published_binaries_differ_only_by_the_mailbox_fix()
    {
        NeedDebs();
        Requires.Root();
        Requires.Executable($"{PgServer.Bin}/initdb");
        await using var pg = await PgServer.StartAsync();
        var db = await pg.CreateDatabaseAsync();
        using var files = new MailFiles(pg, db);
        Assert.Equal(0, await files.RunCliAsync("--seed"));

        foreach (var (version, expected) in new[] { ("1.0", 200), ("1.1", 403) })
        {
            await ServePackagedAsync(version, files, async http =>
            {
                var health = JsonDocument.Parse(await http.GetStringAsync("/health")).RootElement;
                Assert.Equal(version, health.GetProperty("version").GetString());
                var token = await LoginAsync(http, "user01", "password-01");
                Assert.Equal(expected, (await GetAsync(http, "/mailbox/user02", token)).Status);
            });
        }
    }

    /// <summary>The trimmed binary carries the MariaDB driver and bcrypt whole: it migrates, checks a seeded password, serves and searches.</summary>
    [SkippableFact]
    public async Task The_packaged_binary_keeps_its_mail_in_mariadb()
    {
        NeedDebs();
        maria.EnsureAvailable();
        await maria.CreateDatabaseAsync("acme_mail_packaged");
        using var files = MailFiles.OnMariaDb(maria, "acme_mail_packaged");
        await ServePackagedAsync("1.1", files, async http =>
        {
            var health = JsonDocument.Parse(await http.GetStringAsync("/health")).RootElement;
            Assert.Equal("ok", health.GetProperty("db").GetString());
            Assert.Equal(0, await files.RunCliAsync("--seed"));
            var token = await LoginAsync(http, "user01", "password-01");
            var (status, body) = await GetAsync(http, "/mailbox/user01", token);
            Assert.Equal(200, status);
            Assert.Equal(20, JsonDocument.Parse(body).RootElement.GetArrayLength());
            Assert.Equal(403, (await GetAsync(http, "/mailbox/user02", token)).Status);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                var (searchStatus, hits) = await GetAsync(http, "/search?q=invoice", token);
                Assert.Equal(200, searchStatus);
                if (JsonDocument.Parse(hits).RootElement.GetArrayLength() > 0)
                {
                    break;
                }
                Assert.True(DateTime.UtcNow < deadline, "the packaged indexer did not make the seeded mail searchable within 60 s");
                await Task.Delay(200);
            }
        });
        var log = await File.ReadAllTextAsync(Path.Combine(files.Dir, "acme-mail-1.1.log"));
        Assert.Contains("migrations: applying V1 (initial schema)", log, StringComparison.Ordinal);
        Assert.DoesNotContain(" ERROR ", log, StringComparison.Ordinal);
    }

    /// <summary>Runs the packaged binary of <paramref name="version"/> with <paramref name="files"/>' operator file on a free port until <paramref name="body"/> is done.</summary>
    private async Task ServePackagedAsync(string version, MailFiles files, Func<HttpClient, Task> body)
    {
        var root = await ExtractAsync(version);
        var binary = Path.Combine(root, "usr/lib/acme-mail/acme-mail");
        Assert.Equal(version, (await Proc.RunAsync(binary, "--version")).Check("--version").Stdout.Trim());

        var port = PgServer.FreePort(files.ListenAddress);
        var ready = Path.Combine(files.Dir, $"ready-{version}");
        var env = new Dictionary<string, string>
        {
            ["ACME_MAIL_DEFAULTS"] = Path.Combine(root, "usr/share/acme-mail/defaults.conf"),
            ["ACME_MAIL_MIGRATIONS"] = Path.Combine(root, "usr/share/acme-mail/migrations"),
            ["ACME_MAIL_LOG"] = Path.Combine(files.Dir, $"acme-mail-{version}.log"),
            ["ACME_MAIL_READY_FILE"] = ready,
        };
        // listen.port from the operator file is 0 (tests); the packaged binary gets a fixed free port instead.
        var conf = Path.Combine(files.Dir, $"acme-mail-{version}.conf");
        await File.WriteAllTextAsync(conf, (await File.ReadAllTextAsync(files.Paths.Config)).Replace("listen.port = 0", $"listen.port = {port}", StringComparison.Ordinal));
        env["ACME_MAIL_CONF"] = conf;

        using var service = StartProcess(binary, env);
        try
        {
            await WaitUntilAsync(() => File.Exists(ready) || service.HasExited, TimeSpan.FromSeconds(60));
            Assert.False(service.HasExited, $"acme-mail {version} exited: {await File.ReadAllTextAsync(env["ACME_MAIL_LOG"])}");
            using var http = new HttpClient { BaseAddress = new Uri($"http://{files.ListenAddress}:{port}") };
            await body(http);
        }
        finally
        {
            if (!service.HasExited)
            {
                service.Kill(entireProcessTree: true);
            }
            await service.WaitForExitAsync();
        }
    }

    private static async Task<string> LoginAsync(HttpClient http, string user, string password)
    {
        using var login = await http.PostAsJsonAsync("/login", new { user, password });
        Assert.Equal(200, (int)login.StatusCode);
        return JsonDocument.Parse(await login.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
    }

    private static async Task<(int Status, string Body)> GetAsync(HttpClient http, string path, string token)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, path);
        req.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var resp = await http.SendAsync(req);
        return ((int)resp.StatusCode, await resp.Content.ReadAsStringAsync());
    }

    private async Task<string> ExtractAsync(string version)
    {
        var dir = Path.Combine(debs.OutDir, "x-" + version);
        if (!Directory.Exists(dir))
        {
            await DpkgDebAsync("-x", debs.Deb(version), dir);
        }
        return dir;
    }

    private static Process StartProcess(string file, IDictionary<string, string> env)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = false, RedirectStandardError = false };
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        return Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("condition not met in time");
            }
            await Task.Delay(50);
        }
    }
}
