using System.Diagnostics;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Transports;

public sealed class KnownHostsTests : IDisposable
{
    // Real OpenSSH public keys (the wire blobs are what SSH.NET hands over in HostKeyReceived).
    private const string Ed25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIALGZvj8ZjWK90+TZJGi3V0adHy6LyNnw5Ykm5+TdTP8";
    private const string Ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBcQkvXpkmVk0eKTw70+iqs9S//BKJSMzotreps3l/E4EnW40mtTbGRG1eX+p2BTWh3SwPuI3SoY9SB8WtzO6rs=";
    private const string OtherEd25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICzAfIjqxUV7A1vj91sD+s+rma2cU0veTMiEP2dnqPTL";

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "stageproof-kh-" + Guid.NewGuid().ToString("N")[..8]);

    public KnownHostsTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Blob(string key) => Convert.FromBase64String(key.Split(' ')[1]);

    private string Write(params string[] lines)
    {
        var path = Path.Combine(_dir, "known_hosts");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Plain_name_matches_port_22_only()
    {
        var kh = KnownHosts.Load(Write($"web1.example {Ed25519}"));

        Assert.Single(kh.Lookup("web1.example", 22));
        Assert.Empty(kh.Lookup("web1.example", 2222));
        Assert.Empty(kh.Lookup("web2.example", 22));
    }

    [Fact]
    public void Bracketed_name_with_port_matches_that_port()
    {
        var kh = KnownHosts.Load(Write($"[127.0.2.1]:2222 {Ed25519}"));

        var key = Assert.Single(kh.Lookup("127.0.2.1", 2222));
        Assert.True(key.Matches(Blob(Ed25519)));
        Assert.False(key.Matches(Blob(OtherEd25519)));
        Assert.Empty(kh.Lookup("127.0.2.1", 22));
    }

    [Fact]
    public void Comma_lists_wildcards_and_negations_follow_openssh()
    {
        var kh = KnownHosts.Load(Write(
            "# comment",
            "",
            $"a.example,[10.0.0.1]:2200 {Ed25519}",
            $"*.lab,!bad.lab {Ecdsa}"));

        Assert.Single(kh.Lookup("a.example", 22));
        Assert.Single(kh.Lookup("10.0.0.1", 2200));
        Assert.Equal("ecdsa-sha2-nistp256", Assert.Single(kh.Lookup("good.lab", 22)).KeyType);
        Assert.Empty(kh.Lookup("bad.lab", 22));
    }

    [Fact]
    public void Several_key_types_for_one_host_are_all_returned_with_their_line()
    {
        var kh = KnownHosts.Load(Write($"h {Ed25519}", $"h {Ecdsa}", "h ssh-rsa not-base64!"));

        var keys = kh.Lookup("h", 22);
        Assert.Equal(["ssh-ed25519", "ecdsa-sha2-nistp256"], keys.Select(k => k.KeyType));
        Assert.Equal([1, 2], keys.Select(k => k.Line));
    }

    [Fact]
    public void Revoked_marker_is_kept_and_cert_authority_lines_are_ignored()
    {
        var kh = KnownHosts.Load(Write($"@revoked h {Ed25519}", $"@cert-authority *.lab {Ecdsa}"));

        Assert.True(Assert.Single(kh.Lookup("h", 22)).Revoked);
        Assert.Empty(kh.Lookup("x.lab", 22));
    }

    [Fact]
    public void Missing_file_knows_no_hosts()
    {
        var kh = KnownHosts.Load(Path.Combine(_dir, "nope", "known_hosts"));

        Assert.Empty(kh.Lookup("anything", 22));
    }

    [Fact]
    public void Append_writes_an_openssh_line_that_lookup_and_a_fresh_load_find()
    {
        var path = Path.Combine(_dir, "sub", "known_hosts");
        var kh = KnownHosts.Load(path);

        kh.Append("127.0.2.9", 2299, Blob(Ed25519));
        kh.Append("plain.example", 22, Blob(Ecdsa));

        Assert.Equal(
            [$"[127.0.2.9]:2299 {Ed25519}", $"plain.example {Ecdsa}"],
            File.ReadAllLines(path));
        Assert.Single(kh.Lookup("127.0.2.9", 2299));
        Assert.Single(KnownHosts.Load(path).Lookup("plain.example", 22));
    }

    [Fact]
    public void Appending_a_key_the_file_already_holds_writes_nothing()
    {
        var path = Path.Combine(_dir, "known_hosts");
        var first = KnownHosts.Load(path);
        var second = KnownHosts.Load(path);

        first.Append("127.0.2.9", 2299, Blob(Ed25519));
        second.Append("127.0.2.9", 2299, Blob(Ed25519));

        Assert.Single(File.ReadAllLines(path));
    }

    [Fact]
    public void Append_after_a_last_line_without_newline_starts_a_new_line()
    {
        var path = Path.Combine(_dir, "known_hosts");
        File.WriteAllText(path, $"a {Ed25519}");

        KnownHosts.Load(path).Append("b", 22, Blob(Ecdsa));

        Assert.Equal([$"a {Ed25519}", $"b {Ecdsa}"], File.ReadAllLines(path));
    }

    [SkippableFact]
    public async Task Hashed_entries_made_by_ssh_keygen_are_found_by_host_and_port()
    {
        Requires.Executable(SshdFixture.KeygenPath);
        var path = Write($"web1.example {Ed25519}", $"[127.0.2.1]:2222 {Ecdsa}");
        await RunAsync(SshdFixture.KeygenPath, "-H", "-f", path);
        Assert.All(File.ReadAllLines(path), l => Assert.StartsWith("|1|", l));

        var kh = KnownHosts.Load(path);

        Assert.Equal("ssh-ed25519", Assert.Single(kh.Lookup("web1.example", 22)).KeyType);
        Assert.Equal("ecdsa-sha2-nistp256", Assert.Single(kh.Lookup("127.0.2.1", 2222)).KeyType);
        Assert.Empty(kh.Lookup("web1.example", 2222));
        Assert.Empty(kh.Lookup("127.0.2.1", 22));
    }

    [SkippableFact]
    public async Task Fingerprint_is_what_ssh_keygen_prints()
    {
        Requires.Executable(SshdFixture.KeygenPath);
        var path = Path.Combine(_dir, "k.pub");
        File.WriteAllText(path, Ed25519 + "\n");

        var printed = await RunAsync(SshdFixture.KeygenPath, "-lf", path);

        Assert.Equal(printed.Split(' ')[1], KnownHosts.Fingerprint(Blob(Ed25519)));
    }

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.Equal(0, p.ExitCode);
        return stdout;
    }
}
