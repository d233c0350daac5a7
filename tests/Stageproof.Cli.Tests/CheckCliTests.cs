using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Stageproof.Core;

namespace Stageproof.Cli.Tests;

/// <summary><c>stageproof check ENV</c> on a local host: exit codes, the named reason, --json, located configuration errors.</summary>
public class CheckCliTests
{
    private static string Config(string log, string address, int port) => $$"""
        hosts:
          app-1: { transport: local }
        environments:
          test: { hosts: [app-1], checks: suite }
        checks:
          suite:
            - { name: shell, type: command, run: [sh, -c, "echo ready"], expect_output: ready }
            - { name: port, type: tcp, address: {{address}}, port: {{port}} }
            - { name: log, type: logs, file: {{log}}, fail: [" ERROR "] }
        """;

    [Fact]
    public async Task A_passing_suite_exits_0_and_a_failing_check_exits_1_with_its_reason()
    {
        using var scratch = new Scratch();
        var log = scratch.Write("app.log", "x ERROR written before the run is not counted\n");
        using var listener = new TcpListener(IPAddress.Parse("127.0.5.250"), 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        scratch.Write("stageproof.yaml", Config(log, "127.0.5.250", port));

        var pass = await CliRun.InAsync(scratch.Dir, "check", "test");
        Assert.True(pass.ExitCode == ExitCodes.Ok, pass.ToString());
        Assert.Contains("PASS shell", pass.Stdout);
        Assert.Contains("3 results: 3 passed", pass.Stdout);

        listener.Stop();
        var fail = await CliRun.InAsync(scratch.Dir, "check", "test");
        Assert.Equal(ExitCodes.Finding, fail.ExitCode);
        Assert.Contains($"FAIL port (tcp, app-1) 127.0.5.250:{port}: ConnectionRefused", fail.Stdout);
    }

    [Fact]
    public async Task Json_output_is_one_document_with_every_result()
    {
        using var scratch = new Scratch();
        var log = scratch.Write("app.log", "");
        using var listener = new TcpListener(IPAddress.Parse("127.0.5.251"), 0);
        listener.Start();
        scratch.Write("stageproof.yaml", Config(log, "127.0.5.251", ((IPEndPoint)listener.LocalEndpoint).Port));

        var run = await CliRun.InAsync(scratch.Dir, "--json", "check", "test", "--only", "shell");
        Assert.True(run.ExitCode == ExitCodes.Ok, run.ToString());
        using var doc = JsonDocument.Parse(run.Stdout);
        var result = Assert.Single(doc.RootElement.GetProperty("results").EnumerateArray());
        Assert.Equal("shell", result.GetProperty("name").GetString());
        Assert.Equal("passed", result.GetProperty("status").GetString());
        Assert.Equal(0, result.GetProperty("measurements").GetProperty("exit").GetDouble());
    }

    [Fact]
    public async Task A_bad_check_is_reported_where_it_stands_with_exit_2()
    {
        using var scratch = new Scratch();
        var path = scratch.Write("stageproof.yaml", """
            hosts:
              app-1: { transport: local }
            environments:
              test: { hosts: [app-1], checks: suite }
            checks:
              suite:
                - { name: health, type: http, port: 8080, expect_stauts: 200 }
            """);

        var run = await CliRun.InAsync(scratch.Dir, "check", "test");
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Contains($"{path}:7:47: checks.suite[0].expect_stauts: unknown key 'expect_stauts' (did you mean 'expect_status'?)", run.Stderr);
    }

    [Fact]
    public async Task A_host_that_cannot_be_reached_is_an_infrastructure_error_with_exit_3()
    {
        using var scratch = new Scratch();
        Directory.CreateDirectory(Path.Combine(scratch.Dir, "keys"));
        scratch.Write("keys/known_hosts", "");
        scratch.Write("stageproof.yaml", """
            hosts:
              far-1: { address: 127.0.5.249, port: 1, identity: keys/missing_ed25519, known_hosts: keys/known_hosts }
            environments:
              test: { hosts: [far-1], checks: suite }
            checks:
              suite:
                - { name: conf, type: command, run: [test, -f, /etc/app.conf] }
            """);

        var run = await CliRun.InAsync(scratch.Dir, "check", "test");
        Assert.Equal(ExitCodes.Infrastructure, run.ExitCode);
        Assert.Contains("ERROR conf (command, far-1) far-1:", run.Stdout);
        Assert.Contains("0 failed, 1 could not run", run.Stdout);
    }
    [Fact]
    public async Task A_database_that_cannot_be_reached_means_the_check_could_not_run_exit_3_not_a_finding()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", """
            hosts:
              app-1: { transport: local }
            environments:
              test:
                hosts: [app-1]
                databases: { mail: "Host=127.0.5.251;Port=1;Database=mail;Username=acme;Password=not-shown;Timeout=3" }
                checks: suite
            checks:
              suite:
                - { name: users, type: sql, database: mail, query: "SELECT count(*) FROM users", expect: "50" }
            """);
        var run = await CliRun.InAsync(scratch.Dir, "check", "test");
        Assert.True(run.ExitCode == ExitCodes.Infrastructure, run.ToString());
        Assert.Contains("cannot connect to the database at 127.0.5.251:1/mail", run.Stdout + run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("not-shown", run.Stdout + run.Stderr, StringComparison.Ordinal);
    }
}
