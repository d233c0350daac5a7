using Stageproof.Core.Manifests;
using Stageproof.Data;

namespace Stageproof.Server.Tests;

/// <summary>
/// The server estate on 127.0.16.1 with recorded facts: both hosts (<c>transport: local</c>, so this machine) collected by
/// the real <c>stageproof facts</c>, then a later manifest of stage-1 in which one package is at another version, as a
/// staging host that was patched and production not yet; and carol with a console password.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FactsEstate() : ServerEstate(TestLoopback.Url("127.0.16.1"))
{
    public const string Password = "a console password of some length";
    public const string DriftedPackage = "stageproof-test-drift";

    protected override async Task PrepareAsync()
    {
        await CliAsync("facts", "staging", "prod");
        await using var store = await SqliteStateStore.OpenKeyedAsync(StatePath, TimeProvider.System);
        var stage = (await store.LatestManifestAsync("stage-1")) ?? throw new InvalidOperationException("facts stored no manifest of stage-1");
        await store.SaveManifestAsync(stage.Manifest with
        {
            // Later than the collected one, yet already past when any test reads it: the CLI asks for the latest at or
            // before its own now (the server's clock runs a minute ahead).
            CollectedAt = stage.Manifest.CollectedAt.AddMilliseconds(1),
            Packages = [.. stage.Manifest.Packages, new PackageInfo(DriftedPackage, "2.0-1", "all")],
        });
        var file = Path.Combine(Dir, "password");
        await File.WriteAllTextAsync(file, Password);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await CliAsync("user", "password", "carol", "--password-file", file);
    }
}
