using System.CommandLine;
using System.Globalization;
using Spectre.Console;
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

    /// <summary>The acting user, authenticated; an admin may act on anyone's tokens, anyone else on their own only.</summary>
    private static async Task<bool> RequireSelfOrAdminAsync(Infrastructure.CliSession session, string owner, string doing, CancellationToken ct)
    {
        await session.RequireAuthenticatedAsync(doing, ct).ConfigureAwait(false);
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        var me = (await store.ListUsersAsync(ct).ConfigureAwait(false)).FirstOrDefault(u => u.Name == session.Actor);
        if (me is null)
        {
            throw new RefusedException(GateRules.Role, $"{session.Actor} is not a Stageproof user; {doing} needs one (an admin adds it: stageproof user add {session.Actor} --role ROLE)");
        }
        if (!AccessPolicy.MayManageTokensOf(me, owner))
        {
            var refusal = new GateRefusal(GateRules.Role, $"only an admin may {doing} for another user ({me.Name} is {me.Role.ToString().ToLowerInvariant()})");
            await session.AuditAsync("token.refused", owner, refusal.ToString(), cancellationToken: ct).ConfigureAwait(false);
            throw new RefusedException(refusal.Rule, refusal.Message);
        }
        return me.Role == Role.Admin;
    }

    private static readonly TimeSpan LongestLifetime = TimeSpan.FromDays(3650);

    /// <summary>A duration as configuration writes one (90d, 12h, 30m), or "never".</summary>
    private static TimeSpan? ParseExpiry(string text) =>
        text == "never" ? null
        : Durations.TryParse(text, out var lifetime) && lifetime > TimeSpan.Zero && lifetime <= LongestLifetime ? lifetime
        : throw new InputException($"--expires: '{text}' is not a duration from 1s to 3650d (e.g. 30d, 12h, 90m) or 'never'");

    private static Command CreateToken(VerbContext verbs)
    {
        var user = new Argument<string>("USER") { Description = "Whose token (yours, or anyone's for an admin)" };
        var expires = new Option<string>("--expires") { Description = "Lifetime: 30d, 12h, 90m or never (default 90d)", DefaultValueFactory = _ => "90d" };
        var output = new Option<string?>("-o", "--output") { Description = "Write the token to this file (created 0600) instead of printing it" };
        var command = new Command("create", "Create a token; it is shown (or written) once and stored only as a hash") { user, expires, output };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var owner = parse.GetValue(user)!;
            var lifetime = ParseExpiry(parse.GetValue(expires)!);
            var file = parse.GetValue(output) is { } o ? Infrastructure.OutputFiles.Check(o, "--output") : null;
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            if ((await store.ListUsersAsync(ct).ConfigureAwait(false)).All(u => u.Name != owner))
            {
                throw new InputException($"USER: there is no user '{owner}' (see 'stageproof user list')");
            }
            var (token, text) = await IssueAsync(session, owner, lifetime, ct).ConfigureAwait(false);
            if (file is not null)
            {
                await File.WriteAllTextAsync(file, text + "\n", ct).ConfigureAwait(false);
                PrivateFiles.Restrict(file);
            }
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { id = token.Id, user = owner, createdAt = token.CreatedAt, expiresAt = token.ExpiresAt, token = file is null ? text : null, file });
            }
            else if (file is null)
            {
                session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"Token {token.Id} for {owner}, expires {Expiry(token)}. It is shown once; keep it where only {owner} can read it:"));
                session.Ui.Say(text);
            }
            else
            {
                session.Ui.Say($"Token {token.Id} for {owner}, expires {Expiry(token)}: written to {Path.GetFullPath(file)} (0600)");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary><c>token create</c>'s body (the demo gives its people tokens through it): the acting user for themselves,
    /// or an admin for anyone; stored as a hash, audited as token.create.</summary>
    public static async Task<(ApiToken Token, string Text)> IssueAsync(Infrastructure.CliSession session, string owner, TimeSpan? lifetime, CancellationToken ct)
    {
        await RequireSelfOrAdminAsync(session, owner, "create a token", ct).ConfigureAwait(false);
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        var now = session.Time.GetUtcNow();
        var (token, text) = ApiToken.Create(owner, session.Actor, now, lifetime is { } l ? now + l : null);
        await store.SaveTokenAsync(token, ct).ConfigureAwait(false);
        await session.AuditAsync("token.create", owner, $"token {token.Id}, expires {Expiry(token)}", cancellationToken: ct).ConfigureAwait(false);
        return (token, text);
    }

    private static Command List(VerbContext verbs)
    {
        var command = new Command("list", "Tokens (an admin sees all, others their own); never the secrets");
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var admin = await RequireSelfOrAdminAsync(session, session.Actor, "list tokens", ct).ConfigureAwait(false);
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var tokens = (await store.ListTokensAsync(ct).ConfigureAwait(false)).Where(t => admin || t.User == session.Actor).ToList();
            var now = session.Time.GetUtcNow();
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(tokens.Select(t => new
                {
                    id = t.Id, user = t.User, createdAt = t.CreatedAt, createdBy = t.CreatedBy, expiresAt = t.ExpiresAt,
                    revokedAt = t.RevokedAt, revokedBy = t.RevokedBy, usable = t.Unusable(now) is null, why = t.Unusable(now),
                }));
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumns("id", "user", "created (UTC)", "expires", "state");
            foreach (var t in tokens)
            {
                table.AddRow(t.Id, Infrastructure.Ui.Escape(t.User), t.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
                    Expiry(t), Infrastructure.Ui.Escape(t.Unusable(now) ?? "usable"));
            }
            session.Ui.Human.Write(table);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Revoke(VerbContext verbs)
    {
        var id = new Argument<string>("ID") { Description = "The token's id (see 'stageproof token list')" };
        var command = new Command("revoke", "Revoke a token at once") { id };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var tokenId = parse.GetValue(id)!;
            var token = await store.FindTokenAsync(tokenId, ct).ConfigureAwait(false)
                ?? throw new InputException($"ID: there is no token '{Names.Show(tokenId)}' (see 'stageproof token list')");
            await RequireSelfOrAdminAsync(session, token.User, "revoke a token", ct).ConfigureAwait(false);
            if (token.RevokedAt is null)
            {
                await store.SaveTokenAsync(token with { RevokedAt = session.Time.GetUtcNow(), RevokedBy = session.Actor }, ct).ConfigureAwait(false);
                await session.AuditAsync("token.revoke", token.User, $"token {token.Id}", cancellationToken: ct).ConfigureAwait(false);
            }
            session.Ui.Say($"Token {token.Id} of {token.User}: revoked");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static string Expiry(ApiToken t) =>
        t.ExpiresAt is { } e ? e.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC" : "never";
}
