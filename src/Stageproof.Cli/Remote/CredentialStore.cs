using System.Text.Json;
using Stageproof.Core;
using Stageproof.Data;

namespace Stageproof.Cli.Remote;

/// <summary>One server's stored login.</summary>
internal sealed record StoredCredential(string Server, string Token);

/// <summary>
/// Tokens kept by <c>stageproof login</c>, keyed by server URL: ~/.config/stageproof/credentials.json (directory 0700,
/// file 0600), or the file STAGEPROOF_CREDENTIALS names. The file is rewritten whole through a private temporary file,
/// so a reader never sees half of it and it is never readable by others, even for a moment.
/// </summary>
internal sealed class CredentialStore(string path)
{
    public const string Variable = "STAGEPROOF_CREDENTIALS";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    public string Path { get; } = path;

    /// <summary>The store this process uses: STAGEPROOF_CREDENTIALS, else ~/.config/stageproof/credentials.json.</summary>
    public static CredentialStore Default() =>
        new(Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } file
            ? System.IO.Path.GetFullPath(file)
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "stageproof", "credentials.json"));

    /// <summary>Every stored login, by server URL; empty when the file does not exist.</summary>
    public IReadOnlyDictionary<string, StoredCredential> Read()
    {
        string text;
        try
        {
            text = File.ReadAllText(Path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return new Dictionary<string, StoredCredential>(StringComparer.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"{Path}: {e.Message}");
        }
        try
        {
            var read = JsonSerializer.Deserialize<Dictionary<string, StoredCredential>>(text, Json);
            if (read is null || read.Any(kv => kv.Value is not { Server.Length: > 0, Token.Length: > 0 }))
            {
                throw new InputException($"{Path}: not a Stageproof credentials file (each entry needs server and token); fix it or delete it and log in again");
            }
            return new Dictionary<string, StoredCredential>(read, StringComparer.Ordinal);
        }
        catch (JsonException e)
        {
            throw new InputException($"{Path}: not a Stageproof credentials file ({e.Message}); fix it or delete it and log in again");
        }
    }

    public StoredCredential? Find(ServerUrl server) => Read().GetValueOrDefault(server.Text);

    public void Save(ServerUrl server, string token)
    {
        var all = new Dictionary<string, StoredCredential>(Read(), StringComparer.Ordinal) { [server.Text] = new StoredCredential(server.Text, token) };
        Write(all);
    }

    /// <summary>Forgets <paramref name="server"/>'s login; false when there was none.</summary>
    public bool Remove(ServerUrl server)
    {
        var all = new Dictionary<string, StoredCredential>(Read(), StringComparer.Ordinal);
        if (!all.Remove(server.Text))
        {
            return false;
        }
        Write(all);
        return true;
    }

    private void Write(Dictionary<string, StoredCredential> all)
    {
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        var temporary = Path + ".tmp";
        try
        {
            PrivateFiles.CreateDirectory(directory);
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = PrivateFiles.FileMode;
            }
            using (var stream = new FileStream(temporary, options))
            using (var writer = new StreamWriter(stream))
            {
                writer.Write(JsonSerializer.Serialize(all, Json));
            }
            // A temporary file left by an earlier crash keeps its old mode: make sure of it before it becomes the file.
            PrivateFiles.Restrict(temporary);
            File.Move(temporary, Path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"{Path}: {e.Message}");
        }
    }
}
