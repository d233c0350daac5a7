using AcmeMail;
using Stageproof.Lab;
using Stageproof.Testing;

namespace AcmeMail.Tests;

/// <summary>Each bad update of the gauntlet built once for the class (a repack of a 20 MB package, 1.3-1.5 s), for the
/// tests that only read it: what it carries, and what its migration does to a database.</summary>
public sealed class BuiltBadPackages : IDisposable
{
    private readonly Dictionary<(string Good, BadUpdate Kind), Task<string>> _built = [];

    public string Directory { get; } = ScratchDirectory.Create("acme-bad-built-");

    /// <summary>Where the bad updates of <paramref name="good"/> are built: one folder per good package, as a bad
    /// update's file name says only its kind.</summary>
    public string DirectoryFor(string good) => Path.Combine(Directory, Path.GetFileNameWithoutExtension(good));

    public Task<string> BuildAsync(string good, BadUpdate kind)
    {
        lock (_built)
        {
            return _built.TryGetValue((good, kind), out var deb) ? deb : _built[(good, kind)] = BadPackages.BuildAsync(good, kind, DirectoryFor(good));
        }
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

/// <summary>The gauntlet's bad packages (<see cref="BadPackages"/>), built from the 1.1 package build-debs.sh made.</summary>
[Trait("Category", "Packaging")]
[Collection("debs")]
public sealed class BadPackagesTests(DebsFixture debs, MariaDbFixture maria, BuiltBadPackages built) : IClassFixture<BuiltBadPackages>, IDisposable
{
    private readonly string _out = ScratchDirectory.Create("acme-bad-");

    public void Dispose() => Directory.Delete(_out, recursive: true);

    private void NeedDebs()
    {
        Requires.Executable("/usr/bin/dpkg-deb");
        debs.Require();
    }

    private static async Task<string> DpkgDebAsync(params string[] args) => (await Proc.RunAsync("dpkg-deb", args)).Check("dpkg-deb " + string.Join(' ', args)).Stdout;

    private static async Task<bool> VersionGreaterAsync(string a, string b) => (await Proc.RunAsync("dpkg", "--compare-versions", a, "gt", b)).ExitCode == 0;

    [Fact]
    public async Task Versions_are_distinct_and_newer_than_1_1_1()
    {
        Requires.Executable("/usr/bin/dpkg");
        var versions = BadPackages.All.Select(k => BadPackages.Version(k)).ToList();
        Assert.Equal(["1.1+bad1-1", "1.1+bad2-1", "1.1+bad3-1", "1.1+bad4-1", "1.1+bad5-1", "1.1+bad6-1", "1.1+bad7-1", "1.1+bad8-1", "1.1+bad9-1", "1.1+bad10-1", "1.1+bad11-1", "1.1+bad12-1", "1.1+bad13-1"], versions);
        foreach (var v in versions)
        {
            Assert.True(await VersionGreaterAsync(v, "1.1-1"), $"{v} is not newer than 1.1-1");
            Assert.False(await VersionGreaterAsync(v, "1.2-1"), $"{v} is newer than 1.2-1");
        }
        for (var i = 1; i < versions.Count; i++)
        {
            Assert.True(await VersionGreaterAsync(versions[i], versions[i - 1]), $"{versions[i]} <= {versions[i - 1]}");
        }
        Assert.Equal("acme-mail_1.1+bad3-1_amd64.deb", BadPackages.FileName(BadUpdate.DroppedSearchIndex));
    }

    [SkippableTheory]
    [InlineData(BadUpdate.ChangedDefault)]
    [InlineData(BadUpdate.LoginRace)]
    [InlineData(BadUpdate.DroppedSearchIndex)]
    [InlineData(BadUpdate.DiesAfter20s)]
    [InlineData(BadUpdate.IndexerErrors)]
    [InlineData(BadUpdate.MigrationFailsHalfway)]
    [InlineData(BadUpdate.SchemaBreaksDowngrade)]
    [InlineData(BadUpdate.DeletesData)]
    [InlineData(BadUpdate.TruncatesBodies)]
    public async Task Each_bad_update_is_a_deb_that_carries_its_fault_and_its_version(BadUpdate kind)
    {
        NeedDebs();
        var good = debs.Deb("1.1");
        var deb = await built.BuildAsync(good, kind);
        Assert.Equal(Path.Combine(built.DirectoryFor(good), BadPackages.FileName(kind)), deb);
        Assert.Equal("acme-mail", (await DpkgDebAsync("-f", deb, "Package")).Trim());
        Assert.Equal(BadPackages.Version(kind), (await DpkgDebAsync("-f", deb, "Version")).Trim());
        Assert.Contains($"Gauntlet bad update {(int)kind}", await DpkgDebAsync("-f", deb, "Description"), StringComparison.Ordinal);
        Assert.Equal(await DpkgDebAsync("-f", good, "Depends"), await DpkgDebAsync("-f", deb, "Depends"));
        // Maintainer scripts and conffiles as the good package has them (postinst restarts the service).
        foreach (var control in new[] { "postinst", "prerm", "postrm", "conffiles" })
        {
            Assert.Equal(await DpkgDebAsync("-I", good, control), await DpkgDebAsync("-I", deb, control));
        }
        var contents = await DpkgDebAsync("-c", deb);
        Assert.Matches("-rwxr-xr-x root/root .* ./usr/lib/acme-mail/acme-mail", contents);

        var root = Path.Combine(_out, "x-" + kind);
        await DpkgDebAsync("-x", deb, root);
        var share = Path.Combine(root, "usr/share/acme-mail");
        var faults = Path.Combine(share, "faults.conf");
        var migrations = Directory.GetFiles(Path.Combine(share, "migrations")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        // The same migration in MariaDB's dialect, under the same name, for an estate on MariaDB.
        Assert.Equal(migrations, Directory.GetFiles(Path.Combine(share, "migrations", "mariadb")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList());
        var defaults = await File.ReadAllTextAsync(Path.Combine(share, "defaults.conf"));
        var expectedFaults = kind switch
        {
            BadUpdate.LoginRace => "fault.login_race = true",
            BadUpdate.DiesAfter20s => "fault.die_after = 20",
            BadUpdate.IndexerErrors => "fault.indexer_errors = true",
            BadUpdate.DroppedSearchIndex => $"fault.search_delay = {BadPackages.SearchDelayMilliseconds}",
            _ => null,
        };
        if (expectedFaults is null)
        {
            Assert.False(File.Exists(faults), $"{kind} ships faults.conf");
        }
        else
        {
            Assert.Contains(expectedFaults, await File.ReadAllTextAsync(faults), StringComparison.Ordinal);
            Assert.Matches("-rw-r--r-- root/root .* ./usr/share/acme-mail/faults.conf", contents);
            // The packaged binary reads it (it logs the faults before it needs the database).
            Assert.Contains($"fault injection from {faults}:", await PackagedBinaryLogAsync(root, kind.ToString()), StringComparison.Ordinal);
        }
        if (kind == BadUpdate.ChangedDefault)
        {
            Assert.Contains("\nsession.lifetime = 5\n", defaults, StringComparison.Ordinal);
            Assert.DoesNotContain("session.lifetime = 60", defaults, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("\nsession.lifetime = 60\n", defaults, StringComparison.Ordinal);
        }
        switch (kind)
        {
            case BadUpdate.DroppedSearchIndex:
                Assert.Equal(["V1__initial_schema.sql", "V2__drop_search_index.sql"], migrations);
                Assert.Contains("DROP INDEX IF EXISTS messages_search_vector_idx", await File.ReadAllTextAsync(Path.Combine(share, "migrations", migrations[1]!)), StringComparison.Ordinal);
                break;
            case BadUpdate.MigrationFailsHalfway:
                Assert.Equal(["V1__initial_schema.sql", "V2__add_folders_and_unique_sender.sql"], migrations);
                break;
            case BadUpdate.SchemaBreaksDowngrade:
                Assert.Equal(["V1__initial_schema.sql", "V2__add_message_folders.sql"], migrations);
                break;
            case BadUpdate.DeletesData:
                Assert.Equal(["V1__initial_schema.sql", "V2__archive_old_messages.sql"], migrations);
                Assert.Contains("DELETE FROM messages", await File.ReadAllTextAsync(Path.Combine(share, "migrations", migrations[1]!)), StringComparison.Ordinal);
                break;
            case BadUpdate.TruncatesBodies:
                Assert.Equal(["V1__initial_schema.sql", "V2__compact_message_bodies.sql"], migrations);
                Assert.Contains("SET body = left(body, 40)", await File.ReadAllTextAsync(Path.Combine(share, "migrations", migrations[1]!)), StringComparison.Ordinal);
                break;
            default:
                Assert.Equal(["V1__initial_schema.sql"], migrations);
                break;
        }
    }

    [SkippableTheory]
    [InlineData(BadUpdate.DroppedSearchIndex)]
    [InlineData(BadUpdate.MigrationFailsHalfway)]
    [InlineData(BadUpdate.SchemaBreaksDowngrade)]
    [InlineData(BadUpdate.DeletesData)]
    [InlineData(BadUpdate.TruncatesBodies)]
    public async Task Each_migration_update_does_its_harm_to_a_seeded_mariadb(BadUpdate kind)
    {
        NeedDebs();
        maria.EnsureAvailable();
        var database = $"acme_bad_{(int)kind}";
        await maria.CreateDatabaseAsync(database);
        using var files = MailFiles.OnMariaDb(maria, database);
        Assert.Equal(0, await files.RunCliAsync("--seed"));

        var root = Path.Combine(_out, "maria-" + kind);
        await DpkgDebAsync("-x", await built.BuildAsync(debs.Deb("1.1"), kind), root);
        var shipped = Directory.GetFiles(Path.Combine(root, "usr/share/acme-mail/migrations/mariadb"), "V2__*.sql").Single();
        var added = Path.Combine(files.MigrationsOf(DbEngine.MariaDb), Path.GetFileName(shipped));
        File.Copy(shipped, added);
        var migrated = await files.RunCliAsync("--migrate");
        var log = files.ReadLog();

        async Task<long> Scalar(string sql)
        {
            await using var conn = new MySqlConnector.MySqlConnection(AppSettings.Load(files.Paths).DbConnection);
            await conn.OpenAsync();
            await using var cmd = new MySqlConnector.MySqlCommand(sql, conn);
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        }
        // Back to what 1.1 ships: does the good release still start on this database?
        async Task<int> GoodReleaseStarts()
        {
            File.Delete(added);
            return await files.RunCliAsync("--migrate");
        }
        switch (kind)
        {
            case BadUpdate.DeletesData:
                Assert.Equal((0, 18_000L), (migrated, await Scalar("SELECT COUNT(*) FROM messages")));
                break;
            case BadUpdate.TruncatesBodies:
                Assert.Equal((0, 20_000L, 40L), (migrated, await Scalar("SELECT COUNT(*) FROM messages"), await Scalar("SELECT MAX(CHAR_LENGTH(body)) FROM messages")));
                break;
            case BadUpdate.DroppedSearchIndex:
            {
                Assert.Equal(0, migrated);
                Assert.Equal(0, await Scalar("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_type = 'FULLTEXT'"));
                await using var host = await MailHost.StartAsync(files);
                var token = await host.LoginAsync("user01", "password-01");
                Assert.Equal(500, (await host.GetAsync("/search?q=invoice", token)).Status);
                Assert.Equal(200, (await host.GetAsync("/mailbox/user01", token)).Status);
                break;
            }
            case BadUpdate.SchemaBreaksDowngrade:
                Assert.Equal(0, migrated);
                Assert.Equal(1, await GoodReleaseStarts());
                Assert.Contains("database schema is newer than this release (V2 (add message folders) applied", files.ReadLog(), StringComparison.Ordinal);
                break;
            case BadUpdate.MigrationFailsHalfway:
                // MariaDB kept the first statement: recorded as failed, and not even 1.1 starts until the database is restored.
                Assert.Equal(1, migrated);
                Assert.Contains("migration V2 (add folders and unique sender) failed: 1062 ", log, StringComparison.Ordinal);
                Assert.Equal(1, await Scalar("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'messages' AND column_name = 'folder'"));
                Assert.Equal(1, await GoodReleaseStarts());
                Assert.Contains("database schema is newer than this release (V2 (add folders and unique sender) applied", files.ReadLog(), StringComparison.Ordinal);
                break;
        }
    }

    [SkippableFact]
    public async Task The_cosmetic_rebuild_ships_defaults_reworded_and_reordered_with_every_value_the_same()
    {
        NeedDebs();
        var good = debs.Deb("1.1");
        var deb = await BadPackages.BuildCosmeticAsync(good, _out);
        Assert.Equal(Path.Combine(_out, "acme-mail_1.1+cosmetic-1_amd64.deb"), deb);
        Assert.Equal("1.1+cosmetic-1", (await DpkgDebAsync("-f", deb, "Version")).Trim());
        Assert.True(await VersionGreaterAsync("1.1+cosmetic-1", "1.1-1"));

        async Task<string> DefaultsOf(string package, string name)
        {
            var root = Path.Combine(_out, name);
            await DpkgDebAsync("-x", package, root);
            return Path.Combine(root, "usr/share/acme-mail/defaults.conf");
        }
        var shipped = await DefaultsOf(good, "good");
        var tidied = await DefaultsOf(deb, "cosmetic");
        var before = await File.ReadAllTextAsync(shipped);
        var after = await File.ReadAllTextAsync(tidied);
        Assert.NotEqual(before, after);
        // Another key comes first, and no comment line of the original is left.
        Assert.NotEqual(FirstKey(before), FirstKey(after));
        Assert.DoesNotContain(before.Split('\n').Where(l => l.StartsWith('#')), after.Split('\n').Contains);
        // acme-mail reads the same settings from both, and Stageproof reads the same values.
        var read = AppSettings.Load(tidied);
        Assert.Equal(AppSettings.Load(shipped) with { Sources = read.Sources }, read); // every setting; only the lines they came from moved
        static Stageproof.Core.Manifests.ConfigFileInfo Info(string content) =>
            new("/usr/share/acme-mail/defaults.conf", "root", "root", "0644", Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(content))), content.Length, content);
        Assert.True(Stageproof.Core.ConfigFiles.ConfigValues.Compare("/usr/share/acme-mail/defaults.conf", Info(before), Info(after),
            Stageproof.Core.ConfigFiles.ConfigFormats.None).Cosmetic);

        static string FirstKey(string text) => text.Split('\n').Select(l => l.Trim()).First(l => l.Length > 0 && l[0] != '#').Split('=')[0].Trim();
    }

    [SkippableFact]
    public async Task A_good_package_older_than_fault_injection_is_refused_for_the_fault_switch_updates()
    {
        Requires.Executable("/usr/bin/dpkg-deb");
        var root = Path.Combine(_out, "old-root");
        Directory.CreateDirectory(Path.Combine(root, "DEBIAN"));
        Directory.CreateDirectory(Path.Combine(root, "usr/lib/acme-mail"));
        Directory.CreateDirectory(Path.Combine(root, "usr/share/acme-mail/migrations"));
        await File.WriteAllTextAsync(Path.Combine(root, "DEBIAN/control"),
            "Package: acme-mail\nVersion: 1.1-1\nArchitecture: amd64\nMaintainer: t <t@t.invalid>\nDescription: old build\n");
        await File.WriteAllTextAsync(Path.Combine(root, "usr/lib/acme-mail/acme-mail"), "an acme-mail binary from before faults.conf");
        await File.WriteAllTextAsync(Path.Combine(root, "usr/share/acme-mail/defaults.conf"), "session.lifetime = 60\n");
        await File.WriteAllTextAsync(Path.Combine(root, "usr/share/acme-mail/migrations/V1__initial_schema.sql"), "SELECT 1;\n");
        var old = Path.Combine(_out, "old.deb");
        await DpkgDebAsync("--root-owner-group", "-b", root, old);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => BadPackages.BuildAsync(old, BadUpdate.LoginRace, _out));
        Assert.Contains("does not know the fault fault.login_race", e.Message, StringComparison.Ordinal);
        var search = await Assert.ThrowsAsync<InvalidOperationException>(() => BadPackages.BuildAsync(old, BadUpdate.DroppedSearchIndex, _out));
        Assert.Contains("does not know the fault fault.search_delay", search.Message, StringComparison.Ordinal);
        // The updates that need no switch do not care.
        Assert.Equal("1.1+bad1-1", (await DpkgDebAsync("-f", await BadPackages.BuildAsync(old, BadUpdate.ChangedDefault, _out), "Version")).Trim());
    }

    [SkippableTheory]
    [InlineData(BadUpdate.BackgroundErrors, "ERROR acme-sync: upstream refused the mailbox sync\" >> /var/log/acme-sync.log")]
    [InlineData(BadUpdate.WidensPermissions, "chmod 0666 /etc/acme-mail/acme-mail.conf")]
    [InlineData(BadUpdate.OpensPort, "LocalAddr => $ARGV[0], LocalPort => 47119")]
    [InlineData(BadUpdate.EditsOtherPackage, "echo 'PASS_MIN_LEN 12' >> /etc/login.defs")]
    public async Task A_host_behaviour_update_adds_its_fault_to_the_postinst_on_configure_and_keeps_the_rest_of_it(BadUpdate kind, string fault)
    {
        NeedDebs();
        var good = debs.Deb("1.1");
        var deb = await BadPackages.BuildAsync(good, kind, _out);

        await AssertFaultsInPostinstAsync(good, deb, fault);
    }

    [SkippableFact]
    public async Task The_package_of_every_host_behaviour_carries_each_fault_as_its_own_package_does_under_its_own_version()
    {
        NeedDebs();
        var good = debs.Deb("1.1");
        var deb = await BadPackages.BuildHostBehavioursAsync(good, _out);

        Assert.Equal("1.1+behaviours-1", (await DpkgDebAsync("-f", deb, "Version")).Trim());
        await AssertFaultsInPostinstAsync(good, deb,
            "ERROR acme-sync: upstream refused the mailbox sync\" >> /var/log/acme-sync.log",
            "chmod 0666 /etc/acme-mail/acme-mail.conf",
            "LocalAddr => $ARGV[0], LocalPort => 47119",
            "echo 'PASS_MIN_LEN 12' >> /etc/login.defs");
    }

    [SkippableFact]
    public async Task The_package_of_the_service_faults_carries_each_as_its_own_package_does_and_its_binary_reads_them_all()
    {
        NeedDebs();
        var good = debs.Deb("1.1");
        var deb = await BadPackages.BuildServiceFaultsAsync(good, _out);

        Assert.Equal(Path.Combine(_out, "acme-mail_1.1+faults-1_amd64.deb"), deb);
        Assert.Equal("1.1+faults-1", (await DpkgDebAsync("-f", deb, "Version")).Trim());
        Assert.True(await VersionGreaterAsync("1.1+faults-1", "1.1-1"));
        Assert.Contains("Gauntlet bad updates 1, 2, 5 at once", await DpkgDebAsync("-f", deb, "Description"), StringComparison.Ordinal);
        foreach (var control in new[] { "postinst", "prerm", "postrm", "conffiles" })
        {
            Assert.Equal(await DpkgDebAsync("-I", good, control), await DpkgDebAsync("-I", deb, control));
        }
        var root = Path.Combine(_out, "x-faults");
        await DpkgDebAsync("-x", deb, root);
        var share = Path.Combine(root, "usr/share/acme-mail");
        var defaults = await File.ReadAllTextAsync(Path.Combine(share, "defaults.conf"));
        Assert.Contains("\nsession.lifetime = 5\n", defaults, StringComparison.Ordinal);
        Assert.DoesNotContain("session.lifetime = 60", defaults, StringComparison.Ordinal);
        Assert.Equal(["V1__initial_schema.sql"], Directory.GetFiles(Path.Combine(share, "migrations")).Select(Path.GetFileName).ToList());
        // Both switches in the one faults.conf, and the packaged binary reads both (it logs them, then refuses a
        // database that is surely not there).
        var faults = Path.Combine(share, "faults.conf");
        var lines = (await File.ReadAllLinesAsync(faults)).Where(l => !l.StartsWith('#')).ToList();
        Assert.Equal(["fault.login_race = true", "fault.indexer_errors = true"], lines);
        Assert.Contains($"fault injection from {faults}: login_race, indexer_errors", await PackagedBinaryLogAsync(root, "faults"), StringComparison.Ordinal);
    }

    /// <summary>Runs the binary of a package unpacked at <paramref name="root"/> against a database that is surely not
    /// there: it logs its configuration and faults, then refuses to start (exit 1). Returns its log.</summary>
    private async Task<string> PackagedBinaryLogAsync(string root, string name)
    {
        var share = Path.Combine(root, "usr/share/acme-mail");
        var log = Path.Combine(_out, $"{name}.log");
        var conf = Path.Combine(_out, $"{name}.conf");
        await File.WriteAllTextAsync(conf, $"db.connection = Host=127.0.0.1;Port={PgServer.FreePort("127.0.0.1")};Database=mail;Username=acme;Timeout=3\nlisten.port = 0\n");
        var run = await Proc.RunAsync(Path.Combine(root, "usr/lib/acme-mail/acme-mail"), [], new Dictionary<string, string>
        {
            ["ACME_MAIL_DEFAULTS"] = Path.Combine(share, "defaults.conf"),
            ["ACME_MAIL_CONF"] = conf,
            ["ACME_MAIL_HOST_CONF"] = Path.Combine(_out, "no-host.conf"),
            ["ACME_MAIL_MIGRATIONS"] = Path.Combine(share, "migrations"),
            ["ACME_MAIL_FAULTS"] = Path.Combine(share, "faults.conf"),
            ["ACME_MAIL_LOG"] = log,
            ["ACME_MAIL_READY_FILE"] = Path.Combine(_out, "ready"),
        }, TimeSpan.FromSeconds(60));
        Assert.Equal(1, run.ExitCode);
        return await File.ReadAllTextAsync(log);
    }

    /// <summary>Each fault is in the bad package's postinst, on configure, after the good script sets the conffile's
    /// mode and before its start policy; the good script is all there, in its order.</summary>
    private static async Task AssertFaultsInPostinstAsync(string good, string deb, params string[] faults)
    {
        var postinst = await DpkgDebAsync("-I", deb, "postinst");
        var original = await DpkgDebAsync("-I", good, "postinst");
        Assert.Contains("if [ \"$1\" = configure ]; then", postinst, StringComparison.Ordinal);
        // The good script is all there, in its order, the fault after it sets the conffile's mode and before its start
        // policy (whose early exit 0 the lab's policy-rc.d takes): the service is configured and restarted as before.
        var lines = postinst.Split('\n').ToList();
        var at = 0;
        foreach (var line in original.Split('\n'))
        {
            at = lines.IndexOf(line, at) is var found && found >= 0 ? found + 1 : throw new Xunit.Sdk.XunitException($"postinst lost the line '{line}'");
        }
        foreach (var fault in faults)
        {
            var faultAt = postinst.IndexOf(fault, StringComparison.Ordinal);
            Assert.True(faultAt >= 0, $"the postinst lacks '{fault}'");
            Assert.True(faultAt > postinst.IndexOf("chmod 0640 /etc/acme-mail/acme-mail.conf", StringComparison.Ordinal), "the fault runs before the good script sets the mode");
            Assert.True(faultAt < postinst.IndexOf("\"${STAGEPROOF_NO_START:-}\"", StringComparison.Ordinal), "the fault comes after the start policy's early exit");
        }
    }
}
