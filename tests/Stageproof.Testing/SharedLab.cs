using System.Diagnostics;
using Stageproof.Lab;

namespace Stageproof.Testing;

/// <summary>
/// A lab shared by the tests of a class or collection (lab up is expensive), on addresses of its own
/// (127.0.<see cref="AddressOctet"/>.x) so it never touches another test's lab or the user's; always torn down.
/// </summary>
public abstract class SharedLab : IAsyncLifetime
{
    protected SharedLab(int addressOctet, int sshPort, int appHosts = 2, bool upstream = false, bool stagingControl = false,
        LabEstate estate = LabEstate.Standard)
    {
        Estate = estate;
        AddressOctet = addressOctet;
        SshPort = sshPort;
        AppHosts = appHosts;
        Upstream = upstream;
        StagingControl = stagingControl;
    }

    /// <summary>Whether staging gets a control (<c>lab clone staging staging-control --control</c>) once the lab is up.</summary>
    public bool StagingControl { get; }

    /// <summary>Whether the hosts also get this machine's Debian archives (<see cref="LabOptions.Upstream"/>).</summary>
    public bool Upstream { get; }

    /// <summary>The standard estate (PostgreSQL) or the mail estate (MariaDB and OpenLDAP).</summary>
    public LabEstate Estate { get; }

    /// <summary>Prod's app hosts.</summary>
    public int AppHosts { get; }

    public int AddressOctet { get; }
    public int SshPort { get; }
    public LabManager Lab { get; private set; } = null!;
    public LabUpResult Up { get; private set; } = null!;
    public Exception? Failure { get; private set; }
    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "stageproof-lab-test-" + Guid.NewGuid().ToString("N")[..8]);

    public static LabOptions Options(string dir, int octet, int sshPort = 2322, int appHosts = 2) => new()
    {
        Directory = dir, AddressOctet = octet, SshPort = sshPort, AppHosts = appHosts,
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
        Lab = new LabManager(Options(Directory, AddressOctet, SshPort, AppHosts) with { Upstream = Upstream, Estate = Estate });
        var sw = Stopwatch.StartNew();
        try
        {
            var progress = new Progress<string>(l => Console.WriteLine($"[lab {sw.Elapsed.TotalSeconds,6:0.0}s] {l}"));
            Up = await Lab.UpAsync(progress);
            Console.WriteLine($"LAB UP took {Up.Elapsed.TotalSeconds:0.0}s (base built: {Up.BaseImageBuilt}, acme-mail: {Up.AcmeMailInstalled})");
            if (StagingControl)
            {
                var control = await Lab.CloneAsync("staging", "staging-control", progress, asControl: true);
                Console.WriteLine($"STAGING CONTROL took {control.Elapsed.TotalSeconds:0.0}s");
            }
        }
        catch (Exception e)
        {
            Failure = e;
        }
    }

    /// <summary>Skips without root or debootstrap (fails under CI=true); fails when lab up failed.</summary>
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
