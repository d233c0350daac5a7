using Microsoft.Data.Sqlite;
using Stageproof.Core;

namespace Stageproof.Cli.Tests;

public class AuditCliTests
{
    private static async Task<Scratch> WithEventsAsync()
    {
        var scratch = new Scratch();
        scratch.Write("stageproof.yaml", "hosts:\n  me: { transport: local }\nenvironments:\n  prod: { hosts: [me] }\n");
        for (var i = 0; i < 3; i++)
        {
            var run = await CliRun.InAsync(scratch.Dir, "--actor", $"alice{i}", "init", "--force");
            Assert.True(run.ExitCode == 0, run.ToString());
        }
        return scratch;
    }

    private static async Task ExecAsync(Scratch scratch, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(scratch.Dir, ".stageproof", "state.db")};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task An_intact_chain_verifies_and_the_actor_is_recorded()
    {
        using var scratch = await WithEventsAsync();
        var verify = await CliRun.InAsync(scratch.Dir, "audit", "verify");
        Assert.True(verify.ExitCode == ExitCodes.Ok, verify.ToString());
        var log = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.Equal(["alice0", "alice1", "alice2"], log.Json.EnumerateArray().Select(e => e.GetProperty("actor").GetString()));
    }

    [Theory]
    [InlineData("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2", "#2", "altered")]
    [InlineData("DELETE FROM audit_events WHERE seq = 2", "#2", "missing")]
    public async Task Tampering_with_a_stored_event_is_named_by_audit_verify_with_exit_1(string sql, string names, string how)
    {
        using var scratch = await WithEventsAsync();
        await ExecAsync(scratch, sql);
        var verify = await CliRun.InAsync(scratch.Dir, "audit", "verify");
        Assert.Equal(ExitCodes.Finding, verify.ExitCode);
        Assert.Contains(names, verify.Stderr);
        Assert.Contains(how, verify.Stderr);
    }

    [Fact]
    public async Task Export_writes_one_json_object_per_event()
    {
        using var scratch = await WithEventsAsync();
        var export = await CliRun.InAsync(scratch.Dir, "audit", "export");
        var lines = export.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.Contains("\"hash\"", l));
    }
}
