using System.CommandLine;
using Spectre.Console;
using Stageproof.Application.Identity;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Validation;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof user add | list | remove | password</c>: the people Stageproof knows, their roles and environments,
/// and their passwords (for the web console).</summary>
internal static class UserCommand
{
    public static Command Create(VerbContext verbs)
    {
        var command = new Command("user", "Users, their roles (viewer, operator, approver, admin) and the environments they may act on");
        command.Subcommands.Add(Add(verbs));
        command.Subcommands.Add(List(verbs));
        command.Subcommands.Add(Remove(verbs));
        command.Subcommands.Add(Password(verbs));
        return command;
    }

    /// <summary><c>user add</c>'s body (the demo adds its people through it): see <see cref="UserAdministration.AddAsync"/>.
    /// Once there are users, the actor must be authenticated, not only named.</summary>
    public static async Task<User> AddAsync(Infrastructure.CliSession session, string userName, Role role, IReadOnlyList<string> environments, CancellationToken ct)
    {
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        await session.RequireAuthenticatedAsync("manage users", ct).ConfigureAwait(false);
        var user = await UserAdministration.AddAsync(store, await session.PrincipalAsync(ct).ConfigureAwait(false), userName, role, environments, session.Time, ct).ConfigureAwait(false);
        session.Ui.Say($"{user.Name}: {AccessPolicy.Name(user.Role)} on {string.Join(", ", user.Environments)}");
        return user;
    }

    private static Command Add(VerbContext verbs)
    {
        var name = new Argument<string>("NAME") { Description = "The user's name (as --actor or the OS user gives it)" };
        var role = new Option<Role>("--role") { Description = "viewer, operator, approver or admin", Required = true };
        var env = new Option<string[]>("--env") { Description = "Environments the user may act on (repeatable; default: all)", AllowMultipleArgumentsPerToken = true };
        var command = new Command("add", "Add a user, or change one's role and environments") { name, role, env };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var userName = parse.GetValue(name)!;
            if (Names.UserNameError(userName) is { } error)
            {
                throw new InputException($"NAME: {error}");
            }
            var environments = (parse.GetValue(env) ?? []).SelectMany(e => e.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            if (session.Server is not null)
            {
                var added = await session.Remote.PostAsync<User>("users", new { name = userName, role = AccessPolicy.Name(parse.GetValue(role)), environments }, ct).ConfigureAwait(false);
                session.Ui.Say($"{added.Name}: {AccessPolicy.Name(added.Role)} on {string.Join(", ", added.Environments)} (on {session.Remote.Server})");
                return ExitCodes.Ok;
            }
            if (UserAdministration.EnvironmentsError(session.Config, environments) is { } unknown)
            {
                throw new InputException($"--env: {unknown}");
            }
            await AddAsync(session, userName, parse.GetValue(role), environments, ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }

    private static Command List(VerbContext verbs)
    {
        var command = new Command("list", "Every user with role and environments");
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var users = session.Server is not null
                ? await session.Remote.GetAsync<List<User>>("users", ct).ConfigureAwait(false)
                : await (await session.StoreAsync(ct).ConfigureAwait(false)).ListUsersAsync(ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(users);
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumns("user", "role", "environments", "added by");
            foreach (var u in users)
            {
                table.AddRow(Infrastructure.Ui.Escape(u.Name), u.Role.ToString().ToLowerInvariant(), Infrastructure.Ui.Escape(string.Join(", ", u.Environments)), Infrastructure.Ui.Escape(u.CreatedBy ?? ""));
            }
            session.Ui.Human.Write(table);
            return ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }

    private static Command Password(VerbContext verbs)
    {
        var name = new Argument<string>("NAME") { Description = "Whose password (yours, or anyone's for an admin)" };
        var file = new Option<string?>("--password-file")
        {
            Description = $"Read the password from this file (not readable by group or others); default: ask on the terminal. At least {PasswordPolicy.MinimumLength} characters",
        };
        var command = new Command("password", "Set a user's password (the web console's login); stored only as a salted hash") { name, file };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var userName = parse.GetValue(name)!;
            await session.RequireAuthenticatedAsync("set a password", ct).ConfigureAwait(false);
            var me = await session.ActingUserAsync(ct).ConfigureAwait(false);
            if (me is null || !AccessPolicy.MaySetPasswordOf(me, userName))
            {
                var refusal = new GateRefusal(GateRules.Role, me is null
                    ? $"{session.Actor} is not a Stageproof user; setting a password needs one"
                    : $"only an admin may set another user's password ({me.Name} is {AccessPolicy.Name(me.Role)})");
                await session.AuditAsync("password.refused", userName, refusal.ToString(), cancellationToken: ct).ConfigureAwait(false);
                throw new RefusedException(refusal.Rule, refusal.Message);
            }
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            if ((await store.ListUsersAsync(ct).ConfigureAwait(false)).All(u => u.Name != userName))
            {
                throw new InputException($"NAME: there is no user '{userName}' (see 'stageproof user list')");
            }
            var (password, source) = parse.GetValue(file) is { } path
                ? (await ReadPasswordFileAsync(path, ct).ConfigureAwait(false), "--password-file " + path)
                : (ReadPasswordFromTerminal(session, userName), "the password typed");
            if (PasswordPolicy.Error(password) is { } error)
            {
                throw new InputException($"{source}: {error}");
            }
            await PasswordAuthenticator.SetPasswordAsync(store, userName, password, session.Actor, session.Time.GetUtcNow(), ct).ConfigureAwait(false);
            session.Ui.Say($"{userName}: password set");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The password in <paramref name="path"/> (one trailing line break dropped); refused when group or others may
    /// read or change the file, since then the password is already not only its owner's.</summary>
    internal static async Task<string> ReadPasswordFileAsync(string path, CancellationToken ct)
    {
        try
        {
            if (Core.Validation.InputFiles.SharedMode(path) is { } mode)
            {
                throw new InputException($"--password-file {path}: mode {mode} lets group or others read it or change it; make it private first (chmod 600 {path})");
            }
            var text = await File.ReadAllTextAsync(path, ct).ConfigureAwait(false);
            return text.EndsWith("\r\n", StringComparison.Ordinal) ? text[..^2] : text.EndsWith('\n') ? text[..^1] : text;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"--password-file {path}: {e.Message}");
        }
    }

    /// <summary>Asks twice on the terminal without echo; refused when standard input is no terminal (a password is never
    /// read from a pipe, where it would sit in a script or a shell history).</summary>
    internal static string ReadPasswordFromTerminal(Infrastructure.CliSession session, string userName)
    {
        if (Console.IsInputRedirected)
        {
            throw new InputException("--password-file: standard input is not a terminal; give the password in a file only you can read (chmod 600) with --password-file");
        }
        var first = ReadHidden(session, $"New password for {userName}: ");
        var second = ReadHidden(session, "Again: ");
        return first == second ? first : throw new InputException("the two passwords typed differ; nothing changed");
    }

    private static string ReadHidden(Infrastructure.CliSession session, string prompt) =>
        session.Ui.ReadHidden(prompt, MaxTypedPassword) ?? throw new InputException($"the password typed is longer than {MaxTypedPassword} characters; nothing changed");

    private const int MaxTypedPassword = 1024;

    private static Command Remove(VerbContext verbs)
    {
        var name = new Argument<string>("NAME") { Description = "The user to remove" };
        var command = new Command("remove", "Remove a user") { name };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var userName = parse.GetValue(name)!;
            if (session.Server is not null)
            {
                await session.Remote.DeleteAsync($"users/{Uri.EscapeDataString(userName)}", ct).ConfigureAwait(false);
                session.Ui.Say($"{userName}: removed (on {session.Remote.Server})");
                return ExitCodes.Ok;
            }
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            await session.RequireAuthenticatedAsync("manage users", ct).ConfigureAwait(false);
            if (!await UserAdministration.RemoveAsync(store, await session.PrincipalAsync(ct).ConfigureAwait(false), userName, ct).ConfigureAwait(false))
            {
                throw new InputException($"NAME: there is no user '{userName}' (see 'stageproof user list')");
            }
            session.Ui.Say($"{userName}: removed");
            return ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }
}
