using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Checks;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace AcmeMail.Tests;

/// <summary>Stageproof's check suite against the real acme-mail service: the 1.0 mailbox bug is caught by an auth sequence.</summary>
[Collection("postgres")]
public sealed class StageproofChecksTests(PgFixture pg)
{
    private static string Suite(Uri url, string secrets, string log) => $$"""
        hosts:
          app-1: { transport: local }
        environments:
          test:
            hosts: [app-1]
            databases: { mail: "{{"{DB}"}}" }
            checks: acme-mail
        checks:
          acme-mail:
            - { name: health, type: http, url: "{{url}}health", expect_json: ['$.status == "ok"', '$.db == "ok"'] }
            - name: own-mailbox
              type: auth
              url: "{{url}}"
              credentials: { file: {{secrets}} }
              steps:
                - { method: POST, path: /login, json: { user: "${user}", password: "${password}" }, extract: { token: $.token } }
                - { path: "/mailbox/${user}", headers: { Authorization: "Bearer ${token}" } }
            - name: other-mailbox-refused
              type: auth
              url: "{{url}}"
              user: user01
              credentials: { file: {{secrets}} }
              steps:
                - { method: POST, path: /login, json: { user: "${user}", password: "${password}" }, extract: { token: $.token } }
                - { path: /mailbox/user02, headers: { Authorization: "Bearer ${token}" }, expect_status: 403 }
            - { name: mail-load, type: load, url: "{{url}}", clients: 8, iterations: 40, auth: own-mailbox,
                requests: [{ path: "/search?q=invoice&user=${user}", headers: { Authorization: "Bearer ${token}" } }] }
            - { name: users, type: sql, database: mail, query: "SELECT count(*) FROM users", expect: "50" }
            - { name: log-errors, type: logs, file: {{log}}, fail: [" ERROR ", " FATAL "] }
        """;

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_suite_passes_on_the_fixed_release_and_names_the_mailbox_leak_on_the_old_one(bool enforceOwner)
    {
        Requires.Root();
        Requires.Executable($"{PgServer.Bin}/initdb");
        var db = await pg.Server.CreateSeededDatabaseAsync();
        using var files = new MailFiles(pg.Server, db);
        await using var host = await MailHost.StartAsync(files, new MailAppOptions { EnforceMailboxOwner = enforceOwner });
        var secrets = Path.Combine(files.Dir, "acme-mail.env");
        await File.WriteAllLinesAsync(secrets, Enumerable.Range(1, 50).Select(i => $"user{i:00}=password-{i:00}"));
        File.SetUnixFileMode(secrets, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var yaml = Suite(host.Http.BaseAddress!, secrets, files.Paths.Log).Replace("{DB}", pg.Server.ConnectionString(db), StringComparison.Ordinal);
        var config = ConfigLoader.Parse(yaml, Path.Combine(files.Dir, "stageproof.yaml"));
        using var runner = new CheckSuiteRunner();
        var result = await runner.RunAsync(CheckEnvironment.From(config, "test"), config.SuiteOf("test"),
            new Dictionary<string, ITransport> { ["app-1"] = new LocalTransport("app-1") }, CancellationToken.None);

        var byName = result.Results.ToDictionary(r => r.Name);
        foreach (var name in new[] { "health", "own-mailbox", "mail-load", "users", "log-errors" })
        {
            Assert.True(byName[name].Status == CheckStatus.Passed, $"{name}: {byName[name].Message}");
        }
        Assert.Equal(40 * 3, byName["mail-load"].Load!.Requests); // login, own mailbox, search per iteration
        var leak = byName["other-mailbox-refused"];
        if (enforceOwner)
        {
            Assert.True(leak.Status == CheckStatus.Passed, leak.Message);
            Assert.Equal(0, result.ExitCode);
        }
        else
        {
            Assert.Equal(CheckStatus.Failed, leak.Status);
            Assert.Contains("user user01: GET ", leak.Message, StringComparison.Ordinal);
            Assert.Contains("/mailbox/user02: status 200, expected 403", leak.Message, StringComparison.Ordinal);
            Assert.Equal(1, result.ExitCode);
        }
    }
}
