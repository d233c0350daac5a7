using System.Globalization;
using Stageproof.Application.Estate;
using Stageproof.Application.Staging;
using Stageproof.Cli.Features;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Stage;
using Stageproof.Hosts.Rollouts;
using Stageproof.Lab;

namespace Stageproof.Cli.Commands;

/// <summary>Steps 13-18: people and roles, the fix promoted to production, a canary that fails and rolls itself back,
/// the emergency lane, and the lab left as the demo found it.</summary>
internal static partial class DemoCommand
{
    private const string RoutineSet = """
        # A routine tuning change: harmless, restarts the service.
        id: ACME-2026-11-04
        title: index mailboxes every 10 seconds
        ticket: CHG-2210
        reason: the indexer wakes up more often than the mailbox traffic needs
        root_cause: the packaged default suits small installations
        severity: low
        author: alice
        roles: [app]
        files:
          - { path: /etc/acme-mail/acme-mail.conf, set: { indexer.interval: "10" } }
        commands:
          post: [{ run: "service acme-mail restart", timeout: 60 }]
        """;

    private const string EmergencySet = """
        # An emergency: stolen login tokens are being replayed; shorten their lifetime now.
        id: ACME-2026-11-03
        title: login tokens expire after 30 minutes
        ticket: INC-4712
        reason: stolen login tokens are being replayed
        root_cause: tokens stay valid for an hour
        severity: critical
        author: alice
        roles: [app]
        files:
          - { path: /etc/acme-mail/acme-mail.conf, set: { session.lifetime: "30" } }
        commands:
          post: [{ run: "service acme-mail restart", timeout: 60 }]
        """;

    /// <summary>The lab's per-host settings file, read after the conffile (listen.address and listen.port live here).</summary>
    private const string HostFile = "/etc/acme-mail/host.d/host.conf";
    private const string ServingPort = "listen.port = 8080", ProdOnlySetting = "listen.port = 8081";

    private static async Task<bool> LifecycleStoryAsync(CliSession session, LabManager lab, CancellationToken ct)
    {
        var ui = session.Ui;
        var store = await session.StoreAsync(ct).ConfigureAwait(false);

        Step(ui, 13, "A defined administrator, and people with roles");
        ui.Say("Why: every change to production names who wrote it, who approved it and who rolled it out — and the tool, not a wiki page, refuses anyone else.");
        var users = await store.ListUsersAsync(ct).ConfigureAwait(false);
        if (users.Count == 0)
        {
            ui.Say($"No users yet: {session.Actor}, running the demo, becomes the administrator (the first user may be added by anyone; every later one only by an admin).");
            await UserCommand.AddAsync(session, session.Actor, Role.Admin, [], ct).ConfigureAwait(false);
            users = await store.ListUsersAsync(ct).ConfigureAwait(false);
        }
        foreach (var (name, role, what) in new[] { ("alice", Role.Operator, "writes the patch sets"), ("bob", Role.Operator, "rolls them out"), ("carol", Role.Approver, "approves them for production") })
        {
            if (users.FirstOrDefault(u => u.Name == name) is { } existing && existing.Role == role && existing.Covers("prod"))
            {
                ui.Say($"{name}: {role.ToString().ToLowerInvariant()} already ({what})");
                continue;
            }
            await UserCommand.AddAsync(session, name, role, [], ct).ConfigureAwait(false);
        }
        // Each of them acts below with a personal token, authenticated as the CLI would authenticate STAGEPROOF_TOKEN:
        // now that Stageproof has users, '--actor carol' typed by someone else is refused.
        var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in new[] { "alice", "bob", "carol" })
        {
            tokens[name] = (await TokenCommand.IssueAsync(session, name, TimeSpan.FromDays(1), null, null, ct).ConfigureAwait(false)).Text;
        }
        ui.Say($"alice, bob and carol get personal API tokens (a day each; 'stageproof token create NAME'): each act below is authenticated by one. " +
               $"'--actor carol approve …' typed by {session.OsUser} would now be refused by rule authenticated-actor.");
        bool fixOk, canaryOk, refusedByApprovals;
        StageResult qa;
        await using (var server = await DemoServer.StartAsync(session, lab.ConfigFile, tokens, ct).ConfigureAwait(false))
        {
            ui.Say($"A Stageproof server now runs over the lab's configuration and state, as 'stageproof serve' would: {server.Url} (API under /api/v1, the console beside it). " +
                   "From here on alice, bob and carol act through it with their tokens ('stageproof --server URL approve|promote …'), and rollouts run in the server, not in this terminal.");
            (qa, refusedByApprovals, fixOk) = await PromoteFixAsync(session, lab, server, ct).ConfigureAwait(false);
            canaryOk = await CanaryStoryAsync(session, lab, server, ct).ConfigureAwait(false);
        }
        var emergencyOk = await EmergencyStoryAsync(session, lab, tokens, ct).ConfigureAwait(false);

        Step(ui, 18, "Leave the lab as the demo found it");
        ui.Say("Why: every change above has a known rollback point; going back is the same one command for production as for staging.");
        var backOk = await RollBackAllAsync(session, "prod", ct).ConfigureAwait(false) & await RollBackAllAsync(session, "staging", ct).ConfigureAwait(false)
            & await RollBackAllAsync(session, "qa", ct).ConfigureAwait(false);
        ui.Say(backOk ? "Production, qa and staging are back at acme-mail 1.0 with their original configuration; a re-run of the demo starts from here."
            : "Some rollback left residue; see above.");
        ui.Say("Every step is in the audit log with its actor (alice, bob, carol): 'stageproof audit log'. Rollouts: 'stageproof rollout list'. The same through a server: 'stageproof serve', then 'stageproof --server URL rollout list'.");
        return qa.Verdict == StageVerdict.Pass && refusedByApprovals && fixOk && canaryOk && emergencyOk && backOk;
    }

    /// <summary>Step 14: the fix proven in qa too, refused before anyone approved, approved by carol, rolled out by bob.</summary>
    private static async Task<(StageResult Qa, bool RefusedByApprovals, bool Ok)> PromoteFixAsync(CliSession session, LabManager lab, DemoServer server, CancellationToken ct)
    {
        var ui = session.Ui;
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        var runs = new PatchRuns(session);

        Step(ui, 14, "Promote the fix to production: only what passed staging, only with someone else's approval");
        var fix = await StoredAsync(session, Path.Combine(lab.Directory, "patches", "acme-mail-1.1.yaml"), ct).ConfigureAwait(false);
        var results = await store.ListStageResultsAsync(null, null, ct).ConfigureAwait(false);
        var pass = results.Where(r => r.PatchDigest == fix.Digest && r.Environment == "staging" && r.Verdict == StageVerdict.Pass).OrderByDescending(r => r.StartedAt).FirstOrDefault();
        ui.Say("The lane is qa → staging → prod: the fix is proven in qa as well (staging proved it in step 10), each stage's PASS stored as evidence for exactly this digest.");
        var qa = await new StageService(session).RunAsync(new StageOptions { Digest = fix.Digest, Environment = "qa" }, ct).ConfigureAwait(false);
        StageCommand.Render(ui.Human, qa);
        ui.Say(pass is null ? "Unexpected: no staging PASS for the fix."
            : $"Evidence: qa's {(qa.Verdict == StageVerdict.Pass ? "PASS" : "FAIL")} {qa.Id} and staging's PASS {pass.Id} from step 10, both for {fix.Digest[..12]}; prod's gate asks for the PASS of the stage just before it, staging.");
        await PrepareProdAsync(session, ct).ConfigureAwait(false);
        var staging = runs.Environment("staging");
        var engine = await runs.EngineAsync(ct).ConfigureAwait(false);
        var apply = await engine.ApplyAsync(runs.ApplyRequest(staging, fix, runs.Hosts(staging, null)), runs.Progress(), ct).ConfigureAwait(false);
        ui.Say(apply.Succeeded ? "Staging gets the fix again (step 12 took it back): a rollout ends by comparing production with staging on what it patched."
            : "The fix did not apply to staging; the final comparison will show it.");
        ui.Say("bob (operator) promotes before anyone approved:");
        var (refused, _) = await server.PromoteAsync("bob", fix, new PromoteOptions { Digest = fix.Digest, Target = "prod" }, ct).ConfigureAwait(false);
        var refusedByApprovals = refused?.Rule == GateRules.Approvals;
        ui.Say(refusedByApprovals ? "Refused, by rule approvals: prod asks for one approval, and neither alice (the author) nor bob (the promoter) may give it."
            : "Unexpected: the promotion was not refused for want of an approval.");
        await server.ApproveAsync("carol", fix, "prod", $"read staging's report of {pass?.Id ?? "the stage"}: PASS", ct).ConfigureAwait(false);
        ui.Say("bob again — canary first, then the rest, checks after each batch, and at the end production compared with staging:");
        var (_, fixRollout) = await server.PromoteAsync("bob", fix, new PromoteOptions { Digest = fix.Digest, Target = "prod" }, ct).ConfigureAwait(false);
        var fixOk = fixRollout is { Status: RolloutStatus.Succeeded, DriftZero: true };
        ui.Say(fixOk ? $"Production runs the fix: rollout {fixRollout!.Id}, every host verified, zero drift from staging on the patched scope. 'stageproof rollout status {fixRollout.Id}' shows it again."
            : "The fix's rollout did not succeed; see the table above.");
        return (qa, refusedByApprovals, fixOk);
    }

    /// <summary>Step 15: a set that passed staging meets a production host that differs from staging (a prod-only
    /// listen.port the running service has not picked up yet): the canary fails its checks and is rolled back; the other
    /// batches are never touched.</summary>
    private static async Task<bool> CanaryStoryAsync(CliSession session, LabManager lab, DemoServer server, CancellationToken ct)
    {
        var ui = session.Ui;
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        Step(ui, 15, "A change that passed staging fails on production's canary, and rolls itself back");
        ui.Say("Why: staging can only prove what it mirrors. The canary limits the damage of what it does not to one host, and the rollback needs nobody awake.");
        var file = Path.Combine(lab.Directory, "patches", "indexer-interval.yaml");
        await File.WriteAllTextAsync(file, RoutineSet, ct).ConfigureAwait(false);
        var routine = await StoredAsync(session, file, ct).ConfigureAwait(false);
        var results = await store.ListStageResultsAsync(null, null, ct).ConfigureAwait(false);
        var latest = results.Where(r => r.PatchDigest == routine.Digest && r.Environment == "staging" && r.FinishedAt is not null).OrderByDescending(r => r.StartedAt).FirstOrDefault();
        if (latest?.Verdict != StageVerdict.Pass)
        {
            ui.Say($"{routine.Set.Id} ({routine.Digest[..12]}): staged in staging first.");
            var staged = await new StageService(session).RunAsync(new StageOptions { Digest = routine.Digest, Environment = "staging" }, ct).ConfigureAwait(false);
            StageCommand.Render(ui.Human, staged);
            if (staged.Verdict != StageVerdict.Pass)
            {
                ui.Error($"{routine.Set.Id} did not pass staging; the canary story needs a set that did");
                return false;
            }
        }
        else
        {
            ui.Say($"{routine.Set.Id} ({routine.Digest[..12]}) passed staging already ({latest.Id}, an earlier run of the demo): that PASS still counts.");
        }
        var canaryHost = session.Config.HostsOf("prod")[0];
        var factory = session.Transports();
        await using (var transport = factory.Create(canaryHost))
        {
            var conf = await ReadAsync(transport, HostFile, ct).ConfigureAwait(false);
            await WriteAsync(transport, HostFile, conf.Replace(ServingPort, ProdOnlySetting, StringComparison.Ordinal), ct).ConfigureAwait(false);
        }
        await session.AuditAsync("demo.inject-drift", canaryHost.Name, $"{HostFile}: {ProdOnlySetting} (not restarted)", cancellationToken: ct).ConfigureAwait(false);
        ui.Say($"On {canaryHost.Name} somebody set '{ProdOnlySetting}' in {HostFile} for a new load balancer, without restarting: the service still answers on 8080, " +
            "and staging has no such change. The routine change's restart will pick it up.");
        await server.ApproveAsync("carol", routine, "prod", "harmless tuning; staging PASS", ct).ConfigureAwait(false);
        var (_, rollout) = await server.PromoteAsync("bob", routine, new PromoteOptions { Digest = routine.Digest, Target = "prod" }, ct).ConfigureAwait(false);
        var canary = rollout?.Batches.FirstOrDefault();
        var untouched = rollout is not null && canary is not null && rollout.Hosts.Where(h => h.Batch != canary.Index).All(h => h.State is RolloutHostState.Untouched or RolloutHostState.Pending);
        var canaryStates = rollout is null ? [] : rollout.Hosts.Where(h => h.Batch == canary!.Index).Select(h => h.State).ToList();
        var ok = rollout is not null && rollout.Status != RolloutStatus.Succeeded && untouched
            && canaryStates.All(s => s is RolloutHostState.RolledBack or RolloutHostState.NeedsAttention);
        ui.Say(!ok ? rollout is null ? "Unexpected: the promotion was refused; see above." : "Unexpected: the rollout did not stop at the canary; see the table above."
            : canaryStates.All(s => s == RolloutHostState.RolledBack)
                ? $"The canary {canaryHost.Name} failed its checks and was rolled back on its own; the later batch was never touched."
                : $"The canary {canaryHost.Name} failed its checks and the rollout stopped there; the later batch was never touched. Its rollback restored everything the change touched, " +
                  $"but the host still does not match its manifest from before (the prod-only port is not the change's to undo): the rollout says so instead of calling it clean.");

        await using (var transport = factory.Create(canaryHost))
        {
            var conf = await ReadAsync(transport, HostFile, ct).ConfigureAwait(false);
            await WriteAsync(transport, HostFile, conf.Replace(ProdOnlySetting, ServingPort, StringComparison.Ordinal), ct).ConfigureAwait(false);
            var restart = await transport.RunAsync(RemoteCommand.Exec("service", "acme-mail", "restart"), cancellationToken: ct).ConfigureAwait(false);
            ui.Say(restart.Succeeded ? $"{canaryHost.Name}: listen.port back to 8080, acme-mail restarted — the lab is healthy again."
                : $"{canaryHost.Name}: restart said: {restart.StandardError.Trim()}");
        }
        await session.AuditAsync("demo.reconcile", canaryHost.Name, $"{HostFile}: {ServingPort} again; acme-mail restarted", cancellationToken: ct).ConfigureAwait(false);
        return ok;
    }

    /// <summary>Steps 16-17: the emergency lane — proven in a fresh clone of production instead of qa and staging,
    /// approved, recorded with reason and ticket — and what it leaves owed.</summary>
    private static async Task<bool> EmergencyStoryAsync(CliSession session, LabManager lab, IReadOnlyDictionary<string, string> tokens, CancellationToken ct)
    {
        var ui = session.Ui;
        Step(ui, 16, "The emergency lane: proven in a fresh clone of production");
        ui.Say("Why: an emergency skips qa and staging, never the proof. The set must pass in a copy of production made after it was frozen, and the lane records why and under which ticket.");
        var file = Path.Combine(lab.Directory, "patches", "session-lifetime.yaml");
        await File.WriteAllTextAsync(file, EmergencySet, ct).ConfigureAwait(false);
        var hotfix = await StoredAsync(session, file, ct).ConfigureAwait(false);
        var clone = "hotfix-" + session.Time.GetUtcNow().UtcDateTime.ToString("HHmmss", CultureInfo.InvariantCulture);
        var made = await lab.CloneAsync("prod", clone, LabCommand.Progress(session), ct).ConfigureAwait(false);
        await session.AuditAsync("lab.clone", clone, $"from prod in {made.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s, by demo", cancellationToken: ct).ConfigureAwait(false);
        session.UseConfig(ConfigLoader.Load(lab.ConfigFile));
        ui.Say($"{clone}: a copy-on-write clone of production (hosts and database) made in {made.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s, after {hotfix.Set.Id} was frozen.");
        var staged = await new StageService(session).RunAsync(new StageOptions { Digest = hotfix.Digest, Environment = clone }, ct).ConfigureAwait(false);
        StageCommand.Render(ui.Human, staged);
        Rollout? rollout;
        // The server reads stageproof.yaml when it starts: the clone is a new environment, so a server that knows it.
        await using (var server = await DemoServer.StartAsync(session, lab.ConfigFile, tokens, ct).ConfigureAwait(false))
        {
            ui.Say($"The server is started again ({server.Url}): it reads stageproof.yaml when it starts, and the clone is a new environment in it.");
            await server.ApproveAsync("carol", hotfix, "prod", $"PASS in {clone}; INC-4712", ct).ConfigureAwait(false);
            (_, rollout) = await server.PromoteAsync("bob", hotfix, new PromoteOptions
            {
                Digest = hotfix.Digest, Target = "prod", Emergency = true, Reason = "stolen login tokens are being replayed", Ticket = "INC-4712",
            }, ct).ConfigureAwait(false);
        }
        var ok = staged.Verdict == StageVerdict.Pass && rollout is not null && rollout.Lane == Lane.Emergency
            && rollout.Hosts.All(h => h.State == RolloutHostState.Verified) && rollout.Status == RolloutStatus.Succeeded;
        ui.Say(ok ? $"Every production host verified and equal to {rollout!.DriftAgainst} on the patched scope; the rollout is on record as EMERGENCY with ticket INC-4712 and its reason."
            : "The emergency promotion did not complete; see above.");

        Step(ui, 17, "What the emergency left owed");
        ui.Say("Why: full documentation — an emergency is not finished until the stages it skipped have caught up.");
        var report = await new ComplianceWorkflow(session.Config, await session.StoreAsync(ct).ConfigureAwait(false), session.Time).BuildAsync(null, ct).ConfigureAwait(false);
        var owed = report.Environments.SelectMany(e => e.Owed.Where(o => o.PatchId == hotfix.Set.Id).Select(o => (e.Environment, o))).ToList();
        foreach (var (environment, o) in owed)
        {
            ui.Say($"compliance: {environment}: {o.PatchId} ({o.ShortDigest}): {o.Message}");
        }
        ui.Say(owed.Count > 0
            ? $"'stageproof compliance' lists {hotfix.Set.Id} as owed to {string.Join(" and ", owed.Select(o => o.Environment).Distinct())} until it passes there ('stageproof stage {hotfix.Digest[..12]} --env qa', then staging)."
            : "compliance lists nothing owed: unexpected after an emergency.");
        ok &= owed.Any(o => o.o.EmergencyBackfill);
        ui.Say($"The clone {clone} stays up: the lab has no verb to remove one clone; 'stageproof lab down' removes it with the rest.");
        return ok;
    }

    /// <summary>Freezes a patch set file and stores it (audited as patch.freeze), returning the stored set.</summary>
    private static async Task<StoredPatchSet> StoredAsync(CliSession session, string file, CancellationToken ct)
    {
        var frozen = PatchSetFreezer.Freeze(file);
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        await store.SavePatchSetAsync(frozen, ct).ConfigureAwait(false);
        await session.AuditAsync("patch.freeze", frozen.Set.Id, "by demo", frozen.Digest, cancellationToken: ct).ConfigureAwait(false);
        return (await store.FindPatchSetAsync(frozen.Digest, ct).ConfigureAwait(false))!;
    }

    /// <summary>A re-run may find production patched by an earlier (perhaps interrupted) run: rolls it back first.</summary>
    private static async Task PrepareProdAsync(CliSession session, CancellationToken ct)
    {
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        if ((await store.ListRollbackPointsAsync("prod", ct).ConfigureAwait(false)).Any(p => p.Status == RollbackPointStatus.Active))
        {
            session.Ui.Say("Production still carries changes of an earlier run: rolling them back first, newest first.");
            await RollBackAllAsync(session, "prod", ct).ConfigureAwait(false);
        }
    }

    /// <summary>Rolls back every active rollback point of an environment, newest first.</summary>
    private static async Task<bool> RollBackAllAsync(CliSession session, string environment, CancellationToken ct)
    {
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        var runs = new PatchRuns(session);
        var engine = await runs.EngineAsync(ct).ConfigureAwait(false);
        var env = runs.Environment(environment);
        var ok = true;
        foreach (var point in (await store.ListRollbackPointsAsync(environment, ct).ConfigureAwait(false)).Where(p => p.Status == RollbackPointStatus.Active).ToList())
        {
            var set = (await runs.PatchSetAsync(point.PatchDigest, ct).ConfigureAwait(false)).Set;
            var back = await engine.RollbackAsync(runs.RollbackRequest(env, point, set), runs.Progress(), ct).ConfigureAwait(false);
            session.Ui.Say($"{environment}: rollback point {point.Id} ({set.Id}): {(back.Succeeded ? "rolled back" : "rolled back with residue")}");
            ok &= back.Succeeded;
        }
        return ok;
    }
}
