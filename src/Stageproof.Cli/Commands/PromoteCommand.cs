using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using Spectre.Console;
using Stageproof.Cli.Features;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;

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
            new PatchRuns(session).Environment(options.Target);
            var stored = await new PatchRuns(session).PatchSetAsync(options.Digest, ct).ConfigureAwait(false);
            var promotions = new Promotions(session);
            var decision = await promotions.DecideAsync(stored, options, ct).ConfigureAwait(false);
            var waited = TimeSpan.Zero;
            while (decision.OnlyWindowClosed && options.Wait && decision.NextWindow is { } opens)
            {
                var delay = opens - session.Time.GetUtcNow();
                if (waited + delay > options.MaxWait)
                {
                    break;
                }
                session.Ui.Errors.MarkupLine(Markup.Escape($"{options.Target}'s maintenance window is closed; waiting {delay:d\\.hh\\:mm\\:ss} for it to open at {opens:u}"));
                await session.AuditAsync("promote.wait", options.Target, $"waiting for the window opening {opens:u}", stored.Digest, cancellationToken: ct).ConfigureAwait(false);
                var step = delay > TimeSpan.Zero ? delay + TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(1);
                await Task.Delay(step, session.Time, ct).ConfigureAwait(false);
                waited += step;
                decision = await promotions.DecideAsync(stored, options, ct).ConfigureAwait(false);
            }
            if (!decision.Allowed)
            {
                foreach (var refusal in decision.Refusals)
                {
                    session.Ui.Error(refusal.ToString());
                }
                await session.AuditAsync("promote.refused", options.Target, string.Join("; ", decision.Refusals), stored.Digest, options.Reason, ct).ConfigureAwait(false);
                if (session.Ui.Json)
                {
                    session.Ui.WriteJson(new { allowed = false, refusals = decision.Refusals });
                }
                return ExitCodes.Finding;
            }
            var plan = promotions.Plan(stored, options.Target, options, decision);
            session.Ui.Errors.MarkupLine(Markup.Escape(
                $"{(options.Emergency ? "EMERGENCY " : "")}promotion of {stored.Set.Id} ({stored.Digest[..12]}) to {options.Target} allowed: evidence {string.Join(", ", decision.Evidence.DefaultIfEmpty("-"))}, " +
                $"approvals {string.Join(", ", decision.Approvals.DefaultIfEmpty("-"))}; plan: {string.Join("; ", plan.Batches.Select(b => $"{b.Name}: {string.Join(", ", b.Hosts)}"))}"));
            if (options.DryRun)
            {
                if (session.Ui.Json)
                {
                    session.Ui.WriteJson(new { allowed = true, plan });
                }
                return ExitCodes.Ok;
            }
            await session.AuditAsync(options.Emergency ? "promote.emergency" : "promote", options.Target,
                $"rollout {plan.Id}; evidence {string.Join(", ", decision.Evidence)}; approvals {string.Join(", ", decision.Approvals)}" +
                (options.Emergency ? $"; ticket {options.Ticket}" : ""), stored.Digest, options.Reason, ct).ConfigureAwait(false);
            var (engine, checks) = await promotions.EngineAsync(ct).ConfigureAwait(false);
            using (checks)
            {
                var rollout = await engine.StartAsync(plan, await promotions.TargetAsync(stored, plan, ct).ConfigureAwait(false), promotions.Progress(), ct).ConfigureAwait(false);
                promotions.Render(rollout);
                return Promotions.ExitCode(rollout);
            }
        }));
        return command;
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
            var runs = new PatchRuns(session);
            var environment = runs.Environment(parse.GetValue(env)!);
            var stored = await runs.PatchSetAsync(parse.GetValue(digest)!, ct).ConfigureAwait(false);
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var users = await store.ListUsersAsync(ct).ConfigureAwait(false);
            var user = users.FirstOrDefault(u => u.Name == session.Actor);
            GateRefusal? refusal = null;
            if (user is null || user.Role is not (Role.Approver or Role.Admin) || !user.Covers(environment.Name))
            {
                refusal = new GateRefusal(GateRules.Role, user is null
                    ? $"{session.Actor} is not a Stageproof user; approving needs the approver or admin role"
                    : $"{user.Name} ({user.Role.ToString().ToLowerInvariant()}, environments {string.Join(", ", user.Environments)}) may not approve for {environment.Name}: approver or admin covering it needed");
            }
            else if (stored.Set.Author == session.Actor)
            {
                refusal = new GateRefusal(GateRules.FourEyes, $"{session.Actor} wrote {stored.Set.Id}; its approval must come from someone else");
            }
            if (refusal is not null)
            {
                session.Ui.Error(refusal.ToString());
                await session.AuditAsync("approve.refused", environment.Name, refusal.ToString(), stored.Digest, cancellationToken: ct).ConfigureAwait(false);
                return ExitCodes.Finding;
            }
            var approval = new Approval
            {
                Id = $"ap-{session.Time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}",
                PatchDigest = stored.Digest,
                Environment = environment.Name,
                Approver = session.Actor,
                Comment = parse.GetValue(comment),
                At = session.Time.GetUtcNow(),
            };
            await store.SaveApprovalAsync(approval, ct).ConfigureAwait(false);
            await session.AuditAsync("approve", environment.Name, $"{approval.Id} by {approval.Approver}", stored.Digest, approval.Comment, ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(approval);
            }
            else
            {
                session.Ui.Say($"{approval.Id}: {session.Actor} approved {stored.Set.Id} ({stored.Digest[..12]}) for {environment.Name}");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
