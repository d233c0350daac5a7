using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Stageproof.Application.Estate;
using Stageproof.Application.Lifecycle;
using Stageproof.Application.Notifications;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Audit;
using Stageproof.Core.Checks;
using Stageproof.Core.Drift;
using Stageproof.Core.Hosts;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;
using Stageproof.Core.Stage;
using Stageproof.Hosts.Apply;
using Stageproof.Hosts.Checks;
using Stageproof.Hosts.Databases;
using Stageproof.Hosts.Facts;

namespace Stageproof.Application.Staging;

public sealed record StageOptions
{
    public required string Digest { get; init; }
    public required string Environment { get; init; }
    public bool AcceptDrift { get; init; }
    public string? Reason { get; init; }
    /// <summary>How long the service may take to answer its readiness checks after a change or a rollback.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(45);
    /// <summary>Null: the configuration's stage.policy for the environment.</summary>
    public StagePolicy? Policy { get; init; }
}

/// <summary>What a stage run tells whoever watches it, as it happens: the CLI prints it, a server could stream it.</summary>
public interface IStageProgress
{
    /// <summary>Step <paramref name="number"/> (1-based, of <see cref="StageSteps.All"/>) begins, <paramref name="elapsed"/> into the run.</summary>
    void StepStarted(int number, string step, string what, TimeSpan elapsed);

    /// <summary>A step ended with its status and one-line summary.</summary>
    void StepEnded(string step, StepStatus status, string summary);

    /// <summary>A reason for FAIL, with its evidence, as soon as it is found.</summary>
    void Failed(string step, string subject, string evidence);

    /// <summary>One check's result, as the suite runs.</summary>
    void Checked(CheckResult result);

    /// <summary>The patch engine's own progress lines (apply, rollback).</summary>
    IProgress<string> Engine { get; }
}

/// <summary>
/// <c>stage D --env ENV</c>: fidelity → baseline → rollback point and apply → the suite again, compared → drift from
/// before to after, expected or not → soak → rollback rehearsal and re-apply → verdict, every step with its evidence.
/// </summary>
/// <param name="engines">The estate's engines (configuration, state, transports, webhooks).</param>
/// <param name="actor">Who runs the stage: the name the audit log and the result record.</param>
/// <param name="progress">Who is told as it goes.</param>
/// <param name="collectFacts">Collects and stores an environment's manifests now (the fidelity step's two sides);
/// throws <see cref="InfrastructureException"/> naming a host that could not be read.</param>
public sealed class StageWorkflow(EstateEngines engines, string actor, IStageProgress progress,
    Func<string, CancellationToken, Task<IReadOnlyList<Manifest>>> collectFacts)
{
    private readonly List<StageStep> _steps = [];
    private readonly List<StageReason> _reasons = [];
    private readonly List<StageReason> _warnings = [];
    private readonly List<PatchRun> _patchRuns = [];
    private double _readySeconds;
    private double _soakWaitSeconds;
    private double _soakWindowSeconds;

    public async Task<StageResult> RunAsync(StageOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        var config = engines.Config;
        var env = engines.Environment(options.Environment);
        if (env.Checks is null)
        {
            throw new InputException($"{config.SourceFile}: environment '{env.Name}' names no check suite (environments.{env.Name}.checks): a stage run needs one");
        }
        if (options.AcceptDrift && string.IsNullOrWhiteSpace(options.Reason))
        {
            throw new InputException("--accept-drift needs --reason: why a drifted mirror is good enough this time is part of the record");
        }
        var stored = await engines.PatchSetToActOnAsync(options.Digest, ct).ConfigureAwait(false);
        var set = stored.Set;
        var suite = config.SuiteOf(env.Name);
        var quick = suite with { Checks = suite.Checks.Where(c => c is not SoakCheck).ToList() };
        var light = suite with { Checks = suite.Checks.Where(c => c is not SoakCheck and not LoadCheck and not LdapCheck { IsLoad: true }).ToList() };
        var store = engines.Store;
        var clock = Stopwatch.StartNew();

        // A precondition, not a verdict: on a host that already has the set, the baseline would not be a
        // before-the-change measurement. Refused before anything is recorded, so an earlier PASS stays valid.
        // The control must still run the old version, or latency would be judged against the change itself.
        // Both are read at once, every host of each beside the others.
        var engine = engines.Patches();
        var parallelism = config.Ssh.Parallelism;
        var alreadyAppliedRead = engine.AlreadyAppliedAsync(ApplyRequest(env, stored, CheckEnvironment.From(config, env.Name).Hosts), ct, parallelism);
        CheckEnvironment? control = null;
        var controlAppliedRead = Task.FromResult<IReadOnlyList<string>>([]);
        if (env.Control is { } controlName)
        {
            var controlEnv = engines.Environment(controlName);
            control = CheckEnvironment.From(config, controlName);
            controlAppliedRead = engine.AlreadyAppliedAsync(ApplyRequest(controlEnv, stored, control.Hosts), ct, parallelism);
        }
        await Task.WhenAll(alreadyAppliedRead, controlAppliedRead).ConfigureAwait(false);
        var alreadyApplied = await alreadyAppliedRead.ConfigureAwait(false);
        if (alreadyApplied.Count > 0)
        {
            throw new InputException($"{set.Id} is already applied on {string.Join(", ", alreadyApplied)}: a stage must start from the state " +
                                     $"before the change (roll it back first: stageproof rollback --env {env.Name}); nothing was recorded");
        }
        var controlApplied = await controlAppliedRead.ConfigureAwait(false);
        if (controlApplied.Count > 0)
        {
            throw new InputException($"{set.Id} is already applied on {string.Join(", ", controlApplied)} of {env.Control}, the control of {env.Name} " +
                                     $"(environments.{env.Name}.control): a control must stay on the version before the change " +
                                     $"(roll it back first: stageproof rollback --env {env.Control}); nothing was recorded");
        }

        var result = new StageResult
        {
            Id = $"stage-{engines.Time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}",
            PatchDigest = stored.Digest,
            PatchId = set.Id,
            PatchTitle = set.Title,
            Environment = env.Name,
            MirrorOf = env.MirrorOf,
            Actor = actor,
            StartedAt = engines.Time.GetUtcNow(),
            MinFidelity = config.Drift.MinFidelity,
            Control = env.Control,
        };
        var first = await AuditAsync("stage.start", env.Name, stored.Digest, $"{set.Id}, run {result.Id}", options.Reason, ct).ConfigureAwait(false);
        result = result with { AuditFrom = first.Sequence };
        await store.SaveStageResultAsync(result, ct).ConfigureAwait(false);

        // a. fidelity
        var fidelityStart = Start(StageSteps.Fidelity, "does the environment mirror production?", clock);
        if (env.MirrorOf is not { } mirror)
        {
            Step(StageSteps.Fidelity, StepStatus.Skipped, $"{env.Name} names no mirror_of", fidelityStart);
        }
        else
        {
            var (fidelity, failsFidelity, items, summary) = await FidelityAsync(mirror, env.Name, ct).ConfigureAwait(false);
            result = result with { Fidelity = fidelity, FidelityItems = items };
            if (failsFidelity && !options.AcceptDrift)
            {
                Fail(StageSteps.Fidelity, $"{env.Name} vs {mirror}", $"{env.Name} is not a faithful mirror of {mirror}: {summary}");
                Step(StageSteps.Fidelity, StepStatus.Failed, summary, fidelityStart);
                return await FinishAsync(result, ct).ConfigureAwait(false);
            }
            if (failsFidelity)
            {
                _warnings.Add(new StageReason(StageSteps.Fidelity, $"{env.Name} vs {mirror}", $"drift accepted by {actor}: {options.Reason} ({summary})"));
                result = result with { AcceptedDrift = options.Reason };
            }
            Step(StageSteps.Fidelity, failsFidelity ? StepStatus.Warned : StepStatus.Passed, summary, fidelityStart);
        }

        var checkEnv = CheckEnvironment.From(config, env.Name);
        var factory = engines.Transports;
        var transports = new Dictionary<string, ITransport>(StringComparer.Ordinal);
        foreach (var host in checkEnv.Hosts)
        {
            transports[host.Name] = factory.Create(host);
        }
        using var runner = new CheckSuiteRunner
        {
            Progress = progress.Checked,
            HostParallelism = config.Ssh.Parallelism,
        };
        try
        {
            // b. baseline
            var baselineStart = Start(StageSteps.Baseline, control is null
                ? "the suite before the change (latency and load measured, the load twice: the noise floor)"
                : $"the suite before the change (latency and load measured, beside the control {control.Name})", clock);
            var baseline = await runner.RunAsync(checkEnv, quick, transports, ct, control: control).ConfigureAwait(false);
            result = result with { Baseline = baseline };
            if (!baseline.AllPassed)
            {
                foreach (var r in baseline.Results.Where(r => !r.Passed))
                {
                    Fail(StageSteps.Baseline, $"{r.Name} on {r.Target}", "fails before the change, so no change can be judged: " + r.Message);
                }
                Step(StageSteps.Baseline, StepStatus.Failed, Count(baseline), baselineStart);
                return await FinishAsync(result, ct).ConfigureAwait(false);
            }
            if (control is null)
            {
                // Without a twin measured in the same seconds, a second run of the same version shows how far the
                // latency moves with no change at all: a slowdown after the change must exceed that to count.
                var repeat = new List<CheckResult>();
                foreach (var load in quick.Checks.Where(SuiteComparison.IsLoad))
                {
                    repeat.AddRange(await runner.RunCheckAsync(checkEnv, quick, load, transports, null, ct).ConfigureAwait(false));
                }
                result = result with { BaselineRepeat = repeat };
            }
            Step(StageSteps.Baseline, StepStatus.Passed, Count(baseline) + LoadLine(baseline) + NoiseLine(result), baselineStart);

            // c. rollback point, then apply
            var applyStart = Start(StageSteps.Apply, "rollback point, then the patch set", clock);
            var behaviour = new BehaviourRecords(new HostBehaviourCollector(config.Ssh.CommandTimeout),
                suite.Checks.OfType<LogsCheck>().Select(l => l.File).Distinct(StringComparer.Ordinal).ToList(), checkEnv.Hosts, transports,
                IgnoreRules.Parse(config.Drift.Ignore));
            // Continuity queries (sql checks with continuity:) as the data stands just before the rollback point is taken.
            var continuity = quick.Checks.OfType<SqlCheck>().Where(c => c.Continuity is not null).ToList();
            // The logs' markers, the hosts' behaviour records and the continuity queries all describe the moment before
            // the change and need nothing of each other: taken at once.
            var markersTaken = runner.MarkLogsAsync(checkEnv, quick, transports, ct);
            var behaviourTaken = behaviour.TakeAsync(null, ct);
            var continuityTaken = RunAllAsync(runner, checkEnv, quick, continuity, transports, ct);
            await Task.WhenAll(markersTaken, behaviourTaken, continuityTaken).ConfigureAwait(false);
            var markers = await markersTaken.ConfigureAwait(false);
            var behaviourBefore = await behaviourTaken.ConfigureAwait(false);
            var continuityAtPoint = await continuityTaken.ConfigureAwait(false);
            // A failed host is left as it failed long enough to gather evidence from it, then rolled back here.
            // A set an earlier stage proved installs that stage's closure; the first stage resolves one and binds it here.
            var applyRequest = ApplyRequest(env, stored, checkEnv.Hosts) with
            {
                AutoRollback = false,
                Closure = await EstateEngines.ProvenClosureAsync(store, stored.Digest, null, ct).ConfigureAwait(false),
            };
            var apply = await engine.ApplyAsync(applyRequest, progress.Engine, ct).ConfigureAwait(false);
            _patchRuns.Add(apply);
            applyRequest = applyRequest with { Closure = apply.Closure };
            result = result with { ApplyRun = apply.Id, RollbackPoint = apply.RollbackPoint, Closure = apply.Closure };
            if (apply.Hosts.Any(h => h.Status == HostRunStatus.AlreadyApplied))
            {
                Fail(StageSteps.Apply, string.Join(", ", apply.Hosts.Where(h => h.Status == HostRunStatus.AlreadyApplied).Select(h => h.Host)),
                    $"{set.Id} was already applied before this run, so the baseline is not a before-the-change measurement (roll it back first: stageproof rollback --env {env.Name})");
                Step(StageSteps.Apply, StepStatus.Failed, "already applied", applyStart);
                return await FinishAsync(result, ct).ConfigureAwait(false);
            }
            if (!apply.Succeeded)
            {
                foreach (var h in apply.Hosts.Where(h => h.Status is not HostRunStatus.Applied))
                {
                    Fail(StageSteps.Apply, h.Host, $"{PatchEngine.Status(h.Status)}: {h.Message}");
                }
                // What the failed change left behind, as the suite sees it (health, schema, logs), before it is undone.
                var evidence = await runner.RunAsync(checkEnv, light, transports, ct, markers).ConfigureAwait(false);
                result = result with { After = evidence };
                foreach (var r in evidence.Results.Where(r => !r.Passed))
                {
                    Fail(StageSteps.Apply, $"{r.Name} on {r.Target}", "after the failed apply: " + r.Message);
                }
                Step(StageSteps.Apply, StepStatus.Failed, PatchEngine.Summary(apply), applyStart);
                if (apply.RollbackPoint is { } failedPoint && await store.FindRollbackPointAsync(failedPoint, ct).ConfigureAwait(false) is { } pointToUndo)
                {
                    var undo = await engine.RollbackAsync(RollbackRequest(env, pointToUndo, set, DatabaseRestoreMode.Auto), progress.Engine, ct).ConfigureAwait(false);
                    _patchRuns.Add(undo);
                    result = result with
                    {
                        RollbackRuns = [undo.Id],
                        Rehearsal = new RehearsalResult
                        {
                            RolledBack = undo.Succeeded,
                            Residue = undo.Hosts.SelectMany(h => h.Residue).ToList(),
                            DatabaseRestoreNeeded = undo.Restores.Any(r => r.Restored),
                            Discarded = Discarded(undo),
                            Notes = [undo.Succeeded ? $"{env.Name} is back at its rollback point" : "the return to the rollback point left residue: " + PatchEngine.Summary(undo)],
                        },
                    };
                    if (!undo.Succeeded)
                    {
                        Fail(StageSteps.Apply, env.Name, "the return to the rollback point after the failed apply left residue: " + PatchEngine.Summary(undo));
                    }
                }
                return await FinishAsync(result, ct).ConfigureAwait(false);
            }
            var point = (await store.FindRollbackPointAsync(apply.RollbackPoint!, ct).ConfigureAwait(false))!;
            Step(StageSteps.Apply, StepStatus.Passed, $"{PatchEngine.Summary(apply)}; rollback point {point.Id}", applyStart);

            // d. the suite again, compared with the baseline
            var compareStart = Start(StageSteps.Compare, "the suite after the change, compared with the baseline", clock);
            await WaitReadyAsync(checkEnv, light, transports, options.Settle, ct).ConfigureAwait(false);
            // The soak window opens as soon as the changed service answers again and runs beside the comparison and the
            // drift: the service must keep answering for the window after the change, and the stage need not wait
            // for the window after everything else as well. (Step f collects it; see BackgroundSoak for the exception.)
            await using var soakRun = BackgroundSoak.Start(runner, checkEnv, suite, transports, markers, ct);
            var after = await runner.RunAsync(checkEnv, quick, transports, ct, markers, control).ConfigureAwait(false);
            var comparisons = SuiteComparison.Compare(quick, baseline, after, result.BaselineRepeat);
            if (control is not null && SuiteComparison.ToRecheck(quick, baseline, after, comparisons) is { Count: > 0 } beyondControl)
            {
                // Slower than the control, which sped up: the A/B/A below decides it with staging rolled back and warmed
                // first. The changed service was just restarted too, so it is measured once more, warm, and that run
                // stands for it, as a direct regression counts only when a second run shows it (a CI run's false FAIL:
                // a cold first run at 12.6 times its control, the rolled-back one at 1.6).
                progress.Engine.Report($"{string.Join(", ", beyondControl.Select(c => c.Name))} slower than {control.Name} after the change: measuring it again on the new version, warm");
                var warm = await runner.RunAsync(checkEnv, quick, transports, ct, markers, control, only: beyondControl).ConfigureAwait(false);
                after = SuiteComparison.Remeasured(after, warm);
                comparisons = SuiteComparison.Compare(quick, baseline, after, result.BaselineRepeat);
            }
            result = result with { After = after };
            if (SuiteComparison.ToConfirm(quick, comparisons) is { Count: > 0 } toConfirm)
            {
                progress.Engine.Report($"{string.Join(", ", toConfirm.Select(c => c.Name))} regressed: running it again to confirm");
                var again = await runner.RunAsync(checkEnv, quick, transports, ct, markers, control, only: toConfirm).ConfigureAwait(false);
                comparisons = SuiteComparison.Confirm(comparisons, SuiteComparison.Compare(quick, baseline, again, result.BaselineRepeat));
                result = result with { AfterRepeat = again };
            }
            result = result with { Comparisons = comparisons };
            // Staging back on the old version (the rehearsal, or the return after a failure): see RecheckAsync.
            Task<StageResult> RecheckRolledBackAsync(StageResult current) =>
                RecheckAsync(current, runner, checkEnv, quick, light, transports, control, baseline, after, options.Settle, ct);
            foreach (var c in comparisons.Where(c => c.Regressed))
            {
                Fail(StageSteps.Compare, $"{c.Name} on {c.Target}", c.Message, Confidence(c));
            }
            foreach (var c in comparisons.Where(c => c.Inconclusive))
            {
                _warnings.Add(new StageReason(StageSteps.Compare, $"{c.Name} on {c.Target}", c.Message, Confidence(c)));
            }
            // Data continuity: every table's rows at the rollback point against now; a loss the set does not declare fails.
            var losses = await DataLossesAsync(point, env.Databases, set, ct).ConfigureAwait(false);
            var valueLosses = ValueLosses(continuity, continuityAtPoint, after.Results, set);
            result = result with { DataLosses = losses, ValueLosses = valueLosses };
            foreach (var loss in losses.Where(l => !l.Declared))
            {
                Fail(StageSteps.Compare, $"data {loss.Database} {loss.Table}", $"{loss}, and the set does not declare it (data_loss)");
            }
            foreach (var loss in valueLosses.Where(l => !l.Declared))
            {
                Fail(StageSteps.Compare, $"data {loss.Check}", $"{loss}, and the set does not declare it (data_loss)");
            }
            var undeclared = losses.Count(l => !l.Declared) + valueLosses.Count(l => !l.Declared);
            Step(StageSteps.Compare, comparisons.Any(c => c.Regressed) || undeclared > 0 ? StepStatus.Failed
                    : comparisons.Any(c => c.Inconclusive) ? StepStatus.Warned : StepStatus.Passed,
                $"{comparisons.Count(c => c.Regressed)} of {comparisons.Count} regressed"
                + (comparisons.Count(c => c.Inconclusive) is > 0 and var unsure ? $", {unsure} inconclusive" : "")
                + (control is null ? "" : $"; latency judged against {control.Name} in the same seconds") + LoadLine(after)
                + (losses.Count + valueLosses.Count == 0 ? "" : $"; data lost in {losses.Count} table(s) and {valueLosses.Count} continuity measure(s), {undeclared} undeclared"), compareStart);

            // e. drift from before to after
            var driftStart = Start(StageSteps.Drift, "what changed on each host, and whether the patch set declares it", clock);
            var policy = options.Policy ?? config.Stage.PolicyFor(env.Name);
            var changes = await ChangesAsync(apply, point, set, transports, checkEnv.Hosts, policy, ct).ConfigureAwait(false);
            var behaviourAfter = await behaviour.TakeAsync(behaviourBefore, ct).ConfigureAwait(false);
            changes = [.. changes, .. BehaviourChangesOf(behaviourBefore, behaviourAfter, changes, point, set, policy, behaviour.Ignore)];
            result = result with { Changes = changes };
            // stage.policy "ignore" (Skipped): listed with the changes, never a reason.
            foreach (var c in changes.Where(c => c.Unexpected && c.Status is StepStatus.Failed or StepStatus.Warned))
            {
                var reason = new StageReason(StageSteps.Drift, $"{c.Host} {c.Category} {c.Key}", $"{c.Why} ({c.Before ?? "absent"} → {c.After ?? "absent"})");
                (c.Status == StepStatus.Failed ? _reasons : _warnings).Add(reason);
            }
            var unexpected = changes.Where(c => c.Unexpected).ToList();
            var cosmetic = changes.Count(c => c.Cosmetic);
            Step(StageSteps.Drift, unexpected.Any(c => c.Status == StepStatus.Failed) ? StepStatus.Failed
                    : unexpected.Any(c => c.Status == StepStatus.Warned) ? StepStatus.Warned : StepStatus.Passed,
                $"{changes.Count(c => c.Expected)} expected change(s), {unexpected.Count} unexpected" + (cosmetic > 0 ? $", {cosmetic} cosmetic" : ""), driftStart);

            // f. soak
            var soakStart = Start(StageSteps.Soak, "the named checks, repeated for the soak window (open since the changed service answered again)", clock);
            if (!soakRun.Any)
            {
                Step(StageSteps.Soak, StepStatus.Skipped, $"suite {suite.Name} has no soak check", soakStart);
            }
            else
            {
                var waited = Stopwatch.StartNew();
                var soakResults = await soakRun.ResultsAsync().ConfigureAwait(false);
                _soakWaitSeconds = waited.Elapsed.TotalSeconds;
                // The window is time the suite asks for whatever runs beside it; only the after-run's loads, counted as
                // load already, are taken out of it (the comparison's own work and the drift ran inside it for free).
                var loadInWindow = soakRun.Beside ? LoadSeconds(after.Results) : 0;
                _soakWindowSeconds = Math.Max(0, soakRun.Ran.TotalSeconds - loadInWindow);
                result = result with { Soak = soakResults };
                foreach (var r in soakResults.Where(r => !r.Passed))
                {
                    Fail(StageSteps.Soak, $"{r.Name} on {r.Target}", r.Message);
                }
                Step(StageSteps.Soak, soakResults.All(r => r.Passed) ? StepStatus.Passed : StepStatus.Failed,
                    string.Join("; ", soakResults.Select(r => $"{r.Name}: {r.Message}")), soakStart);
            }

            // g. rollback rehearsal (or, when the change already failed, returning staging to the point)
            var rehearsalStart = Start(StageSteps.Rehearsal, _reasons.Count > 0
                ? "the change failed: returning the environment to its rollback point"
                : "roll back as the set declares each migration's way back (without a database restore unless it is declared irreversible), verify; if that fails, with a restore", clock);
            var rollbacks = new List<string>();
            RollbackRequest Rollback(DatabaseRestoreMode mode) => RollbackRequest(env, point, set, mode);
            if (_reasons.Count > 0)
            {
                var cleanup = await engine.RollbackAsync(Rollback(DatabaseRestoreMode.Auto), progress.Engine, ct).ConfigureAwait(false);
                _patchRuns.Add(cleanup);
                rollbacks.Add(cleanup.Id);
                var cleanupResidue = await behaviour.ResidueAsync(behaviourBefore, host => ChangedPackages(point, set, host), ct).ConfigureAwait(false);
                if (cleanup.Succeeded)
                {
                    result = await RecheckRolledBackAsync(result).ConfigureAwait(false);
                }
                var restored = cleanup.Restores.Where(r => r.Restored).Select(r => r.Database).ToList();
                result = result with
                {
                    RollbackRuns = rollbacks,
                    Rehearsal = new RehearsalResult
                    {
                        RolledBack = cleanup.Succeeded,
                        Residue = [.. cleanup.Hosts.SelectMany(h => h.Residue), .. cleanupResidue],
                        DatabaseRestoreNeeded = restored.Count > 0,
                        Discarded = Discarded(cleanup),
                        Notes = [cleanup.Succeeded ? $"{env.Name} is back at its rollback point" + (restored.Count > 0 ? $" (database {string.Join(", ", restored)} restored)" : "")
                                + (cleanupResidue.Count > 0 ? $", but the change left behind what a package rollback does not undo: {string.Join("; ", cleanupResidue)}" : "")
                            : "the return to the rollback point left residue: " + PatchEngine.Summary(cleanup)],
                    },
                };
                Step(StageSteps.Rehearsal, StepStatus.Skipped, result.Rehearsal.Notes[0], rehearsalStart);
                Step(StageSteps.Reapply, StepStatus.Skipped, "the change failed", engines.Time.GetUtcNow());
                return await FinishAsync(result, ct).ConfigureAwait(false);
            }

            // The migrations the change added, each with its declared way back (way_back). Only a set that declares every
            // one and at least one irreversible is rehearsed with the restore it acknowledges; otherwise without a
            // restore (declared down scripts run), and a restore only to tell "restore needed" from "broken".
            var added = await AddedMigrationsAsync(point, env.Databases, set, ct).ConfigureAwait(false);
            var undeclaredMigrations = added.Where(m => m.How is null).ToList();
            var irreversible = undeclaredMigrations.Count == 0 ? added.Where(m => m.How == WayBackHow.Irreversible).ToList() : [];
            var firstMode = irreversible.Count > 0 ? DatabaseRestoreMode.Restore : DatabaseRestoreMode.Keep;
            var rehearsalMarkers = await runner.MarkLogsAsync(checkEnv, light, transports, ct).ConfigureAwait(false);
            var keep = await engine.RollbackAsync(Rollback(firstMode), progress.Engine, ct).ConfigureAwait(false);
            _patchRuns.Add(keep);
            rollbacks.Add(keep.Id);
            // A restore ends the sessions of the release still running on the database ("terminating connection due to
            // administrator command" in its log): the restore's own trace, so as after any restore here, the logs are read
            // from when the suite starts.
            var keepSuite = await SettledSuiteAsync(runner, checkEnv, light, transports, firstMode == DatabaseRestoreMode.Restore ? null : rehearsalMarkers,
                options.Settle, ct).ConfigureAwait(false);
            var keepResidue = await behaviour.ResidueAsync(behaviourBefore, host => ChangedPackages(point, set, host), ct).ConfigureAwait(false);
            var downScripts = keep.Restores.SelectMany(r => r.DownScripts).ToList();
            var downFailed = keep.Restores.Where(r => r.DownFailed is not null).Select(r => $"{r.Database}: {r.DownFailed}").ToList();
            if (keepResidue.Count > 0)
            {
                // Packages and files are back, but something the change started or created is not: the rollback is not whole.
                Fail(StageSteps.Rehearsal, env.Name, "the rollback left behind what the change started or created: " + string.Join("; ", keepResidue));
                if (keep.Succeeded)
                {
                    result = await RecheckRolledBackAsync(result).ConfigureAwait(false);
                }
                result = result with
                {
                    RollbackRuns = rollbacks,
                    Rehearsal = new RehearsalResult
                    {
                        RolledBack = keep.Succeeded, Residue = [.. keep.Hosts.SelectMany(h => h.Residue), .. keepResidue],
                        SuitePassedAfterRollback = keepSuite.AllPassed, Discarded = Discarded(keep),
                        DatabaseRestoreNeeded = firstMode == DatabaseRestoreMode.Restore, Migrations = added, DownScripts = downScripts,
                        Notes = ["residue after the rollback: " + string.Join("; ", keepResidue)],
                    },
                };
                Step(StageSteps.Rehearsal, StepStatus.Failed, $"{keepResidue.Count} residue item(s) after the rollback", rehearsalStart);
                Step(StageSteps.Reapply, StepStatus.Skipped, "the rollback rehearsal failed; the environment stays rolled back", engines.Time.GetUtcNow());
                return await FinishAsync(result, ct).ConfigureAwait(false);
            }
            var keepWorks = keep.Succeeded && keepSuite.AllPassed && downFailed.Count == 0;
            var rehearsal = new RehearsalResult
            {
                RolledBack = keep.Succeeded,
                Residue = keep.Hosts.SelectMany(h => h.Residue).ToList(),
                SuitePassedAfterRollback = keepSuite.AllPassed,
                Discarded = Discarded(keep),
                DatabaseRestoreNeeded = firstMode == DatabaseRestoreMode.Restore,
                Migrations = added,
                DownScripts = downScripts,
            };
            if (!keepWorks && firstMode == DatabaseRestoreMode.Restore)
            {
                // The declared way back is the restore, and even that does not bring the service back.
                rehearsal = rehearsal with { Notes = [$"with the database restored, as {string.Join(", ", irreversible)} declares: {Problems(keep, keepSuite)}"] };
                Fail(StageSteps.Rehearsal, string.Join(", ", env.Databases.Keys),
                    $"the rollback does not work, even with the database restored as the set declares ({string.Join(", ", irreversible.Select(m => m.Name))} irreversible): {Problems(keep, keepSuite)}");
                result = result with { Rehearsal = rehearsal, RollbackRuns = rollbacks };
                Step(StageSteps.Rehearsal, StepStatus.Failed, "rollback failed", rehearsalStart);
                Step(StageSteps.Reapply, StepStatus.Skipped, "the rollback rehearsal failed; the environment stays rolled back", engines.Time.GetUtcNow());
                return await FinishAsync(result, ct).ConfigureAwait(false);
            }
            if (!keepWorks && env.Databases.Count == 0)
            {
                // No database: a rollback "with a restore" would be the same rollback again, and its success would read
                // as "needed a database restore". The rollback itself failed (on a host, or the suite after it): that is
                // the reason. A host it left half done is taken back to the point once more, so staging is left as found.
                var failedHosts = keep.Hosts.Where(h => !EndedAsAsked(keep, h)).Select(h => h.Host).ToList();
                Fail(StageSteps.Rehearsal, failedHosts.Count > 0 ? string.Join(", ", failedHosts) : env.Name, $"the rollback does not work: {Problems(keep, keepSuite)}");
                var notes = new List<string> { $"the rollback failed: {Problems(keep, keepSuite)}" };
                if (!keep.Succeeded)
                {
                    var retry = await engine.RollbackAsync(Rollback(DatabaseRestoreMode.Keep), progress.Engine, ct).ConfigureAwait(false);
                    _patchRuns.Add(retry);
                    rollbacks.Add(retry.Id);
                    notes.Add(retry.Succeeded ? $"a second rollback then took {env.Name} back to its rollback point"
                        : "a second rollback failed too: " + PatchEngine.Summary(retry));
                    rehearsal = rehearsal with { RolledBack = retry.Succeeded, Residue = retry.Hosts.SelectMany(h => h.Residue).ToList(), Discarded = Discarded(retry) };
                }
                result = result with { Rehearsal = rehearsal with { Notes = notes }, RollbackRuns = rollbacks };
                Step(StageSteps.Rehearsal, StepStatus.Failed, "rollback failed", rehearsalStart);
                Step(StageSteps.Reapply, StepStatus.Skipped, "the rollback rehearsal failed; the environment stays rolled back", engines.Time.GetUtcNow());
                return await FinishAsync(result, ct).ConfigureAwait(false);
            }
            if (!keepWorks)
            {
                var withoutRestore = string.Join("; ", [.. downFailed, Problems(keep, keepSuite)]);
                var restoreRun = await engine.RollbackAsync(Rollback(DatabaseRestoreMode.Restore), progress.Engine, ct).ConfigureAwait(false);
                _patchRuns.Add(restoreRun);
                rollbacks.Add(restoreRun.Id);
                var restoreSuite = await SettledSuiteAsync(runner, checkEnv, light, transports, null, options.Settle, ct).ConfigureAwait(false);
                var restoreWorks = restoreRun.Succeeded && restoreSuite.AllPassed;
                if (restoreWorks)
                {
                    result = await RecheckRolledBackAsync(result).ConfigureAwait(false);
                }
                rehearsal = rehearsal with
                {
                    DatabaseRestoreNeeded = restoreWorks,
                    RolledBack = restoreRun.Succeeded,
                    Residue = restoreRun.Hosts.SelectMany(h => h.Residue).ToList(),
                    SuitePassedAfterRollback = restoreSuite.AllPassed,
                    Discarded = Discarded(restoreRun),
                    Notes = [$"without a database restore{(downScripts.Count > 0 ? $" (down scripts run: {string.Join("; ", downScripts)})" : "")}: {withoutRestore}"],
                };
                var databases = string.Join(", ", env.Databases.Keys);
                // Where the declaration and the rehearsal disagree, that is the reason; an undeclared migration keeps
                // the discovered verdict, with how to declare it.
                foreach (var failed in downFailed)
                {
                    Fail(StageSteps.Rehearsal, "way_back " + failed.Split(':')[0], $"the declared down script does not take the database back: {failed}");
                }
                var compatible = added.Where(m => m.How == WayBackHow.Compatible).ToList();
                var downs = added.Where(m => m.How == WayBackHow.Down).ToList();
                if (!restoreWorks)
                {
                    Fail(StageSteps.Rehearsal, databases, $"the rollback does not work, even with the database restored: {Problems(restoreRun, restoreSuite)}");
                }
                else if (undeclaredMigrations.Count > 0 || added.Count == 0)
                {
                    Fail(StageSteps.Rehearsal, databases, $"the rollback only works with a database restore — a data-loss risk in production (without it: {withoutRestore})"
                        + (undeclaredMigrations.Count > 0 ? $"; undeclared migration(s) {string.Join(", ", undeclaredMigrations.Select(m => m.Name))}: {WayBacks.HowToDeclare(undeclaredMigrations[0].Name)}" : ""));
                }
                else if (downFailed.Count == 0 && compatible.Count > 0)
                {
                    Fail(StageSteps.Rehearsal, "way_back " + string.Join(", ", compatible.Select(m => m.Name)),
                        $"declared compatible but the old release fails on the new schema: {Problems(keep, keepSuite)}");
                }
                else if (downFailed.Count == 0 && downs.Count > 0)
                {
                    Fail(StageSteps.Rehearsal, "way_back " + string.Join(", ", downs.Select(m => m.Name)),
                        $"after the declared down script(s) {string.Join("; ", downScripts)}, the old release fails: {Problems(keep, keepSuite)}");
                }
                result = result with { Rehearsal = rehearsal, RollbackRuns = rollbacks };
                Step(StageSteps.Rehearsal, StepStatus.Failed, restoreWorks ? "needed a database restore" + (added.Count > 0 && undeclaredMigrations.Count == 0 ? ", against the set's way_back" : "")
                    : "rollback failed", rehearsalStart);
                Step(StageSteps.Reapply, StepStatus.Skipped, "the rollback rehearsal failed; the environment stays rolled back", engines.Time.GetUtcNow());
                return await FinishAsync(result, ct).ConfigureAwait(false);
            }
            if (firstMode == DatabaseRestoreMode.Keep)
            {
                // Data continuity once more, after the way back: every table against the rollback point. The compare step
                // let through only losses the set declares, so a new one is the rollback's own (a down script dropping
                // rows, an old release clearing what it does not know).
                // Both read what is there now and need nothing of each other: at once.
                var rowsRead = DataLossesAsync(point, env.Databases, set, ct);
                var valuesRead = RunAllAsync(runner, checkEnv, quick, continuity, transports, ct);
                await Task.WhenAll(rowsRead, valuesRead).ConfigureAwait(false);
                var lostByRollback = (await rowsRead.ConfigureAwait(false)).Where(l => !l.Declared).ToList();
                var valuesLostByRollback = ValueLosses(continuity, continuityAtPoint, await valuesRead.ConfigureAwait(false), set).Where(l => !l.Declared).ToList();
                if (lostByRollback.Count + valuesLostByRollback.Count > 0)
                {
                    foreach (var loss in lostByRollback)
                    {
                        Fail(StageSteps.Rehearsal, $"data {loss.Database} {loss.Table}", $"after the rollback: {loss}; the way back removed rows that were there before the change");
                    }
                    foreach (var loss in valuesLostByRollback)
                    {
                        Fail(StageSteps.Rehearsal, $"data {loss.Check}", $"after the rollback: {loss}; the way back did not return the data to where it was before the change");
                    }
                    // Staging is left as it was before the stage: the lost rows come back from the point's dump.
                    var restored = await engine.RollbackAsync(Rollback(DatabaseRestoreMode.Restore), progress.Engine, ct).ConfigureAwait(false);
                    _patchRuns.Add(restored);
                    rollbacks.Add(restored.Id);
                    if (restored.Succeeded)
                    {
                        result = await RecheckRolledBackAsync(result).ConfigureAwait(false);
                    }
                    result = result with
                    {
                        Rehearsal = rehearsal with
                        {
                            Notes = [$"data lost by the rollback: {string.Join("; ", lostByRollback.Select(l => l.ToString()).Concat(valuesLostByRollback.Select(l => l.ToString())))}; " + (restored.Succeeded
                                ? $"{env.Name} was then restored from the rollback point's dump" : "restoring the rollback point's dump failed too: " + PatchEngine.Summary(restored))],
                        },
                        RollbackRuns = rollbacks,
                    };
                    Step(StageSteps.Rehearsal, StepStatus.Failed, $"the rollback lost data in {lostByRollback.Count} table(s) and {valuesLostByRollback.Count} continuity measure(s)", rehearsalStart);
                    Step(StageSteps.Reapply, StepStatus.Skipped, "the rollback rehearsal failed; the environment stays rolled back", engines.Time.GetUtcNow());
                    return await FinishAsync(result, ct).ConfigureAwait(false);
                }
            }
            result = await RecheckRolledBackAsync(result).ConfigureAwait(false);
            if (result.Comparisons.Any(c => c.Regressed))
            {
                Step(StageSteps.Rehearsal, StepStatus.Passed, "rolled back; the change's latency regression confirmed against the control with staging on the old version (A/B/A)",
                    rehearsalStart);
                result = result with { Rehearsal = rehearsal with { Notes = [$"{env.Name} is back at its rollback point"] }, RollbackRuns = rollbacks };
                Step(StageSteps.Reapply, StepStatus.Skipped, "the change failed; the environment stays rolled back", engines.Time.GetUtcNow());
                return await FinishAsync(result, ct).ConfigureAwait(false);
            }
            // The rollback story the approver reads: each migration's declared way back, as rehearsed.
            var story = added.Select(m => Story(m, set, downScripts)).ToList();
            rehearsal = rehearsal with { Story = story, Notes = story };
            if (result.DataLosses.Count > 0)
            {
                // Only declared losses get this far: the rollback story must say a plain rollback does not bring them back.
                rehearsal = rehearsal with
                {
                    Notes = [.. rehearsal.Notes, $"rows the change removed stay removed after a rollback without a database restore: {string.Join("; ", result.DataLosses)}"],
                };
            }
            Step(StageSteps.Rehearsal, StepStatus.Passed, (firstMode == DatabaseRestoreMode.Restore
                    ? $"rolled back with the database restored, as the set declares ({string.Join(", ", irreversible.Select(m => m.Name))} irreversible)"
                    : "rolled back without a database restore"
                      + (downScripts.Count > 0 ? $" (declared down script(s) run: {string.Join("; ", downScripts)})" : "")
                      + (added.Any(m => m.How == WayBackHow.Compatible) ? $"; {string.Join(", ", added.Where(m => m.How == WayBackHow.Compatible).Select(m => m.Name))} proven compatible" : ""))
                + "; every host matches its manifest from before the change; the suite passes"
                + (result.DataLosses.Count > 0 ? $"; {result.DataLosses.Sum(l => l.Lost)} row(s) the change removed are not brought back without one" : ""), rehearsalStart);

            var reapplyStart = Start(StageSteps.Reapply, "the same digest again, and verify", clock);
            var reapply = await engine.ApplyAsync(applyRequest with { AutoRollback = true }, progress.Engine, ct).ConfigureAwait(false);
            _patchRuns.Add(reapply);
            var reapplySuite = await SettledSuiteAsync(runner, checkEnv, light, transports, null, options.Settle, ct).ConfigureAwait(false);
            var reapplied = reapply.Succeeded && reapplySuite.AllPassed;
            rehearsal = rehearsal with { Reapplied = reapplied };
            result = result with { Rehearsal = rehearsal, RollbackRuns = rollbacks, RollbackPoint = reapply.RollbackPoint ?? result.RollbackPoint };
            if (!reapplied)
            {
                Fail(StageSteps.Reapply, env.Name, $"applying {set.Id} a second time did not end well: {Problems(reapply, reapplySuite)}");
            }
            Step(StageSteps.Reapply, reapplied ? StepStatus.Passed : StepStatus.Failed, reapplied ? "applied again; the suite passes" : "failed", reapplyStart);
            return await FinishAsync(result, ct).ConfigureAwait(false);
        }
        finally
        {
            foreach (var t in transports.Values)
            {
                await t.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The suite's soak checks, started in the background the moment the changed service answers again — unless one of
    /// the checks they repeat runs on the hosts (command, service, logs): its processes there would show up in the drift
    /// step's record of each host's processes, so such a soak starts only when it is collected, after the drift, as
    /// before. Disposing it before its results were collected (an earlier step threw) cancels it and waits for it to
    /// stop, so it never outlives the transports it uses.
    /// </summary>
    private sealed class BackgroundSoak : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cancel;
        private readonly Func<CancellationToken, Task<List<CheckResult>>> _run;
        private Task<List<CheckResult>>? _results;

        private BackgroundSoak(CancellationTokenSource cancel, Func<CancellationToken, Task<List<CheckResult>>> run, bool any) =>
            (_cancel, _run, Any) = (cancel, run, any);

        /// <summary>Whether the suite has a soak check at all.</summary>
        public bool Any { get; }

        /// <summary>Whether the window opened at <see cref="Start"/>, beside the comparison, rather than when collected.</summary>
        public bool Beside { get; private set; }

        /// <summary>How long the window took, from its opening to its last check's end (once it has ended).</summary>
        public TimeSpan Ran { get; private set; }

        /// <summary>The soak's results: its background run's, or (a soak on the hosts) a run started now.</summary>
        public Task<List<CheckResult>> ResultsAsync() => _results ??= _run(_cancel.Token);

        public static BackgroundSoak Start(CheckSuiteRunner runner, CheckEnvironment environment, CheckSuite suite,
            IReadOnlyDictionary<string, ITransport> transports, LogMarkers markers, CancellationToken ct)
        {
            var soaks = suite.Checks.OfType<SoakCheck>().ToList();
            BackgroundSoak? soak = null;
            soak = new BackgroundSoak(CancellationTokenSource.CreateLinkedTokenSource(ct), token => Task.Run(async () =>
            {
                var window = Stopwatch.StartNew();
                var all = new List<CheckResult>();
                foreach (var check in soaks)
                {
                    all.AddRange(await runner.RunCheckAsync(environment, suite, check, transports, markers, token).ConfigureAwait(false));
                }
                soak!.Ran = window.Elapsed;
                return all;
            }, token), soaks.Count > 0);
            var onHosts = soaks.SelectMany(s => s.Checks).Select(suite.Find).Any(c => c is CommandCheck or ServiceCheck or LogsCheck);
            if (soaks.Count > 0 && !onHosts)
            {
                soak.Beside = true;
                _ = soak.ResultsAsync();
            }
            return soak;
        }

        public async ValueTask DisposeAsync()
        {
            if (_results is { IsCompleted: false } running)
            {
                await _cancel.CancelAsync().ConfigureAwait(false);
                await Task.WhenAny(running).ConfigureAwait(false);
            }
            // Observed: a soak cancelled or failed here is superseded by the exception that ended the stage.
            _ = _results?.Exception;
            _cancel.Dispose();
        }
    }

    private static double LoadSeconds(IEnumerable<CheckResult> results) =>
        results.Where(r => r.Type == CheckTypes.Load).Sum(r => r.Duration.TotalSeconds);

    private async Task<StageResult> FinishAsync(StageResult result, CancellationToken ct)
    {
        var verdict = _reasons.Count == 0 ? StageVerdict.Pass : StageVerdict.Fail;
        var store = engines.Store;
        var last = await AuditAsync("stage.finish", result.Environment, result.PatchDigest,
            verdict == StageVerdict.Pass ? "PASS" : "FAIL: " + string.Join("; ", _reasons.Select(r => $"{r.Step}: {r.Subject}: {r.Evidence}")), null, ct).ConfigureAwait(false);
        var finished = engines.Time.GetUtcNow();
        // The control's runs share these seconds; the noise floor's repeat adds its own.
        var loads = LoadSeconds(new[] { result.Baseline, result.After }.Where(r => r is not null).SelectMany(r => r!.Results).Concat(result.BaselineRepeat));
        result = result with
        {
            Seconds = new Dictionary<string, double>
            {
                ["total"] = (finished - result.StartedAt).TotalSeconds,
                ["load"] = loads,
                // The soak window runs beside the comparison and the drift: only the wait for it to close beyond them.
                ["soak"] = _soakWaitSeconds,
                // The whole window but the loads that ran in it: the part of the wall the soak alone asked for.
                ["soak_window"] = _soakWindowSeconds,
                ["apt"] = _patchRuns.SelectMany(r => r.Hosts).Sum(h => h.StepSeconds.GetValueOrDefault("packages") + h.StepSeconds.GetValueOrDefault("restore")),
                // The set's own pre and post commands (its service restarts), after applying and after each rollback.
                ["commands"] = _patchRuns.SelectMany(r => r.Hosts).Sum(h => h.StepSeconds.GetValueOrDefault("pre-commands") + h.StepSeconds.GetValueOrDefault("post-commands")),
                // Waiting for a restarted service to answer its quick checks again before it is judged.
                ["ready"] = _readySeconds,
            },
            Verdict = verdict,
            // Most certain first: what was seen directly before what statistics infer.
            Reasons = _reasons.OrderByDescending(r => r.Confidence).ToList(),
            Warnings = _warnings.OrderByDescending(r => r.Confidence).ToList(),
            Steps = StageSteps.All.Select(name => _steps.LastOrDefault(s => s.Name == name)
                ?? new StageStep { Name = name, Status = StepStatus.Skipped, Summary = "not reached: an earlier step decided the verdict" }).ToList(),
            FinishedAt = engines.Time.GetUtcNow(),
            AuditTo = last.Sequence,
        };
        await store.SaveStageResultAsync(result, ct).ConfigureAwait(false);
        var events = engines.Events;
        var mirrorOf = engines.Config.Environments.GetValueOrDefault(result.Environment)?.MirrorOf;
        foreach (var e in StageEvents.Of(result, engines.Config.Lifecycle, mirrorOf, engines.Time.GetUtcNow()))
        {
            await events.PublishAsync(e, ct).ConfigureAwait(false);
        }
        return result;
    }

    private async Task<(double Fidelity, bool Fails, IReadOnlyList<FidelityItem> Items, string Summary)> FidelityAsync(string mirror, string environment, CancellationToken ct)
    {
        // Production's facts and staging's are collected at the same time: different hosts, no reason to queue.
        var leftTask = collectFacts(mirror, ct);
        var rightTask = collectFacts(environment, ct);
        await Task.WhenAll(leftTask, rightTask).ConfigureAwait(false);
        var rules = engines.Config.Drift;
        var drift = DriftEngine.CompareEnvironments(mirror, await leftTask.ConfigureAwait(false), environment, await rightTask.ConfigureAwait(false), rules);
        var report = DriftReport.From(drift);
        var fails = report.Fails(rules.MinFidelity, rules.FailOn);
        var items = drift.Hosts.SelectMany(p => p.Drift.Items.Select(i => (Pair: $"{p.Left} ↔ {p.Right}", Item: i)))
            .Concat(drift.Databases.SelectMany(p => p.Drift.Items.Select(i => (Pair: $"{p.Left} ↔ {p.Right}", Item: i))))
            .Concat(drift.Items.Select(i => (Pair: $"{mirror} ↔ {environment}", Item: i)))
            .OrderByDescending(x => x.Item.Severity).ThenBy(x => x.Pair, StringComparer.Ordinal)
            .Select(x => new FidelityItem(x.Pair, x.Item.Category.Code(), x.Item.Key, x.Item.Left, x.Item.Right, x.Item.Severity.Code()))
            .ToList();
        var cosmetic = items.Count(i => i.Category == DriftCategory.ConfigCosmetic.Code());
        var differences = items.Count - cosmetic;
        var top = string.Join("; ", items.Where(i => i.Category != DriftCategory.ConfigCosmetic.Code())
            .Select(i => $"{i.Category} {i.Key} ({i.Severity}: {mirror} {i.Mirror ?? "absent"}, {environment} {i.Staged ?? "absent"})")
            .Distinct(StringComparer.Ordinal).Take(5));
        var why = drift.Fidelity < rules.MinFidelity ? "below the minimum"
            : fails && rules.FailOn is { } failOn ? $"a difference of severity {failOn.Code()} or worse (fail_on)" : null;
        var summary = string.Create(CultureInfo.InvariantCulture, $"fidelity {drift.Fidelity:0.0%} (minimum {rules.MinFidelity:0.0%})") +
            (why is null ? "" : ", " + why) + (differences == 0 ? ", no differences" : $", {differences} difference(s); top: {top}")
            + (cosmetic == 0 ? "" : $", {cosmetic} file(s) differing only in comments, whitespace or order");
        await engines.Store.AppendAsync(new AuditEvent { Actor = actor, Action = "drift.compare", Target = $"{mirror} vs {environment}", Outcome = summary }, ct).ConfigureAwait(false);
        return (drift.Fidelity, fails, items.Take(20).ToList(), summary);
    }

    /// <summary>Each database's tables whose rows fell since the rollback point (see <see cref="DataContinuity"/>).</summary>
    private static async Task<IReadOnlyList<RowLoss>> DataLossesAsync(RollbackPoint point, IReadOnlyDictionary<string, string> databases,
        PatchSet set, CancellationToken ct)
    {
        var losses = new List<RowLoss>();
        var engines = new EngineDatabasePatcher();
        foreach (var db in point.Databases)
        {
            if (!databases.TryGetValue(db.Database, out var connection))
            {
                continue;
            }
            var rows = await engines.RowsSinceAsync(db, connection, ct).ConfigureAwait(false);
            losses.AddRange(DataContinuity.Losses(db.Database, rows, set.DataLoss ?? []));
        }
        return losses;
    }

    /// <summary>Runs <paramref name="checks"/> (continuity queries) once each, in order.</summary>
    private static async Task<IReadOnlyList<CheckResult>> RunAllAsync(CheckSuiteRunner runner, CheckEnvironment environment, CheckSuite suite,
        IReadOnlyList<SqlCheck> checks, IReadOnlyDictionary<string, ITransport> transports, CancellationToken ct)
    {
        var results = new List<CheckResult>();
        foreach (var check in checks)
        {
            results.AddRange(await runner.RunCheckAsync(environment, suite, check, transports, null, ct).ConfigureAwait(false));
        }
        return results;
    }

    /// <summary>Each continuity query's first row now against the one recorded just before the rollback point.</summary>
    private static IReadOnlyList<ValueLoss> ValueLosses(IReadOnlyList<SqlCheck> checks, IReadOnlyList<CheckResult> atPoint,
        IReadOnlyList<CheckResult> now, PatchSet set) =>
        [.. checks.SelectMany(check => atPoint.Where(r => r.Name == check.Name).SelectMany(before =>
            now.Where(r => r.Name == check.Name && r.Target == before.Target).Take(1)
                .SelectMany(after => DataContinuity.ValueLosses(check, before, after, set.DataLoss ?? []))))];

    /// <summary>The migrations the change added to each database's history since the rollback point, with their declared way back.</summary>
    private static async Task<IReadOnlyList<AddedMigration>> AddedMigrationsAsync(RollbackPoint point, IReadOnlyDictionary<string, string> databases,
        PatchSet set, CancellationToken ct)
    {
        var added = new List<AddedMigration>();
        var engines = new EngineDatabasePatcher();
        foreach (var db in point.Databases)
        {
            if (!databases.TryGetValue(db.Database, out var connection))
            {
                continue;
            }
            if (await engines.MigrationsSinceAsync(db, connection, ct).ConfigureAwait(false) is { } rows)
            {
                added.AddRange(WayBacks.Of(db.Database, rows, set.WayBack));
            }
        }
        return added;
    }

    /// <summary>One migration's rollback story, as the rehearsal proved it.</summary>
    private static string Story(AddedMigration m, PatchSet set, IReadOnlyList<string> downScripts) => m.How switch
    {
        WayBackHow.Down => $"{m.Name} ({m.Database}): undone by its down script {set.WayBack![m.Declaration!.Value].Down}, rehearsed: " +
                           (downScripts.Any(d => d.Contains(m.Name, StringComparison.Ordinal)) ? "it ran, the schema is back at the rollback point's and the suite passes" : "it ran"),
        WayBackHow.Compatible => $"{m.Name} ({m.Database}): compatible, rehearsed: the release before the change passes the suite on the new schema; no restore",
        WayBackHow.Irreversible => $"{m.Name} ({m.Database}): irreversible, rehearsed with the rollback point's dump restored; acknowledged: {set.WayBack![m.Declaration!.Value].Acknowledged}",
        _ => $"{m.Name} ({m.Database}): undeclared",
    };

    /// <summary>The packages the change installed on a host: the set's and what apt brought with them.</summary>
    private static IReadOnlySet<string> ChangedPackages(RollbackPoint point, PatchSet set, string host) =>
        (point.Hosts.FirstOrDefault(h => h.Host == host)?.Packages ?? []).Select(p => p.Name)
            .Concat(set.Packages.Select(p => p.Name)).ToHashSet(StringComparer.Ordinal);

    /// <summary>What the change did beyond the manifests, per host (paths the manifest comparison judged are skipped).</summary>
    private IEnumerable<ChangeItem> BehaviourChangesOf(IReadOnlyDictionary<string, HostBehaviour> before, IReadOnlyDictionary<string, HostBehaviour> after,
        IReadOnlyList<ChangeItem> manifestChanges, RollbackPoint point, PatchSet set, StagePolicy policy, IgnoreRules ignore)
    {
        var tracked = engines.Config.Drift.Track;
        foreach (var (host, was) in before)
        {
            if (!after.TryGetValue(host, out var now))
            {
                continue;
            }
            var changed = ChangedPackages(point, set, host);
            // Tracked files are judged by the manifest comparison, with their values: not a second time here.
            var judged = manifestChanges.Where(c => c.Host == host).Select(c => c.Key)
                .Concat(now.Etc.Keys.Where(p => BehaviourChanges.Tracked(tracked, p)))
                .ToHashSet(StringComparer.Ordinal);
            foreach (var item in BehaviourChanges.Classify(host, was, now, set, changed, judged, ignore, policy, engines.Config.Stage.Allow))
            {
                yield return item;
            }
        }
    }

    /// <summary>Collects each host's manifest now (scope as at the rollback point) and classifies what changed since before the change.</summary>
    private async Task<IReadOnlyList<ChangeItem>> ChangesAsync(PatchRun apply, RollbackPoint point, PatchSet set,
        IReadOnlyDictionary<string, ITransport> transports, IReadOnlyList<Core.Configuration.HostConfig> hosts, StagePolicy policy, CancellationToken ct)
    {
        var store = engines.Store;
        var config = engines.Config;
        var collector = new HostFactsCollector(engines.Time) { PendingUpgrades = false, Timeout = config.Ssh.CommandTimeout };
        var changes = new List<ChangeItem>();
        foreach (var record in apply.Hosts)
        {
            var hostPoint = point.Hosts.FirstOrDefault(h => h.Host == record.Host);
            if (hostPoint is null || record.ManifestBefore is null)
            {
                continue;
            }
            var before = (await store.FindManifestAsync(record.ManifestBefore, ct).ConfigureAwait(false))!.Manifest;
            var rules = PatchEngine.RollbackScope(config.Drift, hostPoint);
            var host = hosts.First(h => h.Name == record.Host);
            var now = await collector.CollectAsync(host, transports[host.Name], rules, apply.Environment, ct).ConfigureAwait(false);
            await store.SaveManifestAsync(now, ct).ConfigureAwait(false);
            changes.AddRange(ChangeClassifier.Classify(host.Name, before, now, set, hostPoint, rules, policy));
        }
        return changes;
    }

    /// <summary>Polls the quick checks (no load, no soak) until they all pass or <paramref name="settle"/> runs out:
    /// a restarted service gets time to come up before it is judged.</summary>
    private async Task WaitReadyAsync(CheckEnvironment env, CheckSuite light,
        IReadOnlyDictionary<string, ITransport> transports, TimeSpan settle, CancellationToken ct)
    {
        var waited = Stopwatch.StartNew();
        try
        {
            await PollReadyAsync(env, light, transports, settle, ct).ConfigureAwait(false);
        }
        finally
        {
            _readySeconds += waited.Elapsed.TotalSeconds;
        }
    }

    private static async Task PollReadyAsync(CheckEnvironment env, CheckSuite light,
        IReadOnlyDictionary<string, ITransport> transports, TimeSpan settle, CancellationToken ct)
    {
        var ready = light with { Checks = light.Checks.Where(c => c is HttpCheck or TcpCheck or AuthCheck or ServiceCheck).ToList() };
        var deadline = Stopwatch.StartNew();
        using var quiet = new CheckSuiteRunner();
        while (true)
        {
            var all = true;
            foreach (var check in ready.Checks)
            {
                var results = await quiet.RunCheckAsync(env, ready, check, transports, null, ct).ConfigureAwait(false);
                all &= results.All(r => r.Passed);
                if (!all)
                {
                    break;
                }
            }
            if (all || deadline.Elapsed >= settle)
            {
                return;
            }
            // Often enough that a service up in 1.1 s is not judged at 2 s; each round is a few local requests.
            await Task.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A/B/A: a load judged inconclusive because the control sped up while staging held its own baseline (a baseline
    /// measured in a busy minute looks the same) is measured once more beside the control, with staging back on the old
    /// version. The twins together again: the gap was the change's, a reason at compare. Still apart: it was staging's
    /// own, and the warning says so. Nothing runs when no load was inconclusive for that reason.
    /// </summary>
    private async Task<StageResult> RecheckAsync(StageResult result, CheckSuiteRunner runner, CheckEnvironment env, CheckSuite quick, CheckSuite light,
        IReadOnlyDictionary<string, ITransport> transports, CheckEnvironment? control, CheckSuiteResult baseline, CheckSuiteResult after,
        TimeSpan settle, CancellationToken ct)
    {
        var comparisons = result.Comparisons;
        if (control is null || SuiteComparison.ToRecheck(quick, baseline, after, comparisons) is not { Count: > 0 } toRecheck)
        {
            return result;
        }
        progress.Engine.Report($"{string.Join(", ", toRecheck.Select(c => c.Name))} inconclusive: measuring {env.Name} beside {control.Name} again, rolled back");
        await WaitReadyAsync(env, light, transports, settle, ct).ConfigureAwait(false);
        // The question is whether staging itself is slower than its twin on the old version, not whether a service the
        // rollback just restarted is still cold (JIT, pools, caches): the first run warms it and only the second counts.
        var warm = await runner.RunAsync(env, quick, transports, ct, null, control, only: toRecheck).ConfigureAwait(false);
        progress.Engine.Report(string.Join("; ", warm.Results.Where(r => r.Load is not null).Select(r => string.Create(CultureInfo.InvariantCulture,
            $"warming {r.Name} on {r.Target}: p95 {r.Load!.Latency.P95:0.0} ms, the control's {warm.Control.FirstOrDefault(c => c.StagedTarget == r.Target && c.Result.Name == r.Name)?.Result.Load?.Latency.P95 ?? double.NaN:0.0} ms"))));
        var rolledBack = await runner.RunAsync(env, quick, transports, ct, null, control, only: toRecheck).ConfigureAwait(false);
        var rechecked = SuiteComparison.Recheck(quick, comparisons, baseline, after, rolledBack);
        foreach (var now in rechecked.Where(c => !comparisons.Contains(c)))
        {
            var subject = $"{now.Name} on {now.Target}";
            _warnings.RemoveAll(w => w.Step == StageSteps.Compare && w.Subject == subject);
            if (now.Regressed)
            {
                Fail(StageSteps.Compare, subject, now.Message, Confidence(now));
            }
            else
            {
                _warnings.Add(new StageReason(StageSteps.Compare, subject, now.Message, Confidence(now)));
            }
        }
        var confirmed = rechecked.Count(c => c.Regressed) - comparisons.Count(c => c.Regressed);
        if (confirmed > 0 && _steps.LastOrDefault(s => s.Name == StageSteps.Compare) is { } compared)
        {
            _steps.Add(compared with
            {
                Status = StepStatus.Failed,
                Summary = $"{compared.Summary}; measured again beside {control.Name} with {env.Name} rolled back: {confirmed} more regressed (A/B/A)",
            });
        }
        return result with { RolledBackLoad = rolledBack, Comparisons = rechecked };
    }

    private async Task<CheckSuiteResult> SettledSuiteAsync(CheckSuiteRunner runner, CheckEnvironment env, CheckSuite light,
        IReadOnlyDictionary<string, ITransport> transports, LogMarkers? markers, TimeSpan settle, CancellationToken ct)
    {
        await WaitReadyAsync(env, light, transports, settle, ct).ConfigureAwait(false);
        return await runner.RunAsync(env, light, transports, ct, markers).ConfigureAwait(false);
    }

    /// <summary>What a rollback discarded (or a restore would): each database's lines, then each directory's, named.</summary>
    private static List<string> Discarded(PatchRun run) =>
        [.. run.Restores.SelectMany(r => r.Discarded), .. run.DirectoryRestores.SelectMany(d => d.Discarded.Select(line => $"directory {d.Directory}: {line}"))];

    /// <summary>Whether a host ended as its run asked (as <see cref="PatchRun.HostsSucceeded"/> counts it): applied, or
    /// for a rollback, rolled back. A host an apply had to roll back failed.</summary>
    private static bool EndedAsAsked(PatchRun run, HostRunRecord host) =>
        host.Status is HostRunStatus.Applied or HostRunStatus.AlreadyApplied || (run.Kind == RunKind.Rollback && host.Status == HostRunStatus.RolledBack);

    /// <summary>What went wrong in a run and the suite after it: each host that did not end as asked, with its error
    /// (those that failed first, then those never started because of them), and each failing check.</summary>
    private static string Problems(PatchRun run, CheckSuiteResult suite)
    {
        var problems = run.Hosts.Where(h => !EndedAsAsked(run, h)).OrderBy(h => h.Status == HostRunStatus.NotStarted)
            .Select(h => $"{h.Host}: {PatchEngine.Status(h.Status)}" + (string.IsNullOrWhiteSpace(h.Message) ? "" : $" ({h.Message})")
                         + (h.Residue.Where(r => h.Message?.Contains(r, StringComparison.Ordinal) != true).ToList() is { Count: > 0 } residue
                             ? ": " + string.Join("; ", residue) : ""))
            .Concat(run.DirectoryRestores.Where(d => d.Error is not null).Select(d => $"directory {d.Directory}: {d.Error}"))
            .Concat(suite.Results.Where(r => !r.Passed).Select(r => $"{r.Name} on {r.Target}: {r.Message}")).ToList();
        return problems.Count == 0 ? "no problem found" : string.Join("; ", problems);
    }

    private void Fail(string step, string subject, string evidence, double confidence = 1)
    {
        _reasons.Add(new StageReason(step, subject, evidence, confidence));
        progress.Failed(step, subject, evidence);
    }

    /// <summary>1 for a check that stopped passing or errors that grew; for latency alone (regressed or inconclusive),
    /// 1 − the Mann–Whitney p of the comparison that decided it (against the control when there is one).</summary>
    private static double Confidence(CheckComparison c) =>
        c.Load is { ErrorsRegressed: false } load && (load.LatencyRegressed || load.Inconclusive)
        && (load.Control ?? load).MannWhitneyP is var p && double.IsFinite(p) ? Math.Round(1 - p, 6) : 1;

    private DateTimeOffset Start(string step, string what, Stopwatch clock)
    {
        progress.StepStarted(StageSteps.All.ToList().IndexOf(step) + 1, step, what, clock.Elapsed);
        return engines.Time.GetUtcNow();
    }

    private void Step(string name, StepStatus status, string summary, DateTimeOffset started)
    {
        var now = engines.Time.GetUtcNow();
        _steps.Add(new StageStep { Name = name, Status = status, Summary = summary, StartedAt = started, Duration = started > now ? TimeSpan.Zero : now - started });
        progress.StepEnded(name, status, summary);
    }

    private ApplyRequest ApplyRequest(EnvironmentConfig env, StoredPatchSet stored, IReadOnlyList<HostConfig> hosts) =>
        EstateEngines.ApplyRequest(engines.Config, env, stored, hosts, actor);

    private RollbackRequest RollbackRequest(EnvironmentConfig env, RollbackPoint point, PatchSet set, DatabaseRestoreMode database) =>
        EstateEngines.RollbackRequest(engines.Config, env, point, set, env.Hosts.Select(engines.Config.Host).ToList(), actor, database);

    private Task<AuditEvent> AuditAsync(string action, string target, string digest, string outcome, string? reason, CancellationToken ct) =>
        engines.Store.AppendAsync(new AuditEvent { Actor = actor, Action = action, Target = target, PayloadDigest = digest, Outcome = outcome, Reason = reason }, ct);

    private static string Count(CheckSuiteResult r) =>
        $"{r.Results.Count(x => x.Passed)} of {r.Results.Count} results pass ({r.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s)";

    private static string NoiseLine(StageResult r) => string.Concat(r.BaselineRepeat.Where(x => x.Load is not null).Select(x =>
        string.Create(CultureInfo.InvariantCulture, $"; repeated for the noise floor: {x.Name} on {x.Target} p95 {x.Load!.Latency.P95:0.0} ms")));

    private static string LoadLine(CheckSuiteResult r) => string.Concat(r.Results.Where(x => x.Load is not null).Select(x =>
        string.Create(CultureInfo.InvariantCulture, $"; {x.Name} on {x.Target}: {x.Load!.Requests} requests, p95 {x.Load.Latency.P95:0.0} ms, errors {x.Load.ErrorRate:0.0%}")));

    /// <summary>The behaviour records of an environment's hosts, taken on all hosts at once.</summary>
    private sealed class BehaviourRecords(HostBehaviourCollector collector, IReadOnlyList<string> suiteLogs,
        IReadOnlyList<Core.Configuration.HostConfig> hosts, IReadOnlyDictionary<string, ITransport> transports, IgnoreRules ignore)
    {
        /// <summary>drift.ignore, parsed once: its file: rules reach the behaviour findings too.</summary>
        public IgnoreRules Ignore => ignore;

        public async Task<IReadOnlyDictionary<string, HostBehaviour>> TakeAsync(IReadOnlyDictionary<string, HostBehaviour>? before, CancellationToken ct)
        {
            var records = await Task.WhenAll(hosts.Select(async h =>
                (h.Name, Record: await collector.CollectAsync(transports[h.Name], before?.GetValueOrDefault(h.Name), suiteLogs, ct).ConfigureAwait(false))))
                .ConfigureAwait(false);
            return records.ToDictionary(r => r.Name, r => r.Record, StringComparer.Ordinal);
        }

        /// <summary>What the rollback left that was not there before the change, every host.</summary>
        public async Task<IReadOnlyList<string>> ResidueAsync(IReadOnlyDictionary<string, HostBehaviour> before,
            Func<string, IReadOnlySet<string>> changedPackages, CancellationToken ct)
        {
            var now = await TakeAsync(null, ct).ConfigureAwait(false);
            return before.SelectMany(b => now.TryGetValue(b.Key, out var after)
                ? BehaviourChanges.Residue(b.Key, b.Value, after, ignore, changedPackages(b.Key)) : []).ToList();
        }
    }
}
