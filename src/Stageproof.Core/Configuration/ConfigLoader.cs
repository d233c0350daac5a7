using Stageproof.Core.Configuration.Internal;

namespace Stageproof.Core.Configuration;

/// <summary>
/// Reads and validates stageproof.yaml (and the Ansible inventory it may point to). Every problem is collected
/// with its file, line, column and key path; if there is any, <see cref="InputException"/> carries them all.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Loads the configuration file at <paramref name="path"/>; relative paths inside it are resolved against its folder.</summary>
    /// <exception cref="InputException">The file is missing, unreadable, or has problems.</exception>
    public static StageproofConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var (text, problem) = Validation.InputFiles.ReadText(path);
        if (text is null)
        {
            var reason = problem == "file not found" ? "configuration file not found (stageproof init writes one)" : problem!;
            throw new InputException([new InputProblem(path, 0, 0, "(file)", reason)]);
        }
        return Parse(text, path);
    }

    /// <summary>Validates configuration text as if it had been read from <paramref name="sourceFile"/> (which need not exist).</summary>
    /// <exception cref="InputException">The text has problems.</exception>
    public static StageproofConfig Parse(string yaml, string sourceFile)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(sourceFile);
        return new ConfigReader(sourceFile).Read(yaml);
    }

    /// <summary>The state keys of the configuration file at <paramref name="path"/> only (defaults when there is no file),
    /// so that opening the state does not depend on the rest of the file being valid.</summary>
    /// <exception cref="InputException">A state key has a problem.</exception>
    public static StateSettings LoadStateSettings(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            return new StateSettings();
        }
        var (text, problem) = Validation.InputFiles.ReadText(path);
        if (text is null)
        {
            throw new InputException([new InputProblem(path, 0, 0, "(file)", problem!)]);
        }
        return new ConfigReader(path).ReadStateOnly(text);
    }
}
