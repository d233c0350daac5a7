using Stageproof.Core;

namespace Stageproof.Cli.Tests;

/// <summary>
/// The outermost handler: whatever a verb did not expect becomes one line naming what failed, with exit 3; the
/// trace only with --debug. Never a stack trace, never exit 134.
/// </summary>
public class UnexpectedErrorCliTests
{
    private static async Task<CliRun> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await StageproofCli.RunAsync(args, stdout, stderr);
        return new CliRun { ExitCode = code, Stdout = stdout.ToString(), Stderr = stderr.ToString() };
    }

    private static void OneLineWithoutTrace(CliRun run, params string[] mentions)
    {
        var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, run.ToString());
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", run.Stderr, StringComparison.Ordinal);
        foreach (var mention in mentions)
        {
            Assert.Contains(mention, lines[0], StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_state_directory_that_is_a_file_is_one_line_naming_it_and_exit_3()
    {
        using var scratch = new Scratch();
        var state = scratch.Write("state", "not a directory");
        var run = await RunAsync("--state", state, "patch", "list");
        Assert.Equal(ExitCodes.Infrastructure, run.ExitCode);
        OneLineWithoutTrace(run, state);
        Assert.Equal("not a directory", File.ReadAllText(state));
    }

    [Fact]
    public async Task A_state_database_that_is_a_directory_is_one_line_naming_the_state_and_exit_3()
    {
        using var scratch = new Scratch();
        var state = Path.Combine(scratch.Dir, "state");
        Directory.CreateDirectory(Path.Combine(state, "state.db"));
        foreach (var verb in new[] { new[] { "patch", "list" }, new[] { "audit", "verify" } })
        {
            var run = await RunAsync(["--state", state, .. verb]);
            Assert.Equal(ExitCodes.Infrastructure, run.ExitCode);
            OneLineWithoutTrace(run, "state store " + state);
        }
    }

    [Fact]
    public async Task Debug_shows_the_full_trace_after_the_line()
    {
        using var scratch = new Scratch();
        var state = scratch.Write("state", "not a directory");
        var run = await RunAsync("--state", state, "--debug", "patch", "list");
        Assert.Equal(ExitCodes.Infrastructure, run.ExitCode);
        Assert.StartsWith("error: i/o error: ", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("--debug shows", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("System.IO.IOException", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("   at ", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_file_a_verb_would_write_is_checked_before_it_starts_and_a_bad_path_is_exit_2()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", "hosts:\n  web-1: { transport: local }\nenvironments:\n  prod: { hosts: [web-1], checks: s }\n" +
                                         "checks:\n  s: [{ name: up, type: tcp, port: 9 }]\n");
        var missing = Path.Combine(scratch.Dir, "missing");
        var cases = new[]
        {
            (new[] { "stage", new string('a', 64), "--env", "prod", "--html", Path.Combine(missing, "r.html") }, "--html: folder " + missing + " does not exist"),
            (new[] { "stage", new string('a', 64), "--env", "prod", "--junit", Path.Combine(missing, "r.xml") }, "--junit: folder " + missing + " does not exist"),
            (new[] { "stage", new string('a', 64), "--env", "prod", "--html", scratch.Dir }, $"--html: {scratch.Dir} is a folder, not a file"),
            (new[] { "compliance", "--html", Path.Combine(missing, "c.html") }, "--html: folder " + missing + " does not exist"),
            (new[] { "audit", "export", "-o", Path.Combine(missing, "a.jsonl") }, "--output: folder " + missing + " does not exist"),
            (new[] { "scan", "prod", "-o", Path.Combine(missing, "d.yaml") }, "--output: folder " + missing + " does not exist"),
        };
        foreach (var (args, message) in cases)
        {
            var run = await CliRun.InAsync(scratch.Dir, args);
            Assert.True(run.ExitCode == ExitCodes.BadInput, string.Join(' ', args) + ": " + run);
            Assert.Contains(message, run.Stderr, StringComparison.Ordinal);
        }
        // Nothing ran: no stage, no report, no export was recorded.
        var audit = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.DoesNotContain(audit.Json.EnumerateArray(), e => e.GetProperty("action").GetString() is "stage.start" or "compliance.report" or "scan");
        Assert.False(Directory.Exists(missing));

        var init = await RunAsync("--config", Path.Combine(missing, "stageproof.yaml"), "--state", Path.Combine(scratch.Dir, "s2"), "init");
        Assert.Equal(ExitCodes.BadInput, init.ExitCode);
        Assert.Contains("--config: folder " + missing + " does not exist", init.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_report_is_written_whole_or_not_at_all()
    {
        using var scratch = new Scratch();
        var output = Directory.CreateDirectory(Path.Combine(scratch.Dir, "out")).FullName;
        var target = Path.Combine(output, "audit.jsonl");
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "init")).ExitCode);
        var run = await CliRun.InAsync(scratch.Dir, "audit", "export", "-o", target);
        Assert.Equal(ExitCodes.Ok, run.ExitCode);
        Assert.Contains("config.init", Assert.Single(File.ReadAllLines(target)), StringComparison.Ordinal);
        // Written beside the target and renamed: no temporary or probe file is left behind.
        Assert.Equal(["audit.jsonl"], Directory.GetFiles(output).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Terminal_escapes_from_outside_are_printed_escaped()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", "hosts:\n  web-1: { transport: local }\nenvironments:\n  prod: { hosts: [web-1] }\n");
        var run = await CliRun.InAsync(scratch.Dir, "facts", "pr\u001b[2J\u001b]0;owned\u0007od\u009b31m");
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.DoesNotContain('\u001b', run.Stderr);
        Assert.DoesNotContain('\u0007', run.Stderr);
        Assert.DoesNotContain('\u009b', run.Stderr);
        Assert.Contains("pr\\x1b[2J\\x1b]0;owned\\x07od\\x9b31m", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_actor_with_terminal_escapes_is_stored_as_given_and_shown_escaped_in_every_table()
    {
        using var scratch = new Scratch();
        var init = await CliRun.InAsync(scratch.Dir, "--actor", "eve\u001b[2J\u001b[31m", "init");
        Assert.Equal(ExitCodes.Ok, init.ExitCode);
        var table = await CliRun.InAsync(scratch.Dir, "audit", "log");
        Assert.DoesNotContain('\u001b', table.Stdout);
        Assert.Contains("eve\\x1b[2J\\x1b[31m", table.Stdout, StringComparison.Ordinal);
        // The record keeps exactly what was given (JSON escapes it its own way).
        var json = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.Equal("eve\u001b[2J\u001b[31m", json.Json[0].GetProperty("actor").GetString());
    }

    [Theory]
    [InlineData("plain text, tabs\tand\nnewlines", "plain text, tabs\tand\nnewlines")]
    [InlineData("\u001b[31mred", "\\x1b[31mred")]
    [InlineData("bell\u0007 nul\u0000 del\u007f", "bell\\x07 nul\\x00 del\\x7f")]
    [InlineData("csi\u009b1m", "csi\\x9b1m")]
    [InlineData("bidi \u202eevil\u2066", "bidi \\u202eevil\\u2066")]
    public void Printable_escapes_every_control_character_but_newline_and_tab(string text, string expected) =>
        Assert.Equal(expected, Infrastructure.Ui.Printable(text));
}

/// <summary>Private state as seen from the command line: a warning for a readable one, a clear refusal for a stranger.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class PrivateStateCliTests
{
    [Fact]
    public async Task A_state_directory_others_can_read_gets_a_warning_and_the_verb_still_runs()
    {
        using var scratch = new Scratch();
        var state = Path.Combine(scratch.Dir, ".stageproof");
        Directory.CreateDirectory(state);
        File.SetUnixFileMode(state, (UnixFileMode)Convert.ToInt32("755", 8));
        var run = await CliRun.InAsync(scratch.Dir, "--json", "patch", "list");
        Assert.Equal(ExitCodes.Ok, run.ExitCode);
        Assert.Equal(0, run.Json.GetArrayLength());
        Assert.Contains($"warning: {state} is readable by others (mode 0755)", run.Stderr, StringComparison.Ordinal);

        File.SetUnixFileMode(state, (UnixFileMode)Convert.ToInt32("700", 8));
        Assert.DoesNotContain("warning", (await CliRun.InAsync(scratch.Dir, "--json", "patch", "list")).Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task An_unprivileged_user_cannot_read_a_state_made_by_root_and_is_told_so_in_one_line()
    {
        Stageproof.Testing.Requires.Root();
        using var scratch = new Scratch();
        File.SetUnixFileMode(scratch.Dir, (UnixFileMode)Convert.ToInt32("755", 8));
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "audit", "verify")).ExitCode);
        var state = Path.Combine(scratch.Dir, ".stageproof");
        Assert.Equal((UnixFileMode)Convert.ToInt32("700", 8), File.GetUnixFileMode(state));

        // The real binary, run as nobody (runuser: no shell, arguments passed as they are).
        var dll = Path.Combine(AppContext.BaseDirectory, "stageproof.dll");
        var psi = new System.Diagnostics.ProcessStartInfo("runuser") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-u", "nobody", "--", "dotnet", dll, "--state", state, "patch", "list" })
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["DOTNET_CLI_HOME"] = "/tmp";
        psi.Environment["HOME"] = "/tmp";
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();

        Assert.True(p.ExitCode == ExitCodes.Infrastructure, $"exit {p.ExitCode}: {stderr}");
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: permission denied: ", line, StringComparison.Ordinal);
        Assert.Contains(state, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }
}
