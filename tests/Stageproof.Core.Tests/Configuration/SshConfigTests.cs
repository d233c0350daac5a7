using Stageproof.Core.Configuration;

namespace Stageproof.Core.Tests.Configuration;

/// <summary>
/// ~/.ssh/config as ssh reads it for the address Stageproof is given (ssh.config names the file here, as ssh -F does,
/// so the machine's own files play no part): what stageproof.yaml or the inventory says wins, as ssh's command line does.
/// </summary>
public sealed class SshConfigTests : IDisposable
{
    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    private StageproofConfig Load(string sshConfig, string hosts, string extra = "")
    {
        _temp.Write("ssh_config", sshConfig);
        return _temp.Load($"ssh: {{ config: ssh_config }}\nhosts:\n{hosts}{extra}");
    }

    [Fact]
    public void An_alias_gives_address_user_port_and_identity_each_with_its_line()
    {
        var config = Load("""
            # the team's aliases
            Host web1 web2
                HostName 127.0.10.%h
                User deploy
                Port 2222
                IdentityFile ~/keys/deploy_ed25519

            Host *
                User nobody
                Port 22
            """, "  web1: { address: web1 }\n");

        var host = config.Host("web1");
        Assert.Equal(("127.0.10.web1", "deploy", 2222), (host.Address, host.User, host.Port));
        Assert.EndsWith("/keys/deploy_ed25519", host.Identity, StringComparison.Ordinal);
        var values = config.Origins["web1"].Values;
        Assert.Equal((3, "HostName"), (values["address"].Line, values["address"].Key));
        Assert.Equal(4, values["user"].Line);
        Assert.Equal(5, values["port"].Line);
        Assert.Equal(6, values["identity"].Line);
    }

    [Fact]
    public void Values_in_stageproof_yaml_win_over_ssh_config_as_the_command_line_does()
    {
        var config = Load("Host db1\n  User deploy\n  Port 2222\n", "  db1: { address: db1, user: admin, port: 2200 }\n");

        var host = config.Host("db1");
        Assert.Equal(("db1", "admin", 2200), (host.Address, host.User, host.Port));
        Assert.Equal("stageproof.yaml", Path.GetFileName(config.Origins["db1"].Values["user"].File));
    }

    [Fact]
    public void The_first_value_wins_and_negated_patterns_exclude()
    {
        var config = Load("""
            Host *.prod !legacy.prod
                User ops
            Host legacy.prod
                User root
            Host *
                User fallback
                Port=2022
            """, "  a: { address: app.prod }\n  b: { address: legacy.prod }\n  c: { address: other }\n");

        Assert.Equal(("ops", 2022), (config.Host("a").User, config.Host("a").Port));
        Assert.Equal("root", config.Host("b").User);
        Assert.Equal("fallback", config.Host("c").User);
    }

    [Fact]
    public void A_user_set_nowhere_is_the_local_user_as_with_ssh_and_ansible()
    {
        var config = Load("Host other\n  User x\n", "  h: { address: 127.0.10.5 }\n");

        Assert.Equal(Environment.UserName, config.Host("h").User);
        Assert.False(config.Origins["h"].Values.ContainsKey("user"));
    }

    [Fact]
    public void Include_reads_files_relative_to_the_ssh_folder_and_inside_a_block_only_for_that_block()
    {
        _temp.Write("conf.d/10-web.conf", "Host web*\n  User www\n");
        _temp.Write("only-db.conf", "Port 5022\n");
        var config = Load($"""
            Include {_temp.Directory}/conf.d/*.conf
            Host db*
                Include {_temp.Directory}/only-db.conf
            """, "  web1: { address: web1 }\n  db1: { address: db1 }\n");

        Assert.Equal(("www", 22), (config.Host("web1").User, config.Host("web1").Port));
        Assert.Equal(5022, config.Host("db1").Port);
        Assert.EndsWith("only-db.conf", config.Origins["db1"].Values["port"].File, StringComparison.Ordinal);
    }

    [Fact]
    public void ProxyJump_resolves_each_hop_through_ssh_config_and_the_first_hops_own_jump_comes_first()
    {
        var config = Load("""
            Host app*
                HostName 127.0.10.1
                ProxyJump bastion,ops@inner:2200
            Host bastion
                HostName 127.0.20.1
                User jump
                Port 2201
                ProxyJump edge
            Host edge
                HostName 127.0.20.9
            Host inner
                HostName 127.0.20.2
                ProxyJump ignored-because-it-is-not-the-first-hop
            """, "  app1: { address: app1 }\n");

        var jumps = config.Host("app1").Jumps;
        Assert.Equal(["edge", "bastion", "ops@inner:2200"], jumps.Select(j => j.Name));
        Assert.Equal(["127.0.20.9:22", "jump@127.0.20.1:2201", "ops@127.0.20.2:2200"],
            jumps.Select(j => (j.Name == "edge" ? "" : j.User + "@") + $"{j.Address}:{j.Port}"));
        Assert.All(jumps, j => Assert.Empty(j.Jumps));
        Assert.Equal(3, config.Origins["app1"].Values["jump"].Line);
    }

    [Fact]
    public void A_jump_in_stageproof_yaml_or_the_inventory_wins_over_ssh_config_and_none_means_direct()
    {
        _temp.Write("hosts.ini", "[web]\nweb1 ansible_host=127.0.10.1 ansible_ssh_common_args='-o ProxyJump=root@127.0.20.5:2205'\n");
        var config = Load("Host 127.0.10.*\n  ProxyJump everywhere\n",
            "  direct: { address: 127.0.10.2, jump: none }\n  yaml: { address: 127.0.10.3, jump: 'a@127.0.20.6' }\n",
            "inventory: hosts.ini\n");

        Assert.Empty(config.Host("direct").Jumps);
        Assert.Equal("a@127.0.20.6:22", config.Host("yaml").Jumps.Single().Endpoint);
        Assert.Equal("root@127.0.20.5:2205", config.Host("web1").Jumps.Single().Endpoint);
        Assert.DoesNotContain(config.Warnings, w => w.Key.Contains("ansible_ssh_common_args", StringComparison.Ordinal));
    }

    [Fact]
    public void A_looping_jump_is_refused_naming_the_line()
    {
        var problem = Assert.Single(Assert.Throws<InputException>(() => Load("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n",
            "  a: { address: a }\n")).Problems);

        Assert.Equal(4, problem.Line);
        Assert.Contains("loops", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Agent_identities_only_and_host_key_checking_are_carried()
    {
        var config = Load("""
            Host one
                IdentityAgent none
                IdentitiesOnly yes
                StrictHostKeyChecking accept-new
                UserKnownHostsFile %d/team_known_hosts
            Host two
                IdentityAgent /run/agent-%r.sock
                StrictHostKeyChecking no
            """, "  one: { address: one }\n  two: { address: two, user: ops }\n");

        var one = config.Host("one");
        Assert.Equal((HostConfig.NoAgent, true, true), (one.IdentityAgent, one.IdentitiesOnly, one.AcceptNewHostKeys));
        Assert.EndsWith("/team_known_hosts", one.KnownHosts, StringComparison.Ordinal);
        Assert.Equal("/run/agent-ops.sock", config.Host("two").IdentityAgent);
        Assert.True(config.Host("two").AcceptNewHostKeys);
        Assert.Contains(config.Warnings, w => w.Line == 8 && w.Message.Contains("never connects to a host whose key changed", StringComparison.Ordinal));
    }

    [Fact]
    public void Keywords_that_change_the_connection_and_are_not_honoured_are_named_and_Match_blocks_are_skipped_with_a_warning()
    {
        var config = Load("""
            Host web1
                HostKeyAlias web-cluster
                SendEnv LANG
            Match user deploy
                Port 2222
            """, "  web1: { address: web1 }\n");

        Assert.Contains(config.Warnings, w => w.Line == 2 && w.Message.Contains("HostKeyAlias is not honoured", StringComparison.Ordinal));
        Assert.Contains(config.Warnings, w => w.Line == 4 && w.Message.Contains("Match blocks are not evaluated", StringComparison.Ordinal));
        Assert.DoesNotContain(config.Warnings, w => w.Line == 3);
        Assert.Equal(22, config.Host("web1").Port);
    }

    [Theory]
    [InlineData("Host x\n  Prot 22\n", 2, "bad configuration option 'Prot'")]
    [InlineData("Host x\n  Port 70000\n", 2, "expected a port from 1 to 65535")]
    [InlineData("Host x\n  StrictHostKeyChecking maybe\n", 2, "expected yes, no, ask, accept-new or off")]
    [InlineData("Host x\n  ProxyJump user@\n", 2, "is not [user@]host[:port]")]
    [InlineData("Host \"x\n", 1, "unterminated quote")]
    [InlineData("Host x\n  IdentityFile ~/.ssh/%C\n", 2, "token %C is not supported")]
    public void A_line_ssh_would_refuse_is_refused_naming_file_and_line(string sshConfig, int line, string message)
    {
        var problem = Assert.Single(Assert.Throws<InputException>(() => Load(sshConfig, "  x: { address: x }\n")).Problems);

        Assert.Equal("ssh_config", Path.GetFileName(problem.File));
        Assert.Equal(line, problem.Line);
        Assert.Contains(message, problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IgnoreUnknown_lets_a_keyword_pass_as_it_does_for_ssh()
    {
        var config = Load("IgnoreUnknown UseKeychain,AddKeysToAgentX\nHost *\n  UseKeychain yes\n  User me\n", "  x: { address: x }\n");

        Assert.Equal("me", config.Host("x").User);
    }

    [Fact]
    public void A_missing_ssh_config_named_in_stageproof_yaml_is_refused_and_none_reads_no_file()
    {
        var problem = Assert.Single(Assert.Throws<InputException>(() => _temp.Load("ssh: { config: nowhere }\nhosts:\n  x: { address: x }\n")).Problems);
        Assert.Contains("does not exist", problem.Message, StringComparison.Ordinal);

        var config = _temp.Load("ssh: { config: none }\nhosts:\n  x: { address: x }\n");
        Assert.Equal(("x", 22), (config.Host("x").Address, config.Host("x").Port));
    }

    [Theory]
    [InlineData("ssh -W %h:%p bastion", "bastion")]
    [InlineData("ssh -q -W %h:%p -p 2222 -l ops gw.example", "ops@gw.example:2222")]
    [InlineData("/usr/bin/ssh ops@gw -W [%h]:%p", "ops@gw")]
    [InlineData("ssh -W %h:%p -o StrictHostKeyChecking=no gw", null)]
    [InlineData("ssh -W %h:%p gw nc %h %p", null)]
    [InlineData("nc -X 5 -x proxy:1080 %h %p", null)]
    public void A_ProxyCommand_that_only_forwards_through_ssh_is_that_jump_and_any_other_is_not(string command, string? jump) =>
        Assert.Equal(jump, Core.Configuration.Internal.SshJump.FromProxyCommand(command));

    [Fact]
    public void The_ProxyCommand_everyone_copies_routes_the_host_from_ssh_config_and_from_the_inventory()
    {
        _temp.Write("hosts.ini", "[web]\nweb1 ansible_host=127.0.10.1 ansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p -q ops@127.0.20.7\" -o ServerAliveInterval=30'\n");
        var config = Load("Host app1\n  ProxyCommand ssh -W %h:%p -p 2201 127.0.20.1\n  ProxyJump ignored\nHost other\n  ProxyCommand nc %h %p\n",
            "  app1: { address: app1 }\n  other: { address: other }\n", "inventory: hosts.ini\n");

        Assert.Equal("root@127.0.20.1:2201", config.Host("app1").Jumps.Single().Endpoint.Replace(Environment.UserName + "@", "root@", StringComparison.Ordinal));
        Assert.Equal("ops@127.0.20.7:22", config.Host("web1").Jumps.Single().Endpoint);
        Assert.Empty(config.Host("other").Jumps);
        Assert.Contains(config.Warnings, w => w.Line == 5 && w.Message.Contains("ProxyCommand is not honoured", StringComparison.Ordinal));
        // The inventory's ProxyCommand is used; what else its arguments say is named.
        var rest = Assert.Single(config.Warnings, w => w.Key.EndsWith("ansible_ssh_common_args", StringComparison.Ordinal));
        Assert.Contains("ServerAliveInterval=30", rest.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ProxyCommand", rest.Message, StringComparison.Ordinal);
    }
}
