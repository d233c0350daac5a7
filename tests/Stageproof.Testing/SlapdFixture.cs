using System.Diagnostics;
using System.Globalization;
using System.DirectoryServices.Protocols;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Stageproof.Testing;

/// <summary>
/// A real, private OpenLDAP slapd for one test class: its own cn=config directory built with <c>slapadd -n0</c> (mdb
/// backend for <see cref="Suffix"/>, the ppolicy overlay, cn=Monitor, an admin of cn=config), seeded with
/// <see cref="Users"/> (passwords as {SSHA}), started in the foreground (<c>-d 0</c>) on its own 127.0.x address and a
/// free port so this fixture owns the process: disposing kills it by pid and removes the directory. The system's slapd
/// is never used. Tests call <see cref="Require"/> first: it skips (or fails under CI=true) without root or slapd.
/// </summary>
public sealed class SlapdFixture : IAsyncLifetime, IAsyncDisposable
{
    public const string SlapdPath = "/usr/sbin/slapd";
    public const string SlapaddPath = "/usr/sbin/slapadd";
    public const string Suffix = Stageproof.Lab.SlapdLdif.Suffix;
    public const string People = Stageproof.Lab.SlapdLdif.People;
    public const string ConfigAdminDn = Stageproof.Lab.SlapdLdif.ConfigAdminDn;
    public const string ConfigAdminPassword = "config-secret-42";
    public const string DataAdminDn = Stageproof.Lab.SlapdLdif.DataAdminDn;
    public const string DataAdminPassword = "data-secret-42";

    /// <summary>The seeded accounts (uid → password), each an inetOrgPerson under <see cref="People"/>.</summary>
    public static readonly IReadOnlyDictionary<string, string> Users = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["alice"] = "alice-pw-1", ["bob"] = "bob-pw-2", ["carol"] = "carol-pw-3",
    };

    private static int s_instances;
    private readonly StringBuilder _log = new();
    private Process? _process;
    private string? _unavailable;

    public SlapdFixture()
    {
        // STAGEPROOF_TEST_LOOPBACK=127.0.N(.x) moves the server into addresses of one's own, as the other fixtures do.
        var prefix = Environment.GetEnvironmentVariable("STAGEPROOF_TEST_LOOPBACK") is { Length: > 0 } moved
            ? string.Join('.', moved.Split('.').Take(3)) : "127.0.41";
        Address = $"{prefix}.{40 + (Environment.ProcessId + Interlocked.Increment(ref s_instances)) % 10}";
    }

    public string Address { get; }
    public int Port { get; private set; }
    public string Directory { get; private set; } = "";
    public string ConfigDirectory => Path.Combine(Directory, "slapd.d");
    public Uri Url => new($"ldap://{Address}:{Port}");

    /// <summary>What slapd has written to stderr so far.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Skips the calling test when the server could not be provided (fails under CI=true).</summary>
    public void Require()
    {
        Requires.Root();
        Requires.Executable(SlapdPath);
        Requires.Executable(SlapaddPath);
        Requires.That(_unavailable is null, _unavailable ?? "");
    }

    public async Task InitializeAsync()
    {
        if (Environment.UserName != "root" || !File.Exists(SlapdPath) || !File.Exists(SlapaddPath))
        {
            _unavailable = "needs root and slapd (apt-get install slapd ldap-utils)";
            return;
        }
        try
        {
            Directory = ScratchDirectory.Create("stageproof-slapd-");
            System.IO.Directory.CreateDirectory(ConfigDirectory);
            System.IO.Directory.CreateDirectory(Path.Combine(Directory, "data"));
            var config = Path.Combine(Directory, "config.ldif");
            var data = Path.Combine(Directory, "data.ldif");
            await File.WriteAllTextAsync(config, ConfigLdif()).ConfigureAwait(false);
            await File.WriteAllTextAsync(data, DataLdif()).ConfigureAwait(false);
            await FixtureProcess.RunAsync(SlapaddPath, ["-n0", "-F", ConfigDirectory, "-l", config]).ConfigureAwait(false);
            await FixtureProcess.RunAsync(SlapaddPath, ["-n1", "-F", ConfigDirectory, "-l", data]).ConfigureAwait(false);
            Port = FreePort(Address);
            await StartAsync().ConfigureAwait(false);
        }
        catch
        {
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts slapd (again) on the same address and port and waits until it answers a rootDSE search. With
    /// <paramref name="openFiles"/>, slapd runs under that limit of open descriptors (prlimit execs it, so the pid is
    /// slapd's): a real cap on how many clients it can serve at once.</summary>
    public async Task StartAsync(int? openFiles = null)
    {
        if (_process is { HasExited: false })
        {
            return;
        }
        string[] limit = openFiles is { } n ? [string.Create(CultureInfo.InvariantCulture, $"--nofile={n}:{n}"), "--", SlapdPath] : [];
        var psi = new ProcessStartInfo(openFiles is null ? SlapdPath : "/usr/bin/prlimit")
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false, WorkingDirectory = Directory,
        };
        foreach (var a in limit.Concat(["-h", $"ldap://{Address}:{Port}/", "-F", ConfigDirectory, "-d", "0"]))
        {
            psi.ArgumentList.Add(a);
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start slapd");
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _process = process;
        await WaitReadyAsync().ConfigureAwait(false);
    }

    /// <summary>How many descriptors slapd has open now (from /proc).</summary>
    public int OpenDescriptors => _process is { HasExited: false } p
        ? System.IO.Directory.GetFiles($"/proc/{p.Id.ToString(CultureInfo.InvariantCulture)}/fd").Length
        : throw new InvalidOperationException("slapd is not running");

    /// <summary>Stops slapd by its pid (SIGKILL: a crash, as a real fault would be) and waits until it is gone.</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process)
        {
            return;
        }
        _process = null;
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>Replaces an attribute of a cn=config entry, bound as the config admin (as an operator's ldapmodify would).</summary>
    public Task ModifyConfigAsync(string dn, string attribute, params string[] values) => Task.Run(() =>
    {
        using var connection = Connect(ConfigAdminDn, ConfigAdminPassword);
        var modification = new DirectoryAttributeModification { Name = attribute, Operation = DirectoryAttributeOperation.Replace };
        foreach (var v in values)
        {
            modification.Add(v);
        }
        connection.SendRequest(new ModifyRequest(dn, modification));
    });

    /// <summary>Adds entries under <see cref="People"/> (uid=NAME, no password), as the data admin.</summary>
    public Task AddPeopleAsync(IEnumerable<string> uids) => Task.Run(() =>
    {
        using var connection = Connect(DataAdminDn, DataAdminPassword);
        foreach (var uid in uids)
        {
            connection.SendRequest(new AddRequest($"uid={uid},{People}",
                new DirectoryAttribute("objectClass", "inetOrgPerson"), new DirectoryAttribute("uid", uid),
                new DirectoryAttribute("cn", uid), new DirectoryAttribute("sn", uid)));
        }
    });

    /// <summary>
    /// Re-hashes a user's password as SHA-512 crypt with <paramref name="rounds"/> rounds (slappasswd), as the data admin:
    /// every bind of that user then costs slapd that much hashing — a real slowdown of the bind, not a fake.
    /// </summary>
    public async Task SetCryptPasswordAsync(string uid, string password, int rounds)
    {
        var hash = (await FixtureProcess.RunAsync("/usr/sbin/slappasswd", ["-h", "{CRYPT}", "-c", $"$6$rounds={rounds}$%.16s", "-s", password]).ConfigureAwait(false)).Trim();
        await SetPasswordHashAsync(uid, hash).ConfigureAwait(false);
    }

    /// <summary>Puts the {SSHA} hash of a user's seeded password back.</summary>
    public Task ResetPasswordAsync(string uid) => SetPasswordHashAsync(uid, Ssha(Users[uid]));

    private Task SetPasswordHashAsync(string uid, string hash) => Task.Run(() =>
    {
        using var connection = Connect(DataAdminDn, DataAdminPassword);
        connection.SendRequest(new ModifyRequest($"uid={uid},{People}", DirectoryAttributeOperation.Replace, "userPassword", hash));
    });

    /// <summary>Deletes entries made by <see cref="AddPeopleAsync"/>.</summary>
    public Task DeletePeopleAsync(IEnumerable<string> uids) => Task.Run(() =>
    {
        using var connection = Connect(DataAdminDn, DataAdminPassword);
        foreach (var uid in uids)
        {
            connection.SendRequest(new DeleteRequest($"uid={uid},{People}"));
        }
    });

    private LdapConnection Connect(string dn, string password)
    {
        var connection = new LdapConnection(new LdapDirectoryIdentifier(Address, Port)) { AuthType = AuthType.Basic, Timeout = TimeSpan.FromSeconds(10) };
        connection.SessionOptions.ProtocolVersion = 3;
        connection.Bind(new NetworkCredential(dn, password));
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            if (Directory.Length > 0)
            {
                try
                {
                    System.IO.Directory.Delete(Directory, recursive: true);
                }
                catch (IOException)
                {
                    // A straggling file handle; the temp dir is cleaned eventually.
                }
            }
        }
    }

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    /// <summary>The {SSHA} form of a password, as slappasswd writes it.</summary>
    public static string Ssha(string password) => Stageproof.Lab.SlapdLdif.Ssha(password);

    private string ConfigLdif() => Stageproof.Lab.SlapdLdif.Config(Directory, ConfigAdminPassword, DataAdminPassword);

    private static string DataLdif()
    {
        var sb = new StringBuilder($"""
            dn: {Suffix}
            objectClass: dcObject
            objectClass: organization
            o: acme
            dc: acme

            dn: {People}
            objectClass: organizationalUnit
            ou: people


            """);
        foreach (var (uid, password) in Users)
        {
            sb.Append(CultureInfoInvariant($"dn: uid={uid},{People}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {Ssha(password)}\n\n"));
        }
        return sb.ToString().Replace("\r\n", "\n", StringComparison.Ordinal);
    }

    private static string CultureInfoInvariant(FormattableString text) => FormattableString.Invariant(text);

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    private async Task WaitReadyAsync()
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            if (_process is { HasExited: true } gone)
            {
                throw new InvalidOperationException($"slapd exited {gone.ExitCode} at start: {Log}");
            }
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(Address, Port).ConfigureAwait(false);
                return;
            }
            catch (SocketException) when (waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(25).ConfigureAwait(false);
            }
        }
    }

    private static int FreePort(string address)
    {
        using var listener = new TcpListener(IPAddress.Parse(address), 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
