using Stageproof.Core.Configuration;

namespace Stageproof.Core.Tests.Configuration;

/// <summary>A temporary folder holding a stageproof.yaml (and any side files), deleted on dispose.</summary>
internal sealed class TempConfig : IDisposable
{
    public TempConfig()
    {
        Directory = Path.Combine(Path.GetTempPath(), "stageproof-config-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public string ConfigPath => Path.Combine(Directory, "stageproof.yaml");

    public string Write(string relativePath, string text)
    {
        var path = Path.Combine(Directory, relativePath);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text.ReplaceLineEndings("\n"));
        return path;
    }

    public StageproofConfig Load(string yaml)
    {
        Write("stageproof.yaml", yaml);
        return ConfigLoader.Load(ConfigPath);
    }

    public IReadOnlyList<InputProblem> Problems(string yaml)
    {
        var ex = Assert.Throws<InputException>(() => Load(yaml));
        Assert.NotEmpty(ex.Problems);
        Assert.Equal(ExitCodes.BadInput, ex.ExitCode);
        return ex.Problems;
    }

    public InputProblem SingleProblem(string yaml) => Assert.Single(Problems(yaml));

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is not worth failing a test over.
        }
    }
}
