using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;

namespace Stageproof.Core.Tests.Patches;

public class PatchScopeTests
{
    private static readonly PatchSet Set = new()
    {
        Id = "ACME-1",
        Title = "t",
        Reason = "r",
        Severity = PatchSeverity.High,
        Author = "alice",
        Packages = [new PatchPackage("acme-mail", "1.1-1")],
        Files =
        [
            new PatchFile { Path = "/etc/acme-mail/acme-mail.conf", Set = new Dictionary<string, string> { ["db.pool_size"] = "40" } },
            new PatchFile { Path = "/etc/motd", Content = "hello\n", Mode = "0644" },
        ],
    };

    private static Manifest Host(string version, string conf, string motd, bool running = true) => new()
    {
        Target = "h1",
        Packages = [new PackageInfo("acme-mail", version, "amd64"), new PackageInfo("bash", "5.2", "amd64")],
        Files =
        [
            new ConfigFileInfo("/etc/acme-mail/acme-mail.conf", "root", "acme-mail", "640", PatchSetFreezer.Sha256(conf), conf.Length, conf),
            new ConfigFileInfo("/etc/motd", "root", "root", "644", PatchSetFreezer.Sha256(motd), motd.Length, motd),
        ],
        Services = [new ServiceInfo("acme-mail", running, "sysv")],
    };

    private static readonly Core.Configuration.HostConfig[] Staging =
    [
        new() { Name = "stage-1", Role = "app" },
        new() { Name = "stage-2", Role = "app" },
        new() { Name = "stage-proxy", Role = "proxy" },
        new() { Name = "stage-spare" },
    ];

    [Fact]
    public void A_set_without_roles_is_for_every_host_even_one_without_a_role()
    {
        Assert.Equal(Staging, PatchScope.TargetedHosts(Set, "staging", Staging));
    }

    [Fact]
    public void A_set_for_a_role_is_for_its_hosts_only_in_the_order_given()
    {
        Assert.Equal(["stage-proxy"], PatchScope.TargetedHosts(Set with { Roles = ["proxy"] }, "staging", Staging).Select(h => h.Name));
        Assert.Equal(["stage-1", "stage-2", "stage-proxy"],
            PatchScope.TargetedHosts(Set with { Roles = ["proxy", "app"] }, "staging", Staging).Select(h => h.Name));
        Assert.False(PatchScope.Targets(Set with { Roles = ["app"] }, Staging[3]));
    }

    [Fact]
    public void A_set_for_a_role_no_host_given_has_is_bad_input_naming_the_roles_there_are()
    {
        var e = Assert.Throws<InputException>(() => PatchScope.TargetedHosts(Set with { Roles = ["ldap"] }, "staging", Staging));
        Assert.Equal("patch set ACME-1 is for role(s) ldap, and no host of staging given here has one (their roles: app, proxy, (none))", e.Message);
        // The same for a chosen host of another role: it is not patched behind the operator's back, nor silently skipped.
        e = Assert.Throws<InputException>(() => PatchScope.TargetedHosts(Set with { Roles = ["proxy"] }, "staging", [Staging[0]]));
        Assert.Contains("their roles: app)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_host_with_every_version_file_and_key_in_place_lacks_nothing()
    {
        Assert.Empty(PatchScope.Missing(Set, Host("1.1-1", "# c\ndb.pool_size = 40\n", "hello\n")));
    }

    [Fact]
    public void Missing_names_the_package_the_key_and_the_file_that_are_not_in_place()
    {
        var missing = PatchScope.Missing(Set, Host("1.0-1", "db.pool_size = 20\n", "bye\n"));
        Assert.Equal([
            "package acme-mail is 1.0-1 (set: 1.1-1)",
            "file /etc/acme-mail/acme-mail.conf: db.pool_size is 20 (set: 40)",
            "file /etc/motd: content differs"], missing);
    }

    [Fact]
    public void Residue_is_empty_when_the_touched_scope_is_as_before_whatever_else_changed()
    {
        var before = Host("1.0-1", "a\n", "m\n");
        var after = Host("1.0-1", "a\n", "m\n") with { Packages = [new PackageInfo("acme-mail", "1.0-1", "amd64"), new PackageInfo("bash", "5.3", "amd64")] };
        var point = new HostPoint
        {
            Host = "h1", Directory = "/var/lib/stageproof/rollback/p", ManifestBefore = "d",
            Packages = [new PackagePoint("acme-mail", "1.0-1", "1.1-1", "/x.deb")],
            Files = ["/etc/acme-mail/acme-mail.conf", "/etc/motd"],
        };
        Assert.Empty(PatchScope.Residue(before, after, point));
    }

    [Fact]
    public void Residue_names_each_package_file_and_service_that_did_not_come_back()
    {
        var before = Host("1.0-1", "a\n", "m\n");
        var after = Host("1.1-1", "b\n", "m\n", running: false) with
        {
            Files = [.. Host("1.1-1", "b\n", "m\n").Files, new ConfigFileInfo("/etc/apt/sources.list.d/stageproof-ACME-1.list", "root", "root", "644", "s", 1, "x")],
        };
        var point = new HostPoint
        {
            Host = "h1", Directory = "/d", ManifestBefore = "d",
            Packages = [new PackagePoint("acme-mail", "1.0-1", "1.1-1", "/x.deb"), new PackagePoint("libnew", null, "2", null)],
            Files = ["/etc/acme-mail/acme-mail.conf", "/etc/motd"],
            AbsentFiles = ["/etc/apt/sources.list.d/stageproof-ACME-1.list"],
        };
        Assert.Equal([
            "package acme-mail: 1.1-1 (before: 1.0-1)",
            "file /etc/acme-mail/acme-mail.conf: content differs",
            "file /etc/apt/sources.list.d/stageproof-ACME-1.list: present (before: absent)",
            "service acme-mail: stopped (before: running)"], PatchScope.Residue(before, after, point));
    }

    [Fact]
    public void Repositories_become_a_sources_file_the_set_owns()
    {
        var set = Set with { Repositories = ["deb [trusted=yes] file:/srv/repo ./"] };
        var file = Assert.Single(PatchScope.Files(set), f => f.Path.StartsWith("/etc/apt/", StringComparison.Ordinal));
        Assert.Equal("/etc/apt/sources.list.d/stageproof-ACME-1.list", file.Path);
        Assert.EndsWith("deb [trusted=yes] file:/srv/repo ./\n", file.Content, StringComparison.Ordinal);
    }

    [Fact]
    public void The_guard_refuses_a_hostile_value_however_the_set_was_made()
    {
        var hostile = Set with { Packages = [new PatchPackage("acme-mail;reboot", "1.1")], Files = [new PatchFile { Path = "/etc/../shadow", Content = "" }] };
        var e = Assert.Throws<InputException>(() => PatchSetGuard.Check(hostile));
        Assert.Contains("acme-mail;reboot", e.Message, StringComparison.Ordinal);
        Assert.Contains("/etc/../shadow", e.Message, StringComparison.Ordinal);
        PatchSetGuard.Check(Set);
    }
}
