using Stageproof.Application.Identity;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core;
using Stageproof.Data;

namespace Stageproof.Cli.Tests;

/// <summary><c>user password NAME --password-file F</c>: a password only from a private file (or the terminal), long
/// enough, set by its user or an admin, and then good for a login.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class UserPasswordCliTests
{
    private const string Config = """
        hosts:
          web-1: { transport: local }
        environments:
          prod: { hosts: [web-1] }
        """;

    private static readonly string Me = Environment.UserName;

    private static async Task PeopleAsync(Scratch scratch)
    {
        scratch.Write("stageproof.yaml", Config);
        foreach (var (name, role) in new[] { (Me, "admin"), ("carol", "approver"), ("erin", "operator") })
        {
            var add = await CliRun.InAsync(scratch.Dir, "user", "add", name, "--role", role);
            Assert.True(add.ExitCode == ExitCodes.Ok, add.ToString());
        }
    }

    private static string PasswordFile(Scratch scratch, string name, string password, UnixFileMode mode)
    {
        var path = scratch.Write(name, password + "\n");
        File.SetUnixFileMode(path, mode);
        return path;
    }

    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public async Task A_password_file_that_group_or_others_may_read_is_refused_naming_it_and_its_mode()
    {
        using var scratch = new Scratch();
        await PeopleAsync(scratch);
        var file = PasswordFile(scratch, "carol.password", "a long enough password", Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var set = await CliRun.InAsync(scratch.Dir, "user", "password", "carol", "--password-file", file);
        Assert.True(set.ExitCode == ExitCodes.BadInput, set.ToString());
        Assert.Contains($"--password-file {file}: mode 0644 lets group or others read it", set.Stderr, StringComparison.Ordinal);
        Assert.Single(set.Stderr.Trim().Split('\n'));
        await AssertNoPasswordAsync(scratch, "carol");
    }

    [Fact]
    public async Task A_password_shorter_than_twelve_characters_is_refused()
    {
        using var scratch = new Scratch();
        await PeopleAsync(scratch);
        var file = PasswordFile(scratch, "carol.password", "too short", Private);

        var set = await CliRun.InAsync(scratch.Dir, "user", "password", "carol", "--password-file", file);
        Assert.True(set.ExitCode == ExitCodes.BadInput, set.ToString());
        Assert.Contains($"--password-file {file}: the password has 9 characters; at least 12 are needed", set.Stderr, StringComparison.Ordinal);
        await AssertNoPasswordAsync(scratch, "carol");
    }

    [Fact]
    public async Task An_admin_sets_a_password_that_then_logs_its_user_in_and_others_may_set_only_their_own()
    {
        using var scratch = new Scratch();
        await PeopleAsync(scratch);
        var file = PasswordFile(scratch, "carol.password", "correct horse battery", Private);

        var set = await CliRun.InAsync(scratch.Dir, "user", "password", "carol", "--password-file", file);
        Assert.True(set.ExitCode == ExitCodes.Ok, set.ToString());
        Assert.Contains("carol: password set", set.Stdout, StringComparison.Ordinal);
        await using (var store = await OpenAsync(scratch))
        {
            var login = await PasswordAuthenticator.VerifyAsync(store, "carol", "correct horse battery", DateTimeOffset.UtcNow, CancellationToken.None);
            Assert.Equal("password:carol", login.Principal?.AuthenticatedBy);
            Assert.Null((await PasswordAuthenticator.VerifyAsync(store, "carol", "correct horse batter", DateTimeOffset.UtcNow, CancellationToken.None)).Principal);
        }

        // erin (an operator, through her token) may set her own password, not carol's.
        var erinToken = Path.Combine(scratch.Dir, "erin.token");
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "token", "create", "erin", "-o", erinToken)).ExitCode);
        var other = await CliRun.InAsync(scratch.Dir, "--token-file", erinToken, "user", "password", "carol", "--password-file", file);
        Assert.True(other.ExitCode == ExitCodes.Finding, other.ToString());
        Assert.Contains("refused by rule role: only an admin may set another user's password (erin is operator)", other.Stderr, StringComparison.Ordinal);
        var own = await CliRun.InAsync(scratch.Dir, "--token-file", erinToken, "user", "password", "erin", "--password-file", file);
        Assert.True(own.ExitCode == ExitCodes.Ok, own.ToString());

        var audit = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.Contains(audit.Json.EnumerateArray(), e => e.GetProperty("action").GetString() == "password.set" && e.GetProperty("target").GetString() == "carol");
        Assert.Contains(audit.Json.EnumerateArray(), e => e.GetProperty("action").GetString() == "password.refused" && e.GetProperty("actor").GetString() == "erin");
    }

    /// <summary>The scratch state opened as the CLI opens it (same audit key), for what the web console will do.</summary>
    private static async Task<SqliteStateStore> OpenAsync(Scratch scratch)
    {
        var directory = Path.Combine(scratch.Dir, ".stageproof");
        var store = await SqliteStateStore.OpenAsync(directory, TimeProvider.System);
        store.AuditKey = AuditKeys.Load(directory);
        return store;
    }

    private static async Task AssertNoPasswordAsync(Scratch scratch, string user)
    {
        await using var store = await OpenAsync(scratch);
        Assert.Null(await store.FindPasswordAsync(user));
        var audit = await CliRun.InAsync(scratch.Dir, "--json", "audit", "log");
        Assert.DoesNotContain(audit.Json.EnumerateArray(), e => e.GetProperty("action").GetString() == "password.set");
    }
}
