using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Facts;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Facts;

/// <summary>A real slapd's facts, read through LDAP as the cn=config admin: what it runs, how it is set, what it holds.</summary>
public sealed class LdapFactsCollectorTests(SlapdFixture slapd) : IClassFixture<SlapdFixture>
{
    private readonly LdapFactsCollector _collector = new(TimeProvider.System);

    private DirectorySource Source(string password = SlapdFixture.ConfigAdminPassword) =>
        new(slapd.Url, SlapdFixture.ConfigAdminDn, password, [SlapdFixture.People, SlapdFixture.Suffix, "ou=nowhere," + SlapdFixture.Suffix]);

    [SkippableFact]
    public async Task Facts_show_the_version_modules_overlays_settings_schema_and_entry_counts_and_no_secret()
    {
        slapd.Require();
        var manifest = await _collector.CollectAsync("staging", "users", Source(), CancellationToken.None);

        Assert.Equal((ManifestKind.Directory, "staging/users"), (manifest.Kind, manifest.Target));
        var d = manifest.Directory!;
        Assert.StartsWith("OpenLDAP: slapd 2.", d.ServerVersion, StringComparison.Ordinal);
        Assert.Equal(["back_mdb", "ppolicy"], d.Modules);
        Assert.Equal(["ppolicy on mdb dc=acme,dc=test"], d.Overlays);
        Assert.Equal("500", d.Settings["frontend: olcSizeLimit"]);
        Assert.Equal("3600", d.Settings["frontend: olcTimeLimit"]);
        Assert.Equal("TRUE", d.Settings["ppolicy on mdb dc=acme,dc=test: olcPPolicyHashCleartext"]);
        Assert.Equal("objectClass eq | uid eq", d.Settings["mdb dc=acme,dc=test: olcDbIndex"]);
        Assert.StartsWith("{0}to attrs=userPassword", d.Settings["mdb dc=acme,dc=test: olcAccess"], StringComparison.Ordinal);
        Assert.Contains("inetOrgPerson", d.Schema.ObjectClasses);
        Assert.Contains("uid", d.Schema.AttributeTypes);
        Assert.Matches("^[0-9a-f]{64}$", d.Schema.Digest);
        Assert.Equal(SlapdFixture.Users.Count + 1, d.EntryCounts[SlapdFixture.People]); // the ou and its people
        Assert.Equal(SlapdFixture.Users.Count + 2, d.EntryCounts[SlapdFixture.Suffix]);
        Assert.Equal(0, d.EntryCounts["ou=nowhere," + SlapdFixture.Suffix]);
        // Never a secret: no password hash of an entry, no rootdn password of cn=config, no path of this instance.
        var json = ManifestJson.Serialize(manifest);
        Assert.DoesNotContain("{SSHA}", json, StringComparison.Ordinal);
        Assert.DoesNotContain(d.Settings.Keys, k => k.EndsWith("olcRootPW", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(slapd.Directory, json, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_changed_setting_and_a_new_entry_change_the_facts_and_drift_names_them()
    {
        slapd.Require();
        var before = await _collector.CollectAsync("staging", "users", Source(), CancellationToken.None);
        try
        {
            await slapd.ModifyConfigAsync("olcDatabase={-1}frontend,cn=config", "olcSizeLimit", "50");
            await slapd.ModifyConfigAsync("olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config", "olcPPolicyHashCleartext", "FALSE");
            await slapd.AddPeopleAsync(["dave"]);
            var after = await _collector.CollectAsync("staging", "users", Source(), CancellationToken.None);

            Assert.NotEqual(ManifestJson.Digest(before), ManifestJson.Digest(after));
            Assert.Equal("50", after.Directory!.Settings["frontend: olcSizeLimit"]);
            var drift = DriftEngine.Compare(before, after, new DriftRules());
            Assert.Contains(drift.Items, i => i.Key == "frontend: olcSizeLimit" && i.Left == "500" && i.Right == "50" && i.Severity == DriftSeverity.Medium);
            Assert.Contains(drift.Items, i => i.Key == "ppolicy on mdb dc=acme,dc=test: olcPPolicyHashCleartext" && i.Right == "FALSE");
            Assert.Contains(drift.Items, i => i.Key == $"entries: {SlapdFixture.People}" && i.Left == "4" && i.Right == "5" && i.Severity == DriftSeverity.Info);
            Assert.DoesNotContain(drift.Items, i => i.Category == DriftCategory.SchemaObject);
            var counted = DriftEngine.Compare(before, after, new DriftRules { Ignore = ["setting:entries: *"] });
            Assert.DoesNotContain(counted.Items, i => i.Key.StartsWith("entries: ", StringComparison.Ordinal));
            Assert.Contains(counted.Items, i => i.Key == "frontend: olcSizeLimit");
        }
        finally
        {
            await slapd.ModifyConfigAsync("olcDatabase={-1}frontend,cn=config", "olcSizeLimit", "500");
            await slapd.ModifyConfigAsync("olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config", "olcPPolicyHashCleartext", "TRUE");
            await slapd.DeletePeopleAsync(["dave"]);
        }
    }

    [SkippableFact]
    public async Task A_wrong_admin_password_is_an_infrastructure_error_naming_the_directory_without_the_password()
    {
        slapd.Require();
        var e = await Assert.ThrowsAsync<InfrastructureException>(() => _collector.CollectAsync("staging", "users", Source("wrong-secret"), CancellationToken.None));
        Assert.Contains("staging/users", e.Message, StringComparison.Ordinal);
        Assert.Contains("(49)", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-secret", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_directory_that_accepts_connections_and_never_answers_is_an_infrastructure_error_within_the_timeout()
    {
        // A real socket that listens and never accepts: the bind waits in its backlog, as with a slapd that stopped
        // accepting. Without a bound on libldap's synchronous bind, facts (and every stage) would wait for good.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var collector = new LdapFactsCollector(TimeProvider.System) { Timeout = TimeSpan.FromSeconds(2) };
        var source = new DirectorySource(new Uri($"ldap://127.0.0.1:{port}"), SlapdFixture.ConfigAdminDn, "secret", [SlapdFixture.People]);

        var e = await Assert.ThrowsAsync<InfrastructureException>(() =>
            collector.CollectAsync("staging", "users", source, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2)));

        Assert.Contains("staging/users", e.Message, StringComparison.Ordinal);
        Assert.Contains("(85)", e.Message, StringComparison.Ordinal);
    }
}
