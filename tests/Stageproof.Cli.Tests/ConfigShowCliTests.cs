using Stageproof.Core;

namespace Stageproof.Cli.Tests;

/// <summary>`config show`: the resolved estate, and where each value came from, without contacting any host.</summary>
public class ConfigShowCliTests
{
    private static Scratch Estate()
    {
        var scratch = new Scratch();
        Directory.CreateDirectory(Path.Combine(scratch.Dir, "inventory", "group_vars"));
        scratch.Write("inventory/hosts.ini", """
            [web]
            web1 ansible_host=127.0.10.11
            web2 ansible_host=127.0.10.12 ansible_port=2200

            [web:vars]
            ansible_ssh_common_args='-o ProxyJump=jump@bastion.example.com'

            [windows]
            win1 ansible_host=127.0.10.50 ansible_connection=winrm
            """);
        scratch.Write("inventory/group_vars/web.yml", "ansible_user: deploy\nansible_port: 2222\n");
        scratch.Write("ssh_config", "Host bastion.example.com\n    HostName 127.0.10.2\n    Port 2201\n");
        scratch.Write("stageproof.yaml", """
            inventory: inventory/hosts.ini
            ssh: { config: ssh_config }
            hosts:
              builder: { transport: local }
            environments:
              prod: { hosts: [web] }
              tools: { hosts: [ungrouped] }
            """);
        return scratch;
    }

    [Fact]
    public async Task Config_show_json_gives_every_host_its_values_and_where_they_came_from()
    {
        using var scratch = Estate();
        var run = await CliRun.InAsync(scratch.Dir, "--json", "config", "show");

        Assert.True(run.ExitCode == ExitCodes.Ok, run.ToString());
        var json = run.Json;
        var hosts = json.GetProperty("hosts").EnumerateArray().ToDictionary(h => h.GetProperty("name").GetString()!);
        Assert.Equal(["builder", "web1", "web2"], hosts.Keys.Order(StringComparer.Ordinal));

        var web2 = hosts["web2"].GetProperty("values");
        Assert.Equal("2200", web2.GetProperty("port").GetProperty("value").GetString());   // the host line beats group_vars
        Assert.Equal(3, web2.GetProperty("port").GetProperty("from").GetProperty("line").GetInt32());
        Assert.Equal("deploy", web2.GetProperty("user").GetProperty("value").GetString());
        Assert.EndsWith(Path.Combine("group_vars", "web.yml"), web2.GetProperty("user").GetProperty("from").GetProperty("file").GetString(), StringComparison.Ordinal);
        Assert.True(web2.GetProperty("identity").GetProperty("isDefault").GetBoolean());

        // The inventory's ProxyJump, its host resolved through ssh_config: the hop as it will be reached.
        var jump = Assert.Single(hosts["web1"].GetProperty("jumps").EnumerateArray());
        Assert.Equal(("jump@bastion.example.com", "127.0.10.2", 2201, "jump"),
            (jump.GetProperty("name").GetString(), jump.GetProperty("address").GetString(), jump.GetProperty("port").GetInt32(), jump.GetProperty("user").GetString()));
        Assert.Equal(6, hosts["web1"].GetProperty("values").GetProperty("jump").GetProperty("from").GetProperty("line").GetInt32());
        Assert.Equal(2222, int.Parse(hosts["web1"].GetProperty("values").GetProperty("port").GetProperty("value").GetString()!, System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal("win1", Assert.Single(json.GetProperty("skippedHosts").EnumerateArray()).GetProperty("name").GetString());
        var tools = json.GetProperty("environments").EnumerateArray().Single(e => e.GetProperty("name").GetString() == "tools");
        Assert.Equal(["builder"], tools.GetProperty("hosts").EnumerateArray().Select(h => h.GetString()));
        // Its only argument is the ProxyJump, which is used: nothing about it to warn of.
        Assert.DoesNotContain(json.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.Contains("ansible_ssh_common_args", StringComparison.Ordinal));
        Assert.Contains(json.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.Contains("win1", StringComparison.Ordinal));
        Assert.Equal("", run.Stderr);   // the warnings are part of the document, not repeated on stderr
    }

    [Fact]
    public async Task Config_show_for_people_names_the_file_and_line_of_each_value()
    {
        using var scratch = Estate();
        var run = await CliRun.InAsync(scratch.Dir, "config", "show");

        Assert.True(run.ExitCode == ExitCodes.Ok, run.ToString());
        Assert.Contains(Path.Combine("inventory", "hosts.ini") + ":3 (web2.ansible_port)", run.Stdout, StringComparison.Ordinal);
        Assert.Contains(Path.Combine("inventory", "group_vars", "web.yml") + ":1 (ansible_user)", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("jump@bastion.example.com: jump@127.0.10.2:2201, key default (agent, ~/.ssh)", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("win1", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_show_refuses_a_bad_inventory_with_one_line_per_problem_and_exit_2()
    {
        using var scratch = new Scratch();
        var inventory = scratch.Write("hosts.ini", "[web]\nweb1 note=\"unclosed\n");
        scratch.Write("stageproof.yaml", "inventory: hosts.ini\n");

        var run = await CliRun.InAsync(scratch.Dir, "config", "show");

        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.StartsWith($"error: {inventory}:2:1: web: cannot read this host line: No closing quotation", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.Equal("", run.Stdout);
    }

    [Fact]
    public async Task Other_verbs_print_the_configuration_warnings_on_stderr()
    {
        using var scratch = Estate();
        var run = await CliRun.InAsync(scratch.Dir, "facts", "nothing");

        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Contains("warning: ", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("win1 left out", run.Stderr, StringComparison.Ordinal);
    }
}
