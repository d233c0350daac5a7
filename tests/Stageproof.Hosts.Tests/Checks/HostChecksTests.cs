using Stageproof.Core.Checks;
using Stageproof.Hosts.Checks;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Checks;

/// <summary>command, service and logs checks on this machine through LocalTransport.</summary>
public sealed class HostChecksTests : IDisposable
{
    private readonly Suites _suites = new();

    public void Dispose() => _suites.Dispose();

    [Fact]
    public async Task A_command_check_compares_exit_code_and_output()
    {
        var file = _suites.Path("app.conf");
        await File.WriteAllTextAsync(file, "pool_size = 10\n");
        var result = await Suites.RunAsync(_suites.Config($"""
            - {"{"} name: present, type: command, run: [cat, "{file}"], expect_output_regex: "^pool_size = 10$" {"}"}
            - {"{"} name: wrong-value, type: command, run: [cat, "{file}"], expect_output: "pool_size = 5" {"}"}
            - {"{"} name: exit, type: command, run: [sh, -c, "echo broken >&2; exit 3"] {"}"}
            - {"{"} name: quoted, type: command, run: [test, "-f", "{file}; touch {file}.pwned"] {"}"}
            """));

        var byName = result.Results.ToDictionary(r => r.Name);
        Assert.Equal(CheckStatus.Passed, byName["present"].Status);
        Assert.Contains("output does not contain \"pool_size = 5\" (output: pool_size = 10", byName["wrong-value"].Message, StringComparison.Ordinal);
        Assert.Contains("exit 3, expected 0 (stderr: broken)", byName["exit"].Message, StringComparison.Ordinal);
        Assert.Equal(CheckStatus.Failed, byName["quoted"].Status);
        Assert.False(File.Exists(file + ".pwned"), "an argument is never interpreted by the shell");
    }

    [Fact]
    public async Task A_check_for_a_role_no_host_has_fails_naming_the_roles_there_are()
    {
        var result = await Suites.RunAsync(_suites.Config("- { name: conf, type: command, run: [true], role: db }"));

        var r = Assert.Single(result.Results);
        Assert.Equal(CheckStatus.Failed, r.Status);
        Assert.Equal("environment test has no host with role 'db' (roles: none)", r.Message);
    }

    [SkippableFact]
    public async Task A_service_without_systemd_unit_or_init_script_is_not_running()
    {
        Requires.That(!Directory.Exists("/run/systemd/system"), "expects a machine without systemd as init (the lab's hosts use SysV scripts)");
        var name = "stageproof-absent-" + Guid.NewGuid().ToString("N")[..8];
        var result = await Suites.RunAsync(_suites.Config($"- {{ name: svc, type: service, service: {name} }}"));

        var r = Assert.Single(result.Results);
        Assert.Equal(CheckStatus.Failed, r.Status);
        Assert.Contains($"service {name} is not running, expected running (no such service", r.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task A_service_is_judged_by_its_init_scripts_status()
    {
        Requires.Root();
        Requires.That(!Directory.Exists("/run/systemd/system"), "expects a machine without systemd as init (the lab's hosts use SysV scripts)");
        var name = "stageproof-test-" + Guid.NewGuid().ToString("N")[..8];
        var script = $"/etc/init.d/{name}";
        var state = _suites.Path("running");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\ncase \"$1\" in status) [ -f '{state}' ] && exit 0; exit 3;; esac\n");
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        try
        {
            var config = _suites.Config($"""
                - {"{"} name: up, type: service, service: {name} {"}"}
                - {"{"} name: down, type: service, service: {name}, expect: stopped {"}"}
                """);
            var stopped = await Suites.RunAsync(config);
            Assert.Contains($"service {name} is not running, expected running (/etc/init.d/{name} status: exit 3)", stopped.Results[0].Message, StringComparison.Ordinal);
            Assert.Equal(CheckStatus.Passed, stopped.Results[1].Status);

            await File.WriteAllTextAsync(state, "");
            var running = await Suites.RunAsync(config);
            Assert.Equal(CheckStatus.Passed, running.Results[0].Status);
            Assert.Contains("is running, expected stopped", running.Results[1].Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(script);
        }
    }

    private (Stageproof.Core.Configuration.StageproofConfig Config, string Log) LogsSuite()
    {
        var log = _suites.Path("app.log");
        return (_suites.Config($"- {{ name: errors, type: logs, file: {log}, fail: [\" ERROR \"], warn: [\" WARN \"] }}"), log);
    }

    [Fact]
    public async Task Only_log_lines_written_after_the_marker_count()
    {
        var (config, log) = LogsSuite();
        await File.WriteAllTextAsync(log, "2026-11-23 10:00:00 ERROR indexer: old failure, before the change\n2026-11-23 10:00:01 INFO started\n");
        using var runner = new CheckSuiteRunner();
        var env = CheckEnvironment.From(config, "test");
        var marker = await runner.MarkLogsAsync(env, config.SuiteOf("test"), Suites.Local, CancellationToken.None);

        await File.AppendAllTextAsync(log, "2026-11-23 10:05:00 INFO request 200\n");
        var clean = Assert.Single((await Suites.RunAsync(config, marker)).Results);
        Assert.True(clean.Status == CheckStatus.Passed, clean.Message);
        Assert.Equal(1, clean.Measurements["lines"]);

        await File.AppendAllTextAsync(log, "2026-11-23 10:05:01 WARN slow query\n2026-11-23 10:05:02 ERROR indexer: cannot update index\n");
        var failed = Assert.Single((await Suites.RunAsync(config, marker)).Results);
        Assert.Equal(CheckStatus.Failed, failed.Status);
        Assert.Contains("3 new lines since the marker, 1 matching fail patterns (33.33%); first: 2026-11-23 10:05:02 ERROR indexer: cannot update index", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(failed.Evidence, l => l.Contains("old failure", StringComparison.Ordinal));
        Assert.Equal(2, failed.Evidence.Count);
    }

    [Fact]
    public async Task A_suite_run_without_a_marker_reads_only_what_the_run_itself_wrote()
    {
        var (config, log) = LogsSuite();
        await File.WriteAllTextAsync(log, "x ERROR before the run\n");
        var r = Assert.Single((await Suites.RunAsync(config)).Results);
        Assert.True(r.Status == CheckStatus.Passed, r.Message);
        Assert.Equal(0, r.Measurements["lines"]);
    }

    [Fact]
    public async Task A_warning_warns_and_a_rotated_log_is_read_from_its_start()
    {
        var (config, log) = LogsSuite();
        await File.WriteAllTextAsync(log, new string('x', 4000) + "\n");
        using var runner = new CheckSuiteRunner();
        var marker = await runner.MarkLogsAsync(CheckEnvironment.From(config, "test"), config.SuiteOf("test"), Suites.Local, CancellationToken.None);

        File.Move(log, log + ".1");
        await File.WriteAllTextAsync(log, "a WARN disk nearly full\n");
        var r = Assert.Single((await Suites.RunAsync(config, marker)).Results);
        Assert.Equal(CheckStatus.Warned, r.Status);
        Assert.Contains("rotated or truncated", r.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await Suites.RunAsync(config, marker)).ExitCode);
    }
}
