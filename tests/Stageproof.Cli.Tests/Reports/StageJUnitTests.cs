using Stageproof.Testing;
using System.Globalization;
using System.Xml.Linq;
using Stageproof.Application.Reports;
using Stageproof.Core.Stage;

namespace Stageproof.Cli.Tests.Reports;

public sealed class StageJUnitTests
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    [Fact]
    public void Fail_has_one_testcase_per_step_check_comparison_and_unexpected_change_with_the_evidence()
    {
        var result = StageSamples.Fail();
        var xml = StageJUnit.Render(result);
        var doc = XDocument.Parse(xml);

        var suite = Assert.Single(doc.Root!.Elements("testsuite"));
        Assert.Equal("stage staging acme-mail-1.2", (string?)suite.Attribute("name"));
        var cases = suite.Elements("testcase").ToList();
        Assert.Equal(8, cases.Count(c => (string?)c.Attribute("classname") == "stage.step"));
        Assert.Equal(4, cases.Count(c => (string?)c.Attribute("classname") == "stage.check"));
        Assert.Equal(4, cases.Count(c => (string?)c.Attribute("classname") == "stage.compare"));
        Assert.Equal(1, cases.Count(c => (string?)c.Attribute("classname") == "stage.drift"));
        Assert.Equal(3, cases.Count(c => (string?)c.Attribute("classname") == "stage.soak"));
        Assert.Equal(20, cases.Count);
        Assert.Equal(cases.Count, (int)suite.Attribute("tests")!);

        // compare, drift, rehearsal steps; search-load and indexer-logs checks; both comparisons; the config change.
        var failures = cases.Where(c => c.Element("failure") is not null).ToList();
        Assert.Equal(8, failures.Count);
        Assert.Equal(8, (int)suite.Attribute("failures")!);
        Assert.Equal(1, (int)suite.Attribute("skipped")!);
        Assert.Equal(0, (int)suite.Attribute("errors")!);
        Assert.NotNull(cases.Single(c => (string?)c.Attribute("name") == StageSteps.Reapply).Element("skipped"));

        var search = result.Comparisons.Single(c => c.Name == "search-load").Load!;
        Assert.True(search.LatencyRegressed);
        var compare = cases.Single(c => (string?)c.Attribute("classname") == "stage.compare" && ((string?)c.Attribute("name"))!.Contains("search-load", StringComparison.Ordinal));
        var message = (string)compare.Element("failure")!.Attribute("message")!;
        Assert.Contains("search-load", message, StringComparison.Ordinal);
        Assert.Contains("ratio " + search.P95Ratio.ToString("0.00", Inv), message, StringComparison.Ordinal);
        Assert.Contains(search.P95RatioLow.ToString("0.00", Inv), message, StringComparison.Ordinal);
        var body = compare.Element("failure")!.Value;
        Assert.Contains("Mann–Whitney", body, StringComparison.Ordinal);
        Assert.Contains("error rate 0.00% → 1.50%", body, StringComparison.Ordinal);

        var drift = cases.Single(c => (string?)c.Attribute("classname") == "stage.drift");
        Assert.Contains("session.lifetime", (string?)drift.Attribute("name"), StringComparison.Ordinal);
        Assert.Contains("3600 → 300", (string)drift.Element("failure")!.Attribute("message")!, StringComparison.Ordinal);
        Assert.Contains("+lifetime = 300", drift.Element("failure")!.Value, StringComparison.Ordinal);

        var rehearsal = cases.Single(c => (string?)c.Attribute("name") == StageSteps.Rehearsal);
        Assert.Contains("database restore", (string)rehearsal.Element("failure")!.Attribute("message")!, StringComparison.Ordinal);

        var logs = cases.Single(c => (string?)c.Attribute("classname") == "stage.check" && ((string?)c.Attribute("name"))!.Contains("indexer-logs", StringComparison.Ordinal));
        Assert.Contains("ERROR relation \"messages_fts_idx\" does not exist", logs.Element("failure")!.Value, StringComparison.Ordinal);

        var props = suite.Element("properties")!.Elements("property").ToDictionary(p => (string)p.Attribute("name")!, p => (string)p.Attribute("value")!);
        Assert.Equal(result.PatchDigest, props["patch.digest"]);
        Assert.Equal("staging", props["environment"]);
        Assert.Equal("FAIL", props["verdict"]);
        Assert.Equal("true", props["rehearsal.database_restore_needed"]);
    }

    [Fact]
    public void Times_are_seconds_in_invariant_culture()
    {
        var previous = CultureInfo.CurrentCulture;
        try
        {
            // The process runs in invariant-globalization mode, so stand in for de-DE with a comma decimal separator.
            var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            comma.NumberFormat.NumberGroupSeparator = ".";
            CultureInfo.CurrentCulture = comma;
            var doc = XDocument.Parse(StageJUnit.Render(StageSamples.Fail()));
            var apply = doc.Descendants("testcase").Single(c => (string?)c.Attribute("name") == StageSteps.Apply);
            Assert.Equal("38.5", (string?)apply.Attribute("time"));
            Assert.Equal("863", (string?)doc.Root!.Element("testsuite")!.Attribute("time"));
            Assert.All(doc.Descendants().Attributes("time"), a => Assert.True(double.TryParse(a.Value, NumberStyles.Float, Inv, out _), a.Value));
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public void Hostile_text_gives_valid_xml_with_control_characters_stripped()
    {
        var xml = StageJUnit.Render(StageSamples.Fail());
        Assert.DoesNotContain('\u0001', xml);
        Assert.DoesNotContain('\u001b', xml);
        Assert.DoesNotContain("<script>", xml, StringComparison.Ordinal);
        var doc = XDocument.Parse(xml);
        var logs = doc.Descendants("testcase").Single(c => (string?)c.Attribute("classname") == "stage.check" && ((string?)c.Attribute("name"))!.Contains("indexer-logs", StringComparison.Ordinal));
        var message = (string)logs.Element("failure")!.Attribute("message")!;
        Assert.Contains("<script>alert('pwned')</script> & \"quoted\"", message, StringComparison.Ordinal);
        Assert.Contains("[31m]]>", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pass_has_no_failures()
    {
        var doc = XDocument.Parse(StageJUnit.Render(StageSamples.Pass()));
        var suite = doc.Root!.Element("testsuite")!;
        Assert.Equal(0, (int)suite.Attribute("failures")!);
        Assert.Equal(0, (int)suite.Attribute("skipped")!);
        Assert.Equal(8 + 2 + 2 + 1, (int)suite.Attribute("tests")!);
        Assert.DoesNotContain(doc.Descendants("testcase"), c => (string?)c.Attribute("classname") == "stage.drift");
        Assert.Equal("PASS", suite.Element("properties")!.Elements("property").Single(p => (string?)p.Attribute("name") == "verdict").Attribute("value")!.Value);
    }
}
