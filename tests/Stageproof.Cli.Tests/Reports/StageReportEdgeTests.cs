using Stageproof.Testing;
using System.Xml.Linq;
using Stageproof.Application.Reports;
using Stageproof.Core.Checks;
using Stageproof.Core.Stage;

namespace Stageproof.Cli.Tests.Reports;

/// <summary>Results the engine produces when it stops early or a load run has nothing to compare.</summary>
public sealed class StageReportEdgeTests
{
    [Fact]
    public void A_run_refused_at_fidelity_renders_with_the_top_differences_and_every_other_step_skipped()
    {
        var result = new StageResult
        {
            Id = "stage-x", PatchDigest = "sha256:00", PatchId = "p", PatchTitle = "t", Environment = "staging", MirrorOf = "prod", Actor = "me",
            StartedAt = DateTimeOffset.UnixEpoch, Verdict = StageVerdict.Fail, Fidelity = 0.91, MinFidelity = 0.97,
            Reasons = [new(StageSteps.Fidelity, "staging is not a faithful mirror of prod", "fidelity 91.0% < 97.0%")],
            FidelityItems = [new("staging/app1 ~ prod/app1", "package", "acme-mail", "1.1-1", null, "high")],
            Steps = StageSteps.All.Select((s, i) => new StageStep
            {
                Name = s, Status = i == 0 ? StepStatus.Failed : StepStatus.Skipped, Summary = i == 0 ? "fidelity 91.0% < 97.0%" : "not run",
            }).ToList(),
        };
        var doc = XDocument.Parse(StageJUnit.Render(result));
        var suite = doc.Root!.Element("testsuite")!;
        Assert.Equal(8, (int)suite.Attribute("tests")!);
        Assert.Equal(1, (int)suite.Attribute("failures")!);
        Assert.Equal(7, (int)suite.Attribute("skipped")!);
        Assert.Contains("not a faithful mirror", (string)doc.Descendants("failure").Single().Attribute("message")!, StringComparison.Ordinal);

        var html = StageHtml.Render(result);
        Assert.Contains("class=\"banner fail\"", html, StringComparison.Ordinal);
        Assert.Contains("Top differences", html, StringComparison.Ordinal);
        Assert.Contains("(absent)", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<section id=\"load\"", html, StringComparison.Ordinal);
        Assert.Contains("<section id=\"rehearsal\"><h2>Rollback rehearsal</h2>\n<p class=\"muted\">Not run.", html, StringComparison.Ordinal);
    }

    [Fact]
    public void A_load_run_without_samples_after_the_change_renders_without_charts_breaking()
    {
        var before = StageSamples.Run(seed: 5, n: 100, medianMs: 10, errors: 0);
        var after = new LoadRun { Samples = [], Elapsed = TimeSpan.FromSeconds(10), Clients = 8 };
        var comparison = LoadStatistics.Compare(before, after, new LoadThresholds());
        CheckResult Load(LoadRun run) => new() { Name = "l", Type = "load", Target = "app1", Status = CheckStatus.Passed, Message = "m", Load = run };
        var result = StageSamples.Pass() with
        {
            Baseline = new CheckSuiteResult("staging", "s", [Load(before)], TimeSpan.FromSeconds(1)),
            After = new CheckSuiteResult("staging", "s", [Load(after)], TimeSpan.FromSeconds(1)),
            Comparisons = [new CheckComparison("l", "load", "app1", comparison.Regressed, comparison.Message, comparison)],
            Verdict = StageVerdict.Fail,
        };
        var html = StageHtml.Render(result);
        Assert.Contains("<svg class=\"chart ecdf\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("NaN", html, StringComparison.Ordinal);
        Assert.DoesNotContain("Infinity", html, StringComparison.Ordinal);
        var xml = StageJUnit.Render(result);
        Assert.Contains("no samples to compare", xml, StringComparison.Ordinal);
        XDocument.Parse(xml);
    }
}
