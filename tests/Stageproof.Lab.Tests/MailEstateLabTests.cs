using System.DirectoryServices.Protocols;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MySqlConnector;
using Stageproof.Core;
using Stageproof.Testing;
using Xunit.Abstractions;

namespace Stageproof.Lab.Tests;

/// <summary>The mail estate (<c>lab up --estate mail</c>): 127.0.143.x / 153 / 163 (a clone 173), ssh port 2672; per
/// environment a MariaDB on .6, an LDAP host (slapd) on .7 and a proxy on .9, one prod app host.</summary>
public sealed class MailLabFixture() : SharedLab(143, 2672, appHosts: 1, estate: LabEstate.Mail);

/// <summary>
/// The lab as a mail estate as run in the field: acme-mail keeps its mail in a real MariaDB and checks logins by binding
/// to a real OpenLDAP; Stageproof reads both, stages a patch across them, and a migration that loses rows on MariaDB
/// fails for that reason.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[TestCaseOrderer(RunOrderer.TypeName, RunOrderer.AssemblyName)] // the last one brings the estate down
[Collection(LabCollection.Name)] // judges latency against its noise floor: see LabCollection
[Trait("Category", "Lab")]
public sealed class MailEstateLabTests(MailLabFixture lab, ITestOutputHelper output) : IClassFixture<MailLabFixture>, IClassFixture<JudgesLatency>
{
    private const string SetTemplate = """
        id: ID
        title: acme-mail VERSION
        reason: the mail estate
        severity: high
        author: alice
        roles: [app]
        packages:
          - { name: acme-mail, version: "VERSION" }
        commands:
          post: [{ run: "service acme-mail restart", timeout: 60 }]
        """;

    private Task<(int Code, string Stdout, string Stderr)> CliAsync(params string[] args) => Probe.CliAsync(output, lab.Directory, "stageproof.yaml", args);

    private LabEnvironment Env(string name) => lab.Up.Environments.Single(e => e.Name == name);

    private static async Task<long> ScalarAsync(string connectionString, string sql)
    {
        await using var conn = new MySqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new MySqlCommand(sql, conn);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<HttpStatusCode> LoginAsync(string hostAddress, string user, string password, int port = 8080)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var response = await http.PostAsJsonAsync($"http://{hostAddress}:{port}/login", new { user, password });
        return response.StatusCode;
    }

    /// <summary>Debian's slapd in the lab repository (the tests' rebuilds, "+lab", sit beside it).</summary>
    private string DebianSlapdDeb() =>
        Directory.EnumerateFiles(Path.Combine(lab.Directory, "repo"), "slapd_*_amd64.deb").Single(f => !Path.GetFileName(f).Contains("+lab", StringComparison.Ordinal));

    private string StagingLdapRoot => Path.Combine(lab.Directory, "hosts", "staging-ldap-1", "root");

    /// <summary>The slapd version installed on staging's LDAP host.</summary>
    private async Task<string> StagingSlapdVersionAsync() => (await Probe.InRootAsync(StagingLdapRoot, "dpkg-query -W -f='${Version}' slapd")).Trim();

    /// <summary>Freezes a set that installs slapd <paramref name="version"/> on the LDAP hosts; returns its digest.</summary>
    private Task<string> FreezeSlapdSetAsync(string id, string version, string reason) => FreezeYamlAsync(id, $$"""
        id: {{id}}
        title: slapd {{version}}
        reason: {{reason}}
        severity: medium
        author: alice
        roles: [ldap]
        packages:
          - { name: slapd, version: "{{version}}" }
        """);

    private string HostAddress(string name) => lab.Up.Hosts.Single(h => h.Name == name).Address;

    /// <summary>Sets a user's password in an environment's directory as its data admin (an operator's ldappasswd).</summary>
    private async Task SetDirectoryPasswordAsync(string environment, string uid, string password)
    {
        var admin = (await File.ReadAllTextAsync(Path.Combine(lab.Directory, "secrets", "ldap-admin.pw"))).Trim();
        var url = new Uri(Env(environment).DirectoryUrl!);
        using var connection = new LdapConnection(new LdapDirectoryIdentifier(url.Host, url.Port)) { AuthType = AuthType.Basic, Timeout = TimeSpan.FromSeconds(10) };
        connection.SessionOptions.ProtocolVersion = 3;
        connection.Bind(new NetworkCredential("cn=admin,dc=acme,dc=test", admin));
        connection.SendRequest(new ModifyRequest($"uid={uid},ou=people,dc=acme,dc=test", DirectoryAttributeOperation.Replace, "userPassword", password));
    }

    private Task<string> FreezeAsync(string id, string version) =>
        FreezeYamlAsync(id, SetTemplate.Replace("ID", id, StringComparison.Ordinal).Replace("VERSION", version, StringComparison.Ordinal));

    /// <summary>Writes a patch set as LABDIR/ID.yaml, freezes it and returns its digest.</summary>
    private async Task<string> FreezeYamlAsync(string id, string yaml)
    {
        var file = Path.Combine(lab.Directory, id + ".yaml");
        await File.WriteAllTextAsync(file, yaml);
        var (code, stdout, _) = await CliAsync("--json", "patch", "freeze", file);
        Assert.Equal(0, code);
        return JsonDocument.Parse(stdout).RootElement.GetProperty("digest").GetString()!;
    }

    /// <summary>The running MariaDB servers whose command line names this lab's directory.</summary>
    private async Task<int> MariaDbServersAsync()
    {
        var (_, running) = await Probe.RunAsync("/bin/ps", "-eo", "args");
        return running.Split('\n').Count(l => l.Contains("mariadbd", StringComparison.Ordinal) && l.Contains(lab.Directory, StringComparison.Ordinal));
    }

    private async Task<string> StagingVersionAsync() =>
        (await Probe.InRootAsync(Path.Combine(lab.Directory, "hosts", "staging-app-1", "root"), "dpkg-query -W -f='${Version}' acme-mail")).Trim();

    [SkippableFact, RunOrder(1)]
    public async Task Acme_mail_keeps_its_mail_in_MariaDB_and_checks_each_login_against_the_directory()
    {
        lab.Require();
        var status = await lab.Lab.StatusAsync();
        Assert.True(status.Healthy, string.Join("; ", status.Environments));
        Assert.All(status.Environments, e =>
        {
            Assert.Equal("mariadb", e.DatabaseEngine);
            Assert.True(e.DatabaseUp && e.DirectoryUp == true, e.ToString());
        });
        Assert.Equal(["127.0.143.7", "127.0.153.7", "127.0.163.7"], status.Environments.Select(e => e.DirectoryAddress));
        Assert.Equal(["127.0.143.7", "127.0.153.7", "127.0.163.7"], lab.Up.Hosts.Where(h => h.Role == "ldap").Select(h => h.Address));
        // Each environment's MariaDB is a server of this lab's, and its directory the slapd of its LDAP host, in the host's root.
        Assert.Equal(3, await MariaDbServersAsync());
        Assert.Equal(3, Probe.ProcessesRootedIn(lab.Directory).Count(p => Probe.CommandName(p) == "slapd"));

        // The seed's 20,000 messages and 50 accounts are in prod's MariaDB, on .6.
        var prod = Env("prod");
        Assert.Equal("mariadb", prod.DatabaseEngine);
        Assert.EndsWith(".6", prod.DatabaseAddress, StringComparison.Ordinal);
        Assert.Equal(20000, await ScalarAsync(prod.MailConnectionString, "SELECT count(*) FROM messages"));
        Assert.Equal(50, await ScalarAsync(prod.MailConnectionString, "SELECT count(*) FROM users"));

        // A login is a bind: a password changed in the directory alone is the one that works, the seeded one no longer does.
        var host = HostAddress("prod-app-1");
        Assert.Equal(HttpStatusCode.OK, await LoginAsync(host, "user07", "password-07"));
        Assert.Equal(HttpStatusCode.Unauthorized, await LoginAsync(host, "user07", "password-08"));
        await SetDirectoryPasswordAsync("prod", "user07", "changed-in-the-directory");
        try
        {
            Assert.Equal(HttpStatusCode.OK, await LoginAsync(host, "user07", "changed-in-the-directory"));
            Assert.Equal(HttpStatusCode.Unauthorized, await LoginAsync(host, "user07", "password-07"));
        }
        finally
        {
            await SetDirectoryPasswordAsync("prod", "user07", "password-07");
        }

        // Users reach acme-mail through each environment's proxy: Debian's nginx on .9:80, in front of its app hosts.
        var proxy = lab.Up.Hosts.Single(h => h.Name == "prod-proxy-1");
        Assert.Equal(("proxy", "127.0.143.9"), (proxy.Role, proxy.Address));
        Assert.Equal(["prod-app-1", "prod-proxy-1", "prod-ldap-1"], Env("prod").Hosts);
        Assert.Equal(HttpStatusCode.OK, await LoginAsync(proxy.Address, "user07", "password-07", 80));
        Assert.Equal(HttpStatusCode.Unauthorized, await LoginAsync(proxy.Address, "user07", "password-08", 80));
        Assert.StartsWith("1.22.", (await Probe.InRootAsync(proxy.Root, "dpkg-query -W -f='${Version}' nginx")).Trim(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(proxy.Root, "etc/init.d/acme-mail")), "the proxy runs an acme-mail of its own");
        Assert.Contains($"server {HostAddress("prod-app-1")}:8080;", await File.ReadAllTextAsync(Path.Combine(proxy.Root, "etc/nginx/conf.d/acme-mail-upstream.conf")),
            StringComparison.Ordinal);

        // The directory is the slapd of prod's LDAP host on .7: Debian's package, installed from the lab repository.
        var directoryHost = lab.Up.Hosts.Single(h => h.Name == "prod-ldap-1");
        Assert.Equal(("ldap", "127.0.143.7"), (directoryHost.Role, directoryHost.Address));
        Assert.StartsWith("2.5.", (await Probe.InRootAsync(directoryHost.Root, "dpkg-query -W -f='${Version}' slapd")).Trim(), StringComparison.Ordinal);
        Assert.Contains("SLAPD_SERVICES=\"ldap://127.0.143.7:389/\"", await File.ReadAllTextAsync(Path.Combine(directoryHost.Root, "etc/default/slapd")),
            StringComparison.Ordinal);

        // The configuration names the engine and the directory; the directory's admin passwords are 0600 files, not YAML.
        var yaml = await File.ReadAllTextAsync(lab.Up.ConfigFile);
        Assert.Contains("mail: { engine: mariadb, connection: \"Server=127.0.143.6;Port=3306;Database=mail;", yaml, StringComparison.Ordinal);
        Assert.Contains("users: { url: \"ldap://127.0.143.7:389\", bind_dn: \"cn=admin,cn=config\", password_file: secrets/ldap-config.pw", yaml, StringComparison.Ordinal);
        Assert.Contains("rollback: { bind_dn: \"cn=admin,dc=acme,dc=test\", password_file: secrets/ldap-admin.pw }", yaml, StringComparison.Ordinal);
        foreach (var secret in new[] { "ldap-config.pw", "ldap-admin.pw" })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(lab.Directory, "secrets", secret)));
        }

        // Stageproof reads both servers of each environment; prod and staging are built alike, so nothing differs.
        var (code, stdout, _) = await CliAsync("--json", "drift", "prod", "staging");
        Assert.True(code == ExitCodes.Ok, stdout);
        var json = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(1.0, json.GetProperty("fidelity").GetDouble());
        var drift = json.GetProperty("drift");
        // The proxies are paired by role, their nginx.conf and site compared (their listen address and app hosts are their own).
        Assert.Contains(drift.GetProperty("hosts").EnumerateArray(),
            p => p.GetProperty("left").GetString() == "prod-proxy-1" && p.GetProperty("right").GetString() == "staging-proxy-1");
        var families = drift.GetProperty("families").EnumerateArray()
            .ToDictionary(f => f.GetProperty("family").GetString()!, f => f.GetProperty("compared").GetInt32());
        Assert.True(families.GetValueOrDefault("schema") > 0 && families.GetValueOrDefault("database") >= 2, stdout);
        // Two pairs compared beyond the hosts: the MariaDB databases and the directories, each without a difference.
        var databases = drift.GetProperty("databases").EnumerateArray().ToList();
        Assert.Equal(2, databases.Count);
        Assert.All(databases, d => Assert.Equal(0, d.GetProperty("drift").GetProperty("items").GetArrayLength()));

        var (factsCode, facts, _) = await CliAsync("facts", "prod");
        Assert.Equal(0, factsCode);
        Assert.Contains("prod/mail: MariaDB 10.", facts, StringComparison.Ordinal);
        Assert.Contains("prod/users: OpenLDAP: slapd 2.", facts, StringComparison.Ordinal);
    }

    [SkippableFact, RunOrder(2)]
    public async Task The_good_update_passes_and_a_MariaDB_migration_that_loses_rows_fails_naming_the_table_and_its_numbers()
    {
        lab.Require();
        var good = await FreezeAsync("MAIL-GOOD", "1.1-1");
        var (passCode, passOut, _) = await CliAsync("--json", "stage", good, "--env", "staging");
        StageOutput.AssertExit(ExitCodes.Ok, passCode, passOut);
        Assert.Equal("pass", JsonDocument.Parse(passOut).RootElement.GetProperty("verdict").GetString());
        Assert.Equal(0, (await CliAsync("rollback", "--env", "staging")).Code);
        Assert.Equal("1.0-1", await StagingVersionAsync());

        var deb = await BadPackages.BuildAsync(Path.Combine(lab.Directory, "repo", "acme-mail_1.1-1_amd64.deb"), BadUpdate.DeletesData, Path.Combine(lab.Directory, "bad"));
        await lab.Lab.RepoAddAsync(deb);
        var bad = await FreezeAsync("MAIL-BAD8", BadPackages.Version(BadUpdate.DeletesData));
        var (failCode, failOut, _) = await CliAsync("--json", "stage", bad, "--env", "staging");
        StageOutput.AssertExit(ExitCodes.Finding, failCode, failOut);
        var result = JsonDocument.Parse(failOut).RootElement;
        Assert.Equal("fail", result.GetProperty("verdict").GetString());
        var reasons = result.GetProperty("reasons").EnumerateArray()
            .Select(r => (Step: r.GetProperty("step").GetString()!, Subject: r.GetProperty("subject").GetString()!, Evidence: r.GetProperty("evidence").GetString()!)).ToList();
        // MariaDB's tables are named by their database (no schema): "mail messages", the numbers exact.
        Assert.Contains(reasons, r => r.Step == "compare" && r.Subject == "data mail messages"
            && r.Evidence.Contains("20000 row(s) at the rollback point, 18000 now: 2000 lost (10%)", StringComparison.Ordinal));
        // The stage put staging back as it was: the old version, every message.
        Assert.Equal("1.0-1", await StagingVersionAsync());
        Assert.Equal(20000, await ScalarAsync(Env("staging").MailConnectionString, "SELECT count(*) FROM messages"));
    }

    [SkippableFact, RunOrder(3)]
    public async Task An_nginx_update_that_changes_a_default_timeout_fails_on_the_proxy_alone_as_unexpected_config()
    {
        lab.Require();
        var good = Directory.EnumerateFiles(Path.Combine(lab.Directory, "repo"), "nginx-common_*_all.deb").Single();
        var deb = await BadPackages.BuildNginxTimeoutAsync(good, Path.Combine(lab.Directory, "bad"));
        await lab.Lab.RepoAddAsync(deb);
        var proxyRoot = Path.Combine(lab.Directory, "hosts", "staging-proxy-1", "root");
        var before = (await Probe.InRootAsync(proxyRoot, "dpkg-query -W -f='${Version}' nginx-common")).Trim();
        var version = BadPackages.NginxTimeoutVersion(before);
        var digest = await FreezeYamlAsync("PROXY-2026-12-01", $$"""
            id: PROXY-2026-12-01
            title: nginx-common {{version}}
            reason: the proxies' routine nginx update
            severity: medium
            author: alice
            roles: [proxy]
            packages:
              - { name: nginx-common, version: "{{version}}" }
            commands:
              post: [{ run: "service nginx reload", timeout: 60 }]
            """);

        var (code, stdout, _) = await CliAsync("--json", "stage", digest, "--env", "staging");
        StageOutput.AssertExit(ExitCodes.Finding, code, stdout);
        var result = JsonDocument.Parse(stdout).RootElement;
        var reasons = result.GetProperty("reasons").EnumerateArray()
            .Select(r => (Step: r.GetProperty("step").GetString()!, Subject: r.GetProperty("subject").GetString()!, Evidence: r.GetProperty("evidence").GetString()!)).ToList();
        output.WriteLine(string.Join("\n", reasons));
        // Every page still loads through the proxy: what fails it is the tracked value the set never declared.
        Assert.Contains(reasons, r => r.Subject.Contains("staging-proxy-1", StringComparison.Ordinal) && r.Subject.Contains("/etc/nginx/nginx.conf", StringComparison.Ordinal)
            && r.Evidence.Contains("keepalive_timeout", StringComparison.Ordinal));
        Assert.DoesNotContain(reasons, r => r.Subject.Contains("staging-app-1", StringComparison.Ordinal));
        // Only the proxy was patched, and the stage put it back: Debian's version and nginx.conf, nginx serving.
        Assert.Equal(before, (await Probe.InRootAsync(proxyRoot, "dpkg-query -W -f='${Version}' nginx-common")).Trim());
        Assert.DoesNotContain("keepalive_timeout", await File.ReadAllTextAsync(Path.Combine(proxyRoot, "etc/nginx/nginx.conf")), StringComparison.Ordinal);
        Assert.Equal("1.0-1", await StagingVersionAsync());
        Assert.Equal(HttpStatusCode.OK, await LoginAsync(HostAddress("staging-proxy-1"), "user03", "password-03", 80));
    }

    [SkippableFact, RunOrder(4)]
    public async Task A_slapd_update_of_the_directory_s_host_passes_with_the_directory_exported_first_and_rolls_back()
    {
        lab.Require();
        await lab.Lab.RepoAddAsync(await BadPackages.BuildSlapdRebuildAsync(DebianSlapdDeb(), Path.Combine(lab.Directory, "bad")));
        var before = await StagingSlapdVersionAsync();
        var version = BadPackages.SlapdRebuildVersion(before);
        var digest = await FreezeSlapdSetAsync("LDAP-2026-12-02", version, "the directory hosts' routine slapd update");
        var exports = Path.Combine(lab.Directory, ".stageproof", "rollback");
        int Exports() => Directory.Exists(exports) ? Directory.EnumerateDirectories(exports).Count(p => Directory.Exists(Path.Combine(p, "directories", "users"))) : 0;
        var exportsBefore = Exports();

        var (code, stdout, _) = await CliAsync("--json", "stage", digest, "--env", "staging");
        StageOutput.AssertExit(ExitCodes.Ok, code, stdout);
        var result = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("pass", result.GetProperty("verdict").GetString());
        // The directory's checks ran after the upgrade restarted slapd: one client, then eight.
        var after = result.GetProperty("after").GetProperty("results").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString()!);
        Assert.Equal("passed", after["ldap-bind"], ignoreCase: true);
        Assert.Equal("passed", after["ldap-load"], ignoreCase: true);
        // Each apply reached the directory's host, so the entries were exported before it (directories.users.rollback).
        Assert.True(Exports() > exportsBefore, $"no export of the directory in {exports}");
        Assert.Equal(version, await StagingSlapdVersionAsync());
        Assert.Equal("1.0-1", await StagingVersionAsync());

        Assert.Equal(0, (await CliAsync("rollback", "--env", "staging")).Code);
        Assert.Equal(before, await StagingSlapdVersionAsync());
        Assert.Equal(HttpStatusCode.OK, await LoginAsync(HostAddress("staging-proxy-1"), "user05", "password-05", 80));
    }

    [SkippableFact, RunOrder(5)]
    public async Task A_slapd_update_that_breaks_binds_under_concurrency_fails_on_the_directory_s_load_while_a_single_bind_passes()
    {
        lab.Require();
        await lab.Lab.RepoAddAsync(await BadPackages.BuildSlapdDescriptorCapAsync(DebianSlapdDeb(), Path.Combine(lab.Directory, "bad")));
        var before = await StagingSlapdVersionAsync();
        var version = BadPackages.SlapdDescriptorCapVersion(before);
        var digest = await FreezeSlapdSetAsync("LDAP-2026-12-03", version, "the directory hosts' slapd with a hardened init script");

        var (code, stdout, _) = await CliAsync("--json", "stage", digest, "--env", "staging");
        StageOutput.AssertExit(ExitCodes.Finding, code, stdout);
        var result = JsonDocument.Parse(stdout).RootElement;
        var reasons = result.GetProperty("reasons").EnumerateArray()
            .Select(r => (Step: r.GetProperty("step").GetString()!, Subject: r.GetProperty("subject").GetString()!, Evidence: r.GetProperty("evidence").GetString()!)).ToList();
        output.WriteLine(string.Join("\n", reasons));
        // What fails it is the directory under eight clients at once: some were never answered while the others ran.
        Assert.Contains(reasons, r => r.Subject.Contains("ldap-load", StringComparison.Ordinal)
            && r.Evidence.Contains("passed before the change, fails after: ", StringComparison.Ordinal)
            && r.Evidence.Contains(" of 8 clients had no request answered", StringComparison.Ordinal));
        // One client at a time the directory still answers: the single bind passed after the upgrade.
        var after = result.GetProperty("after").GetProperty("results").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString()!);
        Assert.Equal("passed", after["ldap-bind"], ignoreCase: true);
        Assert.DoesNotContain(reasons, r => r.Subject.Contains("ldap-bind", StringComparison.Ordinal));
        // The stage put Debian's slapd back, init script and all, and the directory serves logins again.
        Assert.Equal(before, await StagingSlapdVersionAsync());
        Assert.DoesNotContain("ulimit", await File.ReadAllTextAsync(Path.Combine(StagingLdapRoot, "etc/init.d/slapd")), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await LoginAsync(HostAddress("staging-proxy-1"), "user06", "password-06", 80));
    }

    [SkippableFact, RunOrder(6)]
    public async Task A_clone_of_prod_gets_its_own_MariaDB_and_directory_with_prod_s_mail_and_accounts()
    {
        lab.Require();
        var clone = await lab.Lab.CloneAsync("prod", "mail-clone", new Progress<string>(output.WriteLine));
        Assert.Equal("mariadb", clone.Environment.DatabaseEngine);
        Assert.Equal("127.0.173.6", clone.Environment.DatabaseAddress);
        Assert.Equal("ldap://127.0.173.7:389", clone.Environment.DirectoryUrl);
        Assert.Equal(20000, await ScalarAsync(clone.Environment.MailConnectionString, "SELECT count(*) FROM messages"));

        // The clone's acme-mail binds to the clone's directory: a password changed there works on the clone only.
        var app = clone.Hosts.Single(h => h.Role == "app");
        var cloneHost = app.Address;
        var yaml = await File.ReadAllTextAsync(Path.Combine(app.Root, "etc/acme-mail/host.d/host.conf"));
        Assert.Contains("auth.ldap.url = ldap://127.0.173.7:389", yaml, StringComparison.Ordinal);
        Assert.Contains("db.connection = Server=127.0.173.6;", yaml, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await LoginAsync(cloneHost, "user11", "password-11"));
        // The clone's proxy is in front of the clone's app host, never prod's.
        var proxy = clone.Hosts.Single(h => h.Role == "proxy");
        var upstream = await File.ReadAllTextAsync(Path.Combine(proxy.Root, "etc/nginx/conf.d/acme-mail-upstream.conf"));
        Assert.Contains($"server {cloneHost}:8080;", upstream, StringComparison.Ordinal);
        Assert.DoesNotContain(HostAddress("prod-app-1") + ":", upstream, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await LoginAsync(proxy.Address, "user11", "password-11", 80));
        // The clone's directory host is on the clone's .7 with prod's entries, its own slapd.
        var directoryHost = clone.Hosts.Single(h => h.Role == "ldap");
        Assert.Equal("127.0.173.7", directoryHost.Address);
        Assert.Contains("ldap://127.0.173.7:389/", await File.ReadAllTextAsync(Path.Combine(directoryHost.Root, "etc/default/slapd")), StringComparison.Ordinal);

        var (code, stdout, _) = await CliAsync("drift", "prod", "mail-clone");
        Assert.True(code == ExitCodes.Ok, stdout);
    }

    /// <summary>Last: lab down stops every environment's MariaDB and slapd (the clone's too) and leaves no process of the
    /// lab behind and no database files (the fixture's own down then finds nothing up).</summary>
    [SkippableFact, RunOrder(7)]
    public async Task Down_stops_every_MariaDB_and_slapd_of_the_estate_and_leaves_no_process_behind()
    {
        lab.Require();
        var environments = (await lab.Lab.StatusAsync()).Environments.Count;
        Assert.True(environments >= 3, $"{environments} environments");
        Assert.Equal(environments, await MariaDbServersAsync());
        Assert.Equal(environments, Probe.ProcessesRootedIn(lab.Directory).Count(p => Probe.CommandName(p) == "slapd"));

        var down = await lab.Lab.DownAsync();
        Assert.True(down.WasUp);
        Assert.Equal(environments, down.DatabasesStopped);
        var (_, ps) = await Probe.RunAsync("/bin/ps", "-eo", "args");
        Assert.DoesNotContain(lab.Directory, ps);
        Assert.Empty(Probe.ProcessesRootedIn(lab.Directory));
        Assert.False(Directory.Exists(Path.Combine(lab.Directory, "db")));
    }
}
