using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>MariaDB databases through the verbs: facts and drift of a real private MariaDB server, and the engine's config errors.</summary>
public class MariaDbCliTests(MariaDbFixture db) : IClassFixture<MariaDbFixture>
{
    [SkippableFact]
    public async Task Facts_and_drift_of_mariadb_databases_name_an_added_index()
    {
        db.EnsureAvailable();
        const string schema = "CREATE TABLE messages (id bigint AUTO_INCREMENT PRIMARY KEY, owner varchar(64) NOT NULL, subject text);";
        await db.DropDatabaseAsync("cli_a");
        await db.DropDatabaseAsync("cli_b");
        await db.CreateDatabaseAsync("cli_a");
        await db.CreateDatabaseAsync("cli_b");
        await db.ExecuteAsync(schema, "cli_a");
        await db.ExecuteAsync(schema, "cli_b");
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", $"""
            hosts:
              a-1: {"{"} transport: local, role: app {"}"}
              b-1: {"{"} transport: local, role: app {"}"}
            environments:
              prod:
                hosts: [a-1]
                databases: {"{"} mail: {"{"} engine: mariadb, connection: "{db.ConnectionStringFor("cli_a")}" {"}"} {"}"}
              staging:
                hosts: [b-1]
                mirror_of: prod
                databases: {"{"} mail: "{db.EndpointFor("cli_b")}" {"}"}
            """);

        var show = await CliRun.InAsync(scratch.Dir, "config", "show");
        Assert.Contains("mail (mariadb)", show.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(MariaDbFixture.Password, show.ToString(), StringComparison.Ordinal);
        var facts = await CliRun.InAsync(scratch.Dir, "facts", "prod", "staging");
        Assert.True(facts.ExitCode == ExitCodes.Ok, facts.ToString());
        Assert.Contains("MariaDB", facts.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(MariaDbFixture.Password, facts.ToString(), StringComparison.Ordinal);
        var same = await CliRun.InAsync(scratch.Dir, "--json", "drift", "prod", "staging");
        Assert.True(same.ExitCode == ExitCodes.Ok, same.ToString());

        await db.ExecuteAsync("CREATE INDEX messages_owner_idx ON messages (owner)", "cli_b");
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "facts", "staging")).ExitCode);
        var drift = await CliRun.InAsync(scratch.Dir, "--json", "drift", "prod", "staging");
        var item = Assert.Single(drift.Json.GetProperty("drift").GetProperty("databases").EnumerateArray()
            .SelectMany(d => d.GetProperty("drift").GetProperty("items").EnumerateArray()));
        Assert.Equal("schema-object", item.GetProperty("category").GetString());
        Assert.Contains("messages_owner_idx", item.GetProperty("key").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_engine_is_one_line_naming_the_file_line_and_key_exit_2()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", """
            hosts:
              a-1: { transport: local }
            environments:
              prod:
                hosts: [a-1]
                databases:
                  mail: { engine: oracle, connection: "Server=127.0.0.1;Database=mail" }
            """);

        var run = await CliRun.InAsync(scratch.Dir, "config", "show");

        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Contains("stageproof.yaml:7:", run.ToString(), StringComparison.Ordinal);
        Assert.Contains("environments.prod.databases.mail.engine: unknown database engine 'oracle' (known: postgres, mariadb, mysql)", run.ToString(), StringComparison.Ordinal);
    }
}
