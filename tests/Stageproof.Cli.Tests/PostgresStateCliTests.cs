using System.Text.Json;
using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>A private PostgreSQL server on this suite's loopback addresses (127.0.17.1-50).</summary>
public sealed class StateCliPostgresFixture : PostgresFixture
{
    public StateCliPostgresFixture()
        : base("127.0.17.", 1, 50)
    {
    }
}

/// <summary>The command line on a PostgreSQL state: chosen by stageproof.yaml or --state, the password never in a URL,
/// and 'state migrate' carrying a SQLite state over with its audit chain.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PostgresStateCliTests(StateCliPostgresFixture pg) : IClassFixture<StateCliPostgresFixture>, IAsyncLifetime
{
    private readonly Scratch _scratch = new();
    private readonly List<string> _databases = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var database in _databases)
        {
            await pg.DropDatabaseAsync(database);
        }
        _scratch.Dispose();
    }

    private async Task<string> FreshDatabaseUrlAsync()
    {
        pg.EnsureAvailable();
        var name = "cli_" + Guid.NewGuid().ToString("N");
        await pg.CreateDatabaseAsync(name);
        _databases.Add(name);
        return $"postgres://postgres@{pg.Address}:{pg.Port}/{name}";
    }

    /// <summary>Runs the real command line with only the arguments given (no --state added).</summary>
    private async Task<CliRun> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var all = new List<string> { "--config", Path.Combine(_scratch.Dir, "stageproof.yaml") };
        all.AddRange(args);
        var code = await StageproofCli.RunAsync(all.ToArray(), stdout, stderr);
        return new CliRun { ExitCode = code, Stdout = stdout.ToString(), Stderr = stderr.ToString() };
    }

    [SkippableFact]
    public async Task A_state_url_in_stageproof_yaml_serves_every_verb_with_the_audit_key_from_audit_key_file()
    {
        var url = await FreshDatabaseUrlAsync();
        _scratch.Write("stageproof.yaml", $"state: {url}\naudit_key_file: keys/audit.key\n");

        var add = await RunAsync("user", "add", "alice", "--role", "admin");
        Assert.True(add.ExitCode == ExitCodes.Ok, add.ToString());
        var list = await RunAsync("--json", "user", "list");
        Assert.True(list.ExitCode == ExitCodes.Ok, list.ToString());
        Assert.Contains("alice", list.Stdout, StringComparison.Ordinal);

        var verify = await RunAsync("--json", "audit", "verify");
        Assert.True(verify.ExitCode == ExitCodes.Ok, verify.ToString());
        Assert.True(verify.Json.GetProperty("ok").GetBoolean());
        Assert.Contains("sealed with audit key", verify.Json.GetProperty("message").GetString(), StringComparison.Ordinal);
        var anchor = await RunAsync("audit", "anchor", "-o", Path.Combine(_scratch.Dir, "anchor.json"));
        Assert.True(anchor.ExitCode == ExitCodes.Ok, anchor.ToString());
        var anchored = await RunAsync("audit", "verify", "--anchor", Path.Combine(_scratch.Dir, "anchor.json"));
        Assert.True(anchored.ExitCode == ExitCodes.Ok, anchored.ToString());

        // The key lives where audit_key_file says, private; nothing was written as a SQLite state.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_scratch.Dir, "keys", "audit.key")));
        Assert.False(File.Exists(Path.Combine(_scratch.Dir, ".stageproof", "state.db")));

        // A machine without the state's key is refused, and no fresh key is made for it (it would seal what no one else verifies).
        _scratch.Write("stageproof.yaml", $"state: {url}\naudit_key_file: keys/other.key\n");
        var missing = await RunAsync("audit", "verify");
        Assert.True(missing.ExitCode == ExitCodes.BadInput, missing.ToString());
        Assert.Contains($"audit key {Path.Combine(_scratch.Dir, "keys", "other.key")} is missing", missing.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_scratch.Dir, "keys", "other.key")));

        // A machine with another key is refused too, naming both.
        var otherKey = Path.Combine(_scratch.Dir, "keys", "other.key");
        File.WriteAllBytes(otherKey, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        File.SetUnixFileMode(otherKey, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var other = await RunAsync("audit", "verify");
        Assert.True(other.ExitCode == ExitCodes.BadInput, other.ToString());
        Assert.Contains("this state is sealed under audit key", other.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task State_on_the_command_line_wins_over_stageproof_yaml()
    {
        var yamlState = await FreshDatabaseUrlAsync();
        var cliState = await FreshDatabaseUrlAsync();
        _scratch.Write("stageproof.yaml", $"state: {yamlState}\naudit_key_file: keys/audit.key\n");

        var add = await RunAsync("--state", cliState, "user", "add", "bob", "--role", "operator");
        Assert.True(add.ExitCode == ExitCodes.Ok, add.ToString());

        Assert.Contains("bob", (await RunAsync("--json", "--state", cliState, "user", "list")).Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("bob", (await RunAsync("--json", "user", "list")).Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_password_in_the_state_url_is_refused_in_one_line_naming_where_it_came_from()
    {
        pg.EnsureAvailable();
        var onCommandLine = await RunAsync("--state", $"postgres://postgres:hunter2@{pg.Address}:{pg.Port}/x", "audit", "verify");
        Assert.True(onCommandLine.ExitCode == ExitCodes.BadInput, onCommandLine.ToString());
        Assert.StartsWith("error: --state: the state URL carries a password, which is refused", onCommandLine.Stderr, StringComparison.Ordinal);
        Assert.Single(onCommandLine.Stderr.Trim().Split('\n'));
        Assert.DoesNotContain("hunter2", onCommandLine.Stderr, StringComparison.Ordinal);

        _scratch.Write("stageproof.yaml", $"# estate\nstate: postgres://postgres:hunter2@{pg.Address}:{pg.Port}/x\n");
        var inYaml = await RunAsync("audit", "verify");
        Assert.True(inYaml.ExitCode == ExitCodes.BadInput, inYaml.ToString());
        Assert.Contains("stageproof.yaml:2:", inYaml.Stderr, StringComparison.Ordinal);
        Assert.Contains("state: the state URL carries a password", inYaml.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", inYaml.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task State_migrate_copies_a_sqlite_state_with_its_chain_verified_on_arrival_and_refuses_a_non_empty_target()
    {
        var url = await FreshDatabaseUrlAsync();
        _scratch.Write("stageproof.yaml", "hosts: {}\n");
        foreach (var (name, role) in new[] { (Environment.UserName, "admin"), ("carol", "approver"), ("dave", "operator"), ("erin", "viewer") })
        {
            var add = await CliRun.InAsync(_scratch.Dir, "user", "add", name, "--role", role);
            Assert.True(add.ExitCode == ExitCodes.Ok, add.ToString());
        }
        var token = await CliRun.InAsync(_scratch.Dir, "token", "create", "dave", "-o", Path.Combine(_scratch.Dir, "dave.token"));
        Assert.True(token.ExitCode == ExitCodes.Ok, token.ToString());
        var source = (await CliRun.InAsync(_scratch.Dir, "--json", "audit", "verify")).Json;
        var sourceEvents = source.GetProperty("events").GetInt32();
        var sourceDir = Path.Combine(_scratch.Dir, ".stageproof");

        var migrate = await RunAsync("--json", "state", "migrate", "--from", sourceDir, "--to", url);
        Assert.True(migrate.ExitCode == ExitCodes.Ok, migrate.ToString());
        Assert.Equal(sourceEvents, migrate.Json.GetProperty("auditEvents").GetInt32());
        Assert.Equal(3, migrate.Json.GetProperty("tables").GetProperty("users").GetInt64() - 1);
        Assert.Equal(1, migrate.Json.GetProperty("tables").GetProperty("api_tokens").GetInt64());

        // On the new state: the same users, the token still valid (its seal verifies under the same key), the chain
        // verifying with one more event (the migration itself).
        var users = await RunAsync("--json", "--state", url, "user", "list");
        Assert.Equal(new[] { "carol", "dave", "erin", Environment.UserName }.Order(StringComparer.Ordinal),
            users.Json.EnumerateArray().Select(u => u.GetProperty("name").GetString()!));
        var asDave = await RunAsync("--state", url, "--token-file", Path.Combine(_scratch.Dir, "dave.token"), "--json", "audit", "verify");
        Assert.True(asDave.ExitCode == ExitCodes.Ok, asDave.ToString());
        Assert.True(asDave.Json.GetProperty("events").GetInt32() >= sourceEvents + 1);

        var again = await RunAsync("state", "migrate", "--from", sourceDir, "--to", url);
        Assert.True(again.ExitCode == ExitCodes.BadInput, again.ToString());
        Assert.Contains("the target state is not empty", again.Stderr, StringComparison.Ordinal);

        // A tampered source is a finding, and nothing is copied.
        await _scratch.ExecuteSqlAsync("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2");
        var target = await FreshDatabaseUrlAsync();
        var tampered = await RunAsync("state", "migrate", "--from", sourceDir, "--to", target);
        Assert.True(tampered.ExitCode == ExitCodes.Finding, tampered.ToString());
        Assert.Contains("the audit chain does not verify, so nothing was copied", tampered.Stderr, StringComparison.Ordinal);
        var empty = await RunAsync("--json", "--state", target, "audit", "verify");
        Assert.Equal(0, empty.Json.GetProperty("events").GetInt32());
    }
}
