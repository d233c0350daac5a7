using Stageproof.Core.Checks;
using Stageproof.Core.Tests.Configuration;

namespace Stageproof.Core.Tests.Checks;

/// <summary>The ldap check as stageproof.yaml declares it: read into its definition, every bad key reported at its line.</summary>
public sealed class LdapCheckConfigTests : IDisposable
{
    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Head = """
        hosts:
          app-1: { transport: local }
        environments:
          prod:
            hosts: [app-1]
            checks: suite
        checks:
          suite:

        """;

    private const string Good = """bind_dn: "uid=${user},ou=people,dc=acme,dc=test", credentials: { file: secrets/ldap.env }, base: "ou=people,dc=acme,dc=test" """;

    [Fact]
    public void The_once_and_the_load_form_are_read_with_their_defaults()
    {
        var config = _temp.Load(Head + $$"""
                - { name: once, type: ldap, url: "ldap://127.0.0.1:389", {{Good}}, filter: "(uid=${user})", accounts: [alice, bob], scope: one, attributes: [cn, mail] }
                - { name: load, type: ldap, port: 1389, role: directory, {{Good}}, clients: 8, duration: 20s, warmup: 5, compare: { max_p95_ratio: 2 } }
            """);

        var suite = config.SuiteOf("prod");
        var once = Assert.IsType<LdapCheck>(suite.Find("once"));
        Assert.False(once.IsLoad);
        Assert.Equal(new Uri("ldap://127.0.0.1:389"), once.Target.Url);
        Assert.Equal(("uid=${user},ou=people,dc=acme,dc=test", "(uid=${user})", LdapScope.One, 1), (once.BindDn, once.Filter, once.Scope, once.MinEntries));
        Assert.Equal(["alice", "bob"], once.Accounts);
        Assert.Equal(["cn", "mail"], once.Attributes);
        Assert.Equal(Path.Combine(_temp.Directory, "secrets", "ldap.env"), once.Credentials.File);
        var load = Assert.IsType<LdapCheck>(suite.Find("load"));
        Assert.True(load.IsLoad);
        Assert.Equal((1389, "directory", 8, TimeSpan.FromSeconds(20), 5, 2.0), (load.Target.Port, load.Role, load.Clients, load.Duration, load.Warmup, load.Compare.MaxP95Ratio));
        Assert.Equal("(objectClass=*)", load.Filter);
    }

    [Theory]
    [InlineData("bind_dn: x, credentials: { file: s.env }, base: dc=x, url: ldap://h:389, bindn: y", "checks.suite[0].bindn", "unknown key 'bindn'")]
    [InlineData("bind_dn: \"uid=${user},dc=x\", password: hunter2, base: dc=x, url: ldap://h:389", "checks.suite[0].password", "credentials must not be written in stageproof.yaml")]
    [InlineData("bind_dn: \"uid=${user},dc=x\", base: dc=x, url: ldap://h:389", "checks.suite[0].credentials", "credentials is required for ldap checks")]
    [InlineData("bind_dn: \"uid=${name},dc=x\", credentials: { file: s.env }, base: dc=x, url: ldap://h:389", "checks.suite[0].bind_dn", "only ${user}")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: \"dc=x,nonsense\", url: ldap://h:389", "checks.suite[0].base", "is not attribute=value")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, url: ldap://h:389, filter: \"uid=${user}\"", "checks.suite[0].filter", "must be parenthesised")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, url: ldap://h:389, filter: \"(&(uid=${user})\"", "checks.suite[0].filter", "not closed")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, url: \"http://h/\"", "checks.suite[0].url", "is not an ldap://HOST:PORT")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, url: \"ldap://h:389/dc=x\"", "checks.suite[0].url", "is not an ldap://HOST:PORT")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x", "checks.suite[0].port", "port or url is required for ldap checks")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, port: 389, scope: subtree", "checks.suite[0].scope", "base, one or sub")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, port: 389, attributes: [userPassword]", "checks.suite[0].attributes[0]", "holds secrets")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, port: 389, clients: 4", "checks.suite[0].duration", "an ldap load needs duration")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, port: 389, warmup: 4", "checks.suite[0].warmup", "applies to an ldap load")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, port: 389, clients: 0, iterations: 5", "checks.suite[0].clients", "")]
    [InlineData("credentials: { file: s.env }, base: dc=x, port: 389", "checks.suite[0].bind_dn", "bind_dn is required for ldap checks")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, directory: users, port: 389", "checks.suite[0].port", "give one of directory")]
    [InlineData("bind_dn: \"uid=${user}\", credentials: { file: s.env }, base: dc=x, directory: users", "checks.suite[0].directory", "environment 'prod' uses suite 'suite' but has no directory 'users'")]
    public void A_bad_key_is_one_problem_naming_the_file_line_and_key(string keys, string key, string message)
    {
        var problems = _temp.Problems(Head + "    - { name: ldap, type: ldap, " + keys + " }\n");

        var problem = Assert.Single(problems, p => p.Key == key);
        Assert.Contains(message, problem.Message, StringComparison.Ordinal);
        Assert.Equal(_temp.ConfigPath, problem.File);
        Assert.Equal(9, problem.Line);
    }

    [Fact]
    public void A_check_may_name_the_environment_s_directory_instead_of_a_port_or_url()
    {
        var config = _temp.Load(Head.Replace("    checks: suite", "    directories: { users: { url: \"ldap://127.0.0.7:389\", bind_dn: \"cn=admin,cn=config\", password_file: c.pw, bases: [dc=x] } }\n    checks: suite", StringComparison.Ordinal)
            + $$"""
                - { name: ldap-load, type: ldap, directory: users, {{Good}}, clients: 8, duration: 3s }
            """);

        var check = Assert.IsType<LdapCheck>(config.SuiteOf("prod").Find("ldap-load"));
        Assert.Equal("users", check.Directory);
        Assert.Null(check.Target.Url);
        Assert.Null(check.Target.Port);
        Assert.True(check.IsLoad);
    }

    [Theory]
    [InlineData("uid=${user},dc=x", "bob", "uid=bob,dc=x")]
    [InlineData("uid=${user},dc=x", "a,b+c", "uid=a\\,b\\+c,dc=x")]
    [InlineData("uid=${user},dc=x", "#x ", "uid=\\#x\\ ,dc=x")]
    public void An_account_name_is_escaped_into_a_dn(string template, string user, string expected) =>
        Assert.Equal(expected, LdapSyntax.FillDn(template, user));

    [Fact]
    public void An_account_name_never_widens_a_filter() =>
        Assert.Equal("(uid=\\2a\\29\\28uid=\\2a)", LdapSyntax.FillFilter("(uid=${user})", "*)(uid=*"));
}
