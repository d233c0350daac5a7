using System.Text.Json;
using Stageproof.Core;
using Stageproof.Core.Audit;

namespace Stageproof.Data.Internal;

/// <summary>
/// The audit head beside the database: count and last hash, replaced atomically (temp file, fsync, rename) so a
/// reader sees the old head or the new one, never half of one.
/// </summary>
internal static class AuditHeadFile
{
    public const string FileName = "audit.head";

    private static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static async Task<AuditHead?> ReadAsync(string path, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        try
        {
            var head = JsonSerializer.Deserialize<AuditHead>(text, Options);
            if (head is null || head.Count < 0 || head.LastHash is not { Length: 64 })
            {
                throw new JsonException("count or lastHash missing or invalid");
            }
            return head;
        }
        catch (JsonException ex)
        {
            throw new InputException($"{path}: not a valid audit head ({ex.Message}); it may have been tampered with");
        }
    }

    public static async Task WriteAsync(string path, AuditHead head, CancellationToken cancellationToken)
    {
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous);
            await using (stream.ConfigureAwait(false))
            {
                await JsonSerializer.SerializeAsync(stream, head, Options, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            PrivateFiles.Restrict(temp);
            File.Move(temp, path, overwrite: true);
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
