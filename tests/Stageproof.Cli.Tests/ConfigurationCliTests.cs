using Stageproof.Core;

namespace Stageproof.Cli.Tests;

public class ConfigurationCliTests
{
    [Fact]
    public async Task Init_writes_an_example_that_loads_and_refuses_to_overwrite_it()
    {
        using var scratch = new Scratch();
        var first = await CliRun.InAsync(scratch.Dir, "init");
        Assert.True(first.ExitCode == ExitCodes.Ok, first.ToString());
        Assert.True(File.Exists(Path.Combine(scratch.Dir, "stageproof.yaml")));
        Core.Configuration.ConfigLoader.Load(Path.Combine(scratch.Dir, "stageproof.yaml"));

        var second = await CliRun.InAsync(scratch.Dir, "init");
        Assert.Equal(ExitCodes.BadInput, second.ExitCode);
        Assert.Contains("already exists", second.Stderr);
    }

    [Fact]
    public async Task A_misspelled_key_is_reported_with_file_line_column_and_key_and_exit_2()
    {
        using var scratch = new Scratch();
        var path = scratch.Write("stageproof.yaml", """
            hosts:
              web-1:
                adress: 127.0.0.1
            environments:
              prod: { hosts: [web-1] }
            """);
        var run = await CliRun.InAsync(scratch.Dir, "facts", "prod");
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Contains($"{path}:3:5", run.Stderr);
        Assert.Contains("adress", run.Stderr);
        Assert.Contains("did you mean 'address'", run.Stderr);
    }

    [Fact]
    public async Task An_unknown_fail_on_severity_is_reported_where_it_stands()
    {
        using var scratch = new Scratch();
        var path = scratch.Write("stageproof.yaml", "hosts:\n  web-1: { transport: local }\nenvironments:\n  prod: { hosts: [web-1] }\ndrift:\n  fail_on: critical\n");
        var run = await CliRun.InAsync(scratch.Dir, "facts", "prod");
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Contains($"{path}:6:12", run.Stderr);
        Assert.Contains("drift.fail_on", run.Stderr);
    }

    [Theory]
    [InlineData("web;rm -rf /")]
    [InlineData("web$(id)")]
    [InlineData("web`id`")]
    [InlineData("we'b")]
    public async Task A_hostile_host_name_in_the_configuration_is_refused_before_any_host_is_contacted(string name)
    {
        using var scratch = new Scratch();
        var quoted = "\"" + name.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
        scratch.Write("stageproof.yaml", $"hosts:\n  {quoted}: {{ transport: local }}\nenvironments:\n  prod: {{ hosts: [{quoted}] }}\n");
        var run = await CliRun.InAsync(scratch.Dir, "--json", "facts", "prod");
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Equal("", run.Stdout);
        Assert.False(Directory.Exists(Path.Combine(scratch.Dir, ".stageproof")), "nothing may be recorded for a bad configuration");
    }

    [Fact]
    public async Task A_hostile_target_is_an_unknown_target_with_exit_2()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", """
            hosts:
              web-1: { transport: local }
            environments:
              prod: { hosts: [web-1] }
            """);
        var run = await CliRun.InAsync(scratch.Dir, "facts", "prod;$(touch /tmp/pwned)");
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Contains("neither an environment", run.Stderr);
    }

    [Fact]
    public async Task A_usage_error_exits_2()
    {
        using var scratch = new Scratch();
        var run = await CliRun.InAsync(scratch.Dir, "drift", "only-one");
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
    }
}
