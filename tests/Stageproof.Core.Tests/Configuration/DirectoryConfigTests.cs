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
