using Stageproof.Core.Configuration;

namespace Stageproof.Core.Tests.Configuration;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class StateSettingsTests : IDisposable
{
    private readonly TempConfig _temp = new();

    public void Dispose() => _temp.Dispose();

    private string PrivateFile(string name, string text)
    {
        var path = _temp.Write(name, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    [Fact]
    public void State_keys_are_read_with_paths_resolved_against_the_configuration_folder()
    {
        PrivateFile("secrets/state.pw", "s3cret\n");

        var config = _temp.Load("""
            state: postgres://stageproof@127.0.0.1:5432/stageproof
            state_password_file: secrets/state.pw
            audit_key_file: keys/audit.key
            """);

        Assert.Equal("postgres://stageproof@127.0.0.1:5432/stageproof", config.State.Location?.ToString());
        Assert.Equal(Path.Combine(_temp.Directory, "secrets/state.pw"), config.State.PasswordFile);
        Assert.Equal(Path.Combine(_temp.Directory, "keys/audit.key"), config.State.AuditKeyFile);
        Assert.Equal(config.State, ConfigLoader.LoadStateSettings(_temp.ConfigPath));
    }

    [Fact]
    public void A_password_in_the_state_url_is_one_problem_at_its_line_naming_the_key()
    {
        var problem = _temp.SingleProblem("hosts: {}\nstate: postgres://ops:hunter2@db/state\n");

        Assert.Equal((2, "state"), (problem.Line, problem.Key));
        Assert.StartsWith("the state URL carries a password, which is refused", problem.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_password_file_others_may_read_is_refused()
    {
        var path = _temp.Write("state.pw", "s3cret\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var problem = _temp.SingleProblem("state_password_file: state.pw\n");

        Assert.Equal("state_password_file", problem.Key);
        Assert.Contains("may be read by others (mode 0604)", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Only_the_state_keys_are_judged_when_opening_the_state_so_a_half_edited_estate_does_not_block_it()
    {
        _temp.Write("stageproof.yaml", "state: ops-state\nhosts:\n  web: { transport: teleport }\n");

        Assert.Equal(Path.Combine(_temp.Directory, "ops-state"), ConfigLoader.LoadStateSettings(_temp.ConfigPath).Location?.Directory);
        Assert.Equal(new StateSettings(), ConfigLoader.LoadStateSettings(Path.Combine(_temp.Directory, "absent.yaml")));
    }
}
