using Stageproof.Core.Audit;

namespace Stageproof.Data.Tests;

/// <summary>What only the SQLite store has: the audit head as a file beside the database. The chain's behaviour is in
/// the contract suite (<see cref="Contract.StateStoreContract"/>).</summary>
public sealed class SqliteStateStoreAuditTests : IDisposable
{
    private readonly TestState _state = new();

    public void Dispose() => _state.Dispose();

    [Fact]
    public async Task The_audit_head_is_one_file_beside_the_database_and_no_temporary_file_is_left()
    {
        await using var store = await _state.OpenAsync();
        var appended = await _state.AppendEventsAsync(store, 3);

        Assert.Equal(new AuditHead(3, appended[^1].Hash), await store.ReadAuditHeadAsync());
        Assert.Equal(["audit.head"], Directory.GetFiles(_state.Directory, "audit.head*").Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_malformed_export_line_is_an_input_error_naming_the_line()
    {
        var text = "\n{\"sequence\":1,\"actor\":\"alice\"}\n";

        var error = await Assert.ThrowsAsync<Stageproof.Core.InputException>(() =>
            AuditExport.ReadJsonLinesAsync(new StringReader(text), "audit.jsonl"));

        Assert.StartsWith("audit.jsonl:2:1: event:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_corrupted_audit_head_is_an_input_error_naming_the_file()
    {
        await using var store = await _state.OpenAsync();
        await _state.AppendEventsAsync(store, 2);
        await File.WriteAllTextAsync(store.AuditHeadPath, "{\"count\":2}");

        var error = await Assert.ThrowsAsync<Stageproof.Core.InputException>(() => store.VerifyAuditAsync());

        Assert.Contains(store.AuditHeadPath, error.Message, StringComparison.Ordinal);
    }
}
