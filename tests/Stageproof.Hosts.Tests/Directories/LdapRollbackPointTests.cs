using System.Diagnostics;
using System.DirectoryServices.Protocols;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Stageproof.Core;
using Stageproof.Hosts.Directories;
using Stageproof.Hosts.Facts;
using Stageproof.Hosts.Tests.Checks;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Directories;

/// <summary>
/// Directory rollback points against a real slapd of the class's own. The directory is shared by the tests of the class, so
/// each test works under a new ou of its own, the only base of its points.
/// </summary>
[Collection(SerialLoadCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LdapRollbackPointTests(SlapdFixture slapd) : IClassFixture<SlapdFixture>, IDisposable
{
    private const string LdapAddPath = "/usr/bin/ldapadd";
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const string BenCn = "Bénédicte Çelik"; // non-ASCII: written base64
    private static readonly Dictionary<string, string> Passwords = new(StringComparer.Ordinal)
    {
        ["ann"] = "ann-pw-1", ["ben"] = "ben-pw-2", ["cat"] = "cat-pw-3",
    };
    private static readonly byte[] Photo = Jpeg(1);

    private readonly string _store = Directory.CreateTempSubdirectory("stageproof-ldap-rbp-").FullName;
    private readonly string _base = $"ou=rbp-{Guid.NewGuid():N},{SlapdFixture.Suffix}";
    private readonly LdapRollbackPoint _points = new();

    public void Dispose() => Directory.Delete(_store, recursive: true);

    private DirectorySource Source => new(slapd.Url, SlapdFixture.DataAdminDn, SlapdFixture.DataAdminPassword, [_base]);

    private string PointDirectory => Path.Combine(_store, "point");

    private string Person(string uid, string? under = null) => $"uid={uid},{under ?? _base}";

    [SkippableFact]
    public async Task A_point_exports_every_entry_into_a_private_ldif_that_ldapadd_loads_and_nothing_has_changed_since()
    {
        slapd.Require();
        Requires.Executable(LdapAddPath);
        SeedPeople();

        var point = await _points.CreateAsync("people", Source, PointDirectory, CancellationToken.None);

        Assert.Equal("people", point.Name);
        Assert.Equal(4, point.Entries);
        Assert.Equal(new[] { _base }, point.Bases);
        var file = Path.Combine(PointDirectory, LdapRollbackPoint.ExportFileName);
        // Password hashes and people's data: readable by the state's owner only, whatever the umask.
        Assert.Equal(Private, File.GetUnixFileMode(file));
        Assert.Equal(Private | UnixFileMode.UserExecute, File.GetUnixFileMode(PointDirectory));
        var content = await File.ReadAllBytesAsync(file);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), point.Digest);

        var ldif = Encoding.UTF8.GetString(content);
        Assert.StartsWith("version: 1\n", ldif, StringComparison.Ordinal);
        string[] dns = [_base, Person("ann"), Person("ben"), Person("cat")];
        foreach (var dn in dns)
        {
            Assert.Contains($"\ndn: {dn}\n", ldif, StringComparison.Ordinal);
        }
        Assert.True(ldif.IndexOf($"dn: {_base}\n", StringComparison.Ordinal) < ldif.IndexOf($"dn: {Person("ann")}\n", StringComparison.Ordinal),
            "the parent is written before its children");
        Assert.Equal(3, CountOf(ldif, "userPassword: {SSHA}"));
        foreach (var password in Passwords.Values)
        {
            Assert.DoesNotContain(password, ldif, StringComparison.Ordinal);
        }
        Assert.Contains($"\ncn:: {Convert.ToBase64String(Encoding.UTF8.GetBytes(BenCn))}\n", ldif, StringComparison.Ordinal);
        Assert.Contains($"\njpegPhoto:: {Convert.ToBase64String(Photo)}\n", ldif, StringComparison.Ordinal);
        Assert.DoesNotContain("entryUUID", ldif, StringComparison.OrdinalIgnoreCase);

        // OpenLDAP's own client parses it (-n: without sending anything).
        var (exit, output) = await RunAsync(LdapAddPath, "-n", "-x", "-H", "ldap://127.0.0.1:1", "-f", file);
        Assert.True(exit == 0, output);
        Assert.Equal(4, CountOf(output, "adding new entry"));

        var changes = await _points.ChangesSinceAsync(point, Source, CancellationToken.None);
        Assert.False(changes.Any, string.Join("\n", changes.Describe()));
        Assert.Empty(changes.Describe());
    }

    [SkippableFact]
    public async Task Changes_since_the_point_are_named_without_values_and_a_restore_brings_every_entry_back()
    {
        slapd.Require();
        SeedPeople();
        var point = await _points.CreateAsync("people", Source, PointDirectory, CancellationToken.None);

        // After the point: an entry added, one deleted, one's mail and password changed, one's photo replaced.
        Add(Person("dave"), PersonAttributes("dave", "Dave Dune", "dave@acme.test", "dave-pw-4"));
        Delete(Person("ben"));
        Replace(Person("cat"), "mail", "cat.new@acme.test");
        Replace(Person("cat"), "userPassword", SlapdFixture.Ssha("cat-new-pw"));
        Replace(Person("ann"), "jpegPhoto", Jpeg(2));

        var changes = await _points.ChangesSinceAsync(point, Source, CancellationToken.None);
        Assert.Equal(new[] { Person("dave") }, changes.Added);
        Assert.Equal(new[] { Person("ben") }, changes.Removed);
        Assert.Equal(2, changes.Changed.Count);
        Assert.Equal(new[] { "jpegPhoto" }, Assert.Single(changes.Changed, c => c.Dn == Person("ann")).Attributes);
        Assert.Equal(new[] { "mail", "userPassword" }, Assert.Single(changes.Changed, c => c.Dn == Person("cat")).Attributes);
        var report = changes.Describe();
        Assert.Equal(
            [
                $"added since the point: {Person("dave")}",
                $"removed since the point: {Person("ben")}",
                $"changed since the point: {Person("ann")} (jpegPhoto)",
                $"changed since the point: {Person("cat")} (mail, userPassword)",
            ], report);
        var text = string.Join("\n", report);
        foreach (var value in new[] { "@acme.test", "{SSHA}", "cat-new-pw", BenCn, Convert.ToBase64String(Photo)[..8] })
        {
            Assert.DoesNotContain(value, text, StringComparison.Ordinal);
        }

        await _points.RestoreAsync(point, Source, CancellationToken.None);

        var after = await _points.ChangesSinceAsync(point, Source, CancellationToken.None);
        Assert.False(after.Any, string.Join("\n", after.Describe()));
        Assert.True(CanBind(Person("ben"), Passwords["ben"]), "the deleted user binds with its old password again");
        Assert.Equal(BenCn, Encoding.UTF8.GetString(Assert.Single(Values(Person("ben"), "cn"))));
        Assert.True(CanBind(Person("cat"), Passwords["cat"]), "the changed user binds with its old password");
        Assert.False(CanBind(Person("cat"), "cat-new-pw"), "the password set after the point no longer binds");
        Assert.Equal("cat@acme.test", Encoding.UTF8.GetString(Assert.Single(Values(Person("cat"), "mail"))));
        Assert.Equal(Photo, Assert.Single(Values(Person("ann"), "jpegPhoto")));
        Assert.False(Exists(Person("dave")), "the entry added after the point is gone");
        // A new point of the restored directory is the same bytes as the first.
        var again = await _points.CreateAsync("people", Source, Path.Combine(_store, "again"), CancellationToken.None);
        Assert.Equal(point.Digest, again.Digest);

        // What the restore replaced is kept beside the point, privately.
        var aside = Assert.Single(Directory.GetFiles(PointDirectory, "aside-*.ldif"));
        Assert.Matches(@"aside-\d{8}T\d{6}Z\.ldif$", aside);
        Assert.Equal(Private, File.GetUnixFileMode(aside));
        var kept = await File.ReadAllTextAsync(aside);
        Assert.Contains($"\ndn: {Person("dave")}\n", kept, StringComparison.Ordinal);
        Assert.DoesNotContain($"\ndn: {Person("ben")}\n", kept, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_restore_from_an_export_altered_or_removed_since_the_point_is_refused_before_anything_changes()
    {
        slapd.Require();
        SeedPeople();
        var point = await _points.CreateAsync("people", Source, PointDirectory, CancellationToken.None);
        Add(Person("dave"), PersonAttributes("dave", "Dave Dune", "dave@acme.test", "dave-pw-4"));
        Replace(Person("cat"), "mail", "cat.new@acme.test");
        var file = Path.Combine(PointDirectory, LdapRollbackPoint.ExportFileName);

        // Altered: one value edited by hand.
        var altered = (await File.ReadAllTextAsync(file)).Replace("mail: cat@acme.test", "mail: cat@evil.test", StringComparison.Ordinal);
        await File.WriteAllTextAsync(file, altered);
        var e = await Assert.ThrowsAsync<InfrastructureException>(() => _points.RestoreAsync(point, Source, CancellationToken.None));
        Assert.Contains($"the export {file} was changed or removed since the point", e.Message, StringComparison.Ordinal);
        Assert.StartsWith($"people at {slapd.Url}", e.Message, StringComparison.Ordinal);
        AssertUntouched();

        // Removed.
        File.Delete(file);
        e = await Assert.ThrowsAsync<InfrastructureException>(() => _points.RestoreAsync(point, Source, CancellationToken.None));
        Assert.Contains($"the export {file} was changed or removed since the point", e.Message, StringComparison.Ordinal);
        AssertUntouched();

        void AssertUntouched()
        {
            Assert.True(Exists(Person("dave")), "the entry added after the point is still there");
            Assert.Equal("cat.new@acme.test", Encoding.UTF8.GetString(Assert.Single(Values(Person("cat"), "mail"))));
            Assert.Empty(Directory.GetFiles(PointDirectory, "aside-*"));
        }
    }

    [SkippableFact]
    public async Task A_restore_removes_a_subtree_added_since_children_first_and_adds_back_a_deleted_one_parents_first()
    {
        slapd.Require();
        var team = $"ou=team,{_base}";
        var extra = $"ou=extra,{_base}";
        Add(_base, OrganizationalUnit(_base));
        Add(team, OrganizationalUnit(team));
        Add(Person("tom", team), PersonAttributes("tom", "Tom Teal", "tom@acme.test", "tom-pw-5"));
        Add(Person("ann"), PersonAttributes("ann", "Ann Archer", "ann@acme.test", Passwords["ann"]));
        var point = await _points.CreateAsync("people", Source, PointDirectory, CancellationToken.None);
        Assert.Equal(4, point.Entries);

        // After the point: a new ou with a person under it; the team ou and its person deleted.
        Add(extra, OrganizationalUnit(extra));
        Add(Person("eli", extra), PersonAttributes("eli", "Eli Ember", "eli@acme.test", "eli-pw-6"));
        Delete(Person("tom", team));
        Delete(team);

        var changes = await _points.ChangesSinceAsync(point, Source, CancellationToken.None);
        Assert.Equal(new[] { extra, Person("eli", extra) }, changes.Added);
        Assert.Equal(new[] { team, Person("tom", team) }, changes.Removed);
        Assert.Empty(changes.Changed);

        await _points.RestoreAsync(point, Source, CancellationToken.None);

        Assert.False(Exists(Person("eli", extra)));
        Assert.False(Exists(extra));
        Assert.True(Exists(team));
        Assert.True(CanBind(Person("tom", team), "tom-pw-5"));
        var after = await _points.ChangesSinceAsync(point, Source, CancellationToken.None);
        Assert.False(after.Any, string.Join("\n", after.Describe()));
    }

    [SkippableFact]
    public async Task Object_classes_are_restored_in_place_for_an_auxiliary_class_and_by_adding_the_entry_back_for_a_structural_one()
    {
        slapd.Require();
        var service = $"uid=svc,{_base}";
        Add(_base, OrganizationalUnit(_base));
        Add(Person("ann"), PersonAttributes("ann", "Ann Archer", "ann@acme.test", Passwords["ann"]));
        Add(service, [("objectClass", ["account"]), ("uid", ["svc"]), ("description", ["a service account"])]);
        var point = await _points.CreateAsync("people", Source, PointDirectory, CancellationToken.None);

        // After the point: ann gets the auxiliary posixAccount; svc is deleted and added back as an inetOrgPerson.
        Send(new ModifyRequest(Person("ann"),
            Modification(DirectoryAttributeOperation.Add, "objectClass", "posixAccount"), Modification(DirectoryAttributeOperation.Add, "uidNumber", "1000"),
            Modification(DirectoryAttributeOperation.Add, "gidNumber", "1000"), Modification(DirectoryAttributeOperation.Add, "homeDirectory", "/home/ann")));
        Delete(service);
        Add(service, [("objectClass", ["inetOrgPerson"]), ("uid", ["svc"]), ("cn", ["svc"]), ("sn", ["svc"])]);

        var changes = await _points.ChangesSinceAsync(point, Source, CancellationToken.None);
        Assert.Equal(new[] { "gidNumber", "homeDirectory", "objectClass", "uidNumber" }, Assert.Single(changes.Changed, c => c.Dn == Person("ann")).Attributes);
        Assert.Equal(new[] { "cn", "description", "objectClass", "sn" }, Assert.Single(changes.Changed, c => c.Dn == service).Attributes);

        await _points.RestoreAsync(point, Source, CancellationToken.None);

        Assert.Equal("inetOrgPerson", Encoding.UTF8.GetString(Assert.Single(Values(Person("ann"), "objectClass"))));
        Assert.Empty(Values(Person("ann"), "uidNumber"));
        Assert.Equal("account", Encoding.UTF8.GetString(Assert.Single(Values(service, "objectClass"))));
        Assert.True(CanBind(Person("ann"), Passwords["ann"]));
        var after = await _points.ChangesSinceAsync(point, Source, CancellationToken.None);
        Assert.False(after.Any, string.Join("\n", after.Describe()));
    }

    [SkippableFact]
    public async Task A_write_the_server_refuses_fails_naming_the_directory_the_dn_and_the_result_code_but_no_password()
    {
        slapd.Require();
        SeedPeople();
        var point = await _points.CreateAsync("people", Source, PointDirectory, CancellationToken.None);
        Delete(Person("ben"));
        // alice may read the entries but write none of them.
        var alicePassword = SlapdFixture.Users["alice"];
        var readOnly = new DirectorySource(slapd.Url, $"uid=alice,{SlapdFixture.People}", alicePassword, [_base]);

        var e = await Assert.ThrowsAsync<InfrastructureException>(() => _points.RestoreAsync(point, readOnly, CancellationToken.None));

        Assert.StartsWith($"people at {slapd.Url}: add {Person("ben")}: InsufficientAccessRights (50)", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(alicePassword, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ben@acme.test", e.Message, StringComparison.Ordinal);
        var aside = Assert.Single(Directory.GetFiles(PointDirectory, "aside-*.ldif"));
        Assert.EndsWith($"the entries as they were before the restore are kept in {aside}", e.Message, StringComparison.Ordinal);
        Assert.False(Exists(Person("ben")));
    }

    [Fact]
    public void A_report_names_ten_dns_of_each_kind_then_counts_the_rest()
    {
        var added = Enumerable.Range(1, 12).Select(i => $"uid=u{i:00},ou=people,dc=acme,dc=test").ToList();
        var changes = new DirectoryChanges(added, [], [new DirectoryEntryChange("uid=x,ou=people,dc=acme,dc=test", ["mail", "userPassword"])]);

        var report = changes.Describe();

        Assert.True(changes.Any);
        Assert.Equal(12, report.Count);
        Assert.Equal("added since the point: uid=u01,ou=people,dc=acme,dc=test", report[0]);
        Assert.Equal("added since the point: uid=u10,ou=people,dc=acme,dc=test", report[9]);
        Assert.Equal("… and 2 more added since the point", report[10]);
        Assert.Equal("changed since the point: uid=x,ou=people,dc=acme,dc=test (mail, userPassword)", report[11]);
        Assert.False(new DirectoryChanges([], [], []).Any);
    }

    [Fact]
    public void The_ldif_writes_unsafe_values_base64_and_reads_back_folded_lines_and_comments()
    {
        byte[][] values =
        [
            "plain"u8.ToArray(), "a:b<c"u8.ToArray(), " leading"u8.ToArray(), "trailing "u8.ToArray(), ":colon"u8.ToArray(), "<less"u8.ToArray(),
            "tab\there"u8.ToArray(), "é"u8.ToArray(), [0x00, 0xFF, 0x10], [],
        ];
        var entry = new LdifEntry("cn=Zoë,ou=x,dc=acme,dc=test", new(StringComparer.OrdinalIgnoreCase) { ["description"] = [.. values] });

        var text = Encoding.UTF8.GetString(LdapLdif.Write([entry]));

        Assert.Contains("\ndn:: " + Convert.ToBase64String(Encoding.UTF8.GetBytes(entry.Dn)) + "\n", text, StringComparison.Ordinal);
        Assert.Contains("\ndescription: plain\n", text, StringComparison.Ordinal);
        Assert.Contains("\ndescription: a:b<c\n", text, StringComparison.Ordinal);
        Assert.Equal(7, CountOf(text, "description:: "));
        var read = Assert.Single(LdapLdif.Read(Encoding.UTF8.GetBytes(text)));
        Assert.Equal(entry.Dn, read.Dn);
        Assert.Equal(values, read.Attributes["DESCRIPTION"]);

        // As another tool may write it: a comment, folded lines, CRLF.
        var folded = "version: 1\r\n\r\n# exported by hand,\r\n  a folded comment\r\ndn: uid=x,ou=peo\r\n ple,dc=acme,dc=test\r\n" +
            "cn:: Wm/D\r\n qw==\r\ndescription: one\r\n  two\r\n\r\ndn: uid=y,dc=acme,dc=test\r\nuid: y\r\n";
        var entries = LdapLdif.Read(Encoding.UTF8.GetBytes(folded));
        Assert.Equal(2, entries.Count);
        Assert.Equal("uid=x,ou=people,dc=acme,dc=test", entries[0].Dn);
        Assert.Equal("Zoë", Encoding.UTF8.GetString(Assert.Single(entries[0].Attributes["cn"])));
        Assert.Equal("one two", Encoding.UTF8.GetString(Assert.Single(entries[0].Attributes["description"])));
        Assert.Equal("uid=y,dc=acme,dc=test", entries[1].Dn);
    }

    private void SeedPeople()
    {
        Add(_base, OrganizationalUnit(_base));
        Add(Person("ann"), [.. PersonAttributes("ann", "Ann Archer", "ann@acme.test", Passwords["ann"]), ("jpegPhoto", [Photo])]);
        Add(Person("ben"), PersonAttributes("ben", BenCn, "ben@acme.test", Passwords["ben"]));
        Add(Person("cat"), PersonAttributes("cat", "Cat Cole", "cat@acme.test", Passwords["cat"]));
    }

    private static (string, object[])[] OrganizationalUnit(string dn) =>
        [("objectClass", ["organizationalUnit"]), ("ou", [dn[3..dn.IndexOf(',', StringComparison.Ordinal)]])];

    /// <summary>An inetOrgPerson whose password is stored as {SSHA}, as slappasswd would write it.</summary>
    private static (string, object[])[] PersonAttributes(string uid, string cn, string mail, string password) =>
    [
        ("objectClass", ["inetOrgPerson"]), ("uid", [uid]), ("cn", [cn]), ("sn", [cn.Split(' ')[^1]]), ("mail", [mail]),
        ("userPassword", [SlapdFixture.Ssha(password)]),
    ];

    /// <summary>A small JPEG-looking blob with bytes no text has (0x00, 0xFF…), different for each seed.</summary>
    private static byte[] Jpeg(int seed)
    {
        var body = new byte[256];
        new Random(seed).NextBytes(body);
        return [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, .. "JFIF"u8, 0x00, .. body, 0xFF, 0xD9];
    }

    private LdapConnection Bound(string dn, string password)
    {
        var connection = new LdapConnection(new LdapDirectoryIdentifier(slapd.Address, slapd.Port)) { AuthType = AuthType.Basic, Timeout = TimeSpan.FromSeconds(10) };
        connection.SessionOptions.ProtocolVersion = 3;
        try
        {
            connection.Bind(new NetworkCredential(dn, password));
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private bool CanBind(string dn, string password)
    {
        try
        {
            using var connection = Bound(dn, password);
            return true;
        }
        catch (LdapException e) when (e.ErrorCode == 49) // invalidCredentials
        {
            return false;
        }
    }

    private void Send(DirectoryRequest request)
    {
        using var connection = Bound(SlapdFixture.DataAdminDn, SlapdFixture.DataAdminPassword);
        connection.SendRequest(request);
    }

    private void Add(string dn, (string Name, object[] Values)[] attributes) =>
        Send(new AddRequest(dn, attributes.Select(a => new DirectoryAttribute(a.Name, a.Values)).ToArray()));

    private void Delete(string dn) => Send(new DeleteRequest(dn));

    private void Replace(string dn, string attribute, object value) =>
        Send(new ModifyRequest(dn, Modification(DirectoryAttributeOperation.Replace, attribute, value)));

    private static DirectoryAttributeModification Modification(DirectoryAttributeOperation operation, string name, object value)
    {
        var modification = new DirectoryAttributeModification { Name = name, Operation = operation };
        switch (value)
        {
            case byte[] bytes:
                modification.Add(bytes);
                break;
            default:
                modification.Add((string)value);
                break;
        }
        return modification;
    }

    /// <summary>An attribute's values as bytes, read fresh as the data admin; none when the entry lacks it.</summary>
    private List<byte[]> Values(string dn, string attribute)
    {
        using var connection = Bound(SlapdFixture.DataAdminDn, SlapdFixture.DataAdminPassword);
        var response = (SearchResponse)connection.SendRequest(new SearchRequest(dn, "(objectClass=*)", SearchScope.Base, attribute));
        var entry = Assert.Single(response.Entries.Cast<SearchResultEntry>());
        return entry.Attributes[attribute] is { } values ? values.GetValues(typeof(byte[])).Cast<byte[]>().ToList() : [];
    }

    private bool Exists(string dn)
    {
        using var connection = Bound(SlapdFixture.DataAdminDn, SlapdFixture.DataAdminPassword);
        try
        {
            return ((SearchResponse)connection.SendRequest(new SearchRequest(dn, "(objectClass=*)", SearchScope.Base, "1.1"))).Entries.Count == 1;
        }
        catch (DirectoryOperationException e) when (e.Response?.ResultCode == ResultCode.NoSuchObject)
        {
            return false;
        }
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    private static async Task<(int Exit, string Output)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
