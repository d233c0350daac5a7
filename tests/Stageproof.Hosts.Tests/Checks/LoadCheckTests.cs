using Stageproof.Core.Checks;

namespace Stageproof.Hosts.Tests.Checks;

/// <summary>Latency measurements are only as quiet as the machine: these run alone, not beside other test classes.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialLoadCollection
{
    public const string Name = "serial load";
}

/// <summary>Load checks against a real Kestrel server: samples, the auth sequence under concurrency, and a detected slowdown.</summary>
[Collection(SerialLoadCollection.Name)]
public sealed class LoadCheckTests : IAsyncLifetime, IDisposable
{
    private readonly Suites _suites = new();
    private MailServer _server = null!;

    public async Task InitializeAsync() => _server = await MailServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _suites.Dispose();

    private string Suite(string load) => $$"""
        - name: login
          type: auth
          port: {{_server.Port}}
          credentials: { file: secrets.env }
          steps:
            - { method: POST, path: /login, json: { user: "${user}", password: "${password}" }, extract: { token: $.token } }
        - name: load
          type: load
          port: {{_server.Port}}
          auth: login
          requests:
            - { path: "/search?q=x", headers: { Authorization: "Bearer ${token}" } }
        {{load}}
        """;

    private async Task<CheckResult> LoadAsync(string settings)
    {
        var result = await Suites.RunAsync(_suites.Config(Suite(settings), _server.Address));
        return result.Results.Single(r => r.Name == "load");
    }

    [Fact]
    public async Task Every_request_of_every_iteration_is_a_sample_and_the_summary_has_the_percentiles()
    {
        _suites.Secrets("user01=password-01\nuser02=password-02\nuser03=password-03\n");
        var r = await LoadAsync("  clients: 8\n  iterations: 120");

        Assert.True(r.Status == CheckStatus.Passed, r.Message);
        var run = r.Load!;
        Assert.Equal(240, run.Requests); // login + search per iteration
        Assert.Equal(0, run.Errors);
        Assert.Equal(120, run.Samples.Count(s => s.Request == "login:POST /login"));
        Assert.Equal(8, r.Measurements["clients"]);
        Assert.True(r.Measurements["p50_ms"] <= r.Measurements["p95_ms"] && r.Measurements["p95_ms"] <= r.Measurements["max_ms"]);
        Assert.Matches(@"240 requests from 8 clients in [\d.]+s", r.Message);
    }

    [Fact]
    public async Task Answers_that_break_off_under_load_are_errors_of_the_check_not_the_end_of_the_run()
    {
        // A service that dies mid-answer (a stage's compare once caught acme-mail so, in its login load) must fail the load, not the stage.
        _suites.Secrets("user01=password-01\n");
        var suite = Suite("  clients: 2\n  iterations: 20").Replace(
            "    - { path: \"/search?q=x\", headers: { Authorization: \"Bearer ${token}\" } }\n",
            "    - { path: \"/search?q=x\", headers: { Authorization: \"Bearer ${token}\" } }\n    - { path: /broken }\n", StringComparison.Ordinal);
        var r = (await Suites.RunAsync(_suites.Config(suite, _server.Address))).Results.Single(r => r.Name == "load");

        Assert.Equal(CheckStatus.Failed, r.Status);
        Assert.Equal(60, r.Load!.Requests);
        Assert.Equal(20, r.Load.Errors);
        Assert.Contains("GET /broken ×20", r.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failed_logins_under_load_fail_the_check_with_the_error_rate()
    {
        _suites.Secrets("user01=password-01\nuser02=not-the-password\n");
        var r = await LoadAsync("  clients: 4\n  iterations: 40");

        Assert.Equal(CheckStatus.Failed, r.Status);
        Assert.Contains("over the limit 0.00%", r.Message, StringComparison.Ordinal);
        Assert.Contains("login:POST /login ×20", r.Message, StringComparison.Ordinal);
        Assert.InRange(r.Load!.ErrorRate, 0.3, 0.4); // 20 failed logins of 60 requests
    }

    [Fact]
    public async Task Warm_up_iterations_run_but_are_not_recorded()
    {
        _suites.Secrets("user01=password-01\n");
        var r = await LoadAsync("  clients: 3\n  iterations: 30\n  warmup: 12");

        Assert.Equal(60, r.Load!.Requests);
        Assert.Equal(1 + 42, _server.Logins); // the auth check itself, then 12 warm-up and 30 measured iterations
    }

    [Fact]
    public async Task A_duration_bounds_the_run()
    {
        _suites.Secrets("user01=password-01\n");
        var r = await LoadAsync("  clients: 2\n  duration: 700ms");

        // The run lasts at least its duration (a lower bound no machine can break) and stops by itself: no iteration
        // count was given, so only the duration ended it. The upper bound is a hang guard, not a speed claim.
        Assert.True(r.Load!.Elapsed >= TimeSpan.FromMilliseconds(700), $"the run ended after {r.Load.Elapsed}");
        Assert.True(r.Load.Elapsed < TimeSpan.FromSeconds(30), $"the run did not stop: {r.Load.Elapsed}");
        Assert.True(r.Load.Requests > 2);
    }

    [Fact]
    public async Task The_duration_is_measured_after_the_warmup_so_a_slow_warmup_cannot_eat_the_window()
    {
        // Each search takes 400 ms: two clients need at least 800 ms for their four warm-up iterations, longer than the
        // whole 700 ms duration. Counted from the start, the run would end before measuring anything ("no request
        // completed", as a CPU-starved lab service once did in its baseline).
        _suites.Secrets("user01=password-01\n");
        _server.SearchDelayMs = 400;
        var r = await LoadAsync("  clients: 2\n  duration: 700ms\n  warmup: 4");

        Assert.True(r.Status == CheckStatus.Passed, r.Message);
        Assert.True(r.Load!.Elapsed >= TimeSpan.FromMilliseconds(700), $"the measured window was {r.Load.Elapsed}");
        Assert.True(r.Load.Samples.Count(s => s.Request == "GET /search?q=x") >= 2, r.Message);
    }

    [Fact]
    public async Task A_slowdown_injected_after_the_baseline_is_detected_by_the_comparison()
    {
        // What the stage gate does (SuiteComparison): each request compared on its own, since a run mixes the logins
        // of its auth step with the calls. The injected delay (3 s a search) is far beyond what a busy machine adds to a
        // loopback request (a few ms here; p95s of 105 ms under stress-ng beside a CI run and 567 ms beside a parallel
        // build were measured): the comparison would miss it only if the baseline's search p95 were over 2 s
        // (3 s / p within the 1.5 limit), three and a half times the worst seen. Whether two runs of an
        // unchanged service compare as unchanged on a noisy machine is a false-FAIL rate, measured by
        // bench/stage-repeat.sh, not asserted here; the statistics themselves are tested on fixed samples in
        // LoadStatisticsTests. (The whole-run comparison alone once missed a 250 ms delay under stress: p=0.086.)
        _suites.Secrets("user01=password-01\nuser02=password-02\n");
        // The 30 searches a run needs to be compared request by request (MinSamplesPerRequest) in two rounds of fifteen
        // clients after a warm-up round: 9 s slowed, where six clients took six rounds (18 s).
        const string settings = "  clients: 15\n  iterations: 30\n  warmup: 15";
        var baseline = (await LoadAsync(settings)).Load!;
        _server.SearchDelayMs = 3000;
        var slowed = (await LoadAsync(settings)).Load!;

        var (request, search) = Assert.Single(SuiteComparison.PerRequest(new LoadRuns(baseline, slowed), new LoadThresholds()), r => r.Request.Contains("/search", StringComparison.Ordinal));
        Assert.True(search.LatencyRegressed, $"{request}: {search.Message}");
        Assert.False(search.ErrorsRegressed, search.Message);
        Assert.True(search.P95Ratio > 1.5, search.Message);
        // Every slowed search took at least the delay (a lower bound, whatever the machine does).
        Assert.True(search.After.P50 >= 3000, search.Message);
    }
}
