using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Stageproof.Lab;

namespace Stageproof.Lab.Tests;

[Collection(LabCollection.Name)]
[Trait("Category", "Lab")] // needs a whole lab: left out of the fast tier (dotnet test --filter "Category!=Lab")
public sealed class LabTests(LabFixture fixture)
{
    private LabManager Lab => fixture.Lab;

    [SkippableFact]
    public async Task Every_host_answers_ssh_on_its_own_address_with_the_host_key_in_known_hosts()
    {
        fixture.Require();
        Assert.Equal(["prod-app-1", "prod-app-2", "qa-app-1", "staging-app-1"], fixture.Up.Hosts.Select(h => h.Name));
        Assert.Equal("127.0.110.11", fixture.Up.Hosts[0].Address);
        foreach (var host in fixture.Up.Hosts)
        {
            var (code, output) = await Probe.SshAsync(Lab, host, "cat /etc/hostname");
            Assert.True(code == 0, $"{host.Name}: {output}");
            Assert.Equal(host.Name, output.Trim());
        }
        var keys = File.ReadAllLines(Lab.KnownHostsFile).Select(l => l.Split(' ')[2]).ToList();
        Assert.Equal(fixture.Up.Hosts.Count, keys.Distinct().Count());
    }

    [SkippableFact]
    public async Task Hosts_are_separate_in_files_packages_and_processes()
    {
        fixture.Require();
        var (one, two) = (fixture.Up.Hosts[0], fixture.Up.Hosts[1]);
        await File.WriteAllTextAsync(Path.Combine(one.Root, "root/only-here"), "x");
        Assert.False(File.Exists(Path.Combine(two.Root, "root/only-here")));

        var scratch = Directory.CreateTempSubdirectory("stageproof-deb-").FullName;
        try
        {
            var deb = await Probe.BuildDebAsync(scratch, "stageproof-probe", "1.0");
            var repo = await Lab.RepoAddAsync(deb);
            Assert.Contains("stageproof-probe=1.0", repo.Packages);
            var (code, output) = await Probe.SshAsync(Lab, one, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q stageproof-probe=1.0");
            Assert.True(code == 0, output);
            Assert.True(File.Exists(Path.Combine(one.Root, "usr/share/stageproof-probe/version")));
            Assert.False(File.Exists(Path.Combine(two.Root, "usr/share/stageproof-probe/version")));
            var (code2, _) = await Probe.SshAsync(Lab, two, "dpkg -s stageproof-probe");
            Assert.NotEqual(0, code2);

            var removed = await Lab.RepoRemoveAsync("stageproof-probe", "1.0");
            Assert.DoesNotContain("stageproof-probe=1.0", removed.Packages);
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        var (c3, pid) = await Probe.SshAsync(Lab, one, "nohup sleep 600 >/dev/null 2>&1 & echo $!");
        Assert.True(c3 == 0, pid);
        var link = new FileInfo($"/proc/{pid.Trim()}/root").LinkTarget;
        Assert.Equal(one.Root, link);
        // Hosts share the machine's process table (chroot, not a PID namespace): separation is by root.
        Assert.NotEqual(two.Root, link);
        Assert.True(File.Exists($"/proc/{pid.Trim()}/root/root/only-here"));
    }

    [SkippableFact]
    public async Task Acme_mail_answers_health_on_every_app_host_and_each_database_is_seeded()
    {
        fixture.Require();
        Assert.True(fixture.Up.AcmeMailInstalled, "acme-mail packages were not available (demo/AcmeMail/packaging/build-debs.sh)");
        using var http = new HttpClient();
        foreach (var host in fixture.Up.Hosts)
        {
            var response = await http.GetAsync($"http://{host.Address}:8080/health");
            Assert.Equal(200, (int)response.StatusCode);
        }
        foreach (var env in fixture.Up.Environments)
        {
            await using var conn = new NpgsqlConnection(env.MailConnectionString);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM users", conn);
            Assert.Equal(50L, (long)(await cmd.ExecuteScalarAsync())!);
        }
    }

    [SkippableFact]
    public async Task Plain_apt_get_upgrade_to_1_1_is_non_interactive_and_closes_the_mailbox_hole_seen_over_http()
    {
        fixture.Require();
        var qa = fixture.Up.Hosts.Single(h => h.Name == "qa-app-1");
        using var http = new HttpClient { BaseAddress = new Uri($"http://{qa.Address}:8080") };

        async Task<int> OtherUsersMailboxAsync()
        {
            var login = await http.PostAsJsonAsync("/login", new { user = "user01", password = "password-01" });
            Assert.Equal(200, (int)login.StatusCode);
            var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
            using var request = new HttpRequestMessage(HttpMethod.Get, "/mailbox/user02");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            return (int)(await http.SendAsync(request)).StatusCode;
        }

        Assert.Equal(200, await OtherUsersMailboxAsync()); // 1.0: user01's token reads user02's mail

        // What an operator types, with no terminal to answer a prompt (ssh without -t, stdin closed).
        var (code, output) = await Probe.SshAsync(Lab, qa, "apt-get install -y acme-mail=1.1-1 </dev/null");
        Assert.True(code == 0, output);
        var health = await http.GetFromJsonAsync<JsonElement>("/health");
        Assert.Equal("1.1", health.GetProperty("version").GetString());

        Assert.Equal(403, await OtherUsersMailboxAsync());
    }

    [SkippableFact]
    public async Task Status_reports_every_host_and_database_up()
    {
        fixture.Require();
        var status = await Lab.StatusAsync();
        Assert.True(status.Healthy, string.Join("; ", status.Hosts.Select(h => h.ToString()).Concat(status.Environments.Select(e => e.ToString()))));
        Assert.True(status.Environments.Count >= 3);
    }

    [SkippableFact]
    public async Task Configuration_describes_the_estate_with_relative_key_paths()
    {
        fixture.Require();
        var yaml = await File.ReadAllTextAsync(Lab.ConfigFile);
        Assert.Contains("prod-app-1: { address: 127.0.110.11, port: 2322, user: root, role: app, identity: keys/lab_ed25519, known_hosts: keys/known_hosts }", yaml);
        Assert.Contains("mirror_of: prod", yaml);
        Assert.Contains("Host=127.0.130.5;Port=5432;Database=mail;Username=acme;Password=acme", yaml);
        var topLevel = yaml.Split('\n').Where(l => l.Length > 0 && char.IsLetter(l[0])).Select(l => l.Split(':')[0]).ToList();
        Assert.Equal(["hosts", "environments", "drift", "ssh", "checks", "lifecycle"], topLevel);
        // The promotion lane: the standard environments in order, never a clone.
        var lifecycle = Core.Configuration.ConfigLoader.Load(Lab.ConfigFile).Lifecycle;
        Assert.Equal(["qa", "staging", "prod"], lifecycle.Stages.Select(s => s.Environment));
        Assert.Equal(1, lifecycle.Stages[2].Approvals);
    }

    [SkippableFact]
    public async Task Clone_makes_a_working_copy_of_an_environment_on_new_addresses()
    {
        fixture.Require();
        var marker = Path.Combine(fixture.Up.Hosts[0].Root, "etc/stageproof-clone-marker");
        await File.WriteAllTextAsync(marker, "from prod");
        var clone = await Lab.CloneAsync("prod", "emergency", new Progress<string>(Console.WriteLine));
        Console.WriteLine($"LAB CLONE took {clone.Elapsed.TotalSeconds:0.0}s");
        Assert.Equal(["emergency-app-1", "emergency-app-2"], clone.Hosts.Select(h => h.Name));
        Assert.Equal("127.0.140.11", clone.Hosts[0].Address);
        Assert.Equal("prod", clone.Environment.MirrorOf);
        foreach (var host in clone.Hosts)
        {
            var (code, output) = await Probe.SshAsync(Lab, host, "cat /etc/hostname");
            Assert.True(code == 0, $"{host.Name}: {output}");
            Assert.Equal(host.Name, output.Trim());
        }
        Assert.Equal("from prod", await File.ReadAllTextAsync(Path.Combine(clone.Hosts[0].Root, "etc/stageproof-clone-marker")));
        await File.WriteAllTextAsync(Path.Combine(clone.Hosts[0].Root, "etc/only-in-clone"), "x");
        Assert.False(File.Exists(Path.Combine(fixture.Up.Hosts[0].Root, "etc/only-in-clone")));
        if (fixture.Up.AcmeMailInstalled)
        {
            using var http = new HttpClient();
            foreach (var host in clone.Hosts)
            {
                Assert.Equal(200, (int)(await http.GetAsync($"http://{host.Address}:8080/health")).StatusCode);
            }
            await using var conn = new NpgsqlConnection(clone.Environment.MailConnectionString);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM users", conn);
            Assert.Equal(50L, (long)(await cmd.ExecuteScalarAsync())!);
        }
        Assert.Contains("emergency:", await File.ReadAllTextAsync(Lab.ConfigFile));
        Assert.True((await Lab.StatusAsync()).Healthy);
    }
}
