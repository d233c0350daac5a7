using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Stageproof.Lab;

/// <summary>The gauntlet's bad updates of acme-mail: each one a fault that <c>stageproof stage</c> must catch.</summary>
public enum BadUpdate
{
    /// <summary>(1) The package's defaults.conf changes <c>session.lifetime</c> (60 → 5), a value the operator never set,
    /// among reworded comments and reordered keys (<see cref="BadPackages.Tidy"/>): unexpected drift of that key alone.</summary>
    ChangedDefault = 1,

    /// <summary>(2) <c>fault.login_race</c>: logins fail for many requests under concurrency (32 clients), never one at a time.</summary>
    LoginRace = 2,

    /// <summary>(3) A migration V{n}__drop_search_index drops the full-text GIN index, and <c>fault.search_delay</c> makes
    /// search as slow as a production-sized mailbox table would without it (<see cref="SearchDelayMilliseconds"/>).</summary>
    DroppedSearchIndex = 3,

    /// <summary>(4) <c>fault.die_after = 20</c>: the service starts and answers, then crashes about 20 s later (soak).</summary>
    DiesAfter20s = 4,

    /// <summary>(5) <c>fault.indexer_errors</c>: /health answers 200 but the indexer logs ERROR every cycle (logs).</summary>
    IndexerErrors = 5,

    /// <summary>(6) A migration whose first statement succeeds and second fails (a unique index on sender, which the seeded data
    /// violates): rolled back as a whole, the service refuses to start, the package stays half-configured (schema and health).</summary>
    MigrationFailsHalfway = 6,

    /// <summary>(7) A migration the bad release itself runs fine with, but after a package downgrade 1.x refuses the database
    /// ("database schema is newer than this release"): rollback needs a database restore.</summary>
    SchemaBreaksDowngrade = 7,

    /// <summary>(8) A migration "archives" old messages by deleting every tenth one, without archiving anything: the
    /// service keeps answering and the checks pass, but rows are gone (data continuity).</summary>
    DeletesData = 8,

    /// <summary>(9) The postinst starts a "sync helper" of its own, detached from dpkg, that writes an ERROR line to
    /// <see cref="BackgroundLog"/> every 2 s: the service and every check stay fine, and a package rollback does not stop
    /// it (host behaviour: a new process, errors in a log no check reads, residue after the rollback).</summary>
    BackgroundErrors = 9,

    /// <summary>(10) The postinst makes the service's tracked conffile world-writable (chmod 0666): anyone on the host
    /// could rewrite the mail service's configuration (host behaviour: permissions widened).</summary>
    WidensPermissions = 10,

    /// <summary>(11) The postinst starts a "metrics exporter" of its own (perl, in every Debian) listening on the host's
    /// own address (its /etc/hosts line; 127.0.0.1 without one), port <see cref="ExtraPort"/> (host behaviour: a new
    /// listening port, a new process).</summary>
    OpensPort = 11,

    /// <summary>(12) The postinst appends a setting to <see cref="OtherPackageFile"/>, a file of the login package the
    /// update has no business with and no check tracks (host behaviour: another package's /etc file edited).</summary>
    EditsOtherPackage = 12,

    /// <summary>(13) A migration "compacts" stored mail by cutting every body to its first 40 characters: every row stays,
    /// the service keeps answering and every check passes (data continuity: the suite's continuity measure of the bodies).</summary>
    TruncatesBodies = 13,
}

/// <summary>
/// Builds the gauntlet's bad acme-mail packages from a good 1.1 package, as an operator's bad update would look:
/// <c>dpkg-deb -R</c>, change files, bump the version to <c>{upstream}+bad{n}-{revision}</c> (e.g. 1.1+bad3-1, newer than
/// 1.1-1 and distinct for each fault), <c>dpkg-deb --root-owner-group -b</c>. The package name, the binary and the maintainer
/// scripts stay as they are (postinst restarts the service). Needs dpkg-deb.
/// </summary>
public static partial class BadPackages
{
    public const string Package = "acme-mail";

    /// <summary>The value the ChangedDefault update ships for <c>session.lifetime</c> (1.1 ships 60).</summary>
    public const int ChangedSessionLifetime = 5;

    /// <summary>
    /// The per-request search delay the DroppedSearchIndex update ships (fault.search_delay). On the lab's 20,000 seeded
    /// messages the missing index alone costs only 2–3× at p95, which a busy 2-core machine can match between a
    /// baseline and an after run; 800 ms is what a production-sized table costs. A stage misses it only if staging's
    /// search p95 exceeds 400 ms (the lab's 3× limit: (p + 800) / p &lt;= 3), about fifteen times the 26 ms measured on
    /// a fully loaded machine. It was 500 ms until an A/B/A recheck under CI's load (staging rolled back still 1.4–1.7×
    /// its control, the control's p95 170 ms) would have left too little margin: (500 + 240) / 240 is 3.1.
    /// </summary>
    public const int SearchDelayMilliseconds = 800;

    public static IReadOnlyList<BadUpdate> All { get; } = Enum.GetValues<BadUpdate>();

    /// <summary>The log the BackgroundErrors update's helper writes, which no check names.</summary>
    public const string BackgroundLog = "/var/log/acme-sync.log";

    /// <summary>A word in the BackgroundErrors helper's command line, to find (and end) it.</summary>
    public const string BackgroundMarker = "acme-sync";

    /// <summary>The port the OpensPort update's exporter listens on (127.0.0.1 only).</summary>
    public const int ExtraPort = 47119;

    /// <summary>A word in the OpensPort exporter's command line, to find (and end) it.</summary>
    public const string ExporterMarker = "acme-exporter";

    /// <summary>The login package's file the EditsOtherPackage update edits.</summary>
    public const string OtherPackageFile = "/etc/login.defs";

    /// <summary>The bad package's Debian version for a good version: "1.1-1" → "1.1+bad{n}-1".</summary>
    public static string Version(BadUpdate kind, string goodVersion = "1.1-1") =>
        Suffixed(goodVersion, "+bad" + ((int)kind).ToString(CultureInfo.InvariantCulture));

    /// <summary>The file name <see cref="BuildAsync"/> writes: acme-mail_1.1+bad{n}-1_amd64.deb.</summary>
    public static string FileName(BadUpdate kind, string goodVersion = "1.1-1", string architecture = "amd64") =>
        DebName(Version(kind, goodVersion), architecture);

    private static string DebName(string version, string architecture, string package = Package) => $"{package}_{version}_{architecture}.deb";

    /// <summary>The proxies' package the nginx gauntlet update rebuilds.</summary>
    public const string NginxCommon = "nginx-common";

    /// <summary>What the nginx update sets in /etc/nginx/nginx.conf's http block (Debian's file sets none: nginx's own
    /// default is 75 s): idle client connections are dropped after 5 s.</summary>
    public const string NginxShortKeepalive = "keepalive_timeout 5s;";

    /// <summary>The nginx update's version: Debian's, suffixed "+lab1" (newer, and still within nginx's
    /// <c>nginx-common (&lt;&lt; VERSION.1~)</c>, so the installed nginx accepts it).</summary>
    public static string NginxTimeoutVersion(string goodVersion) => goodVersion + "+lab1";

    /// <summary>
    /// Builds nginx-common again with a default timeout changed in its conffile /etc/nginx/nginx.conf
    /// (<see cref="NginxShortKeepalive"/>), as an upstream update might: dpkg installs the new conffile on a proxy whose
    /// file nobody edited, so every page still loads and only a tracked value differs. A stage must FAIL it as unexpected
    /// config. Returns the .deb's path.
    /// </summary>
    public static Task<string> BuildNginxTimeoutAsync(string goodNginxCommonDeb, string outputDirectory, CancellationToken ct = default) =>
        RebuildAsync(goodNginxCommonDeb, outputDirectory, NginxTimeoutVersion,
            "Lab update: nginx.conf drops idle client connections after 5 s. Not for real use.",
            (root, _) => InsertAfterAsync(goodNginxCommonDeb, root, "/etc/nginx/nginx.conf", "\ttypes_hash_max_size 2048;\n", "\t" + NginxShortKeepalive + "\n", ct),
            ct, NginxCommon);

    /// <summary>The directory hosts' package, which the lab rebuilds for a routine update of them.</summary>
    public const string Slapd = "slapd";

    /// <summary>The slapd rebuild's version: Debian's, suffixed "+lab1" (slapd depends on libldap of Debian's exact
    /// version, which it keeps).</summary>
    public static string SlapdRebuildVersion(string goodVersion) => goodVersion + "+lab1";

    /// <summary>
    /// Builds Debian's slapd again, unchanged but for its version (<see cref="SlapdRebuildVersion"/>): a good update of
    /// the directory hosts. Its upgrade stops and restarts slapd through the maintainer scripts, so a stage sees the
    /// directory go down and come back and must PASS it. Returns the .deb's path.
    /// </summary>
    public static Task<string> BuildSlapdRebuildAsync(string goodSlapdDeb, string outputDirectory, CancellationToken ct = default) =>
        RebuildAsync(goodSlapdDeb, outputDirectory, SlapdRebuildVersion,
            "Lab update: Debian's slapd rebuilt unchanged. Not for real use.", (_, _) => Task.CompletedTask, ct, Slapd);

    /// <summary>The open-descriptor limit the slapd concurrency update sets in slapd's init script. An idle lab slapd
    /// holds 12 (standard streams, its wake pipe and epoll, mdb's files, one listener), so about four clients fit.</summary>
    public const int SlapdDescriptorCap = 16;

    /// <summary>The line the slapd concurrency update adds to /etc/init.d/slapd after it reads /etc/default/slapd.</summary>
    public static string SlapdDescriptorCapLine => $"ulimit -n {SlapdDescriptorCap.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The slapd concurrency update's version: Debian's, suffixed "+lab2".</summary>
    public static string SlapdDescriptorCapVersion(string goodVersion) => goodVersion + "+lab2";

    /// <summary>
    /// Builds Debian's slapd again with a descriptor cap in its init script (<see cref="SlapdDescriptorCapLine"/>), as a
    /// packaging change meant to harden the daemon might: slapd starts and answers one client, but with a few
    /// connections open it cannot accept more, and further clients wait in its listen backlog until others leave. A
    /// single bind still works; of eight clients at once, some are never answered while the others run. A stage must
    /// FAIL it on the directory's load (ldap-load: starved clients) while ldap-bind passes. /etc/init.d/slapd is a
    /// conffile nobody edits, so dpkg installs the new one. Returns the .deb's path.
    /// </summary>
    public static Task<string> BuildSlapdDescriptorCapAsync(string goodSlapdDeb, string outputDirectory, CancellationToken ct = default) =>
        RebuildAsync(goodSlapdDeb, outputDirectory, SlapdDescriptorCapVersion,
            $"Lab update: slapd's init script sets '{SlapdDescriptorCapLine}'. Not for real use.",
            (root, _) => InsertAfterAsync(goodSlapdDeb, root, "/etc/init.d/slapd", "if [ -f \"/etc/default/slapd\" ]; then\n\t. /etc/default/slapd\nfi\n",
                SlapdDescriptorCapLine + "\n", ct),
            ct, Slapd);

    /// <summary>What the update breaks and which part of the stage must catch it (for messages and reports).</summary>
    public static string Describe(BadUpdate kind) => kind switch
    {
        BadUpdate.ChangedDefault => $"defaults.conf changes session.lifetime from 60 to {ChangedSessionLifetime} (unexpected drift)",
        BadUpdate.LoginRace => "logins race on a shared token buffer: failures under 32 concurrent clients (auth/load)",
        BadUpdate.DroppedSearchIndex => $"a migration drops the full-text GIN index: search {SearchDelayMilliseconds} ms slower a request (load)",
        BadUpdate.DiesAfter20s => "the service crashes about 20 s after start (soak)",
        BadUpdate.IndexerErrors => "the indexer logs ERROR every cycle while /health is 200 (logs)",
        BadUpdate.MigrationFailsHalfway => "a migration fails at its second statement: the service does not start (schema, health)",
        BadUpdate.SchemaBreaksDowngrade => "a migration the previous release refuses after a downgrade (rollback needs a database restore)",
        BadUpdate.DeletesData => "a migration deletes every tenth message while the service keeps answering (data continuity)",
        BadUpdate.TruncatesBodies => "a migration cuts every message body to 40 characters, every row kept (data continuity: a continuity measure)",
        BadUpdate.BackgroundErrors => $"the postinst starts a background helper that logs ERROR to {BackgroundLog} (host behaviour)",
        BadUpdate.WidensPermissions => "the postinst makes /etc/acme-mail/acme-mail.conf world-writable (host behaviour: permissions)",
        BadUpdate.OpensPort => $"the postinst starts an exporter listening on the host's address, port {ExtraPort} (host behaviour: a new port)",
        BadUpdate.EditsOtherPackage => $"the postinst edits {OtherPackageFile}, a file of another package (host behaviour)",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>
    /// Builds the bad package for <paramref name="kind"/> from <paramref name="good11Deb"/> into
    /// <paramref name="outputDirectory"/> (created if needed); returns the .deb's path.
    /// </summary>
    public static Task<string> BuildAsync(string good11Deb, BadUpdate kind, string outputDirectory, CancellationToken ct = default) =>
        BuildTogetherAsync(good11Deb, [kind], goodVersion => Version(kind, goodVersion), outputDirectory, ct);

    /// <summary>The host-behaviour updates (9 to 12): what each does happens in the postinst, beside the service, where no
    /// check of the suite looks.</summary>
    public static IReadOnlyList<BadUpdate> HostBehaviours { get; } =
        [BadUpdate.BackgroundErrors, BadUpdate.WidensPermissions, BadUpdate.OpensPort, BadUpdate.EditsOtherPackage];

    /// <summary>The Debian version of the package with every host behaviour: "1.1-1" → "1.1+behaviours-1".</summary>
    public static string HostBehavioursVersion(string goodVersion = "1.1-1") => Suffixed(goodVersion, "+behaviours");

    /// <summary>
    /// Builds one package whose postinst does all of <see cref="HostBehaviours"/> at once (each as its own package
    /// does it), so that a single stage run shows each named in its own category. Returns the .deb's path
    /// (acme-mail_1.1+behaviours-1_amd64.deb).
    /// </summary>
    public static Task<string> BuildHostBehavioursAsync(string good11Deb, string outputDirectory, CancellationToken ct = default) =>
        BuildTogetherAsync(good11Deb, HostBehaviours, HostBehavioursVersion, outputDirectory, ct);

    /// <summary>
    /// The service's own faults that one stage run shows side by side, each failing a check of its own that none of the
    /// others touches: a changed default (drift names session.lifetime), logins racing under concurrency (login-load's
    /// errors; one login at a time still works, so soak and the suite's single login pass) and the indexer's ERROR lines
    /// (log-errors; the race logs its refusals at INFO). A fault that stops the service (4) or slows every search (3)
    /// would fail the others' checks too, and has its own run.
    /// </summary>
    public static IReadOnlyList<BadUpdate> ServiceFaults { get; } = [BadUpdate.ChangedDefault, BadUpdate.LoginRace, BadUpdate.IndexerErrors];

    /// <summary>The Debian version of the package with every service fault: "1.1-1" → "1.1+faults-1".</summary>
    public static string ServiceFaultsVersion(string goodVersion = "1.1-1") => Suffixed(goodVersion, "+faults");

    /// <summary>Builds one package with all of <see cref="ServiceFaults"/> (each as its own package ships it); returns
    /// the .deb's path (acme-mail_1.1+faults-1_amd64.deb).</summary>
    public static Task<string> BuildServiceFaultsAsync(string good11Deb, string outputDirectory, CancellationToken ct = default) =>
        BuildTogetherAsync(good11Deb, ServiceFaults, ServiceFaultsVersion, outputDirectory, ct);

    private static Task<string> BuildTogetherAsync(string good11Deb, IReadOnlyList<BadUpdate> kinds, Func<string, string> version, string outputDirectory,
        CancellationToken ct) =>
        RebuildAsync(good11Deb, outputDirectory, version,
            kinds is [var only]
                ? $"Gauntlet bad update {(int)only} ({only}): {Describe(only)}. Not for real use."
                : $"Gauntlet bad updates {string.Join(", ", kinds.Select(k => (int)k))} at once: {string.Join("; ", kinds.Select(Describe))}. Not for real use.",
            async (root, share) =>
            {
                foreach (var kind in kinds)
                {
                    if (FaultKey(kind) is { } faultKey)
                    {
                        await EnsureKnowsFaultAsync(good11Deb, Path.Combine(root, "usr", "lib", "acme-mail", "acme-mail"), faultKey, ct).ConfigureAwait(false);
                    }
                    await ApplyAsync(kind, root, share, ct).ConfigureAwait(false);
                }
            }, ct);

    /// <summary>The cosmetic rebuild's Debian version for a good version: "1.1-1" → "1.1+cosmetic-1".</summary>
    public static string CosmeticVersion(string goodVersion = "1.1-1") => Suffixed(goodVersion, "+cosmetic");

    /// <summary>
    /// Builds acme-mail 1.1 again with its defaults.conf rewritten as an upstream tidy-up would (<see cref="Tidy"/>):
    /// comments reworded, keys in another order, blank lines moved, every value the same. A stage must PASS it and
    /// show the file as cosmetic. Returns the .deb's path (acme-mail_1.1+cosmetic-1_amd64.deb).
    /// </summary>
    public static Task<string> BuildCosmeticAsync(string good11Deb, string outputDirectory, CancellationToken ct = default) =>
        RebuildAsync(good11Deb, outputDirectory, goodVersion => CosmeticVersion(goodVersion),
            "Cosmetic rebuild: defaults.conf reworded and reordered, every value the same. Not for real use.",
            async (_, share) =>
            {
                var path = Path.Combine(share, "defaults.conf");
                await WriteAsync(path, Tidy(await File.ReadAllTextAsync(path, ct).ConfigureAwait(false)), ct).ConfigureAwait(false);
            }, ct);

    /// <summary>
    /// Builds acme-mail again under the very same version with one more file (/usr/share/acme-mail/BUILD), as a mirror
    /// that rebuilds a package in place would: apt cannot tell the two apart by version. Returns the .deb's path (same
    /// file name as the good package, in <paramref name="outputDirectory"/>).
    /// </summary>
    public static Task<string> BuildSameVersionRebuildAsync(string good11Deb, string outputDirectory, CancellationToken ct = default) =>
        RebuildAsync(good11Deb, outputDirectory, goodVersion => goodVersion,
            "Rebuilt under the same version with a BUILD file added. Not for real use.",
            (_, share) => WriteAsync(Path.Combine(share, "BUILD"), "rebuilt in place under the same version\n", ct), ct);

    /// <summary>
    /// defaults.conf as a new upstream release might ship it with no value changed: a reworded header, each key under
    /// a new comment, the keys in reverse order. acme-mail reads it exactly as before ('#' lines, key = value).
    /// </summary>
    public static string Tidy(string defaults)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        var settings = defaults.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#').Reverse();
        var sb = new StringBuilder("# Defaults of acme-mail as shipped; replaced by every upgrade.\n# Set your own values in /etc/acme-mail/acme-mail.conf instead.\n");
        foreach (var line in settings)
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            var key = line[..eq].Trim();
            sb.Append("\n# ").Append(key).Append(" (shipped default)\n").Append(key).Append(" = ").Append(line[(eq + 1)..].Trim()).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Unpacks <paramref name="goodDeb"/>, lets <paramref name="change"/> edit the tree (root, /usr/share/acme-mail),
    /// sets the version and a line of description, and packs it again.</summary>
    private static async Task<string> RebuildAsync(string goodDeb, string outputDirectory, Func<string, string> version, string description,
        Func<string, string, Task> change, CancellationToken ct, string package = Package)
    {
        if (!File.Exists(goodDeb))
        {
            throw new FileNotFoundException($"good {package} package {goodDeb} does not exist", goodDeb);
        }
        Directory.CreateDirectory(outputDirectory);
        // Unpacked beside the output, on the same filesystem as the caller chose for it (a test's tmpfs, a lab's disk).
        var work = Directory.CreateDirectory(Path.Combine(outputDirectory, $".{package}-rebuild-{Guid.NewGuid():N}")).FullName;
        try
        {
            var root = Path.Combine(work, "root");
            await DpkgDebAsync(ct, "-R", goodDeb, root).ConfigureAwait(false);
            var controlPath = Path.Combine(root, "DEBIAN", "control");
            var control = await File.ReadAllTextAsync(controlPath, ct).ConfigureAwait(false);
            if (Field(control, "Package") != package)
            {
                throw new InvalidOperationException($"{goodDeb} is not a {package} package (Package: {Field(control, "Package")})");
            }
            var goodVersion = Field(control, "Version") ?? throw new InvalidOperationException($"{goodDeb} has no Version field");
            var architecture = Field(control, "Architecture") ?? "amd64";
            await change(root, Path.Combine(root, "usr", "share", package)).ConfigureAwait(false);

            var newVersion = version(goodVersion);
            control = VersionLine().Replace(control, $"Version: {newVersion}", 1);
            control = control.TrimEnd('\n') + $"\n .\n {description}\n";
            await File.WriteAllTextAsync(controlPath, control, ct).ConfigureAwait(false);
            await RewriteMd5sumsAsync(root, ct).ConfigureAwait(false);

            var deb = Path.Combine(outputDirectory, DebName(newVersion, architecture, package));
            // zstd at its fastest: a lab-only artifact that never leaves the machine. Packing the 48 MB tree took 9 s with
            // xz, 1.2 s with gzip -1 and 0.34 s with zstd -1, and reading it back (dpkg-deb -x, -c) 0.35 s and 0.15 s.
            await DpkgDebAsync(ct, "--root-owner-group", "-Zzstd", "-z1", "-b", root, deb).ConfigureAwait(false);
            return deb;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string Suffixed(string goodVersion, string suffix)
    {
        var dash = goodVersion.LastIndexOf('-');
        return dash < 0 ? goodVersion + suffix : $"{goodVersion[..dash]}{suffix}{goodVersion[dash..]}";
    }

    /// <summary>Builds all eight into <paramref name="outputDirectory"/>; returns each one's .deb path.</summary>
    public static async Task<IReadOnlyDictionary<BadUpdate, string>> BuildAllAsync(string good11Deb, string outputDirectory, CancellationToken ct = default)
    {
        var debs = new Dictionary<BadUpdate, string>();
        foreach (var kind in All)
        {
            debs[kind] = await BuildAsync(good11Deb, kind, outputDirectory, ct).ConfigureAwait(false);
        }
        return debs;
    }

    /// <summary>
    /// A faults.conf is only read by acme-mail builds that know it: a package from an older cache (built before fault
    /// injection existed) would silently carry a fault that does nothing. The key names are in the binary's string heap
    /// (UTF-16; the single-file bundle is not compressed).
    /// </summary>
    private static async Task EnsureKnowsFaultAsync(string good11Deb, string binary, string key, CancellationToken ct)
    {
        var bytes = await File.ReadAllBytesAsync(binary, ct).ConfigureAwait(false);
        if (bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes(key)) < 0)
        {
            throw new InvalidOperationException(
                $"{good11Deb}: its acme-mail binary does not know the fault {key} (faults.conf); it was built from sources older than " +
                "the gauntlet's: rebuild it with demo/AcmeMail/packaging/build-debs.sh");
        }
    }

    /// <summary>The faults.conf key a bad update switches on, or null when it needs none.</summary>
    private static string? FaultKey(BadUpdate kind) => kind switch
    {
        BadUpdate.LoginRace => "fault.login_race",
        BadUpdate.DiesAfter20s => "fault.die_after",
        BadUpdate.IndexerErrors => "fault.indexer_errors",
        BadUpdate.DroppedSearchIndex => "fault.search_delay",
        _ => null,
    };

    /// <summary>The migration a bad update adds (description part of V{n}__{name}.sql, and its SQL), or null.</summary>
    public static (string Name, string Sql)? Migration(BadUpdate kind) => kind switch
    {
        BadUpdate.DroppedSearchIndex => ("drop_search_index", """
            -- Gauntlet bad update 3: "the GIN index is rebuilt by the indexer anyway" (it is not).
            DROP INDEX IF EXISTS messages_search_vector_idx;

            """),
        BadUpdate.MigrationFailsHalfway => ("add_folders_and_unique_sender", """
            -- Gauntlet bad update 6: the first statement succeeds, the second fails on any seeded database
            -- (many messages share a sender): the whole migration is rolled back and acme-mail refuses to start.
            ALTER TABLE messages ADD COLUMN folder text NOT NULL DEFAULT 'inbox';
            CREATE UNIQUE INDEX messages_sender_key ON messages (sender);

            """),
        BadUpdate.SchemaBreaksDowngrade => ("add_message_folders", """
            -- Gauntlet bad update 7: harmless for this release, but once it is recorded in schema_history the
            -- previous release refuses the database ("database schema is newer than this release").
            ALTER TABLE messages ADD COLUMN folder text NOT NULL DEFAULT 'inbox';
            CREATE INDEX messages_owner_folder_idx ON messages (owner_id, folder);

            """),
        BadUpdate.DeletesData => ("archive_old_messages", """
            -- Gauntlet bad update 8: meant to move old messages to an archive table, it only deletes them.
            DELETE FROM messages WHERE id % 10 = 0;

            """),
        BadUpdate.TruncatesBodies => ("compact_message_bodies", """
            -- Gauntlet bad update 13: meant to move long bodies to compressed storage, it only cuts them.
            UPDATE messages SET body = left(body, 40) WHERE length(body) > 40;

            """),
        _ => null,
    };

    /// <summary>
    /// The same migration in MariaDB's dialect, shipped in migrations/mariadb/ beside it when the good package has that
    /// directory: the bad update does to an estate on MariaDB what it does on PostgreSQL, as far as the engine lets it.
    /// MariaDB commits each DDL statement on its own, so update 6's first statement stays and the migration is recorded
    /// as failed: there even the previous release refuses the database until it is restored. Dropping the FULLTEXT index
    /// (update 3) makes MariaDB refuse every search, not scan.
    /// </summary>
    public static string? MariaDbMigration(BadUpdate kind) => kind switch
    {
        BadUpdate.DroppedSearchIndex => """
            -- Gauntlet bad update 3: "the FULLTEXT index is rebuilt by the indexer anyway" (it is not).
            ALTER TABLE messages DROP INDEX messages_search_text_idx;

            """,
        BadUpdate.MigrationFailsHalfway => """
            -- Gauntlet bad update 6: the first statement succeeds (and MariaDB commits it at once), the second fails on
            -- any seeded database (many messages share a sender): acme-mail records the migration as failed and refuses to start.
            ALTER TABLE messages ADD COLUMN folder VARCHAR(64) NOT NULL DEFAULT 'inbox';
            CREATE UNIQUE INDEX messages_sender_key ON messages (sender);

            """,
        BadUpdate.SchemaBreaksDowngrade => """
            -- Gauntlet bad update 7: harmless for this release, but once it is recorded in schema_history the
            -- previous release refuses the database ("database schema is newer than this release").
            ALTER TABLE messages ADD COLUMN folder VARCHAR(64) NOT NULL DEFAULT 'inbox';
            CREATE INDEX messages_owner_folder_idx ON messages (owner_id, folder);

            """,
        BadUpdate.DeletesData => """
            -- Gauntlet bad update 8: meant to move old messages to an archive table, it only deletes them.
            DELETE FROM messages WHERE id % 10 = 0;

            """,
        BadUpdate.TruncatesBodies => """
            -- Gauntlet bad update 13: meant to move long bodies to compressed storage, it only cuts them.
            UPDATE messages SET body = LEFT(body, 40) WHERE CHAR_LENGTH(body) > 40;

            """,
        _ => null,
    };

    /// <summary>The file changes of each bad update, inside the unpacked /usr/share/acme-mail.</summary>
    private static async Task ApplyAsync(BadUpdate kind, string root, string share, CancellationToken ct)
    {
        switch (kind)
        {
            case BadUpdate.ChangedDefault:
            {
                // One value changed among cosmetic edits, as a real upstream release would mix them: stage must name
                // that key, and only it.
                var path = Path.Combine(share, "defaults.conf");
                var text = Tidy(await File.ReadAllTextAsync(path, ct).ConfigureAwait(false));
                var changed = SessionLifetimeLine().Replace(text, $"session.lifetime = {ChangedSessionLifetime.ToString(CultureInfo.InvariantCulture)}", 1);
                if (changed == text)
                {
                    throw new InvalidOperationException($"{path} has no session.lifetime line to change");
                }
                await WriteAsync(path, changed, ct).ConfigureAwait(false);
                break;
            }
            case BadUpdate.LoginRace:
                await WriteFaultsAsync(share, "fault.login_race = true", ct).ConfigureAwait(false);
                break;
            case BadUpdate.DiesAfter20s:
                await WriteFaultsAsync(share, "fault.die_after = 20", ct).ConfigureAwait(false);
                break;
            case BadUpdate.IndexerErrors:
                await WriteFaultsAsync(share, "fault.indexer_errors = true", ct).ConfigureAwait(false);
                break;
            case BadUpdate.BackgroundErrors or BadUpdate.WidensPermissions or BadUpdate.OpensPort or BadUpdate.EditsOtherPackage:
                await AddToPostinstAsync(root, PostinstFault(kind), ct).ConfigureAwait(false);
                break;
            case BadUpdate.DroppedSearchIndex or BadUpdate.MigrationFailsHalfway or BadUpdate.SchemaBreaksDowngrade or BadUpdate.DeletesData or BadUpdate.TruncatesBodies:
                if (kind == BadUpdate.DroppedSearchIndex)
                {
                    await WriteFaultsAsync(share, $"fault.search_delay = {SearchDelayMilliseconds.ToString(CultureInfo.InvariantCulture)}", ct).ConfigureAwait(false);
                }
                var (name, sql) = Migration(kind)!.Value;
                await WriteMigrationAsync(Path.Combine(share, "migrations"), name, sql, ct).ConfigureAwait(false);
                if (Directory.Exists(Path.Combine(share, "migrations", "mariadb")))
                {
                    await WriteMigrationAsync(Path.Combine(share, "migrations", "mariadb"), name, MariaDbMigration(kind)!, ct).ConfigureAwait(false);
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    /// <summary>The lines a host-behaviour update adds to the postinst (run on configure, after the good script's work).</summary>
    private static string PostinstFault(BadUpdate kind) => kind switch
    {
        BadUpdate.BackgroundErrors => $$"""
            # Gauntlet bad update 9: a sync helper nobody asked for, detached from dpkg, complaining forever.
            setsid sh -c 'while :; do echo "$(date -u +%FT%TZ) ERROR {{BackgroundMarker}}: upstream refused the mailbox sync" >> {{BackgroundLog}}; sleep 2; done' {{BackgroundMarker}} </dev/null >/dev/null 2>&1 &
            """,
        BadUpdate.WidensPermissions => """
            # Gauntlet bad update 10: "so the web panel can edit it".
            chmod 0666 /etc/acme-mail/acme-mail.conf
            """,
        BadUpdate.OpensPort => $$"""
            # Gauntlet bad update 11: a metrics exporter nobody asked for, on the host's own (loopback) address.
            addr=$(awk -v h="$(cat /etc/hostname)" '$2 == h { print $1; exit }' /etc/hosts); addr=${addr:-127.0.0.1}
            setsid perl -MIO::Socket::INET -e '$0 = "{{ExporterMarker}}"; my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => {{ExtraPort}}, Listen => 5, ReuseAddr => 1) or exit 1; sleep 1 while 1' "$addr" </dev/null >/dev/null 2>&1 &
            """,
        BadUpdate.EditsOtherPackage => $$"""
            # Gauntlet bad update 12: "mail users need longer passwords" — in another package's file.
            grep -q '^PASS_MIN_LEN' {{OtherPackageFile}} || echo 'PASS_MIN_LEN 12' >> {{OtherPackageFile}}
            """,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>
    /// Puts <paramref name="lines"/> into the postinst, run on configure only, right after the good script sets the
    /// conffile's owner and mode (so a chmod of its own is not undone) and before the start policy, whose early
    /// <c>exit 0</c> (policy-rc.d in the lab) would skip anything later; after the #! line in a script without that spot.
    /// </summary>
    private static async Task AddToPostinstAsync(string root, string lines, CancellationToken ct)
    {
        const string Anchor = "      chmod 0640 /etc/acme-mail/acme-mail.conf\n    fi\n";
        var postinst = Path.Combine(root, "DEBIAN", "postinst");
        var text = await File.ReadAllTextAsync(postinst, ct).ConfigureAwait(false);
        var block = "if [ \"$1\" = configure ]; then\n" + string.Concat(lines.TrimEnd().Split('\n').Select(l => "    " + l + "\n")) + "fi\n";
        var at = text.IndexOf(Anchor, StringComparison.Ordinal) is var i && i >= 0 ? i + Anchor.Length : text.IndexOf('\n', StringComparison.Ordinal) + 1;
        await File.WriteAllTextAsync(postinst, text[..at] + block + text[at..], ct).ConfigureAwait(false);
    }

    /// <summary>Adds a fault's line to faults.conf (made on the first: only a deliberately bad package ships it).</summary>
    private static async Task WriteFaultsAsync(string share, string line, CancellationToken ct)
    {
        var path = Path.Combine(share, "faults.conf");
        var text = File.Exists(path)
            ? await File.ReadAllTextAsync(path, ct).ConfigureAwait(false)
            : "# acme-mail fault injection (Stageproof gauntlet). Only a deliberately bad package ships this file.\n";
        await WriteAsync(path, text + line + "\n", ct).ConfigureAwait(false);
    }

    /// <summary>Adds V{next}__{name}.sql to <paramref name="dir"/> after the highest migration the good package ships there.</summary>
    private static async Task WriteMigrationAsync(string dir, string name, string sql, CancellationToken ct)
    {
        var highest = Directory.EnumerateFiles(dir, "V*__*.sql")
            .Select(f => MigrationVersion().Match(Path.GetFileName(f)))
            .Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))
            .DefaultIfEmpty(0)
            .Max();
        await WriteAsync(Path.Combine(dir, $"V{(highest + 1).ToString(CultureInfo.InvariantCulture)}__{name}.sql"), sql, ct).ConfigureAwait(false);
    }

    /// <summary>Adds <paramref name="addition"/> after <paramref name="anchor"/> in a file of the unpacked package at
    /// <paramref name="root"/>, written in place so the file keeps its mode (an init script stays executable).</summary>
    private static async Task InsertAfterAsync(string deb, string root, string file, string anchor, string addition, CancellationToken ct)
    {
        var path = Path.Combine(root, file.TrimStart('/'));
        var text = await File.ReadAllTextAsync(path, ct).ConfigureAwait(false);
        if (!text.Contains(anchor, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{deb}: its {file} has no '{anchor.Trim()}' to add '{addition.Trim()}' after");
        }
        await File.WriteAllTextAsync(path, text.Replace(anchor, anchor + addition, StringComparison.Ordinal), new UTF8Encoding(false), ct).ConfigureAwait(false);
    }

    private static async Task WriteAsync(string path, string text, CancellationToken ct)
    {
        await File.WriteAllTextAsync(path, text, new UTF8Encoding(false), ct).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
    }

    /// <summary>Keeps DEBIAN/md5sums (when the good package has one) true to the changed tree.</summary>
    private static async Task RewriteMd5sumsAsync(string root, CancellationToken ct)
    {
        var path = Path.Combine(root, "DEBIAN", "md5sums");
        if (!File.Exists(path))
        {
            return;
        }
        var sb = new StringBuilder();
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                     .Where(f => !f.StartsWith(Path.Combine(root, "DEBIAN") + "/", StringComparison.Ordinal))
                     .Where(f => !new FileInfo(f).Attributes.HasFlag(FileAttributes.ReparsePoint))
                     .Order(StringComparer.Ordinal))
        {
            await using var s = File.OpenRead(file);
            var hash = Convert.ToHexStringLower(await MD5.HashDataAsync(s, ct).ConfigureAwait(false));
            sb.Append(hash).Append("  ").Append(Path.GetRelativePath(root, file)).Append('\n');
        }
        await WriteAsync(path, sb.ToString(), ct).ConfigureAwait(false);
    }

    private static string? Field(string control, string name) =>
        control.Split('\n').FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal)) is { } line
            ? line[(name.Length + 1)..].Trim()
            : null;

    /// <summary>Runs dpkg-deb with an argument list (no shell); throws with its output when it fails.</summary>
    private static async Task DpkgDebAsync(CancellationToken ct, params string[] args)
    {
        var psi = new ProcessStartInfo("dpkg-deb")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dpkg-deb");
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct).ConfigureAwait(false);
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"dpkg-deb {string.Join(' ', args)} exited {p.ExitCode}: {(await stderr.ConfigureAwait(false)).Trim()} {(await stdout.ConfigureAwait(false)).Trim()}");
        }
    }

    [GeneratedRegex(@"^Version:.*$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex VersionLine();

    [GeneratedRegex(@"^session\.lifetime\s*=.*$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex SessionLifetimeLine();

    [GeneratedRegex(@"^V([0-9]+)__.+\.sql$", RegexOptions.CultureInvariant)]
    private static partial Regex MigrationVersion();
}
