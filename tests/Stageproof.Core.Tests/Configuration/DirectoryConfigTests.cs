using Stageproof.Core.Configuration;

namespace Stageproof.Core.Tests.Configuration;

/// <summary><c>environments.ENV.directories</c>: the LDAP directories whose facts an environment's collection reads.</summary>
public sealed class DirectoryConfigTests : IDisposable
{
    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string With(string directory) => $$"""
        hosts:
          app-1: { transport: local }
        environments:
          prod:
            hosts: [app-1]
            directories:
              users: { {{directory}} }

        """;

    [Fact]
    public void A_directory_is_read_with_its_password_file_resolved_beside_the_configuration()
    {
        var config = _temp.Load(With("url: \"ldap://127.0.0.1:389\", bind_dn: \"cn=admin,cn=config\", password_file: secrets/ldap.pw, bases: [\"ou=people,dc=acme,dc=test\"]"));

        var directory = config.Environments["prod"].Directories["users"];
        Assert.Equal(new Uri("ldap://127.0.0.1:389"), directory.Url);
        Assert.Equal("cn=admin,cn=config", directory.BindDn);
        Assert.Equal(Path.Combine(_temp.Directory, "secrets", "ldap.pw"), directory.PasswordFile);
        Assert.Equal(["ou=people,dc=acme,dc=test"], directory.Bases);
    }

    [Fact]
    public void A_rollback_names_the_dn_that_writes_the_entries_and_is_served_by_the_host_its_url_names_unless_it_names_one()
    {
        var config = _temp.Load(With("url: \"ldap://app-1:389\", bind_dn: \"cn=admin,cn=config\", password_file: secrets/ldap.pw, bases: [\"ou=people,dc=acme,dc=test\"], "
            + "rollback: { bind_dn: \"cn=admin,dc=acme,dc=test\", password_file: secrets/ldap-admin.pw }"));

        var directory = config.Environments["prod"].Directories["users"];
        Assert.Equal(new DirectoryRollbackConfig("cn=admin,dc=acme,dc=test", Path.Combine(_temp.Directory, "secrets", "ldap-admin.pw"), null), directory.Rollback);
        Assert.True(directory.ServedBy(new HostConfig { Name = "app-1" }));
        Assert.True(directory.ServedBy(new HostConfig { Name = "ldap-1", Address = "APP-1" }));
        Assert.False(directory.ServedBy(new HostConfig { Name = "app-2", Address = "127.0.0.2" }));

        var named = _temp.Load(With("url: \"ldap://127.0.0.9:389\", bind_dn: \"cn=admin,cn=config\", password_file: p, bases: [\"dc=acme,dc=test\"], "
            + "rollback: { bind_dn: \"cn=admin,dc=acme,dc=test\", password_file: q, host: app-1 }")).Environments["prod"].Directories["users"];
        Assert.True(named.ServedBy(new HostConfig { Name = "app-1", Address = "127.0.0.1" }));
        Assert.False(named.ServedBy(new HostConfig { Name = "app-9", Address = "127.0.0.9" }));
    }

    [Theory]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"cn=admin,cn=config\", password_file: p, bases: [\"dc=a\"], rollback: { bind_dn: \"cn=admin,dc=a\", password: x, password_file: q }", "environments.prod.directories.users.rollback.password", "must not be written in stageproof.yaml")]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"cn=admin,cn=config\", password_file: p, bases: [\"dc=a\"], rollback: { bind_dn: \"cn=admin,dc=a\" }", "environments.prod.directories.users.rollback.password_file", "password_file is required for a directory's rollback")]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"cn=admin,cn=config\", password_file: p, rollback: { bind_dn: \"cn=admin,dc=a\", password_file: q }", "environments.prod.directories.users.rollback", "give at least one base")]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"cn=admin,cn=config\", password_file: p, bases: [], rollback: { bind_dn: \"cn=admin,dc=a\", password_file: q }", "environments.prod.directories.users.rollback", "give at least one base")]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"cn=admin,cn=config\", password_file: p, bases: [\"dc=a\"], rollback: { bind_dn: \"admin\", password_file: q }", "environments.prod.directories.users.rollback.bind_dn", "is not a DN")]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"cn=admin,cn=config\", password_file: p, bases: [\"dc=a\"], rollback: { bind_dn: \"cn=admin,dc=a\", password_file: q, host: ldap-9 }", "environments.prod.directories.users.rollback.host", "'ldap-9' is not a host of environment 'prod'")]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"cn=admin,cn=config\", password_file: p, bases: [\"dc=a\"], rollback: { bind_dn: \"cn=admin,dc=a\", password_file: q, hots: app-1 }", "environments.prod.directories.users.rollback.hots", "unknown key 'hots'")]
    public void A_bad_rollback_key_is_reported_at_its_line(string directory, string key, string message) =>
        A_bad_directory_key_is_reported_at_its_line(directory, key, message);

    [Theory]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"cn=admin,cn=config\", password_file: p, bases: [], base: x", "environments.prod.directories.users.base", "unknown key 'base'")]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"cn=admin,cn=config\", password: hunter2", "environments.prod.directories.users.password", "must not be written in stageproof.yaml")]
    [InlineData("url: \"http://h/\", bind_dn: \"cn=admin,cn=config\", password_file: p", "environments.prod.directories.users.url", "is not an ldap://HOST:PORT")]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"admin\", password_file: p", "environments.prod.directories.users.bind_dn", "is not a DN")]
    [InlineData("url: \"ldap://h:389\", bind_dn: \"cn=admin,cn=config\", password_file: p, bases: [\"ou=x,,dc=y\"]", "environments.prod.directories.users.bases[0]", "is not a DN")]
    [InlineData("url: \"ldap://h:389\", password_file: p", "environments.prod.directories.users.bind_dn", "bind_dn is required")]
    public void A_bad_directory_key_is_reported_at_its_line(string directory, string key, string message)
    {
        var problem = Assert.Single(_temp.Problems(With(directory)), p => p.Key == key);
        Assert.Contains(message, problem.Message, StringComparison.Ordinal);
        Assert.Equal((_temp.ConfigPath, 7), (problem.File, problem.Line));
    }
}
