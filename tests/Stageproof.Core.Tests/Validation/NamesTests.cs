using Stageproof.Core.Validation;

namespace Stageproof.Core.Tests.Validation;

public class NamesTests
{
    public static TheoryData<string> HostileValues => new()
    {
        "web;reboot",
        "web$(id)",
        "web`id`",
        "web'x",
        "web\"x",
        "web\nx",
        "web x",
        "web|x",
        "web&x",
        "web>x",
        "../etc",
        "-oProxyCommand=x",
        "",
    };

    [Theory]
    [InlineData("prod-app-1")]
    [InlineData("db.example.com")]
    [InlineData("h_1")]
    [InlineData("1host")]
    public void Host_names_made_of_letters_digits_dots_dashes_and_underscores_are_valid(string name) =>
        Assert.True(Names.IsValidHostName(name));

    [Theory]
    [MemberData(nameof(HostileValues))]
    public void Host_names_with_shell_metacharacters_are_rejected(string name)
    {
        Assert.False(Names.IsValidHostName(name));
        Assert.Contains("host name", Names.HostNameError(name));
    }

    [Fact]
    public void Host_names_longer_than_63_characters_are_rejected()
    {
        Assert.True(Names.IsValidHostName(new string('a', 63)));
        Assert.False(Names.IsValidHostName(new string('a', 64)));
    }

    [Fact]
    public void A_host_name_with_a_trailing_newline_is_rejected() =>
        Assert.False(Names.IsValidHostName("web\n"));

    [Theory]
    [InlineData("127.0.10.11")]
    [InlineData("10.0.0.1")]
    [InlineData("::1")]
    [InlineData("fe80::1:2")]
    [InlineData("db.example.com")]
    [InlineData("localhost")]
    [InlineData("mail-1.internal.")]
    public void IP_addresses_and_DNS_names_are_valid_addresses(string address) =>
        Assert.True(Names.IsValidAddress(address), Names.AddressError(address));

    [Theory]
    [MemberData(nameof(HostileValues))]
    [InlineData("10.0.0.256")]
    [InlineData("1.2.3")]
    [InlineData("host-.example.com")]
    [InlineData("a..b")]
    [InlineData("fe80::1%eth0")]
    [InlineData("127.0.0.1\n")]
    public void Malformed_or_hostile_addresses_are_rejected(string address) =>
        Assert.False(Names.IsValidAddress(address));

    [Theory]
    [InlineData("acme-mail")]
    [InlineData("libstdc++6")]
    [InlineData("linux-image-6.1.0-13-amd64")]
    [InlineData("g++")]
    public void Debian_package_names_are_valid(string name) =>
        Assert.True(Names.IsValidPackageName(name));

    [Theory]
    [MemberData(nameof(HostileValues))]
    [InlineData("Acme")]
    [InlineData("a")]
    [InlineData("+acme")]
    [InlineData("acme_mail")]
    [InlineData("acme=1.0")]
    public void Package_names_outside_Debian_policy_are_rejected(string name)
    {
        Assert.False(Names.IsValidPackageName(name));
        Assert.Contains("package name", Names.PackageNameError(name));
    }

    [Theory]
    [InlineData("1.1-1")]
    [InlineData("1:2.3.4-5ubuntu1")]
    [InlineData("2.36.1-8+deb12u1")]
    [InlineData("1.0~rc1")]
    [InlineData("1:9.2p1-2+deb12u3")]
    [InlineData("0.9-1-2")]
    [InlineData("1:1:2-3")]
    public void Debian_versions_are_valid(string version) =>
        Assert.True(Names.IsValidPackageVersion(version), Names.PackageVersionError(version));

    [Theory]
    [MemberData(nameof(HostileValues))]
    [InlineData("v1.0")]
    [InlineData("1.0-")]
    [InlineData("a:1.0")]
    [InlineData(":1.0")]
    [InlineData("1.0:1")]
    [InlineData("1.0 -1")]
    [InlineData("1.0\n")]
    [InlineData("1.0;rm -rf /")]
    [InlineData("1.0-1_2")]
    public void Malformed_or_hostile_versions_are_rejected(string version)
    {
        Assert.False(Names.IsValidPackageVersion(version));
        Assert.Contains("package version", Names.PackageVersionError(version));
    }

    [Theory]
    [InlineData("/etc/ssh/sshd_config")]
    [InlineData("/etc/acme-mail/*.conf")]
    [InlineData("/")]
    [InlineData("/srv/roots/builder/")]
    [InlineData("/etc/app name/x.conf")]
    public void Absolute_paths_without_dot_segments_are_safe(string path) =>
        Assert.True(Names.IsSafeAbsolutePath(path), Names.AbsolutePathError(path));

    [Theory]
    [InlineData("etc/passwd", "not absolute")]
    [InlineData("", "not absolute")]
    [InlineData("/etc/../root/.ssh", "'..'")]
    [InlineData("/etc/./passwd", "'..'")]
    [InlineData("/..", "'..'")]
    [InlineData("/etc/x\nrm -rf /", "control character")]
    [InlineData("/etc/x\0y", "control character")]
    [InlineData("/etc/x\ty", "control character")]
    public void Relative_traversing_or_control_character_paths_are_unsafe(string path, string reason)
    {
        Assert.False(Names.IsSafeAbsolutePath(path));
        Assert.Contains(reason, Names.AbsolutePathError(path));
    }

    [Fact]
    public void Error_messages_quote_the_value_and_keep_it_on_one_line()
    {
        var message = Names.AbsolutePathError("/etc/x\nrm");
        Assert.Contains(@"'/etc/x\nrm'", message);
        Assert.DoesNotContain('\n', message!);
    }

    [Theory]
    [InlineData("prod")]
    [InlineData("mail-suite")]
    [InlineData("web_servers")]
    [InlineData("_internal")]
    public void Identifiers_start_with_a_letter_or_underscore(string name) =>
        Assert.True(Names.IsValidIdentifier(name));

    [Theory]
    [MemberData(nameof(HostileValues))]
    [InlineData("1prod")]
    [InlineData("prod.eu")]
    public void Identifiers_with_other_characters_are_rejected(string name)
    {
        Assert.False(Names.IsValidIdentifier(name));
        Assert.Contains("environment", Names.IdentifierError(name, "environment name"));
    }

    [Theory]
    [InlineData("root", true)]
    [InlineData("deploy_1", true)]
    [InlineData("Root", false)]
    [InlineData("root;id", false)]
    [InlineData("-oops", false)]
    public void User_names_follow_POSIX_login_rules(string name, bool valid) =>
        Assert.Equal(valid, Names.IsValidUserName(name));

    [Fact]
    public void Valid_values_have_no_error_message()
    {
        Assert.Null(Names.HostNameError("web"));
        Assert.Null(Names.AddressError("127.0.0.1"));
        Assert.Null(Names.PackageNameError("acme-mail"));
        Assert.Null(Names.PackageVersionError("1.1-1"));
        Assert.Null(Names.AbsolutePathError("/etc"));
        Assert.Null(Names.IdentifierError("prod"));
    }
}
