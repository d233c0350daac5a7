using System.CommandLine;
using Spectre.Console;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Validation;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof user add | list | remove</c>: the people Stageproof knows, their roles and environments.</summary>
internal static class UserCommand
{
    public static Command Create(VerbContext verbs)
    {
        var command = new Command("user", "Users, their roles (viewer, operator, approver, admin) and the environments they may act on");
        command.Subcommands.Add(Add(verbs));
        command.Subcommands.Add(List(verbs));
        command.Subcommands.Add(Remove(verbs));
        return command;
    }

    /// <summary>Only an admin manages users; the very first user may be added by anyone (and is recorded).</summary>
    private static async Task RequireAdminAsync(Infrastructure.CliSession session, IReadOnlyList<User> users, CancellationToken ct)
    {
        if (users.Count == 0)
        {
            return;
        }
        await session.RequireAuthenticatedAsync("manage users", ct).ConfigureAwait(false);
        var me = await session.ActingUserAsync(ct).ConfigureAwait(false);
        if (!AccessPolicy.MayManageUsers(me))
        {
            var refusal = new GateRefusal(GateRules.Role, $"only an admin manages users ({session.Actor} is {(me is null ? "not a user" : me.Role.ToString().ToLowerInvariant())})");
            await session.AuditAsync("user.refused", session.Actor, refusal.ToString(), cancellationToken: ct).ConfigureAwait(false);
            throw new RefusedException(refusal.Rule, refusal.Message);
        }
    }

    /// <summary><c>user add</c>'s body (the demo adds its people through it): admins only, except the very first user;
    /// audited as user.add.</summary>
    public static async Task<User> AddAsync(Infrastructure.CliSession session, string userName, Role role, IReadOnlyList<string> environments, CancellationToken ct)
    {
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        var users = await store.ListUsersAsync(ct).ConfigureAwait(false);
        await RequireAdminAsync(session, users, ct).ConfigureAwait(false);
        var user = new User
        {
            Name = userName,
            Role = role,
            Environments = environments.Count == 0 ? ["*"] : environments,
            CreatedAt = session.Time.GetUtcNow(),
            CreatedBy = session.Actor,
        };
        await store.SaveUserAsync(user, ct).ConfigureAwait(false);
        await session.AuditAsync("user.add", user.Name, $"{user.Role.ToString().ToLowerInvariant()} on {string.Join(", ", user.Environments)}", cancellationToken: ct).ConfigureAwait(false);
        session.Ui.Say($"{user.Name}: {user.Role.ToString().ToLowerInvariant()} on {string.Join(", ", user.Environments)}");
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
            foreach (var e in environments.Where(e => e != "*" && !session.Config.Environments.ContainsKey(e)))
            {
                throw new InputException($"--env: {session.Config.SourceFile} defines no environment '{e}' (environments: {string.Join(", ", session.Config.Environments.Keys)})");
            }
            await AddAsync(session, userName, parse.GetValue(role), environments, ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command List(VerbContext verbs)
    {
        var command = new Command("list", "Every user with role and environments");
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var users = await store.ListUsersAsync(ct).ConfigureAwait(false);
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
        }));
        return command;
    }

    private static Command Remove(VerbContext verbs)
    {
        var name = new Argument<string>("NAME") { Description = "The user to remove" };
        var command = new Command("remove", "Remove a user") { name };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            await RequireAdminAsync(session, await store.ListUsersAsync(ct).ConfigureAwait(false), ct).ConfigureAwait(false);
            var userName = parse.GetValue(name)!;
            if (!await store.DeleteUserAsync(userName, ct).ConfigureAwait(false))
            {
                throw new InputException($"NAME: there is no user '{userName}' (see 'stageproof user list')");
            }
            await session.AuditAsync("user.remove", userName, "removed", cancellationToken: ct).ConfigureAwait(false);
            session.Ui.Say($"{userName}: removed");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
