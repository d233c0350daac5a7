using Stageproof.Core.Checks;

namespace Stageproof.Core.Tests.Checks;

public sealed class SuiteComparisonTests
{
    private static readonly CheckSuite Suite = new("s",
    [
        new HttpCheck { Name = "health", Target = new HttpTarget { Port = 80 } },
        new LoadCheck { Name = "load", Target = new HttpTarget { Port = 80 }, Iterations = 10 },
        new LogsCheck { Name = "logs", File = "/var/log/x", Fail = ["ERROR"], MaxAddedErrorRate = 0.01 },
    ]);

    private static CheckResult Result(string name, string type, CheckStatus status, LoadRun? load = null, double? errorRate = null) => new()
    {
        Name = name, Type = type, Target = "app-1", Status = status, Message = $"{name} {status}", Load = load,
        Measurements = errorRate is { } r ? new Dictionary<string, double> { ["error_rate"] = r } : new Dictionary<string, double>(),
    };

    private static LoadRun Run(double latency) => new()
    {
        Samples = Enumerable.Range(0, 200).Select(i => new LoadSample(i, latency + i % 10, true, "GET /")).ToList(),
        Elapsed = TimeSpan.FromSeconds(5),
    };

    private static CheckSuiteResult Results(params CheckResult[] results) => new("staging", "s", results, TimeSpan.FromSeconds(1));

    [Fact]
    public void An_unchanged_suite_has_no_regression()
    {
        var baseline = Results(Result("health", "http", CheckStatus.Passed), Result("load", "load", CheckStatus.Passed, Run(20)), Result("logs", "logs", CheckStatus.Passed, errorRate: 0));
        var after = Results(Result("health", "http", CheckStatus.Passed), Result("load", "load", CheckStatus.Passed, Run(20)), Result("logs", "logs", CheckStatus.Passed, errorRate: 0.005));

        Assert.All(SuiteComparison.Compare(Suite, baseline, after), c => Assert.False(c.Regressed, c.Message));
    }

    [Fact]
    public void A_slower_load_a_failing_check_and_more_log_errors_are_regressions_with_their_reasons()
    {
        var baseline = Results(Result("health", "http", CheckStatus.Passed), Result("load", "load", CheckStatus.Passed, Run(20)), Result("logs", "logs", CheckStatus.Passed, errorRate: 0));
        var after = Results(Result("health", "http", CheckStatus.Failed), Result("load", "load", CheckStatus.Passed, Run(80)), Result("logs", "logs", CheckStatus.Passed, errorRate: 0.05));

        var byName = SuiteComparison.Compare(Suite, baseline, after).ToDictionary(c => c.Name);
        Assert.True(byName["health"].Regressed);
        Assert.StartsWith("passed before the change, fails after: ", byName["health"].Message, StringComparison.Ordinal);
        Assert.True(byName["load"].Regressed);
        Assert.True(byName["load"].Load!.LatencyRegressed);
        Assert.StartsWith("latency regressed", byName["load"].Message, StringComparison.Ordinal);
        Assert.True(byName["logs"].Regressed);
        Assert.Contains("0.00% → 5.00%", byName["logs"].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_load_that_stops_passing_its_own_limits_leads_with_its_own_reason_though_its_latency_held()
    {
        // Latency and errors as before: only the load's own verdict changed (e.g. clients that got no answer in the window).
        var baseline = Results(Result("load", "load", CheckStatus.Passed, Run(20)));
        var after = Results(Result("load", "load", CheckStatus.Passed, Run(20)) with { Status = CheckStatus.Failed, Message = "4 of 8 clients had no request answered in the 3s window" });

        var load = Assert.Single(SuiteComparison.Compare(Suite, baseline, after));
        Assert.True(load.Regressed);
        Assert.False(load.Load!.Regressed, load.Message);
        Assert.StartsWith("passed before the change, fails after: 4 of 8 clients had no request answered in the 3s window; latency held", load.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_search_inconclusive_because_the_control_sped_up_regresses_when_the_rolled_back_twins_agree()
    {
        // The lab's shape: mostly logins, a third searches; both twins busy before, the control calmer after, the
        // changed host's searches as slow as its busy baseline's.
        CheckSuiteResult Twins(LoadRun host, LoadRun control) =>
            Results(Result("load", "load", CheckStatus.Passed, host)) with { Control = [new ControlResult("app-1", Result("load", "load", CheckStatus.Passed, control))] };
        var baseline = Twins(Mixed(200), Mixed(200));
        var after = Twins(Mixed(200), Mixed(40));
        var first = SuiteComparison.Compare(Suite, baseline, after);
        var load = Assert.Single(first);
        Assert.True(load.Inconclusive && !load.Regressed, load.Message);
        Assert.Equal("load", Assert.Single(SuiteComparison.ToRecheck(Suite, baseline, after, first)).Name);

        var closed = Assert.Single(SuiteComparison.Recheck(Suite, first, baseline, after, Twins(Mixed(40), Mixed(40))));
        Assert.True(closed.Regressed, closed.Message);
        Assert.Contains("GET /search?q=${q}: latency regressed against the control (A/B/A: the gap closed", closed.Message, StringComparison.Ordinal);

        var persisted = Assert.Single(SuiteComparison.Recheck(Suite, first, baseline, after, Twins(Mixed(200), Mixed(40))));
        Assert.False(persisted.Regressed, persisted.Message);
        Assert.True(persisted.Inconclusive, persisted.Message);
        Assert.Contains("staging stayed slower than the control after it was rolled back", persisted.Message, StringComparison.Ordinal);

        // A load that held, or one without a control, is never measured again.
        Assert.Empty(SuiteComparison.ToRecheck(Suite, baseline, baseline, SuiteComparison.Compare(Suite, baseline, baseline)));
        var alone = Results(Result("load", "load", CheckStatus.Passed, Mixed(200)));
        Assert.Empty(SuiteComparison.ToRecheck(Suite, alone, alone, SuiteComparison.Compare(Suite, alone, alone)));
    }

    [Fact]
    public void A_load_measured_again_warm_stands_in_for_its_cold_first_run_and_closes_a_gap_the_cold_run_opened()
    {
        // The CI run that failed a good update: staging's service just restarted, its first load slow beside a warm
        // control; measured again on the same version it is as fast as the control, and nothing is left to recheck.
        CheckSuiteResult Twins(LoadRun host, LoadRun control) =>
            Results(Result("health", "http", CheckStatus.Passed), Result("load", "load", CheckStatus.Passed, host))
                with { Control = [new ControlResult("app-1", Result("load", "load", CheckStatus.Passed, control))] };
        var baseline = Twins(Mixed(200), Mixed(200));
        var cold = Twins(Mixed(200), Mixed(40));
        Assert.Single(SuiteComparison.ToRecheck(Suite, baseline, cold, SuiteComparison.Compare(Suite, baseline, cold)));

        var warm = Results(Result("load", "load", CheckStatus.Passed, Mixed(40))) with { Control = [new ControlResult("app-1", Result("load", "load", CheckStatus.Passed, Mixed(40)))] };
        var after = SuiteComparison.Remeasured(cold, warm);

        Assert.Equal(["health", "load"], after.Results.Select(r => r.Name));
        Assert.Same(warm.Results[0], after.Results[1]);
        Assert.Same(warm.Control[0], Assert.Single(after.Control));
        var comparisons = SuiteComparison.Compare(Suite, baseline, after);
        Assert.All(comparisons, c => Assert.False(c.Regressed || c.Inconclusive, c.Message));
        Assert.Empty(SuiteComparison.ToRecheck(Suite, baseline, after, comparisons));
    }

    /// <summary>Logins (slow, most of the samples) and searches (fast) mixed in one run.</summary>
    private static LoadRun Mixed(double searchLatency)
    {
        var login = Enumerable.Range(0, 400).Select(i => new LoadSample(i, 50 + i % 20, true, "POST /login"));
        var search = Enumerable.Range(0, 200).Select(i => new LoadSample(i, searchLatency + i % 5, true, "GET /search?q=${q}"));
        return new LoadRun { Samples = login.Concat(search).ToList(), Elapsed = TimeSpan.FromSeconds(5) };
    }

    [Fact]
    public void One_request_several_times_slower_is_a_regression_even_when_the_mixed_run_hides_it()
    {
        var baseline = Results(Result("load", "load", CheckStatus.Passed, Mixed(5)));
        var after = Results(Result("load", "load", CheckStatus.Passed, Mixed(25)));

        var load = Assert.Single(SuiteComparison.Compare(Suite, baseline, after));
        Assert.False(load.Load!.Regressed, "the whole run's p95 is the logins' and barely moves");
        Assert.True(load.Regressed);
        Assert.StartsWith("GET /search?q=${q}: ", load.Message, StringComparison.Ordinal);
        Assert.False(Assert.Single(SuiteComparison.Compare(Suite, baseline, Results(Result("load", "load", CheckStatus.Passed, Mixed(5))))).Regressed);
    }

    [Fact]
    public void A_slowdown_fails_only_when_a_second_run_after_the_change_shows_it_too()
    {
        var baseline = Results(Result("health", "http", CheckStatus.Passed), Result("load", "load", CheckStatus.Passed, Run(20)));
        var first = SuiteComparison.Compare(Suite, baseline, Results(Result("health", "http", CheckStatus.Failed), Result("load", "load", CheckStatus.Passed, Run(80))));

        var toConfirm = Assert.Single(SuiteComparison.ToConfirm(Suite, first));
        Assert.Equal("load", toConfirm.Name);

        var transient = SuiteComparison.Confirm(first, SuiteComparison.Compare(Suite, baseline, Results(Result("load", "load", CheckStatus.Passed, Run(21))))).ToDictionary(c => c.Name);
        Assert.False(transient["load"].Regressed);
        Assert.True(transient["load"].Inconclusive, "kept as a warning");
        Assert.StartsWith("regressed on the first run after the change but not on a second", transient["load"].Message, StringComparison.Ordinal);
        Assert.True(transient["health"].Regressed, "checks that are not load checks are not run again");

        var real = SuiteComparison.Confirm(first, SuiteComparison.Compare(Suite, baseline, Results(Result("load", "load", CheckStatus.Passed, Run(75))))).ToDictionary(c => c.Name);
        Assert.True(real["load"].Regressed);
        Assert.Contains("; a second run confirmed it: latency regressed", real["load"].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_ldap_load_that_slowed_is_run_again_and_fails_only_when_the_second_run_shows_it_too()
    {
        var suite = new CheckSuite("s",
        [
            new LdapCheck
            {
                Name = "ldap-load", Target = new HttpTarget(), Directory = "users", BindDn = "uid=${user},ou=people,dc=acme,dc=test",
                Credentials = new CredentialSource { File = "/secrets" }, Base = "ou=people,dc=acme,dc=test", Clients = 8,
                Compare = new LoadThresholds { MaxP95Ratio = 3 },
            },
            new LdapCheck
            {
                Name = "ldap-once", Target = new HttpTarget(), Directory = "users", BindDn = "uid=${user},ou=people,dc=acme,dc=test",
                Credentials = new CredentialSource { File = "/secrets" }, Base = "ou=people,dc=acme,dc=test",
            },
        ]);
        Assert.True(SuiteComparison.IsLoad(suite.Find("ldap-load")));
        Assert.False(SuiteComparison.IsLoad(suite.Find("ldap-once")), "a bind once per account is not a load");
        var baseline = Results(Result("ldap-load", "ldap", CheckStatus.Passed, Run(2)));
        var first = SuiteComparison.Compare(suite, baseline, Results(Result("ldap-load", "ldap", CheckStatus.Passed, Run(40))));

        Assert.Equal("ldap-load", Assert.Single(SuiteComparison.ToConfirm(suite, first)).Name);
        var transient = Assert.Single(SuiteComparison.Confirm(first, SuiteComparison.Compare(suite, baseline, Results(Result("ldap-load", "ldap", CheckStatus.Passed, Run(2))))));
        Assert.False(transient.Regressed);
        Assert.True(transient.Inconclusive, "kept as a warning");
        var real = Assert.Single(SuiteComparison.Confirm(first, SuiteComparison.Compare(suite, baseline, Results(Result("ldap-load", "ldap", CheckStatus.Passed, Run(38))))));
        Assert.True(real.Regressed);
        Assert.Contains("; a second run confirmed it", real.Message, StringComparison.Ordinal);
    }
}
