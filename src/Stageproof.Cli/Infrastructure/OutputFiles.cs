using Stageproof.Core;

namespace Stageproof.Cli.Infrastructure;

/// <summary>
/// Files a verb writes for people (reports, exports, drafts): checked before a long run starts, so a typo in
/// <c>--html</c> is exit 2 in a second rather than a lost verdict after ten minutes; written to a temporary file
/// beside the target and then renamed, so a reader never sees half a report.
/// </summary>
internal static class OutputFiles
{
    /// <summary>Refuses (exit 2) a path whose folder is missing or not writable, or that names a folder.</summary>
    public static string Check(string path, string option)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full) ?? "/";
        if (Directory.Exists(full))
        {
            throw new InputException($"{option}: {full} is a folder, not a file");
        }
        if (!Directory.Exists(folder))
        {
            throw new InputException($"{option}: folder {folder} does not exist");
        }
        var probe = Path.Combine(folder, $".stageproof-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new InputException($"{option}: cannot write in {folder} ({e.Message})");
        }
        return full;
    }

    /// <summary>Writes <paramref name="content"/> to a temporary file beside <paramref name="path"/>, then renames it.</summary>
    public static Task WriteAsync(string path, string content, CancellationToken ct) =>
        WriteAsync(path, writer => writer.WriteAsync(content.AsMemory(), ct));

    /// <summary>Streams into a temporary file beside <paramref name="path"/>, then renames it.</summary>
    public static async Task WriteAsync(string path, Func<TextWriter, Task> write)
    {
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full) ?? "/", $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var writer = new StreamWriter(temp);
            await using (writer.ConfigureAwait(false))
            {
                await write(writer).ConfigureAwait(false);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
