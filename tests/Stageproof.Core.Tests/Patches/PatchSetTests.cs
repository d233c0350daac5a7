using Stageproof.Core.Patches;

namespace Stageproof.Core.Tests.Patches;

public sealed class PatchSetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stageproof-patch-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private const string Full = """
        id: ACME-2026-11-01
        title: acme-mail 1.1 security update
        ticket: INC-4711
        reason: mailbox endpoint answers for another user's token
        root_cause: token owner not compared with the mailbox owner
        severity: critical
        cves: [CVE-2026-12345, CVE-2026-0001]
        author: alice
        repositories:
          - "deb [signed-by=/etc/apt/keyrings/acme.gpg] http://127.0.0.1:8080/debian stable main"
        packages:
          - { name: acme-mail, version: "1.1-1" }
          - { name: libacme2, version: "2:1.0~rc1-3" }
        files:
          - { path: /etc/acme-mail/limits.conf, owner: root, group: acme, mode: "0640", set: { max_conn: "200", auth_check: "owner" } }
          - { path: /etc/acme-mail/banner.txt, content: "hello\n" }
          - { path: /etc/acme-mail/policy.conf, source: files/policy.conf, mode: "644" }
        migrations:
          - database: mail
            files: [sql/001_owner.sql, sql/002_index.sql]
        commands:
          pre: ["systemctl stop acme-mail"]
          post:
            - "service acme-mail restart"
            - { run: "curl -fsS http://127.0.0.1:8025/health", timeout: 30s }
        """;

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    private string WriteFull()
    {
        Write("files/policy.conf", "owner_check = strict\n");
        Write("sql/001_owner.sql", "ALTER TABLE mailbox ADD COLUMN owner text;\n");
        Write("sql/002_index.sql", "CREATE INDEX mailbox_owner ON mailbox (owner);\n");
        return Write("patch.yaml", Full);
    }

    private InputException LoadFails(string yaml)
    {
        var path = Write("bad.yaml", yaml);
        return Assert.Throws<InputException>(() => PatchSetLoader.Load(path));
    }

    [Fact]
    public void A_full_patch_set_is_read()
    {
        var set = PatchSetLoader.Load(WriteFull());
        Assert.Equal("ACME-2026-11-01", set.Id);
        Assert.Equal(PatchSeverity.Critical, set.Severity);
        Assert.Equal("token owner not compared with the mailbox owner", set.RootCause);
        Assert.Equal(["acme-mail", "libacme2"], set.Packages.Select(p => p.Name));
        Assert.Equal("2:1.0~rc1-3", set.Packages[1].Version);
        Assert.Equal("200", set.Files[0].Set!["max_conn"]);
        Assert.Equal("hello\n", set.Files[1].Content);
        Assert.Equal("files/policy.conf", set.Files[2].Source);
        Assert.Equal(["sql/001_owner.sql", "sql/002_index.sql"], set.Migrations[0].Scripts.Select(s => s.File));
        Assert.Equal(["systemctl stop acme-mail"], set.Commands.Pre.Select(c => c.Run));
        Assert.Equal(30, set.Commands.Post[1].TimeoutSeconds);
        Assert.Null(set.Commands.Post[0].TimeoutSeconds);
    }

    [Fact]
    public void Problems_are_located_with_line_column_and_key_and_all_reported()
    {
        var e = LoadFails("""
            id: X-1
            title: t
            reason: r
            severity: urgent
            author: a
            packges: []
            packages:
              - { name: acme-mail, versoin: "1.1-1" }
            """);
        var text = e.Message;
        Assert.Contains("bad.yaml:4:11: severity:", text);
        Assert.Contains("bad.yaml:6:1: packges: unknown key 'packges' (did you mean 'packages'?)", text);
        Assert.Contains("packages[0].versoin: unknown key", text);
        Assert.Contains("packages[0].version: a value is required", text);
        Assert.All(e.Problems, p => Assert.True(p.Line > 0));
    }

    [Fact]
    public void Declared_data_loss_is_read_and_a_set_without_it_keeps_its_digest()
    {
        const string head = "id: X-1\ntitle: t\nreason: r\nseverity: low\nauthor: a\npackages: [{ name: acme-mail, version: '1.1-1' }]\n";
        var plain = Write("plain.yaml", head);
        var archiving = Write("archiving.yaml", head + "data_loss: [public.messages_2019, 'archive_*']\n");

        Assert.Equal(["public.messages_2019", "archive_*"], PatchSetLoader.Load(archiving).DataLoss);
        Assert.Null(PatchSetLoader.Load(plain).DataLoss);
        // Left out of the canonical JSON when not given: every set frozen before data_loss existed keeps its digest.
        Assert.DoesNotContain("data", PatchSetFreezer.Freeze(plain).Json, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(PatchSetFreezer.Freeze(plain).Digest, PatchSetFreezer.Freeze(archiving).Digest);
    }

    [Fact]
    public void Declared_processes_are_read_and_a_set_without_them_keeps_its_digest()
    {
        const string head = "id: X-1\ntitle: t\nreason: r\nseverity: low\nauthor: a\npackages: [{ name: nginx, version: '1.22' }]\n";
        var plain = Write("plain.yaml", head);
        var server = Write("server.yaml", head + "processes: [nginx, '/usr/sbin/nginx -g *']\n");

        Assert.Equal(["nginx", "/usr/sbin/nginx -g *"], PatchSetLoader.Load(server).Processes);
        Assert.Null(PatchSetLoader.Load(plain).Processes);
        Assert.DoesNotContain("processes", PatchSetFreezer.Freeze(plain).Json, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(PatchSetFreezer.Freeze(plain).Digest, PatchSetFreezer.Freeze(server).Digest);
    }

    private const string Head = "id: X-1\ntitle: t\nreason: r\nseverity: low\nauthor: a\npackages: [{ name: acme-mail, version: '1.1-1' }]\n";

    [Fact]
    public void A_declared_way_back_is_read_its_down_script_frozen_in_and_a_set_without_it_keeps_its_digest()
    {
        Write("sql/V6_down.sql", "DROP INDEX messages_owner_folder_idx;\n");
        var plain = Write("plain.yaml", Head);
        var declared = Write("declared.yaml", Head + """
            way_back:
              - { migration: "V5__add_message_folders", how: compatible }
              - { migration: "V6__*", how: down, down: sql/V6_down.sql }
              - { migration: "V7__archive", how: irreversible, acknowledged: "restore from the rollback point's dump; 2 min of mail lost at most" }
            """);

        var set = PatchSetLoader.Load(declared);
        Assert.Equal(["V5__add_message_folders", "V6__*", "V7__archive"], set.WayBack!.Select(b => b.Migration));
        Assert.Equal([WayBackHow.Compatible, WayBackHow.Down, WayBackHow.Irreversible], set.WayBack!.Select(b => b.How));
        Assert.Null(set.WayBack![1].Sql);
        var frozen = PatchSetFreezer.Freeze(declared);
        Assert.Equal("DROP INDEX messages_owner_folder_idx;\n", frozen.Set.WayBack![1].Sql);
        Assert.Equal(PatchSetFreezer.Sha256("DROP INDEX messages_owner_folder_idx;\n"), frozen.Set.WayBack![1].Sha256);
        Assert.Contains("\"way_back\":[{\"migration\":\"V5__add_message_folders\",\"how\":\"compatible\"}", frozen.Json, StringComparison.Ordinal);
        Assert.Equal(frozen.Json, PatchSetFreezer.FromJson(frozen.Digest, frozen.Json).Json);
        Assert.Equal(frozen.Digest, PatchSetFreezer.FromSet(PatchSetFreezer.FromJson(frozen.Digest, frozen.Json).Set).Digest);

        // Left out of the canonical JSON when not given: every set frozen before way_back existed keeps its digest.
        Assert.Null(PatchSetLoader.Load(plain).WayBack);
        var plainFrozen = PatchSetFreezer.Freeze(plain);
        Assert.DoesNotContain("way_back", plainFrozen.Json, StringComparison.Ordinal);
        Assert.Equal(PlainDigest, plainFrozen.Digest);
        Assert.NotEqual(plainFrozen.Digest, frozen.Digest);

        // The down script is part of what is frozen: editing it is another digest.
        Write("sql/V6_down.sql", "DROP INDEX IF EXISTS messages_owner_folder_idx;\n");
        Assert.NotEqual(frozen.Digest, PatchSetFreezer.Freeze(declared).Digest);
    }

    /// <summary>The digest of <see cref="Head"/> as frozen before way_back existed: SHA-256 of its canonical JSON
    /// {"id":"X-1",...,"migrations":[],"commands":{"pre":[],"post":[]}}, no way_back key.</summary>
    private const string PlainDigest = "0710634f28556ee83743dd6c258d25ecd5ffb4f209307e72aebe3711ebb82874";

    [Fact]
    public void Roles_are_read_and_a_set_without_them_keeps_its_digest()
    {
        var plain = Write("plain.yaml", Head);
        var proxies = Write("proxies.yaml", Head + "roles: [proxy, edge, proxy]\n");

        Assert.Equal(["proxy", "edge"], PatchSetLoader.Load(proxies).Roles);
        Assert.Null(PatchSetLoader.Load(plain).Roles);
        var frozen = PatchSetFreezer.Freeze(proxies);
        Assert.Contains("\"roles\":[\"proxy\",\"edge\"]", frozen.Json, StringComparison.Ordinal);
        Assert.Equal(frozen.Digest, PatchSetFreezer.FromSet(PatchSetFreezer.FromJson(frozen.Digest, frozen.Json).Set).Digest);
        // Left out of the canonical JSON when not given: every set frozen before roles existed keeps its digest.
        Assert.Equal(PlainDigest, PatchSetFreezer.Freeze(plain).Digest);
        Assert.NotEqual(PlainDigest, frozen.Digest);
    }

    [Theory]
    [InlineData("roles: []", "roles", "leave roles out to patch every host")]
    [InlineData("roles: [\"app server\"]", "roles[0]", "role 'app server' is not valid")]
    [InlineData("roles: [proxy, \"\"]", "roles[1]", "a value is required")]
    [InlineData("roles: proxy", "roles", "list")]
    public void A_bad_roles_list_is_reported_at_its_file_line_and_key(string line, string key, string message)
    {
        var e = LoadFails(Head + line + "\n");
        var problem = Assert.Single(e.Problems, p => p.Key == key);
        Assert.Equal(7, problem.Line);
        Assert.Contains(message, problem.Message, StringComparison.Ordinal);
        Assert.Contains("bad.yaml:7:", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("- { migration: V5__x, how: sideways }", "way_back[0].how", 4, "not one of down")]
    [InlineData("- { migration: V5__x, how: irreversible }", "way_back[0].acknowledged", 3, "needs acknowledged")]
    [InlineData("- { migration: V5__x, how: irreversible, acknowledged: '  ' }", "way_back[0].acknowledged", 3, "a value is required")]
    [InlineData("- { migration: V5__x, how: down }", "way_back[0].down", 3, "needs the down script")]
    [InlineData("- { migration: V5__x, how: compatible, down: sql/x.sql }", "way_back[0].down", 3, "only goes with how: down")]
    [InlineData("- { migration: V5__x, how: down, down: ../x.sql }", "way_back[0].down", 3, "beside the patch set")]
    [InlineData("- { migration: V5__x, how: compatible, acknowledged: fine }", "way_back[0].acknowledged", 3, "only goes with how: irreversible")]
    [InlineData("- { migration: \"V5\\nx\", how: compatible }", "way_back[0].migration", 3, "not a migration name")]
    [InlineData("- { how: compatible }", "way_back[0].migration", 3, "a value is required")]
    [InlineData("- { migration: V5__x, how: compatible, undo: x }", "way_back[0].undo", 3, "unknown key")]
    public void A_bad_way_back_is_reported_at_its_file_line_and_key(string item, string key, int column, string message)
    {
        var e = LoadFails(Head + "way_back:\n  " + item + "\n");
        var problem = Assert.Single(e.Problems, p => p.Key == key);
        Assert.Equal(8, problem.Line);
        Assert.True(problem.Column >= column, problem.ToString());
        Assert.Contains(message, problem.Message, StringComparison.Ordinal);
        Assert.Contains($"bad.yaml:8:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_migration_declared_twice_is_refused()
    {
        var e = LoadFails(Head + "way_back:\n  - { migration: V5__x, how: compatible }\n  - { migration: V5__x, how: irreversible, acknowledged: ok }\n");
        Assert.Contains(e.Problems, p => p.Key == "way_back[1]" && p.Line == 9 && p.Message.Contains("declared twice", StringComparison.Ordinal));
    }

    [Fact]
    public void Missing_required_keys_are_named()
    {
        var e = LoadFails("title: t\npackages: [{ name: a1, version: '1' }]\n");
        foreach (var key in new[] { "id", "reason", "severity", "author" })
        {
            Assert.Contains(e.Problems, p => p.Key == key);
        }
    }

    [Theory]
    [InlineData("packages: [{ name: 'acme;rm -rf /', version: '1.0' }]", "packages[0].name")]
    [InlineData("packages: [{ name: 'x$(reboot)', version: '1.0' }]", "packages[0].name")]
    [InlineData("packages: [{ name: acme-mail, version: \"1.1\\nreboot\" }]", "packages[0].version")]
    [InlineData("files: [{ path: /etc/../shadow, content: x }]", "files[0].path")]
    [InlineData("files: [{ path: etc/x, content: x }]", "files[0].path")]
    [InlineData("files: [{ path: /etc/x, source: ../../etc/shadow }]", "files[0].source")]
    [InlineData("files: [{ path: /etc/x, source: /etc/shadow }]", "files[0].source")]
    [InlineData("files: [{ path: /etc/x, mode: '0999', content: x }]", "files[0].mode")]
    [InlineData("files: [{ path: /etc/x, owner: 'root;id', content: x }]", "files[0].owner")]
    [InlineData("files: [{ path: /etc/x, set: { \"a\\nb\": c } }]", "files[0].set.a\nb")]
    [InlineData("files: [{ path: /etc/x, set: { a: \"b\\nc=d\" } }]", "files[0].set.a")]
    [InlineData("migrations: [{ database: mail, files: [../x.sql] }]", "migrations[0].files[0]")]
    [InlineData("migrations: [{ database: 'mail;x', files: [a.sql] }]", "migrations[0].database")]
    [InlineData("commands: { post: [\"restart\\nreboot\"] }", "commands.post[0]")]
    [InlineData("commands: { post: [{ run: \"a\\u0000b\" }] }", "commands.post[0].run")]
    [InlineData("repositories: [\"deb http://x/ stable main\\ndeb http://evil/ x y\"]", "repositories[0]")]
    [InlineData("repositories: [\"rpm http://x/ stable\"]", "repositories[0]")]
    [InlineData("repositories: [\"deb http://x/$(id) stable main\"]", "repositories[0]")]
    [InlineData("cves: [CVE-26-1]", "cves[0]")]
    [InlineData("data_loss: [\"messages; DROP TABLE users\"]", "data_loss[0]")]
    [InlineData("data_loss: [a.b.c]", "data_loss[0]")]
    [InlineData("processes: [\"worker\\nreboot\"]", "processes[0]")]
    [InlineData("processes: [\"\"]", "processes[0]")]
    public void Hostile_or_invalid_values_are_rejected_at_their_key(string line, string key)
    {
        var e = LoadFails($"id: X-1\ntitle: t\nreason: r\nseverity: low\nauthor: a\n{line}\n");
        Assert.Contains(e.Problems, p => p.Key == key && p.Line == 6);
    }

    [Fact]
    public void A_file_needs_exactly_one_of_content_source_or_set()
    {
        var e = LoadFails("id: X-1\ntitle: t\nreason: r\nseverity: low\nauthor: a\nfiles:\n  - { path: /etc/x, content: a, set: { b: c } }\n  - { path: /etc/y }\n");
        Assert.Contains(e.Problems, p => p.Key == "files[0]" && p.Message.Contains("only one", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.Key == "files[1]" && p.Line == 8);
    }

    [Fact]
    public void A_patch_set_that_changes_nothing_is_rejected()
    {
        var e = LoadFails("id: X-1\ntitle: t\nreason: r\nseverity: low\nauthor: a\n");
        Assert.Contains("changes nothing", e.Message);
    }

    [Fact]
    public void A_syntax_error_is_located()
    {
        var e = LoadFails("id: X-1\npackages: [ { name: a\n");
        Assert.Contains(e.Problems, p => p.Key == "(syntax)" && p.Line > 0);
    }

    [Fact]
    public void Freezing_embeds_referenced_files_and_the_digest_is_stable()
    {
        var path = WriteFull();
        var a = PatchSetFreezer.Freeze(path);
        var b = PatchSetFreezer.Freeze(path);
        Assert.Equal(a.Digest, b.Digest);
        Assert.Equal(a.Json, b.Json);
        Assert.Matches("^[0-9a-f]{64}$", a.Digest);
        var policy = a.Set.Files.Single(f => f.Path == "/etc/acme-mail/policy.conf");
        Assert.Equal("owner_check = strict\n", policy.Content);
        var scripts = a.Set.Migrations[0].Scripts;
        Assert.Equal("ALTER TABLE mailbox ADD COLUMN owner text;\n", scripts[0].Sql);
        Assert.Equal(PatchSetFreezer.Sha256(scripts[0].Sql!), scripts[0].Sha256);
        Assert.Equal(["CVE-2026-0001", "CVE-2026-12345"], a.Set.Cves);
        // Files are sorted by path; migration scripts keep their order.
        Assert.Equal(a.Set.Files.Select(f => f.Path).Order(StringComparer.Ordinal), a.Set.Files.Select(f => f.Path));
        Assert.Equal(["sql/001_owner.sql", "sql/002_index.sql"], scripts.Select(s => s.File));
    }

    [Fact]
    public void Reordering_unordered_things_keeps_the_digest()
    {
        var a = PatchSetFreezer.Freeze(WriteFull());
        var reordered = Full
            .Replace("cves: [CVE-2026-12345, CVE-2026-0001]", "cves: [CVE-2026-0001, CVE-2026-12345]", StringComparison.Ordinal)
            .Replace("set: { max_conn: \"200\", auth_check: \"owner\" }", "set: { auth_check: \"owner\", max_conn: \"200\" }", StringComparison.Ordinal);
        Assert.NotEqual(Full, reordered);
        var b = PatchSetFreezer.Freeze(Write("patch.yaml", reordered));
        Assert.Equal(a.Digest, b.Digest);
    }

    [Fact]
    public void Editing_a_referenced_sql_file_changes_the_digest()
    {
        var path = WriteFull();
        var before = PatchSetFreezer.Freeze(path);
        Write("sql/002_index.sql", "CREATE INDEX CONCURRENTLY mailbox_owner ON mailbox (owner);\n");
        var after = PatchSetFreezer.Freeze(path);
        Assert.NotEqual(before.Digest, after.Digest);
    }

    [Fact]
    public void Editing_the_yaml_or_a_source_file_changes_the_digest()
    {
        var path = WriteFull();
        var before = PatchSetFreezer.Freeze(path).Digest;
        Write("files/policy.conf", "owner_check = lax\n");
        var afterSource = PatchSetFreezer.Freeze(path).Digest;
        Write("patch.yaml", Full.Replace("version: \"1.1-1\"", "version: \"1.1-2\"", StringComparison.Ordinal));
        var afterYaml = PatchSetFreezer.Freeze(path).Digest;
        Assert.Equal(3, new[] { before, afterSource, afterYaml }.Distinct().Count());
    }

    [Fact]
    public void A_missing_referenced_file_is_a_located_problem()
    {
        var path = WriteFull();
        File.Delete(Path.Combine(_dir, "sql/002_index.sql"));
        var e = Assert.Throws<InputException>(() => PatchSetFreezer.Freeze(path));
        var problem = Assert.Single(e.Problems);
        Assert.Equal("migrations[0].files[1]", problem.Key);
        Assert.Equal(20, problem.Line);
        Assert.Contains("sql/002_index.sql", problem.Message);
    }

    [Fact]
    public void Stored_json_reads_back_and_an_altered_one_is_refused()
    {
        var frozen = PatchSetFreezer.Freeze(WriteFull());
        var back = PatchSetFreezer.FromJson(frozen.Digest, frozen.Json);
        Assert.Equal(frozen.Json, PatchSetFreezer.FromSet(back.Set).Json);
        Assert.Equal(frozen.Digest, PatchSetFreezer.FromSet(back.Set).Digest);
        Assert.Throws<InvalidDataException>(() => PatchSetFreezer.FromJson(frozen.Digest, frozen.Json.Replace("1.1-1", "1.1-9", StringComparison.Ordinal)));
    }
}
