using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>Schema fingerprints taken from a real PostgreSQL server that the test starts.</summary>
public class SchemaDriftCliTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    [SkippableFact]
    public async Task An_added_index_changes_the_fingerprint_and_drift_names_it()
    {
        pg.EnsureAvailable();
        const string schema = "CREATE TABLE messages (id bigserial PRIMARY KEY, owner text NOT NULL, subject text, body text);";
        await pg.ExecuteAsync("CREATE DATABASE mail_a");
        await pg.ExecuteAsync("CREATE DATABASE mail_b");
        await pg.ExecuteAsync(schema, "mail_a");
        await pg.ExecuteAsync(schema, "mail_b");
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", $"""
            hosts:
              a-1: {"{"} transport: local, role: app {"}"}
              b-1: {"{"} transport: local, role: app {"}"}
            environments:
              prod: {"{"} hosts: [a-1], databases: {"{"} mail: "{pg.ConnectionStringFor("mail_a")}" {"}"} {"}"}
              staging: {"{"} hosts: [b-1], databases: {"{"} mail: "{pg.ConnectionStringFor("mail_b")}" {"}"}, mirror_of: prod {"}"}
            """);

        var before = await CliRun.InAsync(scratch.Dir, "--json", "facts", "staging");
        Assert.True(before.ExitCode == ExitCodes.Ok, before.ToString());
        var same = await CliRun.InAsync(scratch.Dir, "--json", "drift", "prod", "staging");
        Assert.True(same.ExitCode == ExitCodes.Ok, same.ToString());
        Assert.All(same.Json.GetProperty("drift").GetProperty("databases").EnumerateArray(),
            d => Assert.Equal(0, d.GetProperty("drift").GetProperty("items").GetArrayLength()));

        await pg.ExecuteAsync("CREATE INDEX messages_owner_idx ON messages (owner)", "mail_b");
        var after = await CliRun.InAsync(scratch.Dir, "--json", "facts", "staging");
        string Fingerprint(CliRun run) => run.Json.GetProperty("manifests").EnumerateArray()
            .Single(m => m.GetProperty("manifest").GetProperty("kind").GetString() == "database")
            .GetProperty("manifest").GetProperty("database").GetProperty("schema").GetProperty("digest").GetString()!;
        Assert.NotEqual(Fingerprint(before), Fingerprint(after));

        var drift = await CliRun.InAsync(scratch.Dir, "--json", "drift", "prod", "staging");
        var item = Assert.Single(drift.Json.GetProperty("drift").GetProperty("databases").EnumerateArray()
            .SelectMany(d => d.GetProperty("drift").GetProperty("items").EnumerateArray()));
        Assert.Equal("schema-object", item.GetProperty("category").GetString());
        Assert.Contains("messages_owner_idx", item.GetProperty("key").GetString());
        Assert.False(item.TryGetProperty("left", out var left) && left.ValueKind == System.Text.Json.JsonValueKind.String);
    }
}
