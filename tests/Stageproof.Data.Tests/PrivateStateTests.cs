namespace Stageproof.Data.Tests;

/// <summary>The state holds database dumps and every frozen file: only its owner may read it, whatever the umask.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PrivateStateTests : IDisposable
{
    private readonly TestState _state = new();

    public void Dispose()
    {
        if (Directory.Exists(_state.Directory))
        {
            Directory.Delete(_state.Directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_new_state_is_a_0700_directory_with_0600_files()
    {
        var store = await _state.OpenAsync();
        await using (store)
        {
            await _state.AppendEventsAsync(store, 2);
        }
        Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(_state.Directory));
        Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(_state.DatabasePath));
        Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(store.AuditHeadPath));
        Assert.Null(PrivateFiles.Warning(_state.Directory));
    }

    [Fact]
    public async Task An_existing_state_others_can_read_is_named_in_a_warning_and_left_as_it_is()
    {
        Directory.CreateDirectory(_state.Directory);
        File.SetUnixFileMode(_state.Directory, (UnixFileMode)Convert.ToInt32("755", 8));
        await (await _state.OpenAsync()).DisposeAsync();

        var warning = PrivateFiles.Warning(_state.Directory);
        Assert.NotNull(warning);
        Assert.Contains(_state.Directory, warning, StringComparison.Ordinal);
        Assert.Contains("mode 0755", warning, StringComparison.Ordinal);
        Assert.Contains($"chmod 700 {_state.Directory}", warning, StringComparison.Ordinal);
        Assert.Equal((UnixFileMode)Convert.ToInt32("755", 8), File.GetUnixFileMode(_state.Directory));
        // The database itself is still made private.
        Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(_state.DatabasePath));
    }
}
