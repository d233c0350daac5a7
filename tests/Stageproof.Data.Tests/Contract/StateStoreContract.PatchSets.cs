using Stageproof.Core.Patches;
using Stageproof.Core.State;
using Stageproof.Core;

namespace Stageproof.Data.Tests.Contract;

public abstract partial class StateStoreContract
{
    private static FrozenPatchSet Set(string version) => PatchSetFreezer.FromSet(new PatchSet
    {
        Id = "ACME-1",
        Title = "acme-mail update",
        Reason = "fix",
        Severity = PatchSeverity.High,
        Author = "alice",
        Packages = [new PatchPackage("acme-mail", version)],
    });

    [SkippableFact]
    public async Task A_saved_patch_set_is_found_by_prefix_saving_again_is_a_no_op_and_rows_cannot_be_updated()
    {
        await using var store = await OpenAsync();
        var frozen = Set("1.1-1");
        Assert.True(await store.SavePatchSetAsync(frozen));
        Clock.Advance(TimeSpan.FromHours(1));
        Assert.False(await store.SavePatchSetAsync(frozen));

        var found = await store.FindPatchSetAsync(frozen.Digest[..8].ToUpperInvariant());
        Assert.NotNull(found);
        Assert.Equal(frozen.Json, found.Frozen.Json);
        Assert.Equal(FakeClock.Start, found.FrozenAt);
        Assert.Null(await store.FindPatchSetAsync("not-hex"));
        Assert.Single(await store.ListPatchSetsAsync());

        await Assert.ThrowsAnyAsync<Exception>(() => ExecuteRawAsync("UPDATE patch_sets SET title = 'x'"));
    }

    [SkippableFact]
    public async Task An_ambiguous_prefix_names_the_matches()
    {
        await using var store = await OpenAsync();
        var byFirst = new Dictionary<char, FrozenPatchSet>();
        FrozenPatchSet? a = null, b = null;
        for (var i = 0; a is null; i++)
        {
            var frozen = Set($"1.{i}-1");
            if (byFirst.TryGetValue(frozen.Digest[0], out var other))
            {
                (a, b) = (other, frozen);
            }
            byFirst[frozen.Digest[0]] = frozen;
        }
        await store.SavePatchSetAsync(a);
        await store.SavePatchSetAsync(b!);
        var e = await Assert.ThrowsAsync<InputException>(() => store.FindPatchSetAsync(a.Digest[..1]));
        Assert.Contains(a.Digest[..16], e.Message);
        Assert.Contains(b!.Digest[..16], e.Message);
    }

    [SkippableFact]
    public async Task A_stored_set_altered_in_the_database_is_refused()
    {
        await using var store = await OpenAsync();
        var frozen = Set("1.1-1");
        await store.SavePatchSetAsync(frozen);
        await ExecuteRawAsync(DropPatchSetGuardSql);
        await ExecuteRawAsync("UPDATE patch_sets SET json = replace(json, '1.1-1', '1.1-9')");
        var e = await Assert.ThrowsAsync<InputException>(() => store.FindPatchSetAsync(frozen.Digest));
        Assert.Contains("altered", e.Message);
    }
}
