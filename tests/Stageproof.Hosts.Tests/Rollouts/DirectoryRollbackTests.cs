using System.DirectoryServices.Protocols;
using System.Net;
using Microsoft.Data.Sqlite;
using Stageproof.Core.Configuration;
using Stageproof.Core.Patches;
using Stageproof.Data;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Checks;
using Stageproof.Hosts.Tests.Checks;
using Stageproof.Testing;
using Stageproof.Testing.Fakes;

namespace Stageproof.Hosts.Tests.Rollouts;

/// <summary>
/// The apply engine's directory rollback points: a REAL slapd (the directory) served by a FAKE host of the estate
/// (<see cref="FakeEstate"/>, named by the directory's URL address), the real SQLite state. Each test works under an
/// ou of its own, the only base of its directory.
/// </summary>
[Collection(SerialLoadCollection.Name)]
public sealed class DirectoryRollbackTests : IClassFixture<SlapdFixture>, IDisposable
{
    private readonly SlapdFixture _slapd;
    private readonly string _dir = ScratchDirectory.NewPath("stageproof-dirpoint-");
    private readonly FakeEstate _estate = new();
    private readonly string _base = $"ou=t{Guid.NewGuid().ToString("N")[..8]},{SlapdFixture.Suffix}";
    private readonly HostConfig _app = new() { Name = "prod-app-1" };
    private readonly HostConfig _ldap;
    private readonly DirectoryConfig _directory;
    private const string Conf = "# acme-mail\nsession.lifetime = 60\n";

    public DirectoryRollbackTests(SlapdFixture slapd)
    {
        _slapd = slapd;
        Directory.CreateDirectory(_dir);
        _ldap = new HostConfig { Name = "prod-ldap-1", Address = slapd.Address };
        _estate.Add(_app.Name, Conf, (FakeHost.Package, "1.0-1"));
        _estate.Add(_ldap.Name, Conf, (FakeHost.Package, "1.0-1"));
        _directory = new DirectoryConfig(slapd.Url, SlapdFixture.ConfigAdminDn, Secret("config.pw", SlapdFixture.ConfigAdminPassword), [_base])
        {
            Rollback = new DirectoryRollbackConfig(SlapdFixture.DataAdminDn, Secret("admin.pw", SlapdFixture.DataAdminPassword), null),
        };
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private string Secret(string name, string value)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, value + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return path;
    }

    private LdapConnection Admin()
    {
        var connection = LdapChecks.Connect(_slapd.Url, TimeSpan.FromSeconds(10));
        connection.Bind(new NetworkCredential(SlapdFixture.DataAdminDn, SlapdFixture.DataAdminPassword));
        return connection;
    }

    private string Dn(string uid) => $"uid={uid},{_base}";

    /// <summary>The test's ou and three people in it, each with the password "{uid}-pw".</summary>
    private void Seed()
    {
        using var ldap = Admin();
        ldap.SendRequest(new AddRequest(_base, new DirectoryAttribute("objectClass", "organizationalUnit")));
        foreach (var uid in new[] { "u1", "u2", "u3" })
        {
            AddPerson(ldap, uid);
        }
    }

    private void AddPerson(LdapConnection ldap, string uid) => ldap.SendRequest(new AddRequest(Dn(uid),
        new DirectoryAttribute("objectClass", "inetOrgPerson"), new DirectoryAttribute("cn", uid), new DirectoryAttribute("sn", uid),
        new DirectoryAttribute("userPassword", uid + "-pw")));

    private bool Binds(string uid, string password)
    {
        using var connection = LdapChecks.Connect(_slapd.Url, TimeSpan.FromSeconds(10));
        try
        {
            connection.Bind(new NetworkCredential(Dn(uid), password));
            return true;
        }
        catch (LdapException)
        {
            return false;
        }
    }

    private async Task<(PatchEngine Engine, SqliteStateStore Store, StoredPatchSet Set)> EngineAsync()
    {
        var store = await SqliteStateStore.OpenAsync(_dir, TimeProvider.System);
        var frozen = PatchSetFreezer.FromSet(new PatchSet
        {
            Id = "LDAP-1", Title = "slapd update", Reason = "security", Severity = PatchSeverity.High, Author = "alice",
            Packages = [new PatchPackage(FakeHost.Package, "1.1-1")],
        });
        await store.SavePatchSetAsync(frozen);
        var stored = (await store.FindPatchSetAsync(frozen.Digest))!;
        return (new PatchEngine(store, _estate, new PostgresDatabasePatcher(), TimeProvider.System, _dir, TimeSpan.FromSeconds(30)), store, stored);
    }

    private async Task<(PatchRun Run, RollbackPoint? Point)> ApplyAsync(PatchEngine engine, SqliteStateStore store, StoredPatchSet set, params HostConfig[] hosts)
    {
        var run = await engine.ApplyAsync(new ApplyRequest
        {
            PatchSet = set, Environment = "prod", Hosts = hosts, Actor = "bob",
            Directories = new Dictionary<string, DirectoryConfig> { ["users"] = _directory },
        }, null, CancellationToken.None);
        Assert.True(run.Succeeded, PatchEngine.Summary(run));
        return (run, run.RollbackPoint is { } id ? await store.FindRollbackPointAsync(id) : null);
    }

    private Task<PatchRun> RollbackAsync(PatchEngine engine, RollbackPoint point, StoredPatchSet set, DatabaseRestoreMode mode) =>
        engine.RollbackAsync(new RollbackRequest
        {
            Point = point, PatchSet = set.Set, Hosts = [_app, _ldap], Actor = "bob", Directory = mode,
            Directories = new Dictionary<string, DirectoryConfig> { ["users"] = _directory },
        }, null, CancellationToken.None);

    /// <summary>The ou seeded, then the set applied to the app host and the directory's host.</summary>
    private async Task<(PatchEngine Engine, SqliteStateStore Store, StoredPatchSet Set, RollbackPoint Point)> AppliedToBothHostsAsync()
    {
        _slapd.Require();
        Seed();
        var (engine, store, set) = await EngineAsync();
        var (_, point) = await ApplyAsync(engine, store, set, _app, _ldap);
        return (engine, store, set, point!);
    }

    [SkippableFact]
    public async Task An_upgrade_of_the_directory_host_that_lost_an_entry_is_rolled_back_with_the_entries_restored_after_the_hosts()
    {
        var (engine, store, set, point) = await AppliedToBothHostsAsync();
        await using var _ = store;

        var exported = Assert.Single(point.Directories);
        Assert.Equal(("users", 4), (exported.Name, exported.Entries));
        Assert.Contains(await store.ReadAllAsync(), e => e.Action == "rollback-point.directory" && e.Target == "prod/users");

        // What the upgrade did to the directory, and what people did during the window.
        using (var ldap = Admin())
        {
            ldap.SendRequest(new DeleteRequest(Dn("u2")));
            ldap.SendRequest(new ModifyRequest(Dn("u1"), DirectoryAttributeOperation.Replace, "userPassword", "u1-new-pw"));
            AddPerson(ldap, "u4");
        }

        var back = await RollbackAsync(engine, point, set, DatabaseRestoreMode.Auto);

        Assert.True(back.Succeeded, PatchEngine.Summary(back));
        var restore = Assert.Single(back.DirectoryRestores);
        Assert.True(restore.Restored && restore.Needed, restore.Why);
        Assert.Contains("1 entry it held at the point is gone", restore.Why, StringComparison.Ordinal);
        Assert.Contains(restore.Discarded, l => l.Contains("removed", StringComparison.Ordinal) && l.Contains(Dn("u2"), StringComparison.OrdinalIgnoreCase));
        Assert.Contains(restore.Discarded, l => l.Contains("added", StringComparison.Ordinal) && l.Contains(Dn("u4"), StringComparison.OrdinalIgnoreCase));
        Assert.Contains(restore.Discarded, l => l.Contains(Dn("u1"), StringComparison.OrdinalIgnoreCase) && l.Contains("userPassword", StringComparison.Ordinal));
        Assert.DoesNotContain(restore.Discarded, l => l.Contains("-pw", StringComparison.Ordinal));
        Assert.True(Binds("u2", "u2-pw"), "the lost entry is back with its password");
        Assert.True(Binds("u1", "u1-pw") && !Binds("u1", "u1-new-pw"), "the directory is exactly the point's");
        Assert.False(Binds("u4", "u4-pw"), "the entry added since the point is gone");
        var audit = await store.ReadAllAsync();
        var restored = Assert.Single(audit, e => e.Action == "rollback.directory");
        Assert.True(restored.Sequence > audit.Where(e => e.Action.StartsWith("rollback.", StringComparison.Ordinal) && e.Action != "rollback.directory"
            && e.Action != "rollback.finish").Max(e => e.Sequence), "the directory is restored after the hosts");
    }

    [SkippableFact]
    public async Task Entries_only_added_or_changed_since_the_point_are_kept_by_auto_and_named_as_what_a_restore_would_undo()
    {
        var (engine, store, set, point) = await AppliedToBothHostsAsync();
        await using var _ = store;
        using (var ldap = Admin())
        {
            ldap.SendRequest(new ModifyRequest(Dn("u1"), DirectoryAttributeOperation.Replace, "userPassword", "u1-new-pw"));
            AddPerson(ldap, "u4");
        }

        var back = await RollbackAsync(engine, point, set, DatabaseRestoreMode.Auto);

        var kept = Assert.Single(back.DirectoryRestores);
        Assert.False(kept.Restored || kept.Needed, kept.Why);
        Assert.Equal("entries were only added or changed since the point", kept.Why);
        Assert.Equal(2, kept.Discarded.Count);
        Assert.True(Binds("u1", "u1-new-pw") && Binds("u4", "u4-pw"), "what people changed during the window is kept");
    }

    [SkippableFact]
    public async Task Keep_never_restores_a_directory_that_lost_entries_but_says_a_restore_was_needed()
    {
        var (engine, store, set, point) = await AppliedToBothHostsAsync();
        await using var _ = store;
        using (var ldap = Admin())
        {
            ldap.SendRequest(new DeleteRequest(Dn("u3")));
        }

        var back = await RollbackAsync(engine, point, set, DatabaseRestoreMode.Keep);

        var kept = Assert.Single(back.DirectoryRestores);
        Assert.True(kept.Needed && !kept.Restored, kept.Why);
        Assert.False(Binds("u3", "u3-pw"));
    }

    [SkippableFact]
    public async Task A_directory_that_refuses_the_restore_fails_the_rollback_and_its_point_stays_active_for_another_try()
    {
        var (engine, store, set, point) = await AppliedToBothHostsAsync();
        await using var _ = store;
        using (var ldap = Admin())
        {
            ldap.SendRequest(new DeleteRequest(Dn("u1")));
        }
        Secret("admin.pw", "not-the-admin-password");

        var back = await RollbackAsync(engine, point, set, DatabaseRestoreMode.Auto);

        Assert.True(back.HostsSucceeded, PatchEngine.Summary(back));
        Assert.False(back.Succeeded);
        var failed = Assert.Single(back.DirectoryRestores);
        Assert.False(failed.Restored);
        Assert.Contains($"users at {_slapd.Url}", failed.Error, StringComparison.Ordinal);
        Assert.Contains("(49)", failed.Error, StringComparison.Ordinal); // invalidCredentials, as slapd answered the bind
        Assert.DoesNotContain("not-the-admin-password", failed.Error, StringComparison.Ordinal);
        Assert.Equal(RollbackPointStatus.Active, (await store.FindRollbackPointAsync(point.Id))!.Status);
        Assert.Contains(await store.ReadAllAsync(), e => e.Action == "rollback.directory" && e.Outcome!.StartsWith("failed: ", StringComparison.Ordinal));

        Secret("admin.pw", SlapdFixture.DataAdminPassword);
        var again = await RollbackAsync(engine, point, set, DatabaseRestoreMode.Auto);
        Assert.True(again.Succeeded && again.DirectoryRestores.Single().Restored, again.DirectoryRestores.Single().Error);
        Assert.True(Binds("u1", "u1-pw"));
    }

    [SkippableFact]
    public async Task An_apply_that_does_not_reach_the_directory_host_takes_no_directory_point()
    {
        _slapd.Require();
        Seed();
        var (engine, store, set) = await EngineAsync();
        await using var _ = store;

        var (_, point) = await ApplyAsync(engine, store, set, _app);

        Assert.Empty(point!.Directories);
        Assert.Single(point.Hosts);
        Assert.DoesNotContain(await store.ReadAllAsync(), e => e.Action == "rollback-point.directory");
    }
}
