using Stageproof.Core.Configuration;
using Stageproof.Core.Manifests;
using Stageproof.Hosts.Facts;
using Stageproof.Testing;

namespace Stageproof.Bench;

/// <summary>Stageproof's own time once a host's facts script has answered: parsing, masking, canonical digest.</summary>
public sealed class FactsSuite : IBenchmarkSuite
{
    private const int Packages = 1000;
    private const int Files = 200;
    private readonly string _output = FactsSamples.ScriptOutput(Packages, Files);
    private readonly HostConfig _host = new() { Name = "bench-1", Address = "127.0.10.11", Role = "app" };
    private readonly DriftRules _rules = new();

    public string Name => "facts";
    public string Description => "FactsParser.Parse + ManifestJson.Digest of a facts answer with 1,000 packages and 200 files";

    public IEnumerable<string> Describe()
    {
        yield return $"Workload: one facts-script answer of {_output.Length / 1024} KiB: {Packages} packages, {Files} tracked files " +
                     "(base64 content, a secret line each to mask), services, /proc/net/tcp.";
    }

    public IEnumerable<Measurement> Run(BenchOptions options)
    {
        yield return Measurement.Of("FactsParser.Parse", options, () => FactsParser.Parse(_output, _host, _rules, "prod"), "sections, base64, masking");
        yield return Measurement.Of("Parse + Digest", options,
            () => ManifestJson.Digest(FactsParser.Parse(_output, _host, _rules, "prod")), "what facts does per host after the answer");
    }
}
