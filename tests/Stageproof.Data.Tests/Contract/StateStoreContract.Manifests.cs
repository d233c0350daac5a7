using Stageproof.Core.Manifests;
using Stageproof.Core.State;
using Stageproof.Core;

namespace Stageproof.Data.Tests.Contract;

public abstract partial class StateStoreContract
{
    private static Manifest HostManifest(string target, DateTimeOffset at, string acmeMailVersion = "1.0-1") => new()
    {
        Target = target,
        Environment = "prod",
        Role = "app",
        CollectedAt = at,
        Os = new OsInfo("debian", "12", "Debian GNU/Linux 12 (bookworm)", "6.1.0-13-amd64", "amd64"),
        Packages = [new PackageInfo("openssl", "3.0.11-1", "amd64"), new PackageInfo("acme-mail", acmeMailVersion, "all")],
        Files = [new ConfigFileInfo("/etc/acme-mail/main.conf", "root", "root", "0644", new string('c', 64), 42, "listen = 0.0.0.0:2525\n")],
        Services = [new ServiceInfo("acme-mail", true, "sysv")],
        Ports = [new ListeningPort("tcp", "0.0.0.0", 2525)],
    };

    [SkippableFact]
    public async Task A_saved_manifest_is_found_again_by_its_full_digest_with_the_same_content()
    {
        await using var store = await OpenAsync();
        var manifest = HostManifest("prod-app-1", FakeClock.Start);

        var digest = await store.SaveManifestAsync(manifest);
        var found = await store.FindManifestAsync(digest);

        Assert.NotNull(found);
        Assert.Equal(digest, found.Digest);
        Assert.Equal(ManifestJson.Digest(manifest), digest);
        Assert.Equal(ManifestJson.Serialize(manifest), ManifestJson.Serialize(found.Manifest));
        Assert.Equal(FakeClock.Start, found.Manifest.CollectedAt);
    }

    [SkippableFact]
    public async Task Saving_the_same_manifest_twice_stores_it_once()
    {
        await using var store = await OpenAsync();
        var manifest = HostManifest("prod-app-1", FakeClock.Start);

        var first = await store.SaveManifestAsync(manifest);
        var second = await store.SaveManifestAsync(manifest);

        Assert.Equal(first, second);
        Assert.Single(await store.ListManifestsAsync());
    }

    [SkippableFact]
    public async Task The_same_state_collected_twice_keeps_both_collections_under_one_digest()
    {
        await using var store = await OpenAsync();
        var earlier = await store.SaveManifestAsync(HostManifest("prod-app-1", FakeClock.Start));
        var later = await store.SaveManifestAsync(HostManifest("prod-app-1", FakeClock.Start.AddHours(1)));

        Assert.Equal(earlier, later);
        Assert.Equal(2, (await store.ListManifestsAsync("prod-app-1")).Count);
        Assert.Equal(FakeClock.Start.AddHours(1), (await store.FindManifestAsync(earlier))!.Manifest.CollectedAt);
    }

    [SkippableFact]
    public async Task A_unique_digest_prefix_finds_its_manifest_in_either_case()
    {
        await using var store = await OpenAsync();
        var digest = await store.SaveManifestAsync(HostManifest("prod-app-1", FakeClock.Start));
        await store.SaveManifestAsync(HostManifest("prod-app-2", FakeClock.Start));

        var found = await store.FindManifestAsync(digest[..12].ToUpperInvariant());

        Assert.Equal(digest, found?.Digest);
        Assert.Equal("prod-app-1", found?.Manifest.Target);
    }

    [SkippableFact]
    public async Task An_ambiguous_digest_prefix_is_an_input_error_naming_every_match()
    {
        await using var store = await OpenAsync();
        // Seventeen different states: two of them must share a first hex digit.
        var digests = new List<(string Digest, string Target)>();
        for (var i = 0; i < 17; i++)
        {
            var target = $"prod-app-{i}";
            digests.Add((await store.SaveManifestAsync(HostManifest(target, FakeClock.Start)), target));
        }
        var shared = digests.GroupBy(d => d.Digest[..1]).First(g => g.Count() > 1);

        var error = await Assert.ThrowsAsync<InputException>(() => store.FindManifestAsync(shared.Key));

        Assert.Equal(ExitCodes.BadInput, error.ExitCode);
        Assert.Contains($"'{shared.Key}' is ambiguous", error.Message, StringComparison.Ordinal);
        foreach (var (digest, target) in shared)
        {
            Assert.Contains(digest[..16], error.Message, StringComparison.Ordinal);
            Assert.Contains(target, error.Message, StringComparison.Ordinal);
        }
    }

    [SkippableTheory]
    [InlineData("")]
    [InlineData("prod-app-1")]
    [InlineData("0000000000000000")]
    public async Task A_prefix_that_matches_nothing_finds_nothing(string prefix)
    {
        await using var store = await OpenAsync();
        await store.SaveManifestAsync(HostManifest("prod-app-1", FakeClock.Start));

        Assert.Null(await store.FindManifestAsync(prefix));
    }

    [SkippableFact]
    public async Task The_latest_manifest_is_the_newest_collected_at_or_before_the_time_asked()
    {
        await using var store = await OpenAsync();
        var t0 = FakeClock.Start;
        await store.SaveManifestAsync(HostManifest("prod-app-1", t0, "1.0-1"));
        await store.SaveManifestAsync(HostManifest("prod-app-1", t0.AddHours(1), "1.1-1"));
        await store.SaveManifestAsync(HostManifest("prod-app-1", t0.AddHours(2), "1.2-1"));
        await store.SaveManifestAsync(HostManifest("prod-app-2", t0.AddHours(3), "9.9-1"));

        string? AcmeMail(StoredManifest? m) => m?.Manifest.Packages.Single(p => p.Name == "acme-mail").Version;

        Assert.Null(await store.LatestManifestAsync("prod-app-1", t0.AddSeconds(-1)));
        Assert.Equal("1.0-1", AcmeMail(await store.LatestManifestAsync("prod-app-1", t0)));
        Assert.Equal("1.1-1", AcmeMail(await store.LatestManifestAsync("prod-app-1", t0.AddHours(1).AddMinutes(59))));
        Assert.Equal("1.2-1", AcmeMail(await store.LatestManifestAsync("prod-app-1", t0.AddDays(1))));
    }

    [SkippableFact]
    public async Task The_latest_manifest_without_a_time_is_the_newest_up_to_now_on_the_injected_clock()
    {
        await using var store = await OpenAsync();
        var now = Clock.GetUtcNow();
        await store.SaveManifestAsync(HostManifest("prod-app-1", now.AddMinutes(-5), "1.0-1"));
        await store.SaveManifestAsync(HostManifest("prod-app-1", now.AddMinutes(5), "1.1-1"));

        Assert.Equal(now.AddMinutes(-5), (await store.LatestManifestAsync("prod-app-1"))?.Manifest.CollectedAt);
        Clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(now.AddMinutes(5), (await store.LatestManifestAsync("prod-app-1"))?.Manifest.CollectedAt);
    }

    [SkippableFact]
    public async Task Times_in_other_offsets_are_compared_as_instants()
    {
        await using var store = await OpenAsync();
        var inBerlin = new DateTimeOffset(2026, 11, 23, 11, 30, 0, TimeSpan.FromHours(1)); // 10:30Z
        await store.SaveManifestAsync(HostManifest("prod-app-1", inBerlin));

        Assert.Null(await store.LatestManifestAsync("prod-app-1", FakeClock.Start.AddMinutes(29)));
        Assert.NotNull(await store.LatestManifestAsync("prod-app-1", FakeClock.Start.AddMinutes(30)));
    }

    [SkippableFact]
    public async Task Listing_manifests_returns_them_oldest_first_and_filters_by_target()
    {
        await using var store = await OpenAsync();
        await store.SaveManifestAsync(HostManifest("prod-app-2", FakeClock.Start.AddHours(2)));
        await store.SaveManifestAsync(HostManifest("prod-app-1", FakeClock.Start));
        await store.SaveManifestAsync(HostManifest("prod-app-1", FakeClock.Start.AddHours(1), "1.1-1"));

        var all = await store.ListManifestsAsync();
        var one = await store.ListManifestsAsync("prod-app-1");

        Assert.Equal(["prod-app-1", "prod-app-1", "prod-app-2"], all.Select(m => m.Manifest.Target));
        Assert.Equal(2, one.Count);
        Assert.All(one, m => Assert.Equal("prod-app-1", m.Manifest.Target));
    }

    [SkippableFact]
    public async Task Manifests_survive_closing_and_reopening_the_state_directory()
    {
        string digest;
        await using (var store = await OpenAsync())
        {
            digest = await store.SaveManifestAsync(HostManifest("prod-app-1", FakeClock.Start));
        }

        await using var reopened = await OpenAsync();

        Assert.Equal(digest, (await reopened.FindManifestAsync(digest))?.Digest);
    }
}
