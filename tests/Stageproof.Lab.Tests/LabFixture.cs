using System.Diagnostics;
using Stageproof.Lab;
using Stageproof.Testing;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Stageproof.Lab.Tests;

/// <summary>One lab shared by the tests of a collection (lab up is expensive), torn down at the end. Addresses
/// 127.0.110.x / 120 / 130 (+ clones 140...) and ssh port 2322, so a lab the user runs is never touched.</summary>
public sealed class LabFixture : IAsyncLifetime
{
    public LabManager Lab { get; private set; } = null!;
    public LabUpResult Up { get; private set; } = null!;
    public Exception? Failure { get; private set; }
    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "stageproof-lab-test-" + Guid.NewGuid().ToString("N")[..8]);

    public static LabOptions Options(string dir, int octet) => new()
    {
        Directory = dir, AddressOctet = octet, SshPort = 2322, AppHosts = 2,
        CacheDirectory = Environment.GetEnvironmentVariable("STAGEPROOF_LAB_CACHE") ?? "/var/cache/stageproof",
        // Where demo/AcmeMail/packaging/build-debs.sh lives when not in this tree (null: searched upward).
        RepositoryRoot = Environment.GetEnvironmentVariable("STAGEPROOF_LAB_REPO_ROOT"),
    };

    public static bool CanRun => Environment.UserName == "root" && File.Exists("/usr/sbin/debootstrap");

    public async Task InitializeAsync()
    {
        if (!CanRun)
        {
            return;
        }
        Lab = new LabManager(Options(Directory, 110));
        var sw = Stopwatch.StartNew();
        try
        {
            Up = await Lab.UpAsync(new Progress<string>(l => Console.WriteLine($"[lab {sw.Elapsed.TotalSeconds,6:0.0}s] {l}")));
            Console.WriteLine($"LAB UP took {Up.Elapsed.TotalSeconds:0.0}s (base built: {Up.BaseImageBuilt}, acme-mail: {Up.AcmeMailInstalled})");
        }
        catch (Exception e)
        {
            Failure = e;
        }
    }

    public void Require()
    {
        Requires.Root();
        Requires.Executable("/usr/sbin/debootstrap");
        if (Failure is not null)
        {
            throw new InvalidOperationException("lab up failed: " + Failure.Message, Failure);
        }
    }

    public async Task DisposeAsync()
    {
        if (Lab is not null)
        {
            var down = await Lab.DownAsync();
            Console.WriteLine($"LAB DOWN took {down.Elapsed.TotalSeconds:0.0}s");
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class LabCollection : ICollectionFixture<LabFixture>
{
    public const string Name = "lab";
}
