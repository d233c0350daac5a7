using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Checks;
using Stageproof.Hosts.Transports;

namespace Stageproof.Hosts.Tests.Checks;

/// <summary>Builds a configuration around a suite written as YAML, the way users write it, and runs it.</summary>
internal sealed class Suites : IDisposable
{
    public Suites()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("stageproof-checks-").FullName;
    }

    public string Directory { get; }

    public string Path(string relative) => System.IO.Path.Combine(Directory, relative);

    /// <summary>A configuration whose environment "test" has one local host at <paramref name="address"/>.</summary>
    public StageproofConfig Config(string suiteYaml, string address = "127.0.0.1", string databases = "{}", string extraEnvironments = "", string directories = "{}")
    {
        var indented = string.Join("\n", suiteYaml.ReplaceLineEndings("\n").Split('\n').Select(l => "    " + l));
        var yaml = $"""
            hosts:
              app-1: {"{"} transport: local {"}"}
            environments:
              test:
                hosts: [app-1]
                databases: {databases}
                directories: {directories}
                checks: suite
            {extraEnvironments}
            checks:
              suite:
            {indented}

            """;
        return ConfigLoader.Parse(yaml, Path("stageproof.yaml")) is var config
            ? config with { Hosts = new Dictionary<string, HostConfig> { ["app-1"] = config.Hosts["app-1"] with { Address = address } } }
            : throw new InvalidOperationException();
    }

    public static async Task<CheckSuiteResult> RunAsync(StageproofConfig config, LogMarkers? markers = null, CheckSuiteRunner? runner = null)
    {
        using var owned = runner is null ? new CheckSuiteRunner() : null;
        var r = runner ?? owned!;
        var transports = new Dictionary<string, ITransport> { ["app-1"] = new LocalTransport("app-1") };
        return await r.RunAsync(CheckEnvironment.From(config, "test"), config.SuiteOf("test"), transports, CancellationToken.None, markers);
    }

    public static IReadOnlyDictionary<string, ITransport> Local => new Dictionary<string, ITransport> { ["app-1"] = new LocalTransport("app-1") };

    public string Secrets(string text, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = Path("secrets.env");
        File.WriteAllText(path, text);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
        return path;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
