using Stageproof.Core.Configuration;
using Stageproof.Core.Configuration.Internal;

namespace Stageproof.Core.Tests.Configuration;

public sealed class InventoryTests : IDisposable
{
    private const string IniInventory = """
        # production, as Ansible knows it
        bastion.example.com

        [web]
        web[1:3] ansible_host=127.0.10.1 role=app
        web-x ansible_host="127.0.10.9" ansible_port=2200 ansible_user=deploy ansible_become=yes  # trailing comment

        [db]
        db1 ansible_host=127.0.10.21 ansible_ssh_private_key_file=keys/db_key

        [prod:children]
        web
        db

        [prod:vars]
        ansible_port=2222

        [all:vars]
        ansible_user=admin
        """;

    private const string YamlInventory = """
        all:
          vars:
            ansible_user: admin
          hosts:
            bastion.example.com:
          children:
            prod:
              vars:
                ansible_port: 2222
              children:
                web:
                  hosts:
                    web[1:3]:
                      ansible_host: 127.0.10.1
                      role: app
                    web-x:
                      ansible_host: 127.0.10.9
                      ansible_port: 2200
                      ansible_user: deploy
                      ansible_become: true
                db:
                  hosts:
                    db1:
                      ansible_host: 127.0.10.21
                      ansible_ssh_private_key_file: keys/db_key
        """;

    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("inventory/hosts.ini", IniInventory)]
    [InlineData("inventory/hosts", IniInventory)]
    [InlineData("inventory/hosts.yml", YamlInventory)]
    [InlineData("inventory/prod", YamlInventory)]
    public void Inventory_hosts_and_groups_become_stageproof_hosts_and_groups(string file, string inventory)
    {
        _temp.Write(file, inventory);
        var config = _temp.Load($"""
            inventory: {file}
            environments:
              prod: {"{"} hosts: [prod] {"}"}
            """);

        Assert.Equal(["web1", "web2", "web3", "web-x", "db1"], config.Environment("prod").Hosts);
        Assert.Equal(["web1", "web2", "web3", "web-x"], config.Groups["web"]);
        Assert.Equal(["bastion.example.com"], config.Groups["ungrouped"]);    // as in Ansible, usable as targets
        Assert.Equal(6, config.Groups["all"].Count);

        var web2 = config.Host("web2");
        Assert.Equal("127.0.10.1", web2.Address);
        Assert.Equal(2222, web2.Port);           // from the prod group
        Assert.Equal("admin", web2.User);        // from all
        Assert.Equal("app", web2.Role);
        Assert.Null(web2.Become);

        var webX = config.Host("web-x");
        Assert.Equal(2200, webX.Port);           // host vars win over group vars
        Assert.Equal("deploy", webX.User);
        Assert.Equal("127.0.10.9", webX.Address);
        Assert.Equal("sudo", webX.Become);

        var db1 = config.Host("db1");
        Assert.Equal(Path.Combine(_temp.Directory, "inventory", "keys", "db_key"), db1.Identity);

        var bastion = config.Host("bastion.example.com");
        Assert.Equal("bastion.example.com", bastion.Address);   // no ansible_host: the name is the address
        Assert.Equal(22, bastion.Port);
    }

    [Fact]
    public void Hosts_written_in_stageproof_yaml_win_over_the_inventory()
    {
        _temp.Write("hosts.ini", "[web]\nweb1 ansible_host=10.0.0.1 ansible_port=bad\n");
        var config = _temp.Load("""
            inventory: hosts.ini
            hosts:
              web1: { address: 127.0.0.1, port: 2222 }
            """);

        Assert.Equal("127.0.0.1", config.Host("web1").Address);
        Assert.Equal(2222, config.Host("web1").Port);
        Assert.Equal(["web1"], config.Groups["web"]);
    }

    [Fact]
    public void Inventory_problems_carry_the_inventory_file_and_line()
    {
        var inventoryPath = _temp.Write("hosts.ini", """
            [web]
            web1 ansible_host=127.0.0.1
            web2 ansible_host="10.0.0.1;reboot" ansible_port=99999
            web$(id) ansible_host=127.0.0.3

            [web:vars]
            ansible_become=yes
            ansible_become_method=su

            [web:weird]
            """);

        var problems = _temp.Problems("inventory: hosts.ini\nenvironments:\n  prod: { hosts: [web] }\n");

        Assert.All(problems, p => Assert.Equal(inventoryPath, p.File));
        Assert.Contains(problems, p => (p.Line, p.Column, p.Key) == (3, 6, "web2.ansible_host") && p.Message.Contains("address", StringComparison.Ordinal));
        Assert.Contains(problems, p => (p.Line, p.Column, p.Key) == (3, 37, "web2.ansible_port"));
        Assert.Contains(problems, p => p.Line == 4 && p.Message.Contains("host name", StringComparison.Ordinal));
        Assert.Single(problems, p => p.Line == 8 && p.Message.Contains("only 'sudo'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Line == 10 && p.Message.Contains("unknown section kind", StringComparison.Ordinal));
    }

    [Fact]
    public void Yaml_inventory_unknown_keys_are_warnings_at_line_and_column()
    {
        var inventoryPath = _temp.Write("hosts.yml", """
            all:
              children:
                web:
                  host:
                    web1:
            """);

        // Ansible skips an unknown key with a warning; so does Stageproof, at its line and column.
        var problem = Assert.Single(_temp.Load("inventory: hosts.yml\n").Warnings);

        Assert.Equal(inventoryPath, problem.File);
        Assert.Equal((4, 7), (problem.Line, problem.Column));
        Assert.Equal("all.children.web.host", problem.Key);
        Assert.Contains("did you mean 'hosts'", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_inventory_is_reported_at_the_inventory_key()
    {
        var problem = _temp.SingleProblem("inventory: nowhere/hosts.ini\n");

        Assert.Equal(_temp.ConfigPath, problem.File);
        Assert.Equal(("inventory", 1, 12), (problem.Key, problem.Line, problem.Column));
        Assert.Contains("file not found", problem.Message);
    }

    [Fact]
    public void Inventory_group_children_cycles_are_detected()
    {
        _temp.Write("hosts.ini", "[a]\nh1 ansible_host=127.0.0.1\n[a:children]\nb\n[b:children]\na\n");
        var problem = _temp.SingleProblem("inventory: hosts.ini\n");
        Assert.Contains("cycle", problem.Message);
        Assert.Equal(6, problem.Line);
    }

    [Fact]
    public void A_local_connection_needs_no_address()
    {
        _temp.Write("hosts.ini", "[control]\nlocalhost ansible_connection=local\nodd_name ansible_connection=local\n");
        var config = _temp.Load("inventory: hosts.ini\n");
        Assert.Equal(TransportKind.Local, config.Host("odd_name").Transport);
        Assert.Null(config.Host("odd_name").Address);
    }

    [Fact]
    public void A_host_name_that_is_no_address_asks_for_ansible_host()
    {
        _temp.Write("hosts.ini", "[web]\nweb_1\n");
        var problem = _temp.SingleProblem("inventory: hosts.ini\n");
        Assert.EndsWith("set ansible_host", problem.Message, StringComparison.Ordinal);
        Assert.Equal(2, problem.Line);
    }

    private const string MixedEstate = """
        [linux]
        app1 ansible_host=127.0.10.11 ansible_ssh_common_args='-o ProxyJump=jump@bastion:2222'
        app2 ansible_host=127.0.10.12 ansible_password=secret

        [linux:vars]
        ansible_become_password=secret

        [windows]
        win1 ansible_host=127.0.10.50 ansible_connection=winrm
        win2 ansible_host=127.0.10.51 ansible_connection=winrm
        """;

    [Fact]
    public void A_host_stageproof_cannot_reach_is_a_warning_when_no_environment_uses_it()
    {
        _temp.Write("hosts.ini", MixedEstate);
        var config = _temp.Load("inventory: hosts.ini\nenvironments:\n  prod: { hosts: [linux] }\n");

        Assert.Equal(["app1", "app2"], config.Environment("prod").Hosts);
        Assert.False(config.Hosts.ContainsKey("win1"));
        Assert.Empty(config.Groups["windows"]);
        Assert.Equal("connection 'winrm' is not supported (ssh or local)", config.SkippedHosts["win1"].Reason);
        Assert.Contains(config.Warnings, w => w.Line == 9 && w.Message.Contains("win1", StringComparison.Ordinal) && w.Message.Contains("left out", StringComparison.Ordinal));
    }

    [Fact]
    public void A_host_stageproof_cannot_reach_is_refused_when_an_environment_uses_it()
    {
        _temp.Write("hosts.ini", MixedEstate);
        var problems = _temp.Problems("inventory: hosts.ini\nenvironments:\n  prod: { hosts: [all] }\n");

        Assert.Equal([9, 10], problems.Select(p => p.Line));
        var problem = problems[0];
        Assert.Equal((31, "win1.ansible_connection"), (problem.Column, problem.Key));
        Assert.Contains("used by environment 'prod'", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Connection_variables_not_honoured_are_named_once_where_they_are_set()
    {
        _temp.Write("hosts.ini", MixedEstate);
        var config = _temp.Load("inventory: hosts.ini\n");

        var become = Assert.Single(config.Warnings, w => w.Key == "linux:vars.ansible_become_password");
        Assert.Equal(6, become.Line);
        Assert.Contains("app1, app2", become.Message, StringComparison.Ordinal);
        Assert.Single(config.Warnings, w => w.Key == "app2.ansible_password" && w.Line == 3);
        // Its only argument is a ProxyJump, which is honoured: nothing to warn about.
        Assert.DoesNotContain(config.Warnings, w => w.Key == "app1.ansible_ssh_common_args");
        Assert.Equal("jump@bastion:2222", config.Host("app1").Jumps.Single().Endpoint);
        Assert.Equal("jump@bastion:2222", config.Origins["app1"].Jump);
        Assert.Equal(2, config.Origins["app1"].JumpSource!.Line);
    }

    [Fact]
    public void Where_each_value_came_from_is_kept()
    {
        _temp.Write("inventory/hosts.ini", "[web]\nweb1 ansible_host=127.0.10.11\n[web:vars]\nansible_port=2222\n");
        _temp.Write("inventory/group_vars/all.yml", "ansible_user: deploy\n");
        var config = _temp.Load("inventory: inventory/hosts.ini\nhosts:\n  local1: { transport: local }\n");

        var origin = config.Origins["web1"];
        Assert.Equal((Path.Combine(_temp.Directory, "inventory", "hosts.ini"), 2), (origin.Values["address"].File, origin.Values["address"].Line));
        Assert.Equal(4, origin.Values["port"].Line);
        Assert.Equal(Path.Combine(_temp.Directory, "inventory", "group_vars", "all.yml"), origin.Values["user"].File);
        Assert.False(origin.Values.ContainsKey("identity"));
        Assert.Equal(3, config.Origins["local1"].Values["transport"].Line);
        Assert.Equal("deploy", config.Host("web1").User);
    }

    [Fact]
    public void A_group_and_a_host_may_share_a_name_and_the_name_means_the_group()
    {
        _temp.Write("hosts.ini", "db ansible_host=127.0.10.21\n[db]\ndb-primary ansible_host=127.0.10.22\n");
        var config = _temp.Load("inventory: hosts.ini\nenvironments:\n  prod: { hosts: [db] }\n  lone: { hosts: [ungrouped] }\n");

        Assert.Equal(["db-primary"], config.Environment("prod").Hosts);
        Assert.Equal(["db"], config.Environment("lone").Hosts);
        Assert.Contains(config.Warnings, w => w.Message.Contains("same name as a host", StringComparison.Ordinal));
    }

    [Fact]
    public void A_vaulted_group_vars_file_is_refused_naming_the_file()
    {
        _temp.Write("hosts.ini", "[web]\nweb1 ansible_host=127.0.10.11\n");
        var vault = _temp.Write("group_vars/web.yml", "$ANSIBLE_VAULT;1.1;AES256\n6336633039\n");

        var problem = _temp.SingleProblem("inventory: hosts.ini\n");

        Assert.Equal(vault, problem.File);
        Assert.Contains("ansible-vault", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_hostile_inventory_line_cannot_exhaust_the_stack()
    {
        _temp.Write("hosts.ini", "[web]\nweb1 ansible_host=127.0.0.1 deep=" + new string('[', 100_000) + "\n"
            + string.Concat(Enumerable.Repeat("x[1:1]", 20_000)) + "\n");

        var problems = _temp.Problems("inventory: hosts.ini\n");

        Assert.Contains(problems, p => p.Line == 3 && p.Message.Contains("ranges", StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.Line == 2);   // too deep for a literal: kept as text, as a value nobody reads
    }

    [Fact]
    public void A_vaulted_value_is_refused_only_where_stageproof_needs_it()
    {
        var inventory = _temp.Write("hosts.yml", """
            web:
              hosts:
                web1:
                  ansible_host: !vault |
                    $ANSIBLE_VAULT;1.1;AES256
                    6336633039
                  api_token: !vault |
                    $ANSIBLE_VAULT;1.1;AES256
                    6336633039
            """);

        var problem = _temp.SingleProblem("inventory: hosts.yml\n");

        Assert.Equal((inventory, 4), (problem.File, problem.Line));
        Assert.StartsWith("ansible_host is encrypted with ansible-vault", problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hosts.ini", "[web]\nweb1\n", false)]
    [InlineData("hosts.yaml", "[web]\n", true)]
    [InlineData("hosts", "# comment\n[web]\nweb1\n", false)]
    [InlineData("hosts", "web1 ansible_host=1.2.3.4\n", false)]
    [InlineData("hosts", "---\nall:\n", true)]
    [InlineData("hosts", "# comment\nall:\n  hosts:\n", true)]
    public void The_inventory_form_is_detected_by_extension_then_content(string file, string text, bool yaml) =>
        Assert.Equal(yaml, AnsibleInventory.LooksLikeYaml(file, text));
}
