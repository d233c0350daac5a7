namespace Stageproof.Testing;

/// <summary>
/// Preconditions of tests that need real parts of the machine. Outside CI a missing part skips the test with
/// the reason printed; under CI=true it fails instead, because CI installs everything the tests need.
/// </summary>
public static class Requires
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static void Root() =>
        That(Environment.UserName == "root" || geteuid() == 0, "needs root (chroot, overlay mounts, sshd)");

    public static void Executable(string path) =>
        That(File.Exists(path), $"needs {path} (apt-get install the package that provides it)");

    public static void That(bool condition, string reason)
    {
        if (condition)
        {
            return;
        }
        if (InCi)
        {
            throw new InvalidOperationException($"Test precondition failed under CI=true (never skipped there): {reason}");
        }
        Console.Error.WriteLine($"SKIP: {reason}");
        Skip.If(true, reason);
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();
}
