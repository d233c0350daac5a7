using System.Text;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Hosts.Facts;

namespace Stageproof.Hosts.Tests.Facts;

public class SecretMaskerTests
{
    private static readonly IReadOnlyList<string> DefaultKeys = new DriftRules().SecretKeys;

    /// <summary>One folder per case: a configuration file under its real-world name, and NAME.masked, the exact
    /// content expected once masked.</summary>
    private static string CorpusDirectory => Path.Combine(AppContext.BaseDirectory, "Facts", "SecretCorpus");

    public static TheoryData<string> CorpusCases()
    {
        var cases = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(CorpusDirectory).Order(StringComparer.Ordinal))
        {
            cases.Add(Path.GetFileName(dir));
        }
        return cases;
    }

    [Theory]
    [MemberData(nameof(CorpusCases))]
    public void Corpus_case_is_masked_exactly_as_expected(string name)
    {
        var input = Directory.GetFiles(Path.Combine(CorpusDirectory, name))
            .Single(f => !f.EndsWith(".masked", StringComparison.Ordinal));
        var expected = File.ReadAllText(input + ".masked");

        var masked = SecretMasker.Apply(File.ReadAllText(input), DefaultKeys, "/etc/example/" + Path.GetFileName(input));

        Assert.Equal(expected, masked);
    }

    [Fact]
    public void The_corpus_holds_at_least_forty_formats_each_with_its_expected_form()
    {
        var dirs = Directory.GetDirectories(CorpusDirectory);

        Assert.True(dirs.Length >= 40, $"{dirs.Length} cases");
        Assert.All(dirs, d => Assert.Equal(2, Directory.GetFiles(d).Length));
    }

    [Theory]
    [InlineData("password")]
    [InlineData("DB_PASSWORD")]
    [InlineData("PGPASSWORD")]
    [InlineData("spring.datasource.password")]
    [InlineData("db password")]
    [InlineData("userPassword")]
    [InlineData("DBPassword")]
    [InlineData("passwd")]
    [InlineData("passphrase")]
    [InlineData("DB_PASS")]
    [InlineData("keystorePass")]
    [InlineData("auth-user-pass")]
    [InlineData("MYSQL_PWD")]
    [InlineData("bindpw")]
    [InlineData("rootpw")]
    [InlineData("credentials")]
    [InlineData("client_secret")]
    [InlineData("clientSecret")]
    [InlineData("SECRET_KEY")]
    [InlineData("aws_secret_access_key")]
    [InlineData("GITHUB_TOKEN")]
    [InlineData("_authToken")]
    [InlineData("ldap_default_authtok")]
    [InlineData("ApiKey")]
    [InlineData("x-api-key")]
    [InlineData("api.key")]
    [InlineData("private_key")]
    [InlineData("PresharedKey")]
    [InlineData("APP_KEY")]
    [InlineData("SECURE_AUTH_KEY")]
    [InlineData("NONCE_SALT")]
    [InlineData("validationKey")]
    [InlineData("requirepass")]
    [InlineData("masterauth")]
    public void Keys_ending_in_a_secret_word_are_secret(string key)
    {
        Assert.True(SecretKeyMatcher.For(DefaultKeys).IsSecret(key));
    }

    [Theory]
    [InlineData("PasswordAuthentication")]
    [InlineData("PermitEmptyPasswords")]
    [InlineData("password_min_length")]
    [InlineData("password_encryption")]
    [InlineData("password_file")]
    [InlineData("token_lifetime")]
    [InlineData("num_tokens")]
    [InlineData("ldap_default_authtok_type")]
    [InlineData("private_key_file")]
    [InlineData("private_key_id")]
    [InlineData("aws_access_key_id")]
    [InlineData("SSLPassPhraseDialog")]
    [InlineData("key")]
    [InlineData("HostKey")]
    [InlineData("ssl_certificate_key")]
    [InlineData("key_buffer_size")]
    [InlineData("PublicKey")]
    [InlineData("proxy_pass")]
    [InlineData("fastcgi_pass")]
    [InlineData("ProxyPass")]
    [InlineData("ProxyPassReverse")]
    [InlineData("bypass")]
    [InlineData("compass")]
    [InlineData("secrets file")]
    [InlineData("cookie_secure")]
    [InlineData("username")]
    public void Keys_about_a_secret_or_merely_containing_a_secret_word_are_not(string key)
    {
        Assert.False(SecretKeyMatcher.For(DefaultKeys).IsSecret(key));
    }

    [Fact]
    public void Configured_patterns_replace_the_defaults_and_may_use_any_regular_expression()
    {
        // A lookahead cannot run on the non-backtracking engine; such a pattern runs backtracking, with a timeout.
        string[] keys = ["pass(word)?", "pin(?=code)code"];

        var masked = SecretMasker.Apply("pass = a\npincode = 1234\ntoken = t\n", keys);

        Assert.Equal("pass = ********\npincode = ********\ntoken = t\n", masked);
    }

    [Fact]
    public void An_invalid_pattern_is_bad_input_naming_it()
    {
        var e = Assert.Throws<InputException>(() => SecretMasker.Apply("password = x\n", ["(unclosed"]));

        Assert.Contains("'(unclosed'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_secret_keys_turn_masking_off()
    {
        const string content = "password = x\nAKIAIOSFODNN7EXAMPLE\n";

        Assert.Same(content, SecretMasker.Apply(content, []));
    }

    [Fact]
    public void Bare_user_password_records_are_masked_only_in_files_known_by_name()
    {
        const string content = "backup:Rsync-B4ckup\n";

        Assert.Equal(content, SecretMasker.Apply(content, DefaultKeys, "/etc/motd"));
        Assert.Equal(content, SecretMasker.Apply(content, DefaultKeys));
        Assert.Equal("backup:********\n", SecretMasker.Apply(content, DefaultKeys, "/etc/rsyncd.secrets"));
        Assert.Equal("h:5432:db:u:********\n", SecretMasker.Apply("h:5432:db:u:pw\n", DefaultKeys, "/root/.pgpass"));
    }

    [Fact]
    public void A_private_key_without_its_end_line_is_masked_to_the_end()
    {
        var masked = SecretMasker.Apply("-----BEGIN PRIVATE KEY-----\nMIIE\nAAAA", DefaultKeys);

        Assert.Equal("-----BEGIN PRIVATE KEY-----\n********\n********", masked);
    }

    [Fact]
    public void A_megabyte_of_long_lines_is_masked_completely()
    {
        // Lines that would make a backtracking matcher quadratic or worse: long runs that almost make a key, a run
        // of '=', an unclosed quote, thousands of pairs and JSON members on one line, long keys and values.
        var input = new StringBuilder();
        var expected = new StringBuilder();
        void Line(string text, string masked)
        {
            input.Append(text).Append('\n');
            expected.Append(masked).Append('\n');
        }
        void Unchanged(string text) => Line(text, text);

        Unchanged(new string('a', 150_000));
        Unchanged(string.Concat(Enumerable.Repeat("a=", 75_000)));
        Unchanged("\"" + new string('x', 100_000));
        Unchanged("<" + string.Concat(Enumerable.Repeat("a ", 50_000)));
        Unchanged(string.Concat(Enumerable.Repeat("http://h:", 10_000)));
        Line(string.Concat(Enumerable.Repeat("Host=db;Password=pw;", 10_000)),
            string.Concat(Enumerable.Repeat("Host=db;Password=********;", 10_000)));
        Line("{" + string.Concat(Enumerable.Repeat("\"k\":\"v\",", 20_000)) + "\"password\":\"pw\"}",
            "{" + string.Concat(Enumerable.Repeat("\"k\":\"v\",", 20_000)) + "\"password\":\"********\"}");
        Line("password: " + new string('y', 100_000), "password: ********");
        Line("requirepass" + new string(' ', 50_000) + "x", "requirepass" + new string(' ', 50_000) + "********");
        Line("<password>" + new string('z', 50_000) + "</password>", "<password>********</password>");
        Line("https://" + new string('u', 50_000) + ":pw@host", "https://" + new string('u', 50_000) + ":********@host");
        Line(new string('k', 50_000) + "_password=pw", new string('k', 50_000) + "_password=********");
        var content = input.ToString();

        var masked = SecretMasker.Apply(content, DefaultKeys);

        Assert.True(content.Length > 1_000_000, $"{content.Length} characters");
        Assert.Equal(expected.ToString(), masked);
    }
}
