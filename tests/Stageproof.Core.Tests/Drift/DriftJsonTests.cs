using System.Text.Json;
using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Manifests;

namespace Stageproof.Core.Tests.Drift;

public class DriftJsonTests
{
    private static EnvironmentDrift Sample()
    {
        Manifest[] prod = [Samples.Host("prod-app-1"), Samples.Host("prod-db-1", role: "db")];
        Manifest[] staging = [Samples.Host("stage-app-1").WithPackage("pkg-01", null)];
        return DriftEngine.CompareEnvironments("prod", prod, "staging", staging, new DriftRules());
    }

    [Fact]
    public void Codes_serialise_as_kebab_case_with_the_manifest_options()
    {
        var json = JsonSerializer.Serialize(Sample(), ManifestJson.Options);

        Assert.Contains("\"category\":\"package-missing\"", json, StringComparison.Ordinal);
        Assert.Contains("\"category\":\"host-missing\"", json, StringComparison.Ordinal);
        Assert.Contains("\"severity\":\"high\"", json, StringComparison.Ordinal);
        Assert.Contains("\"missingOn\":\"right\"", json, StringComparison.Ordinal);
        Assert.Contains("\"family\":\"package\"", json, StringComparison.Ordinal);
        Assert.Contains("\"fidelity\":", json, StringComparison.Ordinal);
        Assert.Contains("\"hosts\":[{\"role\":\"app\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Codes_serialise_as_kebab_case_with_default_options()
    {
        var json = JsonSerializer.Serialize(Sample());

        Assert.Contains("\"Category\":\"package-missing\"", json, StringComparison.Ordinal);
        Assert.Contains("\"Severity\":\"high\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Host_drift_round_trips()
    {
        var drift = Sample().Hosts[0].Drift;

        var back = JsonSerializer.Deserialize<HostDrift>(JsonSerializer.Serialize(drift, ManifestJson.Options), ManifestJson.Options)!;

        Assert.Equal(drift.Items, back.Items);
        Assert.Equal(drift.Families, back.Families);
        Assert.Equal(drift.Fidelity, back.Fidelity);
    }

    [Fact]
    public void Environment_drift_round_trips()
    {
        var drift = Sample();

        var back = JsonSerializer.Deserialize<EnvironmentDrift>(JsonSerializer.Serialize(drift, ManifestJson.Options), ManifestJson.Options)!;

        Assert.Equal(drift.Items, back.Items);
        Assert.Equal(drift.Hosts.Select(h => (h.Role, h.Left, h.Right)), back.Hosts.Select(h => (h.Role, h.Left, h.Right)));
        Assert.Equal(drift.Hosts[0].Drift.Items, back.Hosts[0].Drift.Items);
        Assert.Equal(drift.Fidelity, back.Fidelity);
    }
}
