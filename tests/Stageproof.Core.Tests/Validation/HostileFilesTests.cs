using System.Diagnostics;
using Stageproof.Core.Configuration;
using Stageproof.Core.Patches;

namespace Stageproof.Core.Tests.Validation;

/// <summary>
/// Files a user points Stageproof at are not trusted: a FIFO, a device, a huge file, a document nested thirty thousand
/// levels deep or a link out of a patch set's folder is a located problem (exit 2), never a hang, a crash or a leak.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("stageproof-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Path(string name) => System.IO.Path.Combine(_dir, name);

    private static void MkFifo(string path)
    {
        using var p = Process.Start("mkfifo", [path])!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    private static InputException Refused(Action action)
    {
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<InputException>(action);
        Assert.Equal(ExitCodes.BadInput, e.ExitCode);
        // A hang guard, not a speed claim: reading a FIFO or /dev/zero would never return.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
        return e;
    }

    [Fact]
    public void A_configuration_that_is_a_fifo_is_refused_without_waiting_for_a_writer()
    {
        MkFifo(Path("stageproof.yaml"));
        var e = Refused(() => ConfigLoader.Load(Path("stageproof.yaml")));
        Assert.Contains("is a FIFO, not a regular file", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_device_or_a_folder_as_configuration_is_refused()
    {
        Assert.Contains("is a character device, not a regular file", Refused(() => ConfigLoader.Load("/dev/zero")).Message, StringComparison.Ordinal);
        Assert.Contains("is a folder, not a regular file", Refused(() => ConfigLoader.Load(_dir)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_configuration_over_4_MiB_is_refused_before_it_is_read()
    {
        File.WriteAllText(Path("stageproof.yaml"), "# " + new string('x', 5 * 1024 * 1024) + "\n");
        var e = Refused(() => ConfigLoader.Load(Path("stageproof.yaml")));
        Assert.Contains("is 5 MiB, more than the 4 MiB a file of this kind may have", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(30_000)]
    [InlineData(65)]
    public void A_document_nested_deeper_than_64_levels_is_a_problem_not_a_stack_overflow(int depth)
    {
        File.WriteAllText(Path("stageproof.yaml"), "hosts: " + new string('[', depth) + new string(']', depth) + "\n");
        var problem = Assert.Single(Refused(() => ConfigLoader.Load(Path("stageproof.yaml"))).Problems);
        Assert.Equal(("(document)", "nested deeper than 64 levels", 1), (problem.Key, problem.Message, problem.Line));

        var block = string.Concat(Enumerable.Range(0, depth > 100 ? 100 : depth).Select(i => new string(' ', 2 * i) + $"k{i}:\n"));
        File.WriteAllText(Path("patch.yaml"), block);
        Assert.Contains("nested deeper than 64 levels", Refused(() => PatchSetLoader.Load(Path("patch.yaml"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_document_nested_64_levels_still_loads_as_far_as_depth_goes()
    {
        File.WriteAllText(Path("stageproof.yaml"), "x: " + new string('[', 63) + new string(']', 63) + "\n");
        var problem = Assert.Single(Refused(() => ConfigLoader.Load(Path("stageproof.yaml"))).Problems);
        Assert.NotEqual("nested deeper than 64 levels", problem.Message);
    }

    [Fact]
    public void An_inventory_that_is_a_fifo_is_a_located_problem()
    {
        MkFifo(Path("hosts.ini"));
        File.WriteAllText(Path("stageproof.yaml"), "inventory: hosts.ini\n");
        var problem = Assert.Single(Refused(() => ConfigLoader.Load(Path("stageproof.yaml"))).Problems);
        Assert.Contains("is a FIFO, not a regular file", problem.Message, StringComparison.Ordinal);
        Assert.Equal(1, problem.Line);
    }

    private string PatchWithSource(string source)
    {
        File.WriteAllText(Path("patch.yaml"), $$"""
            id: HOSTILE-1
            title: a set that embeds a file
            reason: hostile input
            severity: low
            author: alice
            files:
              - { path: /etc/acme-mail/acme-mail.conf, source: {{source}} }
            """);
        return Path("patch.yaml");
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("/dev/zero")]
    [InlineData("../OUTSIDE")]
    public void A_source_that_is_a_link_out_of_the_sets_folder_is_refused_and_nothing_of_it_is_read(string target)
    {
        var outside = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(_dir)!, System.IO.Path.GetFileName(_dir) + "-outside.conf");
        File.WriteAllText(outside, "secret = 1\n");
        try
        {
            File.CreateSymbolicLink(Path("link.conf"), target == "../OUTSIDE" ? "../" + System.IO.Path.GetFileName(outside) : target);
            var e = Refused(() => PatchSetFreezer.Freeze(PatchWithSource("link.conf")));
            Assert.Contains("referenced file 'link.conf' is a link that leads outside the patch set's folder", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("root:", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("secret", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(outside);
        }
    }

    [Fact]
    public void A_source_behind_a_linked_folder_that_leaves_the_set_is_refused_too()
    {
        Directory.CreateSymbolicLink(Path("etc"), "/etc");
        var e = Refused(() => PatchSetFreezer.Freeze(PatchWithSource("etc/passwd")));
        Assert.Contains("leads outside the patch set's folder", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_link_that_stays_inside_the_folder_is_followed()
    {
        Directory.CreateDirectory(Path("files"));
        File.WriteAllText(Path("files/real.conf"), "listen.port = 8080\n");
        File.CreateSymbolicLink(Path("current.conf"), "files/real.conf");
        var frozen = PatchSetFreezer.Freeze(PatchWithSource("current.conf"));
        Assert.Equal("listen.port = 8080\n", Assert.Single(frozen.Set.Files).Content);
    }

    [Fact]
    public void A_source_that_is_a_fifo_or_a_folder_is_refused()
    {
        MkFifo(Path("pipe.conf"));
        Assert.Contains("referenced file 'pipe.conf' is a FIFO, not a regular file",
            Refused(() => PatchSetFreezer.Freeze(PatchWithSource("pipe.conf"))).Message, StringComparison.Ordinal);
        Directory.CreateDirectory(Path("folder.conf"));
        Assert.Contains("referenced file 'folder.conf' is a folder, not a regular file",
            Refused(() => PatchSetFreezer.Freeze(PatchWithSource("folder.conf"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dangling_link_is_named_as_such()
    {
        File.CreateSymbolicLink(Path("gone.conf"), "files/nothing-here.conf");
        Assert.Contains("referenced file 'gone.conf' is a link to nothing",
            Refused(() => PatchSetFreezer.Freeze(PatchWithSource("gone.conf"))).Message, StringComparison.Ordinal);
    }
    [Fact]
    public void A_file_that_is_not_yaml_named_as_configuration_is_never_quoted_back()
    {
        File.WriteAllText(Path("stageproof.yaml"), "root:$y$j9T$secrethash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n");
        var problems = Refused(() => ConfigLoader.Load(Path("stageproof.yaml"))).Problems;
        Assert.Equal(2, problems.Count);
        Assert.All(problems, p => Assert.DoesNotContain("secrethash", p.Key + p.Message, StringComparison.Ordinal));
        Assert.Equal("unknown key 'root:$y$… (40 characters)' (known keys: hosts, groups, inventory, environments, drift, ssh, checks, lifecycle, stage, webhooks, server, state, state_password_file, audit_key_file, jobs)",
            problems[0].Message);

        File.WriteAllText(Path("stageproof.yaml"), "a plain line of some file\nanother line of it\n");
        Assert.Equal("expected a mapping (key: value lines), got a text of 44 characters",
            Assert.Single(Refused(() => ConfigLoader.Load(Path("stageproof.yaml"))).Problems).Message);
    }

    [Fact]
    public void A_file_that_is_no_inventory_comes_back_as_excerpts_and_at_most_ten_problems()
    {
        var lines = Enumerable.Range(1, 30).Select(i => $"user{i}:$6$saltsalt$hashhashhashhashhash{i}:19000:0:99999:7:::");
        File.WriteAllText(Path("shadow"), string.Join('\n', lines) + "\n");
        File.WriteAllText(Path("stageproof.yaml"), "inventory: shadow\n");
        var problems = Refused(() => ConfigLoader.Load(Path("stageproof.yaml"))).Problems;

        Assert.Equal(11, problems.Count);
        Assert.Contains(problems, p => p.Message == "20 more problem(s) not shown: is this file what it is meant to be?");
        Assert.All(problems, p => Assert.DoesNotContain("hashhash", p.Key + p.Message, StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Key.StartsWith("user1:$6… (", StringComparison.Ordinal) && p.Line == 1);
    }
}
