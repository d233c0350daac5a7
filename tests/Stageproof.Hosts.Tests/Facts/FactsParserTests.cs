using System.Text;
using Stageproof.Core.Configuration;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Facts;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Facts;

public class FactsParserTests
{
    private const string AptOutput = """
        Reading package lists...
        Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])
        Inst libssl3 [3.0.19-1~deb12u2] (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [amd64]) []
        Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
        Inst libext2fs2 [1.47.0-2] (1.47.0-2+b2 Debian:12.15/oldstable [amd64]) [e2fsprogs:amd64 on libext2fs2:amd64] [e2fsprogs:amd64 ]
        Inst newpkg (2.0-1 Debian:12.15/oldstable [all])
        Conf base-files (12.4+deb12u15 Debian:12.15/oldstable [amd64])
        """;

    [Fact]
    public void Apt_simulation_lines_become_pending_upgrades_with_security_flag()
    {
        var ups = FactsParser.ParseAptSimulation(AptOutput);

        Assert.Equal(5, ups.Count);
        Assert.Equal(new PendingUpgrade("base-files", "12.4+deb12u11", "12.4+deb12u15", "Debian:12.15/oldstable", false), ups[0]);
        Assert.Equal(new PendingUpgrade("libssl3", "3.0.19-1~deb12u2", "3.0.22-1~deb12u2", "Debian-Security:12/oldstable-security", true), ups[1]);
        Assert.True(ups[2].Security);
        Assert.Equal("Debian:12.15/oldstable, Debian-Security:12/oldstable-security", ups[2].Origin);
        Assert.Equal("1.47.0-2+b2", ups[3].CandidateVersion);
        Assert.Equal(new PendingUpgrade("newpkg", null, "2.0-1", "Debian:12.15/oldstable", false), ups[4]);
    }

    [Fact]
    public void Only_installed_packages_are_kept()
    {
        var pkgs = FactsParser.ParsePackages(
            "dpkg\t1.21.22\tamd64\tii \nold\t1.0\tamd64\trc \nheld\t2.0\tall\thi \nbroken\t3\tamd64\tiU \nlibc6\t2.36\ti386\tii \n");

        Assert.Equal(["dpkg", "held", "libc6"], pkgs.Select(p => p.Name));
        Assert.Equal(new PackageInfo("libc6", "2.36", "i386"), pkgs[2]);
    }

    [Fact]
    public void Proc_net_tcp_lines_decode_listening_addresses()
    {
        const string tcp = """
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 19 1 0 100 0 0 10 0
               1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20 1 0 100 0 0 10 0
               2: 0B0A007F:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21 1 0 100 0 0 10 0
               3: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 22 1 0 100 0 0 10 0
            """;
        const string tcp6 = """
               0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23 1 0 100 0 0 10 0
               1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 24 1 0 100 0 0 10 0
            """;

        var v4 = FactsParser.ParseProcNetTcp(tcp, ipv6: false);
        var v6 = FactsParser.ParseProcNetTcp(tcp6, ipv6: true);

        Assert.Equal(
            [new("tcp", "127.0.0.1", 8080), new("tcp", "0.0.0.0", 22), new("tcp", "127.0.10.11", 2222)],
            v4);
        Assert.Equal([new("tcp6", "::", 22), new("tcp6", "::1", 8081)], v6);
    }

    [Fact]
    public void Ports_of_a_loopback_lab_host_exclude_other_hosts_loopback_addresses()
    {
        ListeningPort[] ports =
        [
            new("tcp", "127.0.10.11", 2222), new("tcp", "127.0.10.12", 2222), new("tcp", "0.0.0.0", 25),
            new("tcp", "127.0.0.1", 5432), new("tcp6", "::", 22), new("tcp6", "::ffff:127.0.10.11", 80),
        ];

        var lab = FactsParser.FilterPorts(ports, "127.0.10.11");
        var real = FactsParser.FilterPorts(ports, "10.1.2.3");
        var local = FactsParser.FilterPorts(ports, null);

        Assert.Equal([ports[0], ports[2], ports[4], ports[5]], lab);
        Assert.Equal([ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]], real);
        Assert.Equal(ports, local);
    }

    [Fact]
    public void Sysv_statuses_map_exit_zero_to_running()
    {
        var services = FactsParser.ParseSysvStatuses("ssh\t0\npostgresql\t3\ncron\t124\n");

        Assert.Equal(
            [new("ssh", true, "sysv"), new("postgresql", false, "sysv"), new("cron", false, "sysv")],
            services);
    }

    [Fact]
    public void Systemd_listing_maps_sub_state_running()
    {
        const string listing = """
            cron.service                 loaded    active   running Regular background program processing daemon
            getty@tty1.service           loaded    active   running Getty on tty1
            ssh.service                  loaded    inactive dead    OpenBSD Secure Shell server
            ● acme-mail.service          not-found failed   failed  acme-mail.service
            systemd-fsck-root.service    loaded    active   exited  File System Check on Root Device
            """;

        var services = FactsParser.ParseSystemdUnits(listing);

        Assert.Equal(
            [
                new("cron", true, "systemd"), new("getty@tty1", true, "systemd"), new("ssh", false, "systemd"),
                new("acme-mail", false, "systemd"), new("systemd-fsck-root", false, "systemd"),
            ],
            services);
    }

    [Fact]
    public void Secret_values_are_masked_in_all_the_usual_shapes()
    {
        const string content = "user = bob\npassword = hunter2\nDB_PASSWORD=s3cret\napi_key: abc\r\n" +
                               "export TOKEN=xyz\n\"client_secret\": \"q\",\n# password = old\nPasswordAuthentication no\nempty_password=\n";
        var masked = SecretMasker.Apply(content, new DriftRules().SecretKeys);

        Assert.Equal("user = bob\npassword = ********\nDB_PASSWORD=********\napi_key: ********\r\n" +
                     "export TOKEN=********\n\"client_secret\": ********\n# password = ********\nPasswordAuthentication no\nempty_password=\n",
            masked);
    }

    [Fact]
    public void A_credential_file_is_masked_as_its_path_names_it()
    {
        var record = Convert.ToBase64String(Encoding.UTF8.GetBytes("db:5432:app:app:hunter2\n"));
        var text = $"@@file\troot\troot\t600\t24\taa\t/root/.pgpass\n{record}\n@@file\troot\troot\t644\t24\tbb\t/etc/motd\n{record}\n";

        var files = FactsParser.ParseFiles(text, 65536, new DriftRules().SecretKeys);

        Assert.Equal(["db:5432:app:app:********\n", "db:5432:app:app:hunter2\n"], files.Select(f => f.Content));
    }

    [Fact]
    public void Whole_output_parses_into_a_manifest()
    {
        var output = FactsSamples.ScriptOutput(packages: 3, files: 2);
        var host = new HostConfig { Name = "stage-app-1", Address = "127.0.30.11", Role = "app" };

        var m = FactsParser.Parse(output, host, new DriftRules(), "staging");

        Assert.Equal("stage-app-1", m.Target);
        Assert.Equal("staging", m.Environment);
        Assert.Equal("app", m.Role);
        Assert.Equal(new OsInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "amd64"), m.Os);
        Assert.Equal(3, m.Packages.Count);
        Assert.Single(m.PendingUpgrades);
        Assert.Equal(2, m.Files.Count);
        var f = m.Files[0];
        Assert.Equal("/etc/acme-mail/0 main.conf", f.Path);
        Assert.Equal("0640", f.Mode);
        Assert.Equal("root", f.Owner);
        Assert.Equal("acme", f.Group);
        Assert.Equal("listen = 127.0.30.11\npassword = ********\n", f.Content);
        Assert.Equal([new ServiceInfo("acme-mail", true, "sysv")], m.Services);
        Assert.Equal([new ListeningPort("tcp", "127.0.30.11", 2222)], m.Ports);
    }

    [Fact]
    public void Binary_and_oversized_files_keep_only_their_digest()
    {
        var text = "@@file\troot\troot\t644\t3\taa\t/etc/bin\n" + Convert.ToBase64String([1, 0, 2]) + "\n" +
                   "@@file\troot\troot\t600\t100000\tbb\t/etc/big\n" +
                   "@@file\troot\troot\t644\t0\te3\t/etc/empty\n" +
                   "@@file\troot\troot\t644\t2\tcc\t/etc/latin1\n" + Convert.ToBase64String([0xE9, 0x0A]) + "\n";

        var files = FactsParser.ParseFiles(text, 65536, []);

        Assert.Equal([null, null, "", null], files.Select(f => f.Content));
        Assert.Equal("0600", files[1].Mode);
        Assert.Equal(100000, files[1].Size);
    }

    [Fact]
    public void Output_without_the_header_is_rejected()
    {
        Assert.Throws<FormatException>(() => FactsParser.Parse("sh: 1: not found\n", new HostConfig { Name = "x" }, new DriftRules()));
    }

    [Fact]
    public void A_thousand_packages_and_two_hundred_files_parse_completely()
    {
        var output = FactsSamples.ScriptOutput(packages: 1000, files: 200);
        var host = new HostConfig { Name = "h", Address = "127.0.30.11" };
        // How fast is a figure for bench/ (`Stageproof.Bench -- facts`), not a verdict on a shared machine.
        var m = FactsParser.Parse(output, host, new DriftRules());

        Assert.Equal(1000, m.Packages.Count);
        Assert.Equal(200, m.Files.Count);
    }
}
