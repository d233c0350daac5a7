using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stageproof.Application.Identity;
using Stageproof.Application.Views;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Validation;
using Stageproof.Data;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof token create USER | list | revoke ID</c>: personal API tokens, the way a person proves who is
/// acting (STAGEPROOF_TOKEN or --token-file) instead of naming themselves with --actor.</summary>
internal static class TokenCommand
{
    public static Command Create(VerbContext verbs)
    {
        var command = new Command("token", "Personal API tokens: how a user proves who is acting (STAGEPROOF_TOKEN or --token-file)");
        command.Subcommands.Add(CreateToken(verbs));
        command.Subcommands.Add(List(verbs));
        command.Subcommands.Add(Revoke(verbs));
        return command;
    }

    /// <summary>The acting user, authenticated; an admin may act on anyone's tokens, anyone else on their own only.
    /// Returns the acting user as the access policy judges it (narrowed by the token it presented).</summary>
    private static async Task<User> RequireSelfOrAdminAsync(Infrastructure.CliSession session, string owner, string doing, CancellationToken ct)
    {
        await session.RequireAuthenticatedAsync(doing, ct).ConfigureAwait(false);
        var principal = await session.PrincipalAsync(ct).ConfigureAwait(false);
        if (await (await WorkflowAsync(session, ct).ConfigureAwait(false)).RefusalAsync(principal, owner, doing, ct).ConfigureAwait(false) is { } refusal)
        {
            throw new RefusedException(refusal.Rule, refusal.Message);
        }
        return principal.User!;
    }

    private static async Task<TokenWorkflow> WorkflowAsync(Infrastructure.CliSession session, CancellationToken ct) =>
        new(await session.StoreAsync(ct).ConfigureAwait(false), session.Config, session.Time);

    /// <summary>A duration as configuration writes one (90d, 12h, 30m), or "never".</summary>
    private static TimeSpan? ParseExpiry(string text) =>
        TokenWorkflow.ParseLifetime(text) is { Error: { } error } ? throw new InputException("--expires: " + error) : TokenWorkflow.ParseLifetime(text).Lifetime;

    private static Command CreateToken(VerbContext verbs)
    {
        var user = new Argument<string>("USER") { Description = "Whose token (yours, or anyone's for an admin)" };
        var expires = new Option<string>("--expires") { Description = "Lifetime: 30d, 12h, 90m or never (default 90d)", DefaultValueFactory = _ => "90d" };
        var output = new Option<string?>("-o", "--output") { Description = "Write the token to this file (created 0600) instead of printing it" };
        var role = new Option<Role?>("--role") { Description = "The most the token may do: viewer, operator, approver or admin, no higher than its user's (default: the user's)" };
        var env = new Option<string[]>("--env") { Description = "Environments the token may act on, among its user's (repeatable; default: the user's)", AllowMultipleArgumentsPerToken = true };
        var command = new Command("create", "Create a token; it is shown (or written) once and stored only as a hash") { user, expires, output, role, env };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var owner = parse.GetValue(user)!;
            var lifetime = ParseExpiry(parse.GetValue(expires)!);
            var file = parse.GetValue(output) is { } o ? Infrastructure.OutputFiles.Check(o, "--output") : null;
            var environments = parse.GetValue(env) is { Length: > 0 } given
                ? given.SelectMany(e => e.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct(StringComparer.Ordinal).ToList()
                : null;
            Made made;
            if (session.Server is not null)
            {
                // The server judges the scope against the user and the token presented; the secret is in its answer only.
                made = await session.Remote.PostAsync<Made>("tokens", new
                {
                    user = owner, role = parse.GetValue(role) is { } asked ? AccessPolicy.Name(asked) : null, environments, expires = parse.GetValue(expires),
                }, ct).ConfigureAwait(false);
            }
            else
            {
                foreach (var e in (environments ?? []).Where(e => e != "*" && !session.Config.Environments.ContainsKey(e)))
                {
                    throw new InputException($"--env: {session.Config.SourceFile} defines no environment '{e}' (environments: {string.Join(", ", session.Config.Environments.Keys)})");
                }
                var store = await session.StoreAsync(ct).ConfigureAwait(false);
                if ((await store.ListUsersAsync(ct).ConfigureAwait(false)).All(u => u.Name != owner))
                {
                    throw new InputException($"USER: there is no user '{owner}' (see 'stageproof user list')");
                }
                var (token, secret) = await IssueAsync(session, owner, lifetime, parse.GetValue(role), environments, ct).ConfigureAwait(false);
                made = new Made(token.Id, token.User, token.CreatedAt, token.ExpiresAt, token.Role is { } r ? AccessPolicy.Name(r) : null, token.Environments, secret);
            }
            var scope = made.Role is not null || made.Environments is not null
                ? ", scoped to " + AccessPolicy.DescribeScope(made.Role is { } n && Enum.TryParse<Role>(n, ignoreCase: true, out var parsed) ? parsed : null, made.Environments)
                : "";
            if (file is not null)
            {
                await File.WriteAllTextAsync(file, made.Token + "\n", ct).ConfigureAwait(false);
                PrivateFiles.Restrict(file);
            }
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new
                {
                    id = made.Id, user = made.User, createdAt = made.CreatedAt, expiresAt = made.ExpiresAt,
                    role = made.Role, environments = made.Environments, token = file is null ? made.Token : null, file,
                });
            }
            else if (file is null)
            {
                session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"Token {made.Id} for {made.User}{scope}, expires {Expiry(made.ExpiresAt)}. It is shown once; keep it where only {made.User} can read it:"));
                session.Ui.Say(made.Token);
            }
            else
            {
                session.Ui.Say($"Token {made.Id} for {made.User}{scope}, expires {Expiry(made.ExpiresAt)}: written to {Path.GetFullPath(file)} (0600)");
            }
            return ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }

    /// <summary>A token just made, as the API answers it (the secret in <see cref="Token"/> only here).</summary>
    private sealed record Made(string Id, string User, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, string? Role, IReadOnlyList<string>? Environments, string Token);

    /// <summary><c>token create</c>'s body (the demo gives its people tokens through it): the application's
    /// <see cref="TokenWorkflow.IssueAsync"/> as the acting user; a refusal is exit 1, a scope wider than the user exit 2.</summary>
    public static async Task<(ApiToken Token, string Text)> IssueAsync(Infrastructure.CliSession session, string owner, TimeSpan? lifetime,
        Role? role, IReadOnlyList<string>? environments, CancellationToken ct)
    {
        await session.RequireAuthenticatedAsync("create a token", ct).ConfigureAwait(false);
        var principal = await session.PrincipalAsync(ct).ConfigureAwait(false);
        var issue = await (await WorkflowAsync(session, ct).ConfigureAwait(false)).IssueAsync(principal, owner, lifetime, role, environments, ct).ConfigureAwait(false);
        if (issue.Refusal is { } refusal)
        {
            throw new RefusedException(refusal.Rule, refusal.Message);
        }
        if (issue.Invalid is { } invalid)
        {
            throw new InputException($"{invalid.Field switch { "user" => "USER", "role" => "--role", "environments" => "--env", _ => invalid.Field }}: {invalid.Message}");
        }
        return (issue.Token!, issue.Secret!);
    }

    /// <summary>", scoped to operator on staging" for a scoped token; empty otherwise.</summary>
    private static string Scope(ApiToken t) => TokenWorkflow.Scope(t);

    private static Command List(VerbContext verbs)
    {
        var command = new Command("list", "Tokens (an admin sees all, others their own); never the secrets");
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var now = session.Time.GetUtcNow();
            IReadOnlyList<TokenSummary> tokens;
            if (session.Server is not null)
            {
                tokens = await session.Remote.GetAsync<List<TokenSummary>>("tokens", ct).ConfigureAwait(false);
            }
            else
            {
                var admin = (await RequireSelfOrAdminAsync(session, session.Actor, "list tokens", ct).ConfigureAwait(false)).Role == Role.Admin;
                var store = await session.StoreAsync(ct).ConfigureAwait(false);
                tokens = (await store.ListTokensAsync(ct).ConfigureAwait(false)).Where(t => admin || t.User == session.Actor).Select(t => TokenSummary.Of(t, now)).ToList();
            }
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(tokens);
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumns("id", "user", "scope", "created (UTC)", "expires", "state");
            foreach (var t in tokens)
            {
                var role = t.Role is { } r && Enum.TryParse<Role>(r, ignoreCase: true, out var parsed) ? parsed : (Role?)null;
                table.AddRow(Infrastructure.Ui.Escape(t.Id), Infrastructure.Ui.Escape(t.User), Infrastructure.Ui.Escape(AccessPolicy.DescribeScope(role, t.Environments)), t.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                    Expiry(t.ExpiresAt), Infrastructure.Ui.Escape(t.Why ?? "usable"));
            }
            session.Ui.Human.Write(table);
            return ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }

    private static Command Revoke(VerbContext verbs)
    {
        var id = new Argument<string>("ID") { Description = "The token's id (see 'stageproof token list')" };
        var command = new Command("revoke", "Revoke a token at once") { id };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var tokenId = parse.GetValue(id)!;
            if (session.Server is not null)
            {
                var gone = await session.Remote.DeleteAsync<TokenSummary>($"tokens/{Uri.EscapeDataString(tokenId)}", ct).ConfigureAwait(false);
                session.Ui.Say($"Token {gone.Id} of {gone.User}: revoked (on {session.Remote.Server})");
                return ExitCodes.Ok;
            }
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var token = await store.FindTokenAsync(tokenId, ct).ConfigureAwait(false)
                ?? throw new InputException($"ID: there is no token '{Names.Show(tokenId)}' (see 'stageproof token list')");
            await session.RequireAuthenticatedAsync("revoke a token", ct).ConfigureAwait(false);
            var revoked = await (await WorkflowAsync(session, ct).ConfigureAwait(false)).RevokeAsync(await session.PrincipalAsync(ct).ConfigureAwait(false), token, ct).ConfigureAwait(false);
            if (revoked.Refusal is { } refusal)
            {
                throw new RefusedException(refusal.Rule, refusal.Message);
            }
            session.Ui.Say($"Token {token.Id} of {token.User}: revoked");
            return ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }

    private static string Expiry(DateTimeOffset? expiresAt) => TokenWorkflow.Expiry(expiresAt);
}
