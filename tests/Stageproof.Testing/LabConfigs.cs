namespace Stageproof.Testing;

/// <summary>Variants of a lab's stageproof.yaml for tests whose stages are not the subject.</summary>
public static class LabConfigs
{
    /// <summary>
    /// The configuration with the suite's load checks (mail-load, login-load: each a line and its requests line) left
    /// out: for a stage that is there to give the gate a PASS, not to measure latency. What a load check catches is
    /// the stage lab tests' (against a control twin) and the mail estate's (against its noise floor).
    /// </summary>
    public static string WithoutLoadChecks(string yaml)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var lines = new List<string>();
        var skipNext = false;
        foreach (var line in yaml.Split('\n'))
        {
            var load = line.StartsWith("    - { name: mail-load", StringComparison.Ordinal) || line.StartsWith("    - { name: login-load", StringComparison.Ordinal);
            if (!load && !skipNext)
            {
                lines.Add(line);
            }
            skipNext = load;
        }
        var light = string.Join('\n', lines);
        Assert.DoesNotContain("type: load", light, StringComparison.Ordinal);
        return light;
    }
}
