using Stageproof.Core.ConfigFiles;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;

namespace Stageproof.Core.Tests.ConfigFiles;

public class ConfigValuesTests
{
    internal static ConfigFileInfo File(string path, string content) =>
        new(path, "root", "root", "0644", PatchSetFreezer.Sha256(content), content.Length, content);

    internal static ConfigComparison Compare(string path, string before, string after, params FormatRule[] declared) =>
        ConfigValues.Compare(path, File(path, before), File(path, after), new ConfigFormats(declared));

    private static void AssertCosmetic(ConfigComparison c, ConfigFormat format)
    {
        Assert.True(c.Cosmetic, $"{c.Note}: {string.Join("; ", c.Changes)}");
        Assert.Equal(format, c.Format);
    }

    private static void AssertChanges(ConfigComparison c, params string[] expected)
    {
        Assert.False(c.Cosmetic, c.Note);
        Assert.NotEqual(ConfigFormat.Bytes, c.Format);
        Assert.Equal(expected, c.Changes.Select(v => v.ToString()));
    }

    // ---- ini -----------------------------------------------------------------------------------------------------

    private const string Defaults = """
        # acme-mail package defaults.
        db.pool_size = 20
        listen.port = 8080

        # Minutes a login session token stays valid.
        session.lifetime = 60
        log.level = info
        """;

    [Fact]
    public void Ini_comments_blank_lines_spacing_and_key_order_are_cosmetic()
    {
        var reworded = """
            ; Defaults shipped by acme-mail: every key can be overridden in /etc/acme-mail/acme-mail.conf.

            log.level=info
            session.lifetime   =   60
              listen.port = 8080


            db.pool_size = 20
            """;
        AssertCosmetic(Compare("/usr/share/acme-mail/defaults.conf", Defaults, reworded), ConfigFormat.Ini);
    }

    [Fact]
    public void Ini_a_value_changed_added_or_removed_is_named_by_key_and_section()
    {
        AssertChanges(Compare("/usr/share/acme-mail/defaults.conf", Defaults, Defaults.Replace("= 60", "= 5", StringComparison.Ordinal)),
            "session.lifetime: 60 → 5");
        AssertChanges(Compare("/usr/share/acme-mail/defaults.conf", Defaults, Defaults + "\nindexer.interval = 5\n"),
            "indexer.interval added (5)");
        AssertChanges(Compare("/usr/share/acme-mail/defaults.conf", Defaults, Defaults.Replace("log.level = info", "", StringComparison.Ordinal)),
            "log.level removed (was info)");

        const string my = "[mysqld]\nmax_connections = 100\nskip-name-resolve\n[client]\nport = 3306\n";
        AssertChanges(Compare("/etc/mysql/my.cnf", my, my.Replace("max_connections = 100", "max_connections = 500", StringComparison.Ordinal)),
            "[mysqld] max_connections: 100 → 500");
        AssertChanges(Compare("/etc/mysql/my.cnf", my, my.Replace("skip-name-resolve\n", "", StringComparison.Ordinal)),
            "[mysqld] skip-name-resolve removed (was (no value))");
        // The same key in another section is another setting: moving it is a change of both.
        AssertChanges(Compare("/etc/mysql/my.cnf", my, "[mysqld]\nmax_connections = 100\nskip-name-resolve\nport = 3306\n[client]\n"),
            "[client] port removed (was 3306)", "[mysqld] port added (3306)");
    }

    [Fact]
    public void Ini_a_later_duplicate_wins_keys_are_case_sensitive_and_inline_text_is_part_of_the_value()
    {
        AssertCosmetic(Compare("/etc/x.conf", "a = 1\na = 2\n", "a = 2\n"), ConfigFormat.Ini);
        AssertChanges(Compare("/etc/x.conf", "a = 1\na = 2\n", "a = 2\na = 1\n"), "a: 2 → 1");
        AssertChanges(Compare("/etc/x.conf", "Port = 1\n", "port = 1\n"), "Port removed (was 1)", "port added (1)");
        AssertChanges(Compare("/etc/x.conf", "a = 1 # one\n", "a = 1 # uno\n"), "a: 1 # one → 1 # uno");
    }

    [Fact]
    public void A_guessed_format_the_file_does_not_follow_falls_back_to_bytes_and_says_which_line()
    {
        // nginx's syntax outside /etc/nginx: its name says ini, which it is not.
        var c = Compare("/srv/proxy/nginx.conf", "user www-data;\nworker_processes auto;\n", "# tuned\nuser www-data;\nworker_processes auto;\n");
        Assert.Equal(ConfigFormat.Bytes, c.Format);
        Assert.False(c.Cosmetic);
        Assert.Equal("compared by bytes, not as ini (its name): in the before version, line 1 ('user www-data;') is not ini", c.Note);

        var unknown = Compare("/etc/apt/sources.list.d/acme.list", "deb http://a b c\n", "# x\ndeb http://a b c\n");
        Assert.Equal(ConfigFormat.Bytes, unknown.Format);
        Assert.Equal("compared by bytes: no format is known for it", unknown.Note);
    }

    [Fact]
    public void A_declared_format_comes_before_the_name_and_bytes_can_be_declared()
    {
        var declared = Compare("/etc/acme/settings", "A=1\n", "# set by hand\nA=\"1\"\n", new FormatRule("/etc/acme/*", ConfigFormat.Shell));
        AssertCosmetic(declared, ConfigFormat.Shell);
        Assert.Equal("read as shell (drift.formats '/etc/acme/*')", declared.Note);

        var bytes = Compare("/etc/acme/x.conf", "a = 1\n", "a = 1\n\n", new FormatRule("/etc/acme/*.conf", ConfigFormat.Bytes));
        Assert.Equal(ConfigFormat.Bytes, bytes.Format);
        Assert.False(bytes.Cosmetic);
    }

    [Fact]
    public void A_masked_secret_makes_an_otherwise_cosmetic_change_a_change_that_cannot_be_seen()
    {
        // The stored content has secrets masked, so a new password and an edited comment look the same.
        var c = Compare("/etc/acme-mail/acme-mail.conf", "# db\ndb.password = ********\nlog.level = info\n", "db.password = ********\nlog.level = info\n");
        AssertChanges(c, "db.password is a masked secret: whether it changed cannot be seen");
        Assert.Equal("masked", Assert.Single(c.Changes).Kind);
    }

    // ---- shell ---------------------------------------------------------------------------------------------------

    [Fact]
    public void Shell_quoting_export_comments_and_order_are_cosmetic_values_are_named()
    {
        const string before = "# Options for acme\nOPTS=\"--verbose --port 8080\"\nENABLED=yes\n";
        AssertCosmetic(Compare("/etc/default/acme", before, "export ENABLED='yes'\n\nOPTS=--verbose\\ --port\\ 8080   # the flags\n"), ConfigFormat.Shell);
        AssertChanges(Compare("/etc/default/acme", before, before.Replace("8080", "8081", StringComparison.Ordinal)),
            "OPTS: --verbose --port 8080 → --verbose --port 8081");
        AssertChanges(Compare("/etc/default/acme", before, before + "ENABLED=no\n"), "ENABLED: yes → no");
        // 'KEY = value' is a command in sh, not an assignment: not shell, so bytes.
        Assert.Equal(ConfigFormat.Bytes, Compare("/etc/default/acme", before, before + "DEBUG = 1\n").Format);
    }

    // ---- sshd ----------------------------------------------------------------------------------------------------

    private const string Sshd = """
        Include /etc/ssh/sshd_config.d/*.conf
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        Port 22
        Subsystem sftp /usr/lib/openssh/sftp-server

        Match User backup
            ForceCommand internal-sftp
        """;

    [Fact]
    public void Sshd_keyword_case_spacing_equals_signs_and_order_outside_blocks_are_cosmetic()
    {
        var reordered = """
            # hardened
            Include /etc/ssh/sshd_config.d/*.conf
            passwordauthentication   no
            port=22
            PermitRootLogin "prohibit-password"
            Subsystem   sftp   /usr/lib/openssh/sftp-server
            # the sftp-only account
            Match User backup
              forcecommand internal-sftp
            """;
        AssertCosmetic(Compare("/etc/ssh/sshd_config", Sshd, reordered), ConfigFormat.Sshd);
    }

    [Fact]
    public void Sshd_the_first_value_wins_some_keywords_accumulate_and_match_blocks_are_sections()
    {
        // sshd uses the first value it reads: a second PasswordAuthentication line changes nothing.
        AssertCosmetic(Compare("/etc/ssh/sshd_config", Sshd, Sshd.Replace("Port 22", "Port 22\nPasswordAuthentication yes", StringComparison.Ordinal)), ConfigFormat.Sshd);
        AssertChanges(Compare("/etc/ssh/sshd_config", Sshd, Sshd.Replace("Include", "PasswordAuthentication yes\nInclude", StringComparison.Ordinal)),
            "Include: /etc/ssh/sshd_config.d/*.conf → /etc/ssh/sshd_config.d/*.conf (after PasswordAuthentication)",
            "PasswordAuthentication: no → yes");
        AssertChanges(Compare("/etc/ssh/sshd_config", Sshd, Sshd.Replace("Port 22", "Port 22\nPort 2222", StringComparison.Ordinal)),
            "Port: 22 → 22 | 2222");
        AssertChanges(Compare("/etc/ssh/sshd_config", Sshd, Sshd.Replace("internal-sftp", "/bin/false", StringComparison.Ordinal)),
            "[Match User backup] ForceCommand: internal-sftp → /bin/false");
        AssertChanges(Compare("/etc/ssh/sshd_config", Sshd, Sshd.Replace("sshd_config.d/*.conf", "extra/*.conf", StringComparison.Ordinal)),
            "Include: /etc/ssh/sshd_config.d/*.conf → /etc/ssh/extra/*.conf");
        // An included file can only set what is not set before its Include: moving the Include past a setting is a change.
        AssertChanges(Compare("/etc/ssh/sshd_config", Sshd, Sshd.Replace("Include /etc/ssh/sshd_config.d/*.conf\n", "", StringComparison.Ordinal)
                .Replace("Port 22", "Port 22\nInclude /etc/ssh/sshd_config.d/*.conf", StringComparison.Ordinal)),
            "Include: /etc/ssh/sshd_config.d/*.conf → /etc/ssh/sshd_config.d/*.conf (after PasswordAuthentication, PermitRootLogin, Port)");
        AssertChanges(Compare("/etc/ssh/sshd_config", Sshd, Sshd + "\nSubsystem legacy /usr/bin/legacy\n"),
            "[Match User backup] Subsystem legacy added (/usr/bin/legacy)");
    }

    // ---- systemd -------------------------------------------------------------------------------------------------

    private const string Unit = """
        [Unit]
        Description=Acme mail
        After=network.target postgresql.service

        [Service]
        ExecStart=/usr/lib/acme-mail/acme-mail --config /etc/acme-mail/acme-mail.conf
        Environment=DOTNET_gcServer=0
        Environment=ASPNETCORE_URLS=
        Restart=on-failure
        """;

    [Fact]
    public void Systemd_comments_spacing_continuations_and_key_order_are_cosmetic()
    {
        var reformatted = """
            # Installed by acme-mail.
            [Unit]
            After = network.target postgresql.service
            Description = Acme mail

            [Service]
            Restart=on-failure
            ExecStart=/usr/lib/acme-mail/acme-mail \
                --config /etc/acme-mail/acme-mail.conf
            Environment=DOTNET_gcServer=0
            ; the listener comes from the config file
            Environment=ASPNETCORE_URLS=
            """;
        AssertCosmetic(Compare("/lib/systemd/system/acme-mail.service", Unit, reformatted), ConfigFormat.Systemd);
    }

    [Fact]
    public void Systemd_repeated_keys_accumulate_an_empty_assignment_resets_and_sections_name_keys()
    {
        AssertChanges(Compare("/lib/systemd/system/acme-mail.service", Unit, Unit.Replace("on-failure", "always", StringComparison.Ordinal)),
            "[Service] Restart: on-failure → always");
        // Environment= lines accumulate; the order of two of them is part of the value.
        AssertChanges(Compare("/lib/systemd/system/acme-mail.service", Unit, Unit + "\nEnvironment=LANG=C\n"),
            "[Service] Environment: DOTNET_gcServer=0 | ASPNETCORE_URLS= → DOTNET_gcServer=0 | ASPNETCORE_URLS= | LANG=C");
        // A drop-in's empty ExecStart= clears the list before the new one.
        const string dropIn = "[Service]\nExecStart=\nExecStart=/usr/bin/a\n";
        AssertCosmetic(Compare("/etc/systemd/system/acme-mail.service.d/override.conf", dropIn, "[Service]\nExecStart=/usr/bin/old\nExecStart=\nExecStart=/usr/bin/a\n"), ConfigFormat.Systemd);
        AssertChanges(Compare("/etc/systemd/system/acme-mail.service.d/override.conf", dropIn, "[Service]\nExecStart=/usr/bin/a\nExecStart=/usr/bin/b\n"),
            "[Service] ExecStart: /usr/bin/a → /usr/bin/a | /usr/bin/b");
        // A key outside any section is not a unit file.
        Assert.Equal(ConfigFormat.Bytes, Compare("/lib/systemd/system/acme-mail.service", Unit, "Restart=always\n" + Unit).Format);
    }

    // ---- yaml ----------------------------------------------------------------------------------------------------

    private const string Yaml = """
        # acme settings
        server:
          port: 8080
          hosts: [a, b]
        name: acme
        retries: 3
        """;

    [Fact]
    public void Yaml_comments_key_order_flow_style_and_quoting_of_strings_are_cosmetic()
    {
        var restyled = """
            name: "acme"   # the product
            retries: 3

            server: {hosts: ["a", 'b'], port: 8080}
            """;
        AssertCosmetic(Compare("/etc/acme/settings.yaml", Yaml, restyled), ConfigFormat.Yaml);
    }

    [Fact]
    public void Yaml_values_are_named_by_path_list_order_counts_and_quotes_that_make_a_number_a_string_count()
    {
        AssertChanges(Compare("/etc/acme/settings.yml", Yaml, Yaml.Replace("8080", "9090", StringComparison.Ordinal)), "server.port: 8080 → 9090");
        AssertChanges(Compare("/etc/acme/settings.yml", Yaml, Yaml.Replace("[a, b]", "[b, a]", StringComparison.Ordinal)),
            "server.hosts[0]: a → b", "server.hosts[1]: b → a");
        AssertChanges(Compare("/etc/acme/settings.yml", Yaml, Yaml.Replace("retries: 3", "retries: \"3\"", StringComparison.Ordinal)),
            "retries: 3 → \"3\"");
        AssertChanges(Compare("/etc/acme/settings.yml", Yaml, Yaml + "\ndebug: true\n"), "debug added (true)");
        // YAML forbids a key twice: such a file is not YAML, and is compared by bytes.
        Assert.Equal(ConfigFormat.Bytes, Compare("/etc/acme/settings.yml", Yaml, Yaml + "\nname: other\n").Format);
    }

    // ---- json ----------------------------------------------------------------------------------------------------

    [Fact]
    public void Json_whitespace_and_key_order_are_cosmetic_values_are_named_by_path()
    {
        const string json = """{"server": {"port": 8080, "tls": false}, "users": ["a", "b"]}""";
        AssertCosmetic(Compare("/etc/acme/config.json", json, """
            {
              "users": [ "a", "b" ],
              "server": { "tls": false, "port": 8080 }
            }
            """), ConfigFormat.Json);
        AssertChanges(Compare("/etc/acme/config.json", json, json.Replace("false", "true", StringComparison.Ordinal)), "server.tls: false → true");
        AssertChanges(Compare("/etc/acme/config.json", json, json.Replace("8080", "\"8080\"", StringComparison.Ordinal)), "server.port: 8080 → \"8080\"");
        AssertChanges(Compare("/etc/acme/config.json", json, json.Replace(", \"b\"", "", StringComparison.Ordinal)), "users[1] removed (was \"b\")");
        // A key given twice: the later one wins, as JSON.parse and most readers do.
        AssertCosmetic(Compare("/etc/acme/config.json", json, json.Replace("\"tls\": false", "\"tls\": true, \"tls\": false", StringComparison.Ordinal)), ConfigFormat.Json);
        Assert.Equal(ConfigFormat.Bytes, Compare("/etc/acme/config.json", json, json + "}").Format);
    }
}
