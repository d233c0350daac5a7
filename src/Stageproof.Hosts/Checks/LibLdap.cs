using System.Runtime.InteropServices;

namespace Stageproof.Hosts.Checks;

/// <summary>
/// libldap's default timeout for synchronous calls (LDAP_OPT_TIMEOUT set on no handle: every handle created afterwards
/// copies it). On Linux System.DirectoryServices.Protocols binds through libldap's synchronous call, which otherwise
/// waits for the server's answer without any limit (dotnet/runtime#62075; <c>LdapConnection.Timeout</c> bounds
/// requests, not the bind): a directory that accepts connections and never answers — a slapd that ran out of
/// descriptors and stopped accepting — would hang a check, the facts or a rollback for good.
/// </summary>
internal static class LibLdap
{
    private const int LdapOptTimeout = 0x5002;

    /// <summary>The libraries System.DirectoryServices.Protocols itself tries, in its order (Debian 12: 2.5).</summary>
    private static readonly string[] Names = ["libldap.so.2", "libldap-2.6.so.0", "libldap-2.5.so.0", "libldap-2.4.so.2"];

    private static readonly SetTimevalOption? SetOption = Load();
    private static readonly Lock Gate = new();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int SetTimevalOption(IntPtr ld, int option, ref Timeval value);

    [StructLayout(LayoutKind.Sequential)]
    private struct Timeval
    {
        public nint Seconds;
        public nint Microseconds;
    }

    /// <summary>Creates a connection whose synchronous calls (the bind) give up after <paramref name="timeout"/>: the
    /// default is set and the handle created under one lock, so connections made at once with other timeouts keep their own.</summary>
    public static T WithSyncTimeout<T>(TimeSpan timeout, Func<T> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        lock (Gate)
        {
            if (SetOption is { } set)
            {
                var value = new Timeval { Seconds = (nint)Math.Max(1, Math.Ceiling(timeout.TotalSeconds)), Microseconds = 0 };
                _ = set(IntPtr.Zero, LdapOptTimeout, ref value);
            }
            return create();
        }
    }

    private static SetTimevalOption? Load()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        foreach (var name in Names)
        {
            if (NativeLibrary.TryLoad(name, out var library) && NativeLibrary.TryGetExport(library, "ldap_set_option", out var function))
            {
                return Marshal.GetDelegateForFunctionPointer<SetTimevalOption>(function);
            }
        }
        return null;
    }
}
