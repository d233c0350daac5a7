using Stageproof.Lab.Internal;

namespace Stageproof.Lab.Tests;

/// <summary>The lab's cache of built and downloaded packages (no lab needed: a temporary directory stands for it).</summary>
public sealed class CachedDirectoryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stageproof-cache-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static bool Complete(string cache) => File.Exists(Path.Combine(cache, "done.deb"));

    [Fact]
    public async Task Labs_coming_up_together_fill_the_cache_once_and_every_one_gets_the_filled_copy()
    {
        var cache = Path.Combine(_dir, "acme-mail-debs-0123456789ab");
        var fills = 0;
        var firstFilling = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task Fill(string tmp)
        {
            Interlocked.Increment(ref fills);
            firstFilling.TrySetResult();
            await release.Task;
            await File.WriteAllTextAsync(Path.Combine(tmp, "done.deb"), "built once");
        }

        var first = CachedDirectory.EnsureAsync(cache, Complete, Fill, CancellationToken.None);
        await firstFilling.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var others = Enumerable.Range(0, 3).Select(_ => CachedDirectory.EnsureAsync(cache, Complete, Fill, CancellationToken.None)).ToList();
        Assert.All(others, o => Assert.False(o.IsCompleted)); // they wait for the lock rather than return at once
        release.SetResult();
        await Task.WhenAll(others.Prepend(first)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, fills);
        Assert.Equal("built once", await File.ReadAllTextAsync(Path.Combine(cache, "done.deb")));
        Assert.DoesNotContain(Directory.GetDirectories(_dir), d => d.Contains(".partial-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_fill_that_fails_leaves_nothing_behind_and_the_next_lab_fills_it()
    {
        var cache = Path.Combine(_dir, "nginx-debs-bookworm");
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => CachedDirectory.EnsureAsync(cache, Complete, async tmp =>
        {
            await File.WriteAllTextAsync(Path.Combine(tmp, "half.deb"), "");
            throw new InvalidOperationException("apt-get download failed");
        }, CancellationToken.None));

        Assert.Equal("apt-get download failed", failed.Message);
        Assert.False(Directory.Exists(cache));
        Assert.DoesNotContain(Directory.GetDirectories(_dir), d => d.Contains(".partial-", StringComparison.Ordinal));
        await CachedDirectory.EnsureAsync(cache, Complete, tmp => File.WriteAllTextAsync(Path.Combine(tmp, "done.deb"), "second try"),
            CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("second try", await File.ReadAllTextAsync(Path.Combine(cache, "done.deb")));
    }
}
