namespace Stageproof.Lab.Internal;

/// <summary>A directory of the cache that is filled once (packages built or downloaded) and reused by every later lab.</summary>
internal static class CachedDirectory
{
    /// <summary>
    /// Fills <paramref name="cache"/> with <paramref name="fill"/> unless <paramref name="isComplete"/> says it already
    /// holds everything. Filled in a directory of its own, then moved into place: two labs filling it at once never write
    /// into, or delete, each other's, and the one that finishes second uses the first one's.
    /// </summary>
    public static async Task EnsureAsync(string cache, Func<string, bool> isComplete, Func<string, Task> fill)
    {
        if (isComplete(cache))
        {
            return;
        }
        var tmp = $"{cache}.partial-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.CreateDirectory(tmp);
        try
        {
            await fill(tmp).ConfigureAwait(false);
            if (Directory.Exists(cache) && !isComplete(cache))
            {
                Directory.Delete(cache, recursive: true);
            }
            try
            {
                Directory.Move(tmp, cache);
            }
            catch (IOException) when (isComplete(cache))
            {
                // Another lab filled it first: use its copy.
            }
        }
        finally
        {
            if (Directory.Exists(tmp))
            {
                Directory.Delete(tmp, recursive: true);
            }
        }
    }
}
