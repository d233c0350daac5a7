using System.CommandLine;
using Spectre.Console;
using Stageproof.Cli.Features;
using Stageproof.Core;
using Stageproof.Core.Rollouts;
using Stageproof.Hosts.Rollouts;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof rollout list | status ID | resume ID | abort ID</c>.</summary>
internal static class RolloutCommand
{
    public static Command Create(VerbContext verbs)
    {
        var command = new Command("rollout", "Rollouts started by promote: list them, show one, resume an interrupted one, abort one");
        command.Subcommands.Add(List(verbs));
        command.Subcommands.Add(Status(verbs));
        command.Subcommands.Add(Resume(verbs));
        command.Subcommands.Add(Abort(verbs));
        return command;
    }

    private static Argument<string> IdArgument() => new("ID") { Description = "The rollout's id, or a unique prefix of it" };

    private static async Task<Rollout> FindAsync(Infrastructure.CliSession session, string id, CancellationToken ct)
    {
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        return await store.FindRolloutAsync(id, ct).ConfigureAwait(false)
            ?? throw new InputException($"no rollout has an id starting with {Core.Validation.Names.Show(id)} (see 'stageproof rollout list')");
    }

    private static Command List(VerbContext verbs)
    {
        var env = new Option<string?>("--env") { Description = "Only this environment's rollouts" };
        var command = new Command("list", "Rollouts, newest first") { env };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var environment = parse.GetValue(env);
            var rollouts = session.Server is not null
                ? await session.Remote.GetAsync<List<Rollout>>("rollouts" + (environment is null ? "" : "?environment=" + Uri.EscapeDataString(environment)), ct).ConfigureAwait(false)
                : await (await session.StoreAsync(ct).ConfigureAwait(false)).ListRolloutsAsync(environment, ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(rollouts);
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Simple).AddColumns("id", "environment", "patch set", "lane", "status", "hosts", "started");
            foreach (var r in rollouts)
            {
                table.AddRow(Infrastructure.Ui.Escape(r.Id), Infrastructure.Ui.Escape(r.Environment), Infrastructure.Ui.Escape($"{r.PatchId} ({r.PatchDigest[..12]})"),
                    r.Lane.ToString().ToLowerInvariant(), Infrastructure.Ui.Escape(r.Status.ToString().ToLowerInvariant()), Infrastructure.Ui.Escape(RolloutEngine.Where(r)), $"{r.CreatedAt:u}");
            }
            session.Ui.Human.Write(table);
            return ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }

    private static Command Status(VerbContext verbs)
    {
        var id = IdArgument();
        var command = new Command("status", "One rollout: its batches, where every host is, its checks and its drift") { id };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var rollout = session.Server is not null
                ? await session.Remote.GetAsync<Rollout>("rollouts/" + Uri.EscapeDataString(parse.GetValue(id)!), ct).ConfigureAwait(false)
                : await FindAsync(session, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var promotions = new Promotions(session);
            promotions.Render(rollout);
            if (!session.Ui.Json)
            {
                foreach (var batch in rollout.Batches.Where(b => b.Checks.Count > 0))
                {
                    session.Ui.Say($"{batch.Name} checks:");
                    foreach (var line in batch.Checks)
                    {
                        session.Ui.Say("  " + line);
                    }
                }
                if (session.Server is not null)
                {
                    if (!rollout.Finished)
                    {
                        session.Ui.Say("lock: not shown through --server (the API does not serve who holds it yet)");
                    }
                }
                else if (!rollout.Finished && await (await session.StoreAsync(ct).ConfigureAwait(false)).FindRolloutLockAsync(rollout.Environment, ct).ConfigureAwait(false) is { } holder && holder.RolloutId == rollout.Id)
                {
                    session.Ui.Say($"lock: held by process {holder.ProcessId} on {holder.Machine} since {holder.AcquiredAt:u}");
                }
            }
            return rollout.Finished ? Promotions.ExitCode(rollout) : ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }

    private static Command Resume(VerbContext verbs)
    {
        var id = IdArgument();
        var command = new Command("resume", "Continue an interrupted rollout exactly where its hosts are") { id };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var rollout = await FindAsync(session, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var promotions = new Promotions(session);
            await promotions.RequireRoleAsync(rollout.Environment, "resume a rollout", ct).ConfigureAwait(false);
            var stored = await new PatchRuns(session).PatchSetAsync(rollout.PatchDigest, ct).ConfigureAwait(false);
            var (engine, checks) = await promotions.EngineAsync(ct).ConfigureAwait(false);
            using (checks)
            {
                session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"Resuming {rollout.Id} on {rollout.Environment}: {RolloutEngine.Where(rollout)}"));
                var done = await engine.ResumeAsync(rollout, await promotions.TargetAsync(stored, rollout, ct).ConfigureAwait(false), session.Actor, promotions.Progress(), ct).ConfigureAwait(false);
                promotions.Render(done);
                return Promotions.ExitCode(done);
            }
        }));
        return command;
    }

    private static Command Abort(VerbContext verbs)
    {
        var id = IdArgument();
        var reason = new Option<string?>("--reason") { Description = "Why (recorded)" };
        var command = new Command("abort", "Stop a rollout and roll back every host it patched") { id, reason };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var rollout = await FindAsync(session, parse.GetValue(id)!, ct).ConfigureAwait(false);
            if (rollout.Finished)
            {
                throw new RefusedException("rollout-finished", $"rollout {rollout.Id} already ended: {RolloutEngine.Describe(rollout.Status)}");
            }
            var promotions = new Promotions(session);
            await promotions.RequireRoleAsync(rollout.Environment, "abort a rollout", ct).ConfigureAwait(false);
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            rollout = rollout with { AbortRequestedBy = session.Actor };
            await store.SaveRolloutAsync(rollout, ct).ConfigureAwait(false);
            await session.AuditAsync("rollout.abort", rollout.Environment, $"{rollout.Id}: abort requested", rollout.PatchDigest, parse.GetValue(reason), ct).ConfigureAwait(false);
            var (engine, checks) = await promotions.EngineAsync(ct).ConfigureAwait(false);
            using (checks)
            {
                if (await store.FindRolloutLockAsync(rollout.Environment, ct).ConfigureAwait(false) is { } holder && holder.RolloutId == rollout.Id
                    && !await engine.IsStaleAsync(holder, ct).ConfigureAwait(false))
                {
                    session.Ui.Say($"{rollout.Id} is running (process {holder.ProcessId}): it stops before its next batch and rolls back what it patched");
                    return ExitCodes.Ok;
                }
                // Nobody runs it: roll it back here.
                var stored = await new PatchRuns(session).PatchSetAsync(rollout.PatchDigest, ct).ConfigureAwait(false);
                var done = await engine.ResumeAsync(rollout, await promotions.TargetAsync(stored, rollout, ct).ConfigureAwait(false), session.Actor, promotions.Progress(), ct).ConfigureAwait(false);
                promotions.Render(done);
                return done.Status == RolloutStatus.Aborted ? ExitCodes.Ok : ExitCodes.Finding;
            }
        }));
        return command;
    }
}
