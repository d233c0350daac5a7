using System.Diagnostics;
using System.DirectoryServices.Protocols;
using System.Globalization;
using System.Net;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Directories;
using Stageproof.Hosts.Facts;
using Stageproof.Testing;

namespace Stageproof.Bench;

/// <summary>
/// Directory rollback points on a private slapd (<see cref="SlapdFixture"/>) holding <see cref="Entries"/> people: the
/// export beside OpenLDAP's own ldapsearch of the same tree (the peer), the comparison with the point, and a restore.
/// </summary>
public sealed class DirectorySuite : IBenchmarkSuite
{
    public const int Entries = 10_000;
    public const int Changed = 100;
    private const string Base = "ou=bench," + SlapdFixture.Suffix;

    public string Name => "directory";
    public string Description => $"LdapRollbackPoint export, changes-since and restore of {Entries:N0} entries, beside ldapsearch";

    public IEnumerable<string> Describe()
    {
        yield return $"Workload: a private slapd (mdb) with {Entries:N0} inetOrgPerson entries under {Base} (cn, sn, mail, an {{SSHA}} userPassword),";
        yield return $"bound as the database's rootDN over loopback. The peer: OpenLDAP's ldapsearch of the same subtree, every user attribute,";
        yield return "paged by 500, written to a file (`ldapsearch -x -LLL -E pr=500/noprompt -b BASE '(objectClass=*)' '*'`).";
        yield return $"The restore undoes {Changed} changes made before each run (a third deleted, a third modified, a third added); making them is not timed.";
    }

    public IEnumerable<Measurement> Run(BenchOptions options) => RunAsync(options).GetAwaiter().GetResult();

    private static async Task<List<Measurement>> RunAsync(BenchOptions options)
    {
        var slapd = new SlapdFixture();
        await slapd.InitializeAsync();
        var work = Directory.CreateTempSubdirectory("stageproof-bench-dir-").FullName;
        try
        {
            slapd.Require();
            var source = new DirectorySource(slapd.Url, SlapdFixture.DataAdminDn, SlapdFixture.DataAdminPassword, [Base]);
            using (var admin = Admin(slapd))
            {
                admin.SendRequest(new AddRequest(Base, new DirectoryAttribute("objectClass", "organizationalUnit")));
                for (var i = 0; i < Entries; i++)
                {
                    admin.SendRequest(Person(i));
                }
            }
            var points = new LdapRollbackPoint();
            var results = new List<Measurement>();
            var passwordFile = Path.Combine(work, "pw");
            await File.WriteAllTextAsync(passwordFile, SlapdFixture.DataAdminPassword);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            var peerOut = Path.Combine(work, "ldapsearch.ldif");
            var peer = Measurement.Of("ldapsearch of the subtree to a file (peer)", options, () =>
                Run("/usr/bin/ldapsearch", peerOut, "-x", "-LLL", "-H", slapd.Url.ToString(), "-D", SlapdFixture.DataAdminDn, "-y", passwordFile,
                    "-E", "pr=500/noprompt", "-b", Base, "(objectClass=*)", "*"));
            results.Add(peer with { Note = $"{new FileInfo(peerOut).Length / 1024} KiB of LDIF" });

            DirectoryPoint? point = null;
            var n = 0;
            var create = Measurement.Of("LdapRollbackPoint.CreateAsync (export, digest)", options, () =>
                point = points.CreateAsync("bench", source, Path.Combine(work, $"point-{n++}"), CancellationToken.None).GetAwaiter().GetResult());
            results.Add(create with
            {
                Note = string.Create(CultureInfo.InvariantCulture,
                    $"{point!.Entries:N0} entries, {new FileInfo(Path.Combine(point.Directory, LdapRollbackPoint.ExportFileName)).Length / 1024} KiB; {create.Median / peer.Median:0.00}x the peer"),
            });
            results.Add(Measurement.Of("ChangesSinceAsync, nothing changed", options, () =>
                points.ChangesSinceAsync(point!, source, CancellationToken.None).GetAwaiter().GetResult()));

            // The restore: each run first makes the changes (untimed), then restores.
            var restoreTimes = new List<double>();
            for (var run = 0; run < options.Warmup + options.Runs; run++)
            {
                MakeChanges(slapd);
                var clock = Stopwatch.StartNew();
                await points.RestoreAsync(point!, source, CancellationToken.None);
                if (run >= options.Warmup)
                {
                    restoreTimes.Add(clock.Elapsed.TotalMilliseconds);
                }
            }
            restoreTimes.Sort();
            var changes = await points.ChangesSinceAsync(point!, source, CancellationToken.None);
            results.Add(new Measurement($"RestoreAsync of {Changed} changes (aside export, writes, verify)",
                TimeSpan.FromMilliseconds(restoreTimes[restoreTimes.Count / 2]), TimeSpan.FromMilliseconds(restoreTimes[0]),
                TimeSpan.FromMilliseconds(restoreTimes[^1]), 0, changes.Any ? "NOT back at the point" : "back at the point each run"));
            return results;
        }
        finally
        {
            await slapd.DisposeAsync();
            Directory.Delete(work, recursive: true);
        }
    }

    private static LdapConnection Admin(SlapdFixture slapd)
    {
        var connection = new LdapConnection(new LdapDirectoryIdentifier(slapd.Url.Host, slapd.Url.Port)) { AuthType = AuthType.Basic, Timeout = TimeSpan.FromSeconds(30) };
        connection.SessionOptions.ProtocolVersion = 3;
        connection.Bind(new NetworkCredential(SlapdFixture.DataAdminDn, SlapdFixture.DataAdminPassword));
        return connection;
    }

    private static string Uid(int i) => string.Create(CultureInfo.InvariantCulture, $"p{i:00000}");

    private static AddRequest Person(int i) => new($"uid={Uid(i)},{Base}",
        new DirectoryAttribute("objectClass", "inetOrgPerson"), new DirectoryAttribute("cn", $"Person {i}"), new DirectoryAttribute("sn", Uid(i)),
        new DirectoryAttribute("mail", $"{Uid(i)}@acme.test"), new DirectoryAttribute("userPassword", SlapdFixture.Ssha($"pw-{i}")));

    /// <summary>A third of <see cref="Changed"/> deleted, a third modified, a third added (beyond the seeded range).</summary>
    private static void MakeChanges(SlapdFixture slapd)
    {
        using var admin = Admin(slapd);
        var third = Changed / 3;
        for (var i = 0; i < third; i++)
        {
            admin.SendRequest(new DeleteRequest($"uid={Uid(i * 7)},{Base}"));
            admin.SendRequest(new ModifyRequest($"uid={Uid(i * 7 + 1)},{Base}", DirectoryAttributeOperation.Replace, "mail", "changed@acme.test"));
            admin.SendRequest(Person(Entries + i));
        }
    }

    private static object Run(string program, string stdoutFile, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        using (var file = File.Create(stdoutFile))
        {
            process.StandardOutput.BaseStream.CopyTo(file);
        }
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? process.ExitCode : throw new InvalidOperationException($"{program} exit {process.ExitCode}: {error}");
    }
}
