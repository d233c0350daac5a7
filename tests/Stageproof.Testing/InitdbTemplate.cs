using System.Collections.Concurrent;

namespace Stageproof.Testing;

/// <summary>
/// A test server's data directory as a copy of one initdb run per test process and set of initdb arguments. initdb
/// costs about 0.9 CPU-second here (its bootstrap runs the catalog scripts in single-user postgres processes) and the
/// fast tier started sixteen servers; a copy of its 39 MB costs a few hundredths. The copies share initdb's system
/// identifier, which nothing in the tests or the product reads. The templates are deleted when the process exits.
/// </summary>
public static class InitdbTemplate
{
    public const string BinDir = "/usr/lib/postgresql/15/bin";

    private static readonly ConcurrentDictionary<string, Lazy<Task<string>>> s_templates = new(StringComparer.Ordinal);

    /// <summary>
    /// Creates <paramref name="dataDirectory"/> (which must not exist; its parent is owned by postgres) as initdb with
    /// <paramref name="initdbArguments"/> (everything but <c>-D</c>) would, run as user postgres.
    /// </summary>
    public static async Task CreateAsync(string dataDirectory, IReadOnlyList<string> initdbArguments)
    {
        var key = string.Join('\u001f', initdbArguments);
        var template = await s_templates.GetOrAdd(key, _ => new Lazy<Task<string>>(() => InitdbAsync(initdbArguments))).Value.ConfigureAwait(false);
        await FixtureProcess.RunAsync("/bin/cp", ["-a", template, dataDirectory]).ConfigureAwait(false);
    }

    private static async Task<string> InitdbAsync(IReadOnlyList<string> initdbArguments)
    {
        var dir = ScratchDirectory.Create("stageproof-initdb-");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Scratch space is cleaned eventually.
            }
        };
        await FixtureProcess.RunAsync("chown", ["postgres:postgres", dir]).ConfigureAwait(false);
        var data = Path.Combine(dir, "data");
        await FixtureProcess.RunAsync("/usr/sbin/runuser", ["-u", "postgres", "--", Path.Combine(BinDir, "initdb"), "-D", data, .. initdbArguments]).ConfigureAwait(false);
        return data;
    }
}
