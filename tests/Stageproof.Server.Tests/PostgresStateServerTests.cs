using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Stageproof.Cli;
using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Server.Tests;

/// <summary>A private PostgreSQL server on this suite's loopback addresses (127.0.17.1-50).</summary>
public sealed class ServerStatePostgresFixture : PostgresFixture
{
    public ServerStatePostgresFixture()
        : base("127.0.17.", 1, 50)
    {
    }
}

/// <summary><c>stageproof serve</c> over a PostgreSQL state named by stageproof.yaml: the state the CLI wrote is the one
/// the API reads, and the API's audit verification runs on it.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PostgresStateServerTests(ServerStatePostgresFixture pg) : IClassFixture<ServerStatePostgresFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stageproof-server-pg-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<string> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await StageproofCli.RunAsync(["--config", Path.Combine(_dir, "stageproof.yaml"), .. args], stdout, stderr);
        Assert.True(code == ExitCodes.Ok, $"exit {code}: {stderr}");
        return stdout.ToString();
    }

    [SkippableFact]
    public async Task The_server_opens_the_postgres_state_of_stageproof_yaml_and_verifies_its_audit_chain()
    {
        pg.EnsureAvailable();
        var database = "srv_" + Guid.NewGuid().ToString("N");
        await pg.CreateDatabaseAsync(database);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(_dir, "stageproof.yaml"),
                $"state: postgres://postgres@{pg.Address}:{pg.Port}/{database}\naudit_key_file: audit.key\nhosts:\n  web-1: {{ transport: local }}\n");
            await CliAsync("user", "add", Environment.UserName, "--role", "admin");
            var token = JsonDocument.Parse(await CliAsync("--json", "token", "create", Environment.UserName)).RootElement.GetProperty("token").GetString()!;

            var options = new ServerOptions { Urls = "http://127.0.17.50:0", ConfigPath = Path.Combine(_dir, "stageproof.yaml"), StateDirectory = Path.Combine(_dir, ".stageproof") };
            await using var app = await StageproofServer.BuildAsync(options, TimeProvider.System, CancellationToken.None);
            await app.StartAsync();
            try
            {
                var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
                using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TestLoopback.RequestLiveness };
                client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);

                using var users = await client.GetAsync("/api/v1/users");
                Assert.Equal(HttpStatusCode.OK, users.StatusCode);
                Assert.Contains(Environment.UserName, await users.Content.ReadAsStringAsync(), StringComparison.Ordinal);

                using var verify = await client.GetAsync("/api/v1/audit/verify");
                Assert.Equal(HttpStatusCode.OK, verify.StatusCode);
                var result = JsonDocument.Parse(await verify.Content.ReadAsStringAsync()).RootElement;
                Assert.True(result.GetProperty("ok").GetBoolean(), result.ToString());
                Assert.True(result.GetProperty("events").GetInt32() >= 2);
                Assert.Contains("sealed with audit key", result.GetProperty("message").GetString(), StringComparison.Ordinal);
            }
            finally
            {
                await app.StopAsync();
            }
            // Nothing went into a SQLite state beside it.
            Assert.False(File.Exists(Path.Combine(_dir, ".stageproof", "state.db")));
        }
        finally
        {
            await pg.DropDatabaseAsync(database);
        }
    }
}
