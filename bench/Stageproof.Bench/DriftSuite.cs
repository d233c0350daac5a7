using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Manifests;

namespace Stageproof.Bench;

/// <summary>Manifest serialisation, digest and drift comparison on two realistic-size host manifests.</summary>
public sealed class DriftSuite : IBenchmarkSuite
{
    public const int PackageCount = 1000;
    public const int FileCount = 200;
    public const int LinesPerFile = 180;

    private readonly Manifest _left;
    private readonly Manifest _right;
    private readonly DriftRules _rules = new() { Ignore = ["package:linux-image-*", "file:/etc/hostname"] };

    public DriftSuite()
    {
        _left = Synthetic("prod-app-1", "127.0.10.11");
        _right = WithDifferences(Synthetic("stage-app-1", "127.0.30.11"));
    }

    public string Name => "drift";
    public string Description => "ManifestJson.Serialize/Digest and DriftEngine.Compare on 1,000 packages and 200 files";

    public IEnumerable<string> Describe()
    {
        var json = ManifestJson.Serialize(_left);
        var drift = DriftEngine.Compare(_left, _right, _rules);
        yield return $"Workload: two host manifests, {PackageCount} packages, {FileCount} tracked files of {_left.Files[0].Size} bytes " +
                     $"({_left.Files.Sum(f => f.Size) / 1024} KiB of content), {_left.Services.Count} services, {_left.Ports.Count} ports; " +
                     $"canonical JSON {json.Length / 1024} KiB.";
        yield return $"Differences planted: 3 package versions, 1 package missing, 2 file contents, 1 file mode, 1 service, 1 port. " +
                     $"Compare finds {drift.Items.Count} items ({string.Join(", ", drift.Categories.Select(c => $"{c.Items} {c.Category.Code()}"))}), " +
                     $"fidelity {drift.Fidelity.ToString("0.0000", CultureInfo.InvariantCulture)}.";
    }

    public IEnumerable<Measurement> Run(BenchOptions options)
    {
        var json = ManifestJson.Serialize(_left);
        yield return Measurement.Of("ManifestJson.Serialize", options, () => ManifestJson.Serialize(_left), "normalise + compact JSON");
        yield return Measurement.Of("ManifestJson.Deserialize", options, () => ManifestJson.Deserialize(json));
        yield return Measurement.Of("ManifestJson.Digest", options, () => ManifestJson.Digest(_left), "normalise + JSON + SHA-256");
        yield return Measurement.Of("DriftEngine.Compare", options, () => DriftEngine.Compare(_left, _right, _rules), "9 items, 2 unified diffs");
        yield return Measurement.Of("DriftEngine.Compare (identical)", options, () => DriftEngine.Compare(_left, _left, _rules), "no items");
    }

    /// <summary>A deterministic host manifest: the same inputs always give the same manifest.</summary>
    public static Manifest Synthetic(string target, string address) => new()
    {
        Target = target,
        Environment = target.StartsWith("prod", StringComparison.Ordinal) ? "prod" : "staging",
        Role = "app",
        CollectedAt = new DateTimeOffset(2026, 11, 1, 9, 0, 0, TimeSpan.Zero),
        Os = new OsInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "6.1.0-26-amd64", "amd64"),
        Packages = Enumerable.Range(0, PackageCount)
            .Select(i => new PackageInfo($"lib-package-{i:0000}", $"{i % 7 + 1}.{i % 13}.{i % 5}-{i % 3 + 1}+deb12u{i % 4}", i % 10 == 0 ? "all" : "amd64"))
            .ToList(),
        PendingUpgrades = Enumerable.Range(0, 20)
            .Select(i => new PendingUpgrade($"lib-package-{i * 37:0000}", "1.0-1", "1.0-2", "Debian-Security", i % 2 == 0))
            .ToList(),
        Files = Enumerable.Range(0, FileCount).Select(i => File($"/etc/app/conf.d/{i:000}-settings.conf", Content(i))).ToList(),
        Services = Enumerable.Range(0, 40).Select(i => new ServiceInfo($"service-{i:00}", i % 5 != 0, "systemd")).ToList(),
        Ports = Enumerable.Range(0, 15).Select(i => new ListeningPort(i % 4 == 0 ? "udp" : "tcp", i % 2 == 0 ? "0.0.0.0" : address, 8000 + i)).ToList(),
    };

    private static Manifest WithDifferences(Manifest m) => m with
    {
        Packages = m.Packages
            .Where(p => p.Name != "lib-package-0500")
            .Select(p => p.Name is "lib-package-0010" or "lib-package-0400" or "lib-package-0990" ? p with { Version = p.Version + ".1" } : p)
            .ToList(),
        Files = m.Files
            .Select((f, i) => i switch
            {
                3 => File(f.Path, Content(i).Replace("key_050 = value-3-50", "key_050 = changed", StringComparison.Ordinal)),
                150 => File(f.Path, Content(i) + "extra_setting = on\n"),
                77 => f with { Mode = "0600" },
                _ => f,
            })
            .ToList(),
        Services = m.Services.Select(s => s.Name == "service-07" ? s with { Running = false } : s).ToList(),
        Ports = m.Ports.Where(p => p.Port != 8003).ToList(),
    };

    /// <summary>About 4 KB of "key = value" lines with a comment header.</summary>
    private static string Content(int file)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# settings file {file}, managed by configuration management\n");
        for (var line = 0; line < LinesPerFile; line++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"key_{line:000} = value-{file}-{line}\n");
        }
        return sb.ToString();
    }

    private static ConfigFileInfo File(string path, string content)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        return new ConfigFileInfo(path, "root", "root", "0644", Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.Length, content);
    }
}
