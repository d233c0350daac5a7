namespace Stageproof.Lab.Internal;

/// <summary>A directory of the cache that is filled once (packages built or downloaded) and reused by every later lab.</summary>
internal static class CachedDirectory
{
    /// <summary>
    /// Fills <paramref name="cache"/> with <paramref name="fill"/> unless <paramref name="isComplete"/> says it already
    /// holds everything. One filler at a time (an exclusive lock on CACHE.lock, within and across processes): labs
    /// coming up together wait for the first one's packages instead of each building their own (on a fresh machine four
    /// labs once built acme-mail's packages four times at once, 7-8 minutes of lab up each). Filled in a directory of its
    /// own, then moved into place, so a filler killed midway leaves nothing a later lab would take for complete.
    /// </summary>
    public static async Task EnsureAsync(string cache, Func<string, bool> isComplete, Func<string, Task> fill, CancellationToken ct)
    {
        if (isComplete(cache))
        {
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(cache))!);
        await using var lockFile = await LockAsync(cache + ".lock", ct).ConfigureAwait(false);
        if (isComplete(cache))
        {
            return;
        }
        var tmp = $"{cache}.partial-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.CreateDirectory(tmp);
        try
        {
            await fill(tmp).ConfigureAwait(false);
            if (Directory.Exists(cache))
            {
                Directory.Delete(cache, recursive: true);
            }
            Directory.Move(tmp, cache);
        }
        finally
        {
            if (Directory.Exists(tmp))
            {
                Directory.Delete(tmp, recursive: true);
            }
        }
    }

    /// <summary>An exclusive lock on <paramref name="path"/> (.NET takes it with flock, so it also holds between two
    /// streams of one process), waited for up to 30 minutes: the longest fill, debootstrap, takes a few.</summary>
    public static async Task<FileStream> LockAsync(string path, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(30);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(500, ct).ConfigureAwait(false);
            }
        }
    }
}
