using System.Text.Json;
using Stageproof.Core;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>
/// <c>facts</c> and <c>drift --stored</c> on an environment's LDAP directory (<c>environments.ENV.directories</c>), a
/// real slapd: its facts are collected with the environment's, tabled, stored, and a setting changed between two
/// collections is drift named by its key.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DirectoryFactsCliTests(SlapdFixture slapd) : IClassFixture<SlapdFixture>
{
    private string Config(Scratch scratch)
    {
        var passwordFile = scratch.Write("ldap-config.pw", SlapdFixture.ConfigAdminPassword + "\n");
        File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var directory = $"{{ url: \"{slapd.Url}\", bind_dn: \"{SlapdFixture.ConfigAdminDn}\", password_file: ldap-config.pw, bases: [\"{SlapdFixture.People}\"] }}";
        return $"hosts:\n  web-1: {{ transport: local }}\n  web-2: {{ transport: local }}\nenvironments:\n"
            + $"  prod: {{ hosts: [web-1], directories: {{ users: {directory} }} }}\n"
            + $"  staging: {{ hosts: [web-2], directories: {{ users: {directory} }} }}\n";
    }

    [SkippableFact]
    public async Task A_directory_is_collected_with_its_environment_and_a_changed_setting_is_drift()
    {
        slapd.Require();
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", Config(scratch));

        var prod = await CliRun.InAsync(scratch.Dir, "facts", "prod");
        Assert.True(prod.ExitCode == ExitCodes.Ok, prod.ToString());
        Assert.Contains("prod/users: OpenLDAP: slapd 2.", prod.Stdout, StringComparison.Ordinal);
        Assert.Contains("Directories", prod.Stdout, StringComparison.Ordinal);
        try
        {
            await slapd.ModifyConfigAsync("olcDatabase={-1}frontend,cn=config", "olcTimeLimit", "7");
            var staging = await CliRun.InAsync(scratch.Dir, "--json", "facts", "staging");
            Assert.True(staging.ExitCode == ExitCodes.Ok, staging.ToString());
            var manifest = staging.Json.GetProperty("manifests").EnumerateArray().Single(m => m.GetProperty("manifest").GetProperty("kind").GetString() == "directory");
            Assert.Equal("7", manifest.GetProperty("manifest").GetProperty("directory").GetProperty("settings").GetProperty("frontend: olcTimeLimit").GetString());

            var drift = await CliRun.InAsync(scratch.Dir, "--json", "drift", "prod", "staging", "--stored");
            Assert.Contains("frontend: olcTimeLimit", drift.Stdout, StringComparison.Ordinal);
            Assert.Contains("\"3600\"", drift.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            await slapd.ModifyConfigAsync("olcDatabase={-1}frontend,cn=config", "olcTimeLimit", "3600");
        }
    }

    [SkippableFact]
    public async Task A_password_file_others_can_read_is_refused_naming_the_directory()
    {
        slapd.Require();
        using var scratch = new Scratch();
        scratch.Write("stageproof.yaml", Config(scratch));
        File.SetUnixFileMode(Path.Combine(scratch.Dir, "ldap-config.pw"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var run = await CliRun.InAsync(scratch.Dir, "facts", "prod");
        Assert.Equal(ExitCodes.Infrastructure, run.ExitCode);
        Assert.Contains("prod/users", run.ToString(), StringComparison.Ordinal);
        Assert.Contains("chmod 600", run.ToString(), StringComparison.Ordinal);
    }
}
