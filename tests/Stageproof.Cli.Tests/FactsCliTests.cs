using System.Text.Json;
using System.Text.RegularExpressions;
using Stageproof.Core;

namespace Stageproof.Cli.Tests;

/// <summary><c>facts</c> and <c>drift --stored</c> on a host reached with <c>transport: local</c> (this machine): the
/// application layer collects, the CLI narrates each target as it arrives and prints its tables or one JSON document.</summary>
public class FactsCliTests
{
    private const string Config = "hosts:\n  web-1: { transport: local }\n  web-2: { transport: local }\nenvironments:\n  prod: { hosts: [web-1] }\n  staging: { hosts: [web-2] }\n";

    [Fact]
    public async Task Facts_narrates_each_host_as_it_arrives_then_tables_it_and_json_keeps_stdout_one_document()
    {
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", Config);
        var human = await CliRun.InAsync(scratch.Dir, "facts", "prod");
        Assert.True(human.ExitCode == ExitCodes.Ok, human.ToString());
        Assert.Matches(new Regex(@"^\[1/1\] web-1: \d+ packages, \d+ files, [\d.]+s \([\d.]+s\)$", RegexOptions.Multiline), human.Stdout);
        Assert.Contains("upgrades (security)", human.Stdout, StringComparison.Ordinal);

        var json = await CliRun.InAsync(scratch.Dir, "--json", "facts", "staging");
        Assert.True(json.ExitCode == ExitCodes.Ok, json.ToString());
        Assert.Contains("[1/1] web-2: ", json.Stderr, StringComparison.Ordinal);
        var manifest = json.Json.GetProperty("manifests").EnumerateArray().Single();
        Assert.Equal(64, manifest.GetProperty("digest").GetString()!.Length);
        Assert.Equal("web-2", manifest.GetProperty("manifest").GetProperty("target").GetString());
        Assert.Equal("staging", manifest.GetProperty("manifest").GetProperty("environment").GetString());
        Assert.Equal(0, json.Json.GetProperty("failures").GetArrayLength());

        // Both recorded: drift from the stored manifests compares this machine with itself, and says so in one document.
        // Not necessarily equal: between the two collections other work on the machine may open or close a port.
        var drift = await CliRun.InAsync(scratch.Dir, "--json", "drift", "prod", "staging", "--stored");
        Assert.True(drift.ExitCode is ExitCodes.Ok or ExitCodes.Finding, drift.ToString());
        Assert.Equal("prod (stored)", drift.Json.GetProperty("left").GetString());
        Assert.Equal("staging (stored)", drift.Json.GetProperty("right").GetString());
        Assert.InRange(drift.Json.GetProperty("fidelity").GetDouble(), 0.9, 1.0);
        Assert.Equal(drift.ExitCode == ExitCodes.Finding, drift.Json.GetProperty("failed").GetBoolean());
        Assert.Equal(JsonValueKind.Object, drift.Json.GetProperty("drift").ValueKind);
    }
}
