using System.Text;
using System.Xml;
using System.Xml.Linq;
using Stageproof.Core.Checks;
using Stageproof.Core.Stage;
using static Stageproof.Application.Reports.ReportText;

namespace Stageproof.Application.Reports;

/// <summary>
/// The `stage --junit FILE` output: one testsuite for the run, one testcase per step ("stage.step"), per check result
/// of the after-change suite ("stage.check"), per baseline comparison ("stage.compare"), per unexpected change
/// ("stage.drift") and per soak result ("stage.soak"); failures carry the evidence with its numbers.
/// </summary>
public static class StageJUnit
{
    public static string Render(StageResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var cases = new List<XElement>();
        foreach (var step in r.Steps)
        {
            cases.Add(Step(r, step));
        }
        foreach (var check in r.After?.Results ?? [])
        {
            cases.Add(Check("stage.check", check));
        }
        foreach (var c in r.Comparisons)
        {
            cases.Add(Compare(r, c));
        }
        foreach (var change in r.Changes.Where(c => c.Unexpected))
        {
            cases.Add(Drift(change));
        }
        foreach (var soak in r.Soak)
        {
            cases.Add(Check("stage.soak", soak));
        }

        var elapsed = (r.FinishedAt ?? r.StartedAt) - r.StartedAt;
        if (elapsed <= TimeSpan.Zero)
        {
            elapsed = r.Steps.Aggregate(TimeSpan.Zero, (t, s) => t + s.Duration);
        }
        var failures = cases.Count(c => c.Element("failure") is not null);
        var errors = cases.Count(c => c.Element("error") is not null);
        var skipped = cases.Count(c => c.Element("skipped") is not null);
        var suite = new XElement("testsuite",
            new XAttribute("name", Clean($"stage {r.Environment} {r.PatchId}")),
            new XAttribute("tests", cases.Count),
            new XAttribute("failures", failures),
            new XAttribute("errors", errors),
            new XAttribute("skipped", skipped),
            new XAttribute("time", Seconds(elapsed)),
            new XAttribute("timestamp", r.StartedAt.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss", Inv)),
            new XAttribute("id", Clean(r.Id)),
            Properties(r),
            cases,
            new XElement("system-out", Clean(Narrative(r))));
        var root = new XElement("testsuites",
            new XAttribute("name", "stageproof stage"),
            new XAttribute("tests", cases.Count),
            new XAttribute("failures", failures),
            new XAttribute("errors", errors),
            new XAttribute("skipped", skipped),
            new XAttribute("time", Seconds(elapsed)),
            suite);
        var doc = new XDocument(new XDeclaration("1.0", "utf-8", null), root);
        var sb = new StringBuilder();
        using (var writer = XmlWriter.Create(new Utf8StringWriter(sb), new XmlWriterSettings { Indent = true, Encoding = Encoding.UTF8 }))
        {
            doc.Save(writer);
        }
        return sb.ToString();
    }

    private static XElement Properties(StageResult r)
    {
        var props = new List<(string, string?)>
        {
            ("stage.id", r.Id), ("patch.id", r.PatchId), ("patch.title", r.PatchTitle), ("patch.digest", r.PatchDigest),
            ("environment", r.Environment), ("mirror_of", r.MirrorOf), ("actor", r.Actor),
            ("verdict", r.Verdict == StageVerdict.Pass ? "PASS" : "FAIL"),
            ("started", r.StartedAt.ToUniversalTime().ToString("O", Inv)),
            ("finished", r.FinishedAt?.ToUniversalTime().ToString("O", Inv)),
            ("fidelity", r.Fidelity is { } f ? Num(f, "0.###") : null),
            ("fidelity.minimum", Num(r.MinFidelity, "0.###")),
            ("fidelity.accepted_drift", r.AcceptedDrift),
            ("apply.run", r.ApplyRun),
            ("rollback.runs", r.RollbackRuns.Count == 0 ? null : string.Join(",", r.RollbackRuns)),
            ("rollback.point", r.RollbackPoint),
            ("audit.from", r.AuditFrom?.ToString(Inv)),
            ("audit.to", r.AuditTo?.ToString(Inv)),
            ("rehearsal.database_restore_needed", r.Rehearsal is { } h ? (h.DatabaseRestoreNeeded ? "true" : "false") : null),
            ("rehearsal.rollback_story", r.Rehearsal is { Story.Count: > 0 } s ? string.Join("; ", s.Story) : null),
        };
        return new XElement("properties", props.Where(p => p.Item2 is not null)
            .Select(p => new XElement("property", new XAttribute("name", p.Item1), new XAttribute("value", Clean(p.Item2)))));
    }

    private static XElement Case(string classname, string name, TimeSpan time) =>
        new("testcase", new XAttribute("classname", classname), new XAttribute("name", Clean(name)), new XAttribute("time", Seconds(time)));

    private static XElement Failure(string element, string message, string type, string body) =>
        new(element, new XAttribute("message", Clean(message)), new XAttribute("type", type), Clean(body));

    private static XElement Step(StageResult r, StageStep step)
    {
        var tc = Case("stage.step", step.Name, step.Duration);
        var reasons = r.Reasons.Where(x => x.Step == step.Name).ToList();
        var warnings = r.Warnings.Where(x => x.Step == step.Name).ToList();
        switch (step.Status)
        {
            case StepStatus.Failed:
                var body = new StringBuilder(step.Summary).AppendLine();
                foreach (var reason in reasons)
                {
                    body.Append("- ").Append(reason.Subject).Append(": ").AppendLine(reason.Evidence);
                }
                var message = reasons.Count > 0 ? string.Join("; ", reasons.Select(x => $"{x.Subject}: {x.Evidence}")) : step.Summary;
                tc.Add(Failure("failure", message, "step", body.ToString()));
                break;
            case StepStatus.Skipped:
                tc.Add(new XElement("skipped", new XAttribute("message", Clean(step.Summary))));
                break;
            default:
                var text = new StringBuilder($"{Status(step.Status)}: {step.Summary}").AppendLine();
                foreach (var w in warnings)
                {
                    text.Append("warning: ").Append(w.Subject).Append(": ").AppendLine(w.Evidence);
                }
                tc.Add(new XElement("system-out", Clean(text.ToString())));
                break;
        }
        return tc;
    }

    private static XElement Check(string classname, CheckResult c)
    {
        var tc = Case(classname, $"{c.Type} {CheckName(c.Name, c.Target)}", c.Duration);
        var body = new StringBuilder(c.Message).AppendLine();
        var measurements = Measurements(c);
        if (measurements.Length > 0)
        {
            body.Append("measurements: ").AppendLine(measurements);
        }
        if (c.Load is { } load)
        {
            body.AppendLine($"load: {load.Requests} requests, {load.Clients} clients, {Num(load.Throughput, "0.#")} req/s, errors {Percent(load.ErrorRate)}; {load.Latency}");
        }
        foreach (var line in c.Evidence)
        {
            body.Append("| ").AppendLine(line);
        }
        switch (c.Status)
        {
            case CheckStatus.Failed:
                tc.Add(Failure("failure", $"{CheckName(c.Name, c.Target)}: {c.Message}", c.Type, body.ToString()));
                break;
            case CheckStatus.Error:
                tc.Add(Failure("error", $"{CheckName(c.Name, c.Target)} could not run: {c.Message}", c.Type, body.ToString()));
                break;
            default:
                tc.Add(new XElement("system-out", Clean($"{Status(c.Status)}: {body}")));
                break;
        }
        return tc;
    }

    private static XElement Compare(StageResult r, CheckComparison c)
    {
        var after = Find(r.After, c.Name, c.Target);
        var tc = Case("stage.compare", $"{c.Type} {CheckName(c.Name, c.Target)}", after?.Duration ?? TimeSpan.Zero);
        var body = new StringBuilder(c.Message).AppendLine();
        if (c.Load is { } load)
        {
            body.AppendLine(LoadNumbers(load));
        }
        if (c.Regressed)
        {
            tc.Add(Failure("failure", $"{CheckName(c.Name, c.Target)} regressed: {c.Message}", c.Type, body.ToString()));
        }
        else
        {
            tc.Add(new XElement("system-out", Clean(body.ToString())));
        }
        return tc;
    }

    private static XElement Drift(ChangeItem change)
    {
        var tc = Case("stage.drift", $"{change.Host} {change.Category} {change.Key}", TimeSpan.Zero);
        var body = new StringBuilder()
            .AppendLine($"unexpected change on {change.Host}: {change.Category} {change.Key}")
            .AppendLine($"before: {change.Before ?? "(absent)"}")
            .AppendLine($"after: {change.After ?? "(absent)"}")
            .AppendLine($"why: {change.Why}");
        if (!string.IsNullOrEmpty(change.Diff))
        {
            body.AppendLine(change.Diff);
        }
        var message = $"{change.Category} {change.Key} on {change.Host} changed unexpectedly: {change.Before ?? "(absent)"} → {change.After ?? "(absent)"} ({change.Why})";
        if (change.Status == StepStatus.Failed)
        {
            tc.Add(Failure("failure", message, "drift", body.ToString()));
        }
        else
        {
            tc.Add(new XElement("system-out", Clean($"{Status(change.Status)}: {body}")));
        }
        return tc;
    }

    private static string Narrative(StageResult r)
    {
        var sb = new StringBuilder()
            .AppendLine($"stage {r.Environment} {r.PatchId} ({r.PatchTitle}) digest {r.PatchDigest}: {(r.Verdict == StageVerdict.Pass ? "PASS" : "FAIL")}");
        foreach (var reason in r.Reasons)
        {
            sb.AppendLine($"reason [{reason.Step}] {reason.Subject}: {reason.Evidence}");
        }
        foreach (var w in r.Warnings)
        {
            sb.AppendLine($"warning [{w.Step}] {w.Subject}: {w.Evidence}");
        }
        return sb.ToString();
    }

    private sealed class Utf8StringWriter(StringBuilder sb) : StringWriter(sb, Inv)
    {
        public override Encoding Encoding => Encoding.UTF8;
    }
}
