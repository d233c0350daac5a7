using System.CommandLine;
using Spectre.Console;
using Stageproof.Application.Lifecycle;
using Stageproof.Cli.Features;
using Stageproof.Cli.Remote;
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
                    r.Lane.ToString().ToLowerInvariant(), Infrastructure.Ui.Escape(r.Status == RolloutStatus.Scheduled ? $"scheduled for {r.ScheduledFor:u}" : r.Status.ToString().ToLowerInvariant()),
                    Infrastructure.Ui.Escape(RolloutEngine.Where(r)), $"{r.CreatedAt:u}");
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

    /// <summary>The rules of abort and resume, over this session's state and engines.</summary>
    private static async Task<(RolloutControl Control, PromotionWorkflow Workflow, Application.Identity.Principal Actor)> ControlAsync(
        Infrastructure.CliSession session, string doing, CancellationToken ct)
    {
        await session.RequireAuthenticatedAsync(doing, ct).ConfigureAwait(false);
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        var engines = await session.EnginesAsync(ct).ConfigureAwait(false);
        return (new RolloutControl(store, engines), new PromotionWorkflow(store, engines, session.Time), await session.PrincipalAsync(ct).ConfigureAwait(false));
    }

    private static Command Resume(VerbContext verbs)
    {
        var id = IdArgument();
        var command = new Command("resume", "Continue an interrupted rollout exactly where its hosts are") { id };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            if (session.Server is not null)
            {
                var answer = await session.Remote.PostAsync<RemoteControl>($"rollouts/{Uri.EscapeDataString(parse.GetValue(id)!)}/resume", new { }, ct).ConfigureAwait(false);
                session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"Resuming {answer.Rollout.Id} on {answer.Rollout.Environment} on {session.Remote.Server.Text}: {RolloutEngine.Where(answer.Rollout)}"));
                var followed = await RemoteRollouts.FollowAsync(session, answer.Rollout, ct).ConfigureAwait(false);
                return followed.Finished ? Promotions.ExitCode(followed) : ExitCodes.Infrastructure;
            }
            var rollout = await FindAsync(session, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var (control, workflow, actor) = await ControlAsync(session, "resume a rollout", ct).ConfigureAwait(false);
            if (await control.ResumeRefusalAsync(actor, rollout, ct).ConfigureAwait(false) is { } refusal)
            {
                throw new RefusedException(refusal.Rule, refusal.Message);
            }
            var promotions = new Promotions(session);
            var stored = await new PatchRuns(session).PatchSetAsync(rollout.PatchDigest, ct).ConfigureAwait(false);
            session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"Resuming {rollout.Id} on {rollout.Environment}: {RolloutEngine.Where(rollout)}"));
            var done = await workflow.ResumeAsync(stored, rollout, actor, promotions.Progress(), ct).ConfigureAwait(false);
            promotions.Render(done);
            return Promotions.ExitCode(done);
        }, throughServer: true));
        return command;
    }

    /// <summary>What the server answers an abort or a resume: the rollout and what happens to it now.</summary>
    private sealed record RemoteControl(Rollout Rollout, string Message);

    private static Command Abort(VerbContext verbs)
    {
        var id = IdArgument();
        var reason = new Option<string?>("--reason") { Description = "Why (recorded)" };
        var command = new Command("abort", "Stop a rollout and roll back every host it patched") { id, reason };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            if (session.Server is not null)
            {
                var answer = await session.Remote.PostAsync<RemoteControl>($"rollouts/{Uri.EscapeDataString(parse.GetValue(id)!)}/abort",
                    new { comment = parse.GetValue(reason) }, ct).ConfigureAwait(false);
                session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"{answer.Rollout.Id} on {session.Remote.Server.Text}: {answer.Message}"));
                var followed = await RemoteRollouts.FollowAsync(session, answer.Rollout, ct).ConfigureAwait(false);
                return !followed.Finished ? ExitCodes.Infrastructure : followed.Status == RolloutStatus.Aborted ? ExitCodes.Ok : ExitCodes.Finding;
            }
            var rollout = await FindAsync(session, parse.GetValue(id)!, ct).ConfigureAwait(false);
            var (control, workflow, actor) = await ControlAsync(session, "abort a rollout", ct).ConfigureAwait(false);
            var (aborted, refusal) = await control.RequestAbortAsync(actor, rollout, parse.GetValue(reason), ct).ConfigureAwait(false);
            if (refusal is not null)
            {
                throw new RefusedException(refusal.Rule, refusal.Message);
            }
            if (await control.RunnerAsync(aborted!, ct).ConfigureAwait(false) is { } holder)
            {
                session.Ui.Say($"{aborted!.Id} is running (process {holder.ProcessId}): it stops before its next batch and rolls back what it patched");
                return ExitCodes.Ok;
            }
            // Nobody runs it: roll it back here.
            var promotions = new Promotions(session);
            var stored = await new PatchRuns(session).PatchSetAsync(aborted!.PatchDigest, ct).ConfigureAwait(false);
            var done = await workflow.ResumeAsync(stored, aborted, actor, promotions.Progress(), ct).ConfigureAwait(false);
            promotions.Render(done);
            return done.Status == RolloutStatus.Aborted ? ExitCodes.Ok : ExitCodes.Finding;
        }, throughServer: true));
        return command;
    }
}
