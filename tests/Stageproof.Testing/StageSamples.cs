using Stageproof.Core.Checks;
using Stageproof.Core.Stage;

namespace Stageproof.Testing;

/// <summary>Realistic stage results built in code: a FAIL with every kind of finding, and a clean PASS.</summary>
public static class StageSamples
{
    public const string Hostile = "<script>alert('pwned')</script> & \"quoted\" \u0001\u0007\u001b[31m]]> \uD800 end";

    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// acme-mail 1.2 on staging: search several times slower under load (the migration dropped the full-text index),
    /// the shipped session lifetime changed behind the operator's back, the indexer writes ERROR lines, and the
    /// rollback only worked with a database restore.
    /// </summary>
    public static StageResult Fail() => FailResult.Value;

    /// <summary>acme-mail 1.1 on staging: everything held.</summary>
    public static StageResult Pass() => PassResult.Value;

    // Built once: the bootstrap comparisons take a moment and the results are immutable.
    private static readonly Lazy<StageResult> FailResult = new(BuildFail), PassResult = new(BuildPass);

    private static StageResult BuildFail()
    {
        var baseRun = Run(seed: 1, n: 400, medianMs: 18, errors: 0);
        var afterRun = Run(seed: 2, n: 400, medianMs: 61, errors: 6);
        var loginBase = Run(seed: 3, n: 300, medianMs: 9, errors: 0);
        var loginAfter = Run(seed: 4, n: 300, medianMs: 9.3, errors: 0);
        var search = LoadStatistics.Compare(baseRun, afterRun, new LoadThresholds());
        var login = LoadStatistics.Compare(loginBase, loginAfter, new LoadThresholds());

        var baseline = new CheckSuiteResult("staging", "acme-mail", [
            Http("health", CheckStatus.Passed, "status 200 (GET http://127.0.5.2:8080/health)", T0.AddMinutes(1)),
            Load("search-load", baseRun, "1200 requests, 0.00% errors", CheckStatus.Passed, T0.AddMinutes(1)),
            Load("login-load", loginBase, "900 requests, 0.00% errors", CheckStatus.Passed, T0.AddMinutes(1)),
            Logs("indexer-logs", CheckStatus.Passed, "0 error lines of 812 since the marker", 0.0, [], T0.AddMinutes(2)),
        ], TimeSpan.FromSeconds(41));
        var errorLines = new[]
        {
            "2026-11-23T10:07:12Z indexer[812]: INFO batch 118 started",
            "2026-11-23T10:07:13Z indexer[812]: ERROR relation \"messages_fts_idx\" does not exist",
            "2026-11-23T10:07:13Z indexer[812]: ERROR batch 118 failed; retrying in 5s",
            "2026-11-23T10:07:18Z indexer[812]: ERROR " + Hostile,
        };
        var after = new CheckSuiteResult("staging", "acme-mail", [
            Http("health", CheckStatus.Passed, "status 200 (GET http://127.0.5.2:8080/health)", T0.AddMinutes(6)),
            Load("search-load", afterRun, "search p95 regressed under 16 clients", CheckStatus.Failed, T0.AddMinutes(6)),
            Load("login-load", loginAfter, "900 requests, 0.00% errors", CheckStatus.Passed, T0.AddMinutes(6)),
            Logs("indexer-logs", CheckStatus.Failed, "3 ERROR lines of 790 since the marker (fail pattern ERROR) " + Hostile, 0.0038, errorLines, T0.AddMinutes(7)),
        ], TimeSpan.FromSeconds(44));
        var comparisons = new List<CheckComparison>
        {
            new("health", "http", "app1", false, "status 200 (GET http://127.0.5.2:8080/health)"),
            new("search-load", "load", "app1", search.Regressed, search.Message, search),
            new("login-load", "load", "app1", login.Regressed, login.Message, login),
            new("indexer-logs", "logs", "app1", true, "error-line rate 0.00% → 0.38% (added 0.38%, limit 0.10%)"),
        };
        var diff = string.Join('\n', "--- /etc/acme-mail/acme-mail.conf (before)", "+++ /etc/acme-mail/acme-mail.conf (after)", "@@ -12,3 +12,3 @@",
            " [session]", "-lifetime = 3600", "+lifetime = 300", " cookie_secure = true");
        var reasons = new List<StageReason>
        {
            new(StageSteps.Compare, "search-load @ app1", search.Message),
            new(StageSteps.Compare, "indexer-logs @ app1", "error-line rate 0.00% → 0.38% (added 0.38%, limit 0.10%); 3 ERROR lines " + Hostile),
            new(StageSteps.Drift, "config /etc/acme-mail/acme-mail.conf session.lifetime on app1", "3600 → 300: changed by the package's new conffile; the patch set does not declare it"),
            new(StageSteps.Rehearsal, "rollback needs a database restore", "acme-mail 1.1 cannot start on the migrated schema; suite passed only after restoring acme from its dump (data-loss risk)"),
        };
        return new StageResult
        {
            Id = "stage-20261123-100000-7f3a",
            PatchDigest = "sha256:9c1e4b0a77d2f3e8c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3",
            PatchId = "acme-mail-1.2",
            PatchTitle = "acme-mail 1.2: faster search " + Hostile,
            Environment = "staging",
            MirrorOf = "prod",
            Actor = "ops@example.org",
            StartedAt = T0,
            FinishedAt = T0.AddMinutes(14).AddSeconds(23),
            Verdict = StageVerdict.Fail,
            Reasons = reasons,
            Warnings = [new(StageSteps.Fidelity, "fidelity", "98.1% with one accepted difference")],
            Steps =
            [
                Step(StageSteps.Fidelity, StepStatus.Warned, "fidelity 98.1% (minimum 97.0%); accepted drift", 0, 3.2),
                Step(StageSteps.Baseline, StepStatus.Passed, "4 checks passed; search p95 " + search.Baseline.P95.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + " ms", 1, 41),
                Step(StageSteps.Apply, StepStatus.Passed, "apply run apply-41 ok: acme-mail 1.1 → 1.2, 1 migration", 3, 38.5),
                Step(StageSteps.Compare, StepStatus.Failed, "2 of 4 checks regressed: search-load, indexer-logs", 6, 44),
                Step(StageSteps.Drift, StepStatus.Failed, "3 changes: 2 expected, 1 unexpected (tracked config)", 7, 2.4),
                Step(StageSteps.Soak, StepStatus.Passed, "3 rounds of 2 checks over 60 s held", 8, 60),
                Step(StageSteps.Rehearsal, StepStatus.Failed, "rollback passed only with a database restore", 9, 95.3),
                Step(StageSteps.Reapply, StepStatus.Skipped, "not run: the rehearsal failed", 11, 0),
            ],
            Fidelity = 0.981,
            MinFidelity = 0.97,
            AcceptedDrift = "app2 has the debug flag on for INC-2291 " + Hostile,
            FidelityItems =
            [
                new("staging/app1 ~ prod/app1", "config", "/etc/acme-mail/acme-mail.conf:log.level", "info", "debug", "low"),
                new("staging/app1 ~ prod/app1", "package", "libssl3", "3.0.15-1~deb12u1", "3.0.15-1~deb12u1", "none"),
            ],
            Baseline = baseline,
            After = after,
            Comparisons = comparisons,
            Changes =
            [
                new ChangeItem { Host = "app1", Category = "package", Key = "acme-mail", Before = "1.1-1", After = "1.2-1", Expected = true, Why = "declared by the patch set", Status = StepStatus.Passed },
                new ChangeItem { Host = "app1", Category = "file", Key = "/usr/share/acme-mail/migrations/0007.sql", Before = null, After = "sha256:1f2e", Expected = true, Why = "shipped by acme-mail 1.2-1", Status = StepStatus.Passed },
                new ChangeItem
                {
                    Host = "app1", Category = "config", Key = "/etc/acme-mail/acme-mail.conf:session.lifetime", Before = "3600", After = "300", Expected = false,
                    Why = "changed by the package's new conffile; the operator never set it and the patch set does not declare it", Status = StepStatus.Failed, Diff = diff,
                },
            ],
            Soak =
            [
                Http("health", CheckStatus.Passed, "status 200", T0.AddMinutes(8)),
                Http("health", CheckStatus.Passed, "status 200", T0.AddMinutes(8.5)),
                Http("health", CheckStatus.Passed, "status 200", T0.AddMinutes(9)),
            ],
            Rehearsal = new RehearsalResult
            {
                DatabaseRestoreNeeded = true, RolledBack = true, SuitePassedAfterRollback = true, Reapplied = false,
                Residue = ["/var/lib/acme-mail/index/fts.v2 (left by 1.2's post-install)"],
                Discarded = ["acme.messages: 37 rows written since the change", "acme.sessions: 12 rows"],
                Notes = ["without restore: health failed: acme-mail 1.1 exits 1: schema version 8 is newer than 7"],
            },
            ApplyRun = "apply-41",
            RollbackRuns = ["rollback-17", "rollback-18"],
            RollbackPoint = "rp-20261123-100312",
            AuditFrom = 1041,
            AuditTo = 1077,
        };
    }

    private static StageResult BuildPass()
    {
        var baseRun = Run(seed: 11, n: 300, medianMs: 18, errors: 0);
        var afterRun = Run(seed: 12, n: 300, medianMs: 18.4, errors: 0);
        var search = LoadStatistics.Compare(baseRun, afterRun, new LoadThresholds());
        var baseline = new CheckSuiteResult("staging", "acme-mail", [
            Http("health", CheckStatus.Passed, "status 200", T0.AddMinutes(1)),
            Load("search-load", baseRun, "900 requests, 0.00% errors", CheckStatus.Passed, T0.AddMinutes(1)),
        ], TimeSpan.FromSeconds(30));
        var after = new CheckSuiteResult("staging", "acme-mail", [
            Http("health", CheckStatus.Passed, "status 200", T0.AddMinutes(5)),
            Load("search-load", afterRun, "900 requests, 0.00% errors", CheckStatus.Passed, T0.AddMinutes(5)),
        ], TimeSpan.FromSeconds(31));
        return new StageResult
        {
            Id = "stage-20261123-090000-1b2c",
            PatchDigest = "sha256:0aa1bb2cc3dd4ee5ff6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e",
            PatchId = "acme-mail-1.1",
            PatchTitle = "acme-mail 1.1",
            Environment = "staging",
            MirrorOf = "prod",
            Actor = "ops@example.org",
            StartedAt = T0,
            FinishedAt = T0.AddMinutes(9),
            Verdict = StageVerdict.Pass,
            Steps = StageSteps.All.Select((s, i) => Step(s, StepStatus.Passed, $"{s} held", i, 10 + i)).ToList(),
            Fidelity = 1.0,
            MinFidelity = 0.97,
            Baseline = baseline,
            After = after,
            Comparisons =
            [
                new("health", "http", "app1", false, "status 200"),
                new("search-load", "load", "app1", search.Regressed, search.Message, search),
            ],
            Changes = [new ChangeItem { Host = "app1", Category = "package", Key = "acme-mail", Before = "1.0-1", After = "1.1-1", Expected = true, Why = "declared by the patch set", Status = StepStatus.Passed }],
            Soak = [Http("health", CheckStatus.Passed, "status 200", T0.AddMinutes(6))],
            Rehearsal = new RehearsalResult { RolledBack = true, SuitePassedAfterRollback = true, Reapplied = true },
            ApplyRun = "apply-40",
            RollbackRuns = ["rollback-16"],
            RollbackPoint = "rp-20261123-090212",
            AuditFrom = 1001,
            AuditTo = 1030,
        };
    }

    /// <summary>A seeded log-normal latency sample around <paramref name="medianMs"/>; the first <paramref name="errors"/> fail.</summary>
    public static LoadRun Run(int seed, int n, double medianMs, int errors)
    {
        var random = new Random(seed);
        var samples = new List<LoadSample>(n);
        for (var i = 0; i < n; i++)
        {
            var z = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            var latency = medianMs * Math.Exp(0.35 * z);
            var ok = errors == 0 || i % (n / errors) != n / errors - 1;
            samples.Add(new LoadSample(i * 25.0, Math.Round(latency, 2), ok, i % 2 == 0 ? "GET /search?q=invoice" : "GET /search?q=meeting"));
        }
        return new LoadRun { Samples = samples, Elapsed = TimeSpan.FromSeconds(n / 40.0), Clients = 16 };
    }

    private static StageStep Step(string name, StepStatus status, string summary, double startMinutes, double seconds) => new()
    {
        Name = name, Status = status, Summary = summary, StartedAt = T0.AddMinutes(startMinutes), Duration = TimeSpan.FromSeconds(seconds),
    };

    private static CheckResult Http(string name, CheckStatus status, string message, DateTimeOffset at) => new()
    {
        Name = name, Type = "http", Target = "app1", Status = status, Message = message, StartedAt = at, Duration = TimeSpan.FromMilliseconds(23),
        Measurements = new Dictionary<string, double> { ["latency_ms"] = 12.5, ["status"] = 200 },
    };

    private static CheckResult Load(string name, LoadRun run, string message, CheckStatus status, DateTimeOffset at) => new()
    {
        Name = name, Type = "load", Target = "app1", Status = status, Message = message, StartedAt = at, Duration = run.Elapsed, Load = run,
        Measurements = new Dictionary<string, double> { ["p95_ms"] = run.Latency.P95, ["error_rate"] = run.ErrorRate, ["rps"] = run.Throughput },
    };

    private static CheckResult Logs(string name, CheckStatus status, string message, double errorRate, IReadOnlyList<string> evidence, DateTimeOffset at) => new()
    {
        Name = name, Type = "logs", Target = "app1", Status = status, Message = message, StartedAt = at, Duration = TimeSpan.FromMilliseconds(140),
        Evidence = evidence, Measurements = new Dictionary<string, double> { ["error_rate"] = errorRate },
    };
}
