using Stageproof.Core.Configuration;
using Stageproof.Core.Configuration.Internal;

namespace Stageproof.Core.Tests.Configuration;

public class SuggestionTests
{
    [Theory]
    [InlineData("adress", "address")]
    [InlineData("prot", "port")]
    [InlineData("knownhosts", "known_hosts")]
    [InlineData("Transport", "transport")]
    [InlineData("indentity", "identity")]
    public void A_close_misspelling_suggests_the_known_key(string typo, string expected) =>
        Assert.Equal(expected, YamlWalker.Suggest(typo, ["transport", "address", "port", "user", "identity", "known_hosts", "become", "role", "root"]));

    [Theory]
    [InlineData("lifecycle")]
    [InlineData("x")]
    [InlineData("zzzzzz")]
    public void A_name_far_from_every_known_key_gets_no_suggestion(string name) =>
        Assert.Null(YamlWalker.Suggest(name, ["hosts", "groups", "inventory", "environments", "drift", "ssh", "checks"]));

    [Fact]
    public void Adjacent_transpositions_count_as_one_edit() =>
        Assert.Equal(1, YamlWalker.EditDistance("prot", "port"));

    [Fact]
    public void An_unknown_key_with_no_close_match_lists_the_known_keys()
    {
        var ex = Assert.Throws<InputException>(() => ConfigLoader.Parse("users: {}\n", "/nowhere/stageproof.yaml"));
        Assert.Equal(
            "unknown key 'users' (known keys: hosts, groups, inventory, environments, drift, ssh, checks, lifecycle, stage, webhooks, server, state, state_password_file, audit_key_file, jobs)",
            Assert.Single(ex.Problems).Message);
    }

    [Fact]
    public void Text_can_be_validated_without_a_file_on_disk()
    {
        var config = ConfigLoader.Parse("hosts:\n  web: { address: 127.0.0.1, identity: id }\n", "/srv/stageproof/stageproof.yaml");
        Assert.Equal("/srv/stageproof/id", config.Host("web").Identity);
        Assert.Equal("/srv/stageproof/stageproof.yaml", config.SourceFile);
    }
}
