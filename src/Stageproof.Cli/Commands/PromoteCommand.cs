using System.CommandLine;
using Spectre.Console;
using Stageproof.Cli.Features;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Rollouts;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof promote D --to ENV</c> and <c>stageproof approve D --env ENV</c>: the lifecycle's gate.</summary>
internal static class PromoteCommand
{
    private static Argument<string> DigestArgument() => new("D") { Description = "The frozen patch set's digest, or a unique prefix of it" };

    public static Command CreatePromote(VerbContext verbs)
    {
        var digest = DigestArgument();
        var to = new Option<string>("--to") { Description = "The lifecycle stage (environment) to promote into", Required = true };
        var emergency = new Option<bool>("--emergency") { Description = "The emergency lane: needs a PASS in a fresh clone of the target instead of the earlier stages (and --reason, --ticket)" };
        var reason = new Option<string?>("--reason") { Description = "Why (an emergency, or a rollout outside the window; recorded)" };
        var ticket = new Option<string?>("--ticket") { Description = "The incident or change ticket (emergency lane)" };
        var now = new Option<bool>("--now") { Description = "Roll out now although the maintenance window is closed (admins only, with --reason; recorded)" };
        var wait = new Option<bool>("--wait") { Description = "When the maintenance window is closed, wait for it to open" };
        var maxWait = new Option<TimeSpan>("--max-wait") { Description = "How long --wait waits at most (default 24:00:00)", DefaultValueFactory = _ => TimeSpan.FromHours(24) };
        var dryRun = new Option<bool>("--dry-run") { Description = "Show the gate's decision and the rollout plan; change nothing" };
        var command = new Command("promote", "Promote a patch set into the next lifecycle stage: gate (evidence, approvals, roles, window), then a canary-first rollout")
        {
            digest, to, emergency, reason, ticket, now, wait, maxWait, dryRun,
        };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var options = new PromoteOptions
            {
                Digest = parse.GetValue(digest)!,
                Target = parse.GetValue(to)!,
                Emergency = parse.GetValue(emergency),
                Reason = parse.GetValue(reason),
                Ticket = parse.GetValue(ticket),
                Now = parse.GetValue(now),
                Wait = parse.GetValue(wait),
                MaxWait = parse.GetValue(maxWait),
                DryRun = parse.GetValue(dryRun),
            };
            if (options.Now && options.Wait)
            {
                throw new InputException("--now and --wait contradict each other: choose one");
            }
            if (session.Server is not null)
            {
                return await PromoteRemoteAsync(session, options, ct).ConfigureAwait(false);
            }
            new PatchRuns(session).Environment(options.Target);
            var stored = await new PatchRuns(session).PatchSetAsync(options.Digest, ct).ConfigureAwait(false);
            var outcome = await new Promotions(session).PromoteAsync(stored, options, ct).ConfigureAwait(false);
            if (!outcome.Decision.Allowed)
            {
                if (session.Ui.Json)
                {
                    session.Ui.WriteJson(new { allowed = false, refusals = outcome.Decision.Refusals });
                }
                return ExitCodes.Finding;
            }
            if (outcome.Rollout is null)
            {
                if (session.Ui.Json)
                {
                    session.Ui.WriteJson(new { allowed = true, plan = outcome.Plan });
                }
                return ExitCodes.Ok;
            }
            return Promotions.ExitCode(outcome.Rollout);
        }, throughServer: true));
        return command;
    }

    /// <summary>What the server answers a promotion: the plan (a dry run) or the rollout it started.</summary>
    internal sealed record RemotePromotion(Rollout? Plan, Rollout? Rollout);

    /// <summary>
    /// <c>promote</c> through a server: the server's gate judges the token's user (a refusal reads and exits as a local
    /// one), the rollout runs on the server, and this follows it to its end, printing each host's state as it changes,
    /// then renders it as a local promote does. Interrupting this stops the following, not the rollout.
    /// </summary>
    private static async Task<int> PromoteRemoteAsync(Infrastructure.CliSession session, PromoteOptions options, CancellationToken ct)
    {
        if (options.Wait)
        {
            throw new InputException("--wait does not run through --server: the server refuses a closed window; promote when it opens");
        }
        var set = await session.Remote.GetAsync<RemotePatchSetHead>($"patch-sets/{Uri.EscapeDataString(options.Digest)}", ct).ConfigureAwait(false);
        var answer = await session.Remote.PostAsync<RemotePromotion>($"patch-sets/{Uri.EscapeDataString(set.Digest)}/promotions", new
        {
            target = options.Target, emergency = options.Emergency, reason = options.Reason, ticket = options.Ticket, now = options.Now, dryRun = options.DryRun,
        }, ct).ConfigureAwait(false);
        if (answer.Plan is { } plan)
        {
            session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"promotion of {set.PatchSet.Id} to {options.Target} allowed; plan: {string.Join("; ", plan.Batches.Select(b => $"{b.Name}: {string.Join(", ", b.Hosts)}"))}"));
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { allowed = true, plan });
            }
            return ExitCodes.Ok;
        }
        var rollout = answer.Rollout ?? throw new InfrastructureException(session.Remote.Server.Text, "answered a promotion with neither a plan nor a rollout");
        session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"{rollout.Id}: {set.PatchSet.Id} is rolling out to {options.Target} on {session.Remote.Server.Text}"));
        rollout = await Remote.RemoteRollouts.FollowAsync(session, rollout, ct).ConfigureAwait(false);
        return rollout.Finished ? Promotions.ExitCode(rollout) : ExitCodes.Infrastructure;
    }

    public static Command CreateApprove(VerbContext verbs)
    {
        var digest = DigestArgument();
        var env = new Option<string>("--env") { Description = "The environment the approval is for", Required = true };
        var comment = new Option<string?>("--comment") { Description = "What the approver looked at (recorded)" };
        var command = new Command("approve", "Approve promoting a patch set into an environment (four eyes: not its author, not its promoter)")
        {
            digest, env, comment,
        };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            if (session.Server is not null)
            {
                return await ApproveRemoteAsync(session, parse.GetValue(digest)!, parse.GetValue(env)!, parse.GetValue(comment), ct).ConfigureAwait(false);
            }
            var runs = new PatchRuns(session);
            var environment = runs.Environment(parse.GetValue(env)!);
            var stored = await runs.PatchSetAsync(parse.GetValue(digest)!, ct).ConfigureAwait(false);
            var (approval, _) = await new Promotions(session).ApproveAsync(stored, environment.Name, parse.GetValue(comment), ct).ConfigureAwait(false);
            if (approval is null)
            {
                return ExitCodes.Finding;
            }
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(approval);
            }
            return ExitCodes.Ok;
        }, throughServer: true));
        return command;
    }

    /// <summary>What the API says of a patch set that <c>approve</c> needs: its full digest and its id.</summary>
    private sealed record RemotePatchSetHead(string Digest, PatchSetId PatchSet);

    private sealed record PatchSetId(string Id);

    /// <summary><c>approve</c> through a server: the server's approval workflow judges the token's user; a refusal comes
    /// back as the same line and exit code as a local one (see <see cref="Infrastructure.CliSession.Remote"/>).</summary>
    private static async Task<int> ApproveRemoteAsync(Infrastructure.CliSession session, string digest, string environment, string? comment, CancellationToken ct)
    {
        var set = await session.Remote.GetAsync<RemotePatchSetHead>($"patch-sets/{Uri.EscapeDataString(digest)}", ct).ConfigureAwait(false);
        var approval = await session.Remote.PostAsync<Approval>($"patch-sets/{Uri.EscapeDataString(set.Digest)}/approvals",
            new { environment, comment }, ct).ConfigureAwait(false);
        if (session.Ui.Json)
        {
            session.Ui.WriteJson(approval);
        }
        else
        {
            session.Ui.Say($"{approval.Id}: {approval.Approver} approved {set.PatchSet.Id} ({set.Digest[..Math.Min(12, set.Digest.Length)]}) for {approval.Environment}");
        }
        return ExitCodes.Ok;
    }
}
