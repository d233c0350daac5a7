using Stageproof.Application.Staging;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Patches;
using Stageproof.Core.Stage;
using Stageproof.Testing.Fakes;
using Xunit.Abstractions;

namespace Stageproof.Application.Tests.Staging;

/// <summary>
/// The stage engine's state machine and fault paths on FAKE hosts (<see cref="FakeEstate"/>: files, package versions
/// and the service's state in memory, no sh, apt or dpkg) with the real SQLite state, the real facts collector, drift
/// engine, patch engine and check runner over them. What the fake cannot show (real packages, loads, databases,
/// migrations, the soak) the lab's stage tests prove (LabStageTests); these prove the order of the steps, which
/// failure stops where, and that staging is always left as it was found or, after a PASS, patched.
/// </summary>
public sealed class StageWorkflowFakeTests(ITestOutputHelper output) : IDisposable
{
    private const string Conf = "# acme-mail\nsession.lifetime = 60\n";
    private static readonly IReadOnlyList<string> Staging = FakeStaging.Staging;
    private static readonly IReadOnlyList<string> Changing = FakeStaging.Changing;

    private readonly FakeStaging _fake = new(output, Conf);

    public void Dispose() => _fake.Dispose();

    private StageproofConfig Estate(bool control = false) => _fake.Config(control);

    /// <summary>A set that sets <paramref name="key"/> in acme-mail's configuration and restarts it. No package: a
    /// package change needs a closure of real .debs, which the fake hosts cannot give (the lab's stage tests install them).</summary>
    private static PatchSet Set(string id, string key = "session.lifetime", string value = "5") => new()
    {
        Id = id, Title = $"acme-mail with {key} {value}", Reason = "the stage engine's tests", Severity = PatchSeverity.High, Author = "alice",
        Files = [new PatchFile { Path = FakeHost.ConfPath, Set = new Dictionary<string, string> { [key] = value } }],
        Commands = new PatchCommands { Post = [new PatchCommand("service acme-mail restart")] },
    };

    private Task<(StageResult Result, FakeStaging.Recorded Progress)> StageAsync(StageproofConfig config, PatchSet set, StageOptions? options = null) =>
        _fake.StageAsync(config, set, options);

    private Task<IReadOnlyList<string>> StageEventsAsync() => _fake.StageEventsAsync();

    private Task<IReadOnlyList<StageResult>> StoredAsync() => _fake.StoredAsync();

    private static StepStatus? StatusOf(StageResult result, string step) => FakeStaging.StatusOf(result, step);

    private void AssertStagingAsFound() => _fake.AssertStagingAsFound();

    [Fact]
    public async Task A_good_change_passes_every_step_in_order_and_staging_ends_patched_as_tested()
    {
        var config = Estate();

        var (result, progress) = await StageAsync(config, Set("GOOD-1"));

        Assert.True(result.Verdict == StageVerdict.Pass, string.Join("\n", result.Reasons));
        Assert.Equal(StageSteps.All, progress.Started);
        Assert.Equal(StageSteps.All, result.Steps.Select(s => s.Name));
        Assert.All(result.Steps.Where(s => s.Name != StageSteps.Soak), s => Assert.Equal(StepStatus.Passed, s.Status));
        Assert.Equal(StepStatus.Skipped, StatusOf(result, StageSteps.Soak)); // the suite has no soak check
        // The drift step saw the change on both hosts, declared by the set.
        foreach (var host in Staging)
        {
            Assert.Contains(result.Changes, c => c.Host == host && c.Key.StartsWith(FakeHost.ConfPath, StringComparison.Ordinal) && c.Expected);
        }
        Assert.DoesNotContain(result.Changes, c => c.Unexpected);
        // Rehearsed: rolled back (the point's files and packages restored) and applied again, so staging ends patched.
        Assert.NotNull(result.Rehearsal);
        Assert.True(result.Rehearsal.RolledBack && result.Rehearsal.Reapplied, string.Join("; ", result.Rehearsal.Notes));
        Assert.False(result.Rehearsal.DatabaseRestoreNeeded);
        foreach (var name in Staging)
        {
            var host = _fake[name];
            Assert.Equal("# acme-mail\nsession.lifetime = 5\n", host.Conf);
            Assert.Equal(1, host.Log.Count(c => c == "stageproof-restore"));
            Assert.Equal(2, host.Log.Count(c => c == "stageproof-edit-file")); // the apply and the re-apply
        }
        // Production and the control were only read.
        Assert.DoesNotContain(_fake["prod-app-1"].Log, Changing.Contains);
        Assert.Equal(Conf, _fake["prod-app-1"].Conf);
        Assert.Equal(["stage.start", "stage.finish"], await StageEventsAsync());
        Assert.Equal(StageVerdict.Pass, Assert.Single(await StoredAsync()).Verdict);
    }

    [Fact]
    public async Task A_staging_that_differs_from_its_mirror_fails_at_fidelity_before_any_host_is_changed()
    {
        var config = Estate();
        _fake["staging-app-1"].Files[FakeHost.ConfPath] = Conf + "db.pool_size = 5\n"; // edited by hand on staging
        _fake["prod-app-1"].Packages[FakeHost.Package] = "1.1-1"; // prod already moved on

        var (result, progress) = await StageAsync(config, Set("DRIFTED-1"));

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        var reason = Assert.Single(result.Reasons);
        Assert.Equal(StageSteps.Fidelity, reason.Step);
        Assert.Contains("staging is not a faithful mirror of prod", reason.Evidence, StringComparison.Ordinal);
        Assert.Contains(FakeHost.ConfPath, reason.Evidence, StringComparison.Ordinal);
        Assert.Contains("package-version acme-mail", reason.Evidence, StringComparison.Ordinal);
        Assert.Equal([StageSteps.Fidelity], progress.Started);
        Assert.All(result.Steps.Skip(1), s => Assert.Equal(StepStatus.Skipped, s.Status));
        Assert.Null(result.ApplyRun);
        foreach (var name in Staging)
        {
            Assert.DoesNotContain(_fake[name].Log, Changing.Contains);
        }
        // The verdict is recorded: a FAIL a gate counts.
        Assert.Equal(["stage.start", "stage.finish"], await StageEventsAsync());
        Assert.Equal(StageVerdict.Fail, Assert.Single(await StoredAsync()).Verdict);
    }

    [Fact]
    public async Task Accepting_the_drift_takes_a_reason_and_turns_the_fidelity_failure_into_a_recorded_warning()
    {
        var config = Estate();
        _fake["staging-app-1"].Files[FakeHost.ConfPath] = Conf + "db.pool_size = 5\n";

        var refused = await Assert.ThrowsAsync<InputException>(() => StageAsync(config, Set("ACCEPTED-1"),
            new StageOptions { Digest = "", Environment = "staging", AcceptDrift = true }));
        Assert.Contains("--accept-drift needs --reason", refused.Message, StringComparison.Ordinal);
        Assert.Empty(await StageEventsAsync());
        Assert.DoesNotContain(_fake["staging-app-1"].Log, Changing.Contains);

        var (result, _) = await StageAsync(config, Set("ACCEPTED-1"),
            new StageOptions { Digest = "", Environment = "staging", AcceptDrift = true, Reason = "the pool size is being rolled out to prod this week" });

        Assert.True(result.Verdict == StageVerdict.Pass, string.Join("\n", result.Reasons));
        Assert.Equal(StepStatus.Warned, StatusOf(result, StageSteps.Fidelity));
        Assert.Equal("the pool size is being rolled out to prod this week", result.AcceptedDrift);
        var warning = Assert.Single(result.Warnings, w => w.Step == StageSteps.Fidelity);
        Assert.Contains("drift accepted by alice: the pool size is being rolled out to prod this week", warning.Evidence, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_set_already_applied_on_staging_is_refused_and_nothing_is_recorded_or_changed()
    {
        var config = Estate();
        var patched = _fake["staging-app-2"];
        patched.Files[FakeHost.ConfPath] = "# acme-mail\nsession.lifetime = 5\n";

        var refused = await Assert.ThrowsAsync<InputException>(() => StageAsync(config, Set("TWICE-1")));

        Assert.Contains("TWICE-1 is already applied on staging-app-2: a stage must start from the state before the change", refused.Message, StringComparison.Ordinal);
        Assert.Contains("stageproof rollback --env staging", refused.Message, StringComparison.Ordinal);
        Assert.Empty(await StageEventsAsync());
        Assert.Empty(await StoredAsync());
        Assert.DoesNotContain(_fake["staging-app-1"].Log, Changing.Contains);
        Assert.DoesNotContain(patched.Log, Changing.Contains);
    }

    [Fact]
    public async Task A_control_that_already_runs_the_change_is_refused_naming_the_control()
    {
        var config = Estate(control: true);
        _fake["staging-control-1"].Files[FakeHost.ConfPath] = "# acme-mail\nsession.lifetime = 5\n";

        var refused = await Assert.ThrowsAsync<InputException>(() => StageAsync(config, Set("CONTROL-1")));

        Assert.Contains("CONTROL-1 is already applied on staging-control-1 of staging-control, the control of staging (environments.staging.control)",
            refused.Message, StringComparison.Ordinal);
        Assert.Empty(await StageEventsAsync());
        foreach (var name in Staging)
        {
            Assert.DoesNotContain(_fake[name].Log, Changing.Contains);
        }
    }

    [Fact]
    public async Task An_apply_that_fails_on_one_host_stops_at_apply_and_every_host_goes_back_to_its_rollback_point()
    {
        var config = Estate();
        _fake["staging-app-2"].Failing["stageproof-post"] = 1; // its restart fails once: a broken post command

        var (result, progress) = await StageAsync(config, Set("BROKEN-POST-1"));

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        Assert.Contains(result.Reasons, r => r.Step == StageSteps.Apply && r.Subject == "staging-app-2");
        Assert.Equal(StepStatus.Failed, StatusOf(result, StageSteps.Apply));
        // Nothing after the failed apply is judged: no comparison, drift, soak or rehearsal of a change that never landed.
        Assert.Equal([StageSteps.Fidelity, StageSteps.Baseline, StageSteps.Apply], progress.Started);
        Assert.All(result.Steps.Skip(3), s => Assert.Equal(StepStatus.Skipped, s.Status));
        Assert.NotNull(result.Rehearsal);
        Assert.True(result.Rehearsal.RolledBack, string.Join("; ", result.Rehearsal.Notes));
        Assert.Equal("staging is back at its rollback point", Assert.Single(result.Rehearsal.Notes));
        AssertStagingAsFound();
        Assert.Equal(StageVerdict.Fail, Assert.Single(await StoredAsync()).Verdict);
    }

    [Fact]
    public async Task A_change_that_stops_the_service_fails_at_compare_and_staging_is_returned_without_a_rehearsal()
    {
        var config = Estate();

        // The fake's bad configuration: the service does not come back after a restart that reads it.
        var (result, _) = await StageAsync(config, Set("STOPS-1", value: "0"));

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        foreach (var host in Staging)
        {
            Assert.Contains(result.Reasons, r => r.Step == StageSteps.Compare && r.Subject == $"up on {host}");
        }
        Assert.Equal(StepStatus.Failed, StatusOf(result, StageSteps.Compare));
        // The change failed: the rollback is the return to the point, not a rehearsal, and nothing is applied again.
        Assert.Equal(StepStatus.Skipped, StatusOf(result, StageSteps.Rehearsal));
        Assert.Equal(StepStatus.Skipped, StatusOf(result, StageSteps.Reapply));
        Assert.NotNull(result.Rehearsal);
        Assert.True(result.Rehearsal.RolledBack);
        AssertStagingAsFound();
        foreach (var name in Staging)
        {
            Assert.Equal(1, _fake[name].Log.Count(c => c == "stageproof-edit-file")); // edited once, never again
        }
    }

    [Fact]
    public async Task A_change_the_set_does_not_declare_fails_at_drift_naming_the_key_and_staging_is_returned()
    {
        var config = Estate();
        foreach (var name in Staging)
        {
            // A restart on the new setting also writes one the set says nothing about, as a service that "upgrades" its
            // own configuration on start would.
            _fake[name].Commanded = (host, _) =>
            {
                if (host.Conf.Contains("session.lifetime = 5\n", StringComparison.Ordinal) && !host.Conf.Contains("smtp.max_size", StringComparison.Ordinal))
                {
                    host.Files[FakeHost.ConfPath] = host.Conf + "smtp.max_size = 10\n";
                }
            };
        }

        var (result, _) = await StageAsync(config, Set("UNDECLARED-1"));

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        foreach (var host in Staging)
        {
            Assert.Contains(result.Reasons, r => r.Step == StageSteps.Drift && r.Subject == $"{host} config-content {FakeHost.ConfPath}"
                && r.Evidence.StartsWith("changed beyond the keys the set declares: smtp.max_size: unset → 10 (", StringComparison.Ordinal));
        }
        // The declared edit is not a reason: only what the set does not say.
        Assert.DoesNotContain(result.Reasons, r => r.Evidence.Contains("session.lifetime", StringComparison.Ordinal));
        Assert.Equal(StepStatus.Failed, StatusOf(result, StageSteps.Drift));
        Assert.Equal(StepStatus.Skipped, StatusOf(result, StageSteps.Reapply));
        AssertStagingAsFound();
    }

    [Fact]
    public async Task A_service_already_failing_before_the_change_fails_at_baseline_and_nothing_is_applied()
    {
        var config = Estate();
        _fake["staging-app-2"].Running = false;

        // The stopped service is also drift from prod, accepted here so that the run gets as far as the baseline.
        var (result, progress) = await StageAsync(config, Set("BASELINE-1"),
            new StageOptions { Digest = "", Environment = "staging", AcceptDrift = true, Reason = "staging-app-2 is being rebuilt" });

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        var reason = Assert.Single(result.Reasons);
        Assert.Equal(StageSteps.Baseline, reason.Step);
        Assert.Equal("up on staging-app-2", reason.Subject);
        Assert.StartsWith("fails before the change, so no change can be judged: ", reason.Evidence, StringComparison.Ordinal);
        Assert.Equal([StageSteps.Fidelity, StageSteps.Baseline], progress.Started);
        Assert.Null(result.ApplyRun);
        foreach (var name in Staging)
        {
            Assert.DoesNotContain(_fake[name].Log, Changing.Contains);
        }
    }

    [Fact]
    public async Task A_change_that_starts_a_program_the_rollback_does_not_stop_fails_and_says_what_was_left_behind()
    {
        var config = Estate();
        foreach (var name in Staging)
        {
            // The restart on the new setting also starts a helper that nothing stops again: no file or package undoes it.
            _fake[name].Commanded = (host, _) =>
            {
                if (host.Conf.Contains("session.lifetime = 5\n", StringComparison.Ordinal) && !host.Started.Contains("acme-indexer"))
                {
                    host.Started.Add("acme-indexer");
                }
            };
        }

        var (result, _) = await StageAsync(config, Set("HELPER-1"));

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        foreach (var host in Staging)
        {
            Assert.Contains(result.Reasons, r => r.Step == StageSteps.Drift && r.Subject.StartsWith(host + " ", StringComparison.Ordinal)
                && (r.Subject + " " + r.Evidence).Contains("acme-indexer", StringComparison.Ordinal));
        }
        // Files are back, but the helper still runs: the return to the point says so rather than calling staging clean.
        Assert.NotNull(result.Rehearsal);
        var note = Assert.Single(result.Rehearsal.Notes);
        Assert.StartsWith("staging is back at its rollback point, but the change left behind what a package rollback does not undo: ", note, StringComparison.Ordinal);
        Assert.Contains("acme-indexer", note, StringComparison.Ordinal);
        Assert.Contains(result.Rehearsal.Residue, r => r.Contains("acme-indexer", StringComparison.Ordinal));
        Assert.All(Staging, name => Assert.Equal(Conf, _fake[name].Conf));
    }

    [Fact]
    public async Task A_rollback_that_fails_on_a_host_fails_the_rehearsal_naming_the_host_and_never_blames_a_database_there_is_none_of()
    {
        var config = Estate();
        _fake["staging-app-2"].Failing["stageproof-restore"] = 1; // the rehearsal's restore fails there once

        var (result, _) = await StageAsync(config, Set("ROLLBACK-FAILS-1"));

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        Assert.Equal(StepStatus.Failed, StatusOf(result, StageSteps.Rehearsal));
        Assert.Equal(StepStatus.Skipped, StatusOf(result, StageSteps.Reapply));
        var reason = Assert.Single(result.Reasons);
        Assert.Equal(StageSteps.Rehearsal, reason.Step);
        Assert.Equal("staging-app-2", reason.Subject);
        Assert.StartsWith("the rollback does not work: staging-app-2: failed, needs attention (", reason.Evidence, StringComparison.Ordinal);
        Assert.Contains("stageproof-restore fails here", reason.Evidence, StringComparison.Ordinal); // the host's own error
        // Staging has no database: a second try that worked is not "needed a database restore".
        Assert.DoesNotContain("database", reason.Evidence, StringComparison.Ordinal);
        Assert.NotNull(result.Rehearsal);
        Assert.False(result.Rehearsal.DatabaseRestoreNeeded);
        Assert.True(result.Rehearsal.RolledBack);
        Assert.Equal("a second rollback then took staging back to its rollback point", result.Rehearsal.Notes[^1]);
        AssertStagingAsFound();
    }

    [Fact]
    public async Task A_set_that_fails_on_its_second_application_fails_at_reapply_and_its_automatic_rollback_leaves_staging_as_found()
    {
        var config = Estate();
        var host = _fake["staging-app-1"];
        var posts = 0;
        // The apply's restart, then the rehearsal's; after that the file edit fails once, as a full disk would.
        host.Commanded = (h, _) =>
        {
            if (++posts == 2)
            {
                h.Failing["stageproof-edit-file"] = 1;
            }
        };

        var (result, _) = await StageAsync(config, Set("REAPPLY-FAILS-1"));

        Assert.Equal(StageVerdict.Fail, result.Verdict);
        Assert.Equal(StepStatus.Passed, StatusOf(result, StageSteps.Rehearsal));
        Assert.Equal(StepStatus.Failed, StatusOf(result, StageSteps.Reapply));
        var reason = Assert.Single(result.Reasons);
        Assert.Equal((StageSteps.Reapply, "staging"), (reason.Step, reason.Subject));
        // The host that failed and was rolled back comes first, with its own error; the one never started after it.
        Assert.StartsWith("applying REAPPLY-FAILS-1 a second time did not end well: staging-app-1: rolled back (", reason.Evidence, StringComparison.Ordinal);
        Assert.Contains("stageproof-edit-file fails here", reason.Evidence, StringComparison.Ordinal);
        Assert.EndsWith("; staging-app-2: not started (untouched) (not started: an earlier host failed)", reason.Evidence, StringComparison.Ordinal);
        Assert.NotNull(result.Rehearsal);
        Assert.False(result.Rehearsal.Reapplied);
        AssertStagingAsFound();
    }
}
