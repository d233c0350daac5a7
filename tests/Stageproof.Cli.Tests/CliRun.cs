using System.Text.Json;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>Runs the real command line in-process in a scratch directory and captures what it printed.</summary>
internal sealed class CliRun
{
    public required int ExitCode { get; init; }
    public required string Stdout { get; init; }
    public required string Stderr { get; init; }

    public JsonElement Json => JsonDocument.Parse(Stdout).RootElement;

    public static Task<CliRun> InAsync(string directory, params string[] args) => WithConfigAsync(directory, "stageproof.yaml", args);

    /// <summary>Runs as if it were <paramref name="later"/> from now (the machine's clock shifted for this run only), for
    /// expiries that cannot be waited for.</summary>
    public static async Task<CliRun> InAsync(string directory, TimeSpan later, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var all = new List<string> { "--config", Path.Combine(directory, "stageproof.yaml"), "--state", Path.Combine(directory, ".stageproof") };
        all.AddRange(args);
        var code = await StageproofCli.RunAsync(all.ToArray(), stdout, stderr, new ShiftedClock(later));
        return new CliRun { ExitCode = code, Stdout = stdout.ToString(), Stderr = stderr.ToString() };
    }

    private sealed class ShiftedClock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + offset;
    }

    /// <summary>Runs with another configuration file of the directory (same state).</summary>
    public static async Task<CliRun> WithConfigAsync(string directory, string configFile, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var all = new List<string> { "--config", Path.Combine(directory, configFile), "--state", Path.Combine(directory, ".stageproof") };
        all.AddRange(args);
        var code = await StageproofCli.RunAsync(all.ToArray(), stdout, stderr);
        return new CliRun { ExitCode = code, Stdout = stdout.ToString(), Stderr = stderr.ToString() };
    }

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";

    /// <summary>Adds the OS user as admin, then carol and erin as approvers with token files; returns the files by name.</summary>
    public static async Task<Dictionary<string, string>> ApproversAsync(Scratch scratch)
    {
        var me = Environment.UserName;
        var tokens = new Dictionary<string, string>();
        foreach (var (name, role) in new[] { (me, "admin"), ("carol", "approver"), ("erin", "approver") })
        {
            var add = await InAsync(scratch.Dir, "user", "add", name, "--role", role);
            Assert.True(add.ExitCode == Core.ExitCodes.Ok, add.ToString());
            if (name != me)
            {
                tokens[name] = Path.Combine(scratch.Dir, name + ".token");
                var token = await InAsync(scratch.Dir, "token", "create", name, "-o", tokens[name]);
                Assert.True(token.ExitCode == Core.ExitCodes.Ok, token.ToString());
            }
        }
        return tokens;
    }
}

/// <summary>A scratch directory removed at the end of the test.</summary>
internal sealed class Scratch : IDisposable
{
    public string Dir { get; } = ScratchDirectory.Create("stageproof-cli-");

    public string Write(string name, string content)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>Runs SQL straight on the state's database, as someone who bypasses Stageproof would; returns the rows changed.</summary>
    public async Task<int> ExecuteSqlAsync(string sql)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(Dir, ".stageproof", "state.db")};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteNonQueryAsync();
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
