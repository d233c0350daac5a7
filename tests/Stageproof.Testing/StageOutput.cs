using System.Text.Json;
using System.Text.Json.Nodes;

namespace Stageproof.Testing;

/// <summary>A stage's <c>--json</c> output as a failed assertion shows it.</summary>
public static class StageOutput
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// The output with every load run's per-request samples replaced by their count: a stage of the mail estate carries
    /// tens of thousands, and one failed assertion printed them all (60 MB of CI log around the one line that mattered).
    /// Anything that is not JSON comes back as it is.
    /// </summary>
    /// <summary>Fails, showing the <see cref="Readable"/> output, unless the stage exited with <paramref name="expected"/>;
    /// the output is parsed only then (a passing stage's is megabytes).</summary>
    public static void AssertExit(int expected, int actual, string stdout, string stderr = "")
    {
        if (actual != expected)
        {
            Assert.Fail($"exit {actual}, expected {expected}:\n{stderr}{Readable(stdout)}");
        }
    }

    public static string Readable(string stdout)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(stdout);
        }
        catch (JsonException)
        {
            return stdout;
        }
        if (root is null)
        {
            return stdout;
        }
        DropSamples(root);
        return root.ToJsonString(Indented);
    }

    private static void DropSamples(JsonNode node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, value) in obj.ToList())
                {
                    if (name == "samples" && value is JsonArray samples)
                    {
                        obj[name] = $"{samples.Count} samples left out";
                    }
                    else if (value is not null)
                    {
                        DropSamples(value);
                    }
                }
                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    if (item is not null)
                    {
                        DropSamples(item);
                    }
                }
                break;
        }
    }
}
