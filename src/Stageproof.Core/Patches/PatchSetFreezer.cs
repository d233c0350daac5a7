using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Stageproof.Core.Configuration.Internal;

namespace Stageproof.Core.Patches;

/// <summary>
/// Freezes a patch set: every referenced file (file sources, migration SQL, down scripts) is read into the set, the set is
/// serialised canonically, and the SHA-256 of that JSON is its digest. Same content, same digest; any edit, another.
/// </summary>
public static class PatchSetFreezer
{
    private const long MaxReferencedFileBytes = 16 * 1024 * 1024;

    /// <summary>All the files one set embeds, together.</summary>
    private const long MaxReferencedSetBytes = 64 * 1024 * 1024;

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = false,
    };

    /// <summary>Loads, validates and freezes the patch set file at <paramref name="path"/>.</summary>
    /// <exception cref="InputException">A problem in the file, or a referenced file that is missing or unreadable (located).</exception>
    public static FrozenPatchSet Freeze(string path)
    {
        var loaded = PatchSetLoader.LoadWithReferences(path);
        var directory = Path.GetDirectoryName(loaded.FilePath)!;
        var contents = new Dictionary<string, string>(StringComparer.Ordinal);
        var problems = new ProblemList();
        var realDirectory = Validation.InputFiles.RealPath(directory);
        long total = 0;
        foreach (var reference in loaded.References)
        {
            if (contents.ContainsKey(reference.RelativePath))
            {
                continue;
            }
            var full = Path.GetFullPath(Path.Combine(directory, reference.RelativePath));
            try
            {
                var info = new FileInfo(full);
                if (!info.Exists && info.LinkTarget is null && !Directory.Exists(full))
                {
                    problems.Add(reference.At, $"referenced file '{reference.RelativePath}' does not exist (looked for {full})");
                    continue;
                }
                // Only what lies in the set's own folder: a symbolic link is followed, and must end there.
                var real = Validation.InputFiles.RealPath(full);
                if (!real.StartsWith(realDirectory + "/", StringComparison.Ordinal))
                {
                    problems.Add(reference.At, $"referenced file '{reference.RelativePath}' is a link that leads outside the patch set's folder {realDirectory}");
                    continue;
                }
                var (kind, description) = Validation.InputFiles.KindOf(real);
                if (kind != Validation.InputFiles.Kind.Regular)
                {
                    problems.Add(reference.At, kind == Validation.InputFiles.Kind.Missing
                        ? $"referenced file '{reference.RelativePath}' is a link to nothing"
                        : $"referenced file '{reference.RelativePath}' is {description}, not a regular file");
                    continue;
                }
                info = new FileInfo(real);
                if (info.Length > MaxReferencedFileBytes)
                {
                    problems.Add(reference.At, $"referenced file '{reference.RelativePath}' is larger than {MaxReferencedFileBytes / (1024 * 1024)} MiB");
                    continue;
                }
                total += info.Length;
                if (total > MaxReferencedSetBytes)
                {
                    problems.Add(reference.At, $"referenced file '{reference.RelativePath}' takes the set's embedded files past {MaxReferencedSetBytes / (1024 * 1024)} MiB in all");
                    continue;
                }
                var bytes = File.ReadAllBytes(real);
                string text;
                try
                {
                    text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes);
                }
                catch (DecoderFallbackException)
                {
                    problems.Add(reference.At, $"referenced file '{reference.RelativePath}' is not UTF-8 text");
                    continue;
                }
                if (text.Contains('\0', StringComparison.Ordinal))
                {
                    problems.Add(reference.At, $"referenced file '{reference.RelativePath}' contains a NUL character");
                    continue;
                }
                contents[reference.RelativePath] = text;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                problems.Add(reference.At, $"referenced file '{reference.RelativePath}' cannot be read: {ex.Message}");
            }
        }
        problems.ThrowIfAny();

        var set = loaded.Set with
        {
            Files = loaded.Set.Files.Select(f => f.Source is null ? f : f with { Content = contents[f.Source] }).ToList(),
            Migrations = loaded.Set.Migrations.Select(m => m with
            {
                Scripts = m.Scripts.Select(s => s with { Sql = contents[s.File], Sha256 = Sha256(contents[s.File]) }).ToList(),
            }).ToList(),
            WayBack = loaded.Set.WayBack?.Select(b => b.Down is null ? b : b with { Sql = contents[b.Down], Sha256 = Sha256(contents[b.Down]) }).ToList(),
        };
        return FromSet(set);
    }

    /// <summary>
    /// Validates and freezes a patch set sent as text (an upload), located in messages as <paramref name="name"/>. A set
    /// that refers to files (a file's <c>source</c>, migration SQL files) is refused at each reference: those files are
    /// not in the upload, and a set is frozen with its files or not at all.
    /// </summary>
    /// <exception cref="InputException">A problem in the text, or a referenced file (located).</exception>
    public static FrozenPatchSet FreezeText(string name, string text)
    {
        var loaded = PatchSetLoader.Parse(name, text);
        var problems = new ProblemList();
        foreach (var reference in loaded.References)
        {
            problems.Add(reference.At, $"refers to the file '{reference.RelativePath}', which an upload cannot carry: put its content inline " +
                                       "(files[].content), or freeze the set with 'stageproof patch freeze FILE' where its files are");
        }
        problems.ThrowIfAny();
        return FromSet(loaded.Set);
    }

    /// <summary>Normalises a (resolved) set, serialises it canonically and computes its digest.</summary>
    public static FrozenPatchSet FromSet(PatchSet set)
    {
        var normal = Normalize(set);
        var json = JsonSerializer.Serialize(normal, JsonOptions);
        return new FrozenPatchSet(Sha256(json), normal, json);
    }

    /// <summary>Reads a stored canonical JSON back, checking that it still hashes to <paramref name="digest"/>.</summary>
    /// <exception cref="InvalidDataException">The JSON is unreadable or does not match its digest.</exception>
    public static FrozenPatchSet FromJson(string digest, string json)
    {
        var actual = Sha256(json);
        if (!string.Equals(actual, digest, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"its content hashes to {actual}, not to its digest: it was altered after freezing");
        }
        var set = JsonSerializer.Deserialize<PatchSet>(json, JsonOptions) ?? throw new InvalidDataException("empty patch set");
        return new FrozenPatchSet(digest, set, json);
    }

    /// <summary>Sorts what has no meaningful order (CVEs, files by path, migration lists by database, key edits); keeps packages, scripts and commands in order.</summary>
    public static PatchSet Normalize(PatchSet set) => set with
    {
        Cves = set.Cves.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList(),
        Files = set.Files
            .Select(f => f.Set is null ? f : f with { Set = new SortedDictionary<string, string>(f.Set.ToDictionary(), StringComparer.Ordinal) })
            .OrderBy(f => f.Path, StringComparer.Ordinal).ToList(),
        Migrations = set.Migrations.OrderBy(m => m.Database, StringComparer.Ordinal).ToList(),
    };

    /// <summary>SHA-256 of the UTF-8 bytes of <paramref name="text"/>, lower-case hex.</summary>
    public static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
