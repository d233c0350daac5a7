using System.Text.Json;
using Microsoft.Data.Sqlite;
using Stageproof.Data;
using Stageproof.Core;
using Stageproof.Core.Audit;

namespace Stageproof.Cli.Tests;

/// <summary>The keyed audit trail from the command line, attacked the way a user who can write the state would.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class AuditSealCliTests
{
    private static async Task EventsAsync(Scratch scratch, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var run = await CliRun.InAsync(scratch.Dir, "init", "--force");
            Assert.True(run.ExitCode == ExitCodes.Ok, run.ToString());
        }
    }

    private static string Database(Scratch scratch) => Path.Combine(scratch.Dir, ".stageproof", "state.db");

    private static async Task<List<AuditEvent>> RowsAsync(SqliteConnection db)
    {
        var rows = new List<AuditEvent>();
        await using var read = db.CreateCommand();
        read.CommandText = "SELECT seq, time, actor, action, target, reason, payload_digest, outcome, prev_hash, hash FROM audit_events ORDER BY seq";
        await using var r = await read.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            rows.Add(new AuditEvent
            {
                Sequence = r.GetInt64(0), Time = AuditChain.ParseTime(r.GetString(1)), Actor = r.GetString(2), Action = r.GetString(3),
                Target = r.GetString(4), Reason = r.IsDBNull(5) ? null : r.GetString(5), PayloadDigest = r.IsDBNull(6) ? null : r.GetString(6),
                Outcome = r.IsDBNull(7) ? null : r.GetString(7), PreviousHash = r.GetString(8), Hash = r.GetString(9),
            });
        }
        return rows;
    }

    [Fact]
    public async Task Rewriting_an_event_and_recomputing_chain_and_head_without_the_key_is_found_as_a_forgery()
    {
        using var scratch = new Scratch();
        await EventsAsync(scratch, 4);
        var clean = await CliRun.InAsync(scratch.Dir, "audit", "verify");
        Assert.True(clean.ExitCode == ExitCodes.Ok, clean.ToString());
        Assert.Contains("sealed with audit key", clean.Stdout, StringComparison.Ordinal);

        // The forger: event #2's actor becomes mallory, every hash after it is recomputed, and the head rewritten.
        await using (var db = new SqliteConnection($"Data Source={Database(scratch)};Pooling=False"))
        {
            await db.OpenAsync();
            var rows = await RowsAsync(db);
            var previous = AuditChain.GenesisHash;
            foreach (var row in rows)
            {
                var changed = (row.Sequence == 2 ? row with { Actor = "mallory" } : row) with { PreviousHash = previous, Hash = "" };
                changed = changed with { Hash = AuditChain.ComputeHash(changed) };
                await using var update = db.CreateCommand();
                update.CommandText = "UPDATE audit_events SET actor = $actor, prev_hash = $prev, hash = $hash WHERE seq = $seq";
                update.Parameters.AddWithValue("$actor", changed.Actor);
                update.Parameters.AddWithValue("$prev", changed.PreviousHash);
                update.Parameters.AddWithValue("$hash", changed.Hash);
                update.Parameters.AddWithValue("$seq", changed.Sequence);
                await update.ExecuteNonQueryAsync();
                previous = changed.Hash;
            }
            var headPath = Path.Combine(scratch.Dir, ".stageproof", "audit.head");
            var head = JsonSerializer.Deserialize<JsonElement>(await File.ReadAllTextAsync(headPath));
            await File.WriteAllTextAsync(headPath, JsonSerializer.Serialize(new { count = rows.Count, lastHash = previous, seal = head.GetProperty("seal").GetString() }));
        }

        var run = await CliRun.InAsync(scratch.Dir, "--json", "audit", "verify");
        Assert.True(run.ExitCode == ExitCodes.Finding, run.ToString());
        Assert.Equal("forged", run.Json.GetProperty("problem").GetString());
        Assert.Equal(2, run.Json.GetProperty("sequence").GetInt64());
        Assert.Contains("seal does not match audit key", run.Json.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deleted_head_is_a_finding_and_an_anchor_catches_a_truncation_the_next_command_papered_over()
    {
        using var scratch = new Scratch();
        await EventsAsync(scratch, 3);
        var anchorFile = Path.Combine(scratch.Dir, "anchor.json");
        var anchor = await CliRun.InAsync(scratch.Dir, "audit", "anchor", "-o", anchorFile);
        Assert.True(anchor.ExitCode == ExitCodes.Ok, anchor.ToString());
        Assert.Equal(4, JsonSerializer.Deserialize<JsonElement>(await File.ReadAllTextAsync(anchorFile)).GetProperty("count").GetInt64());
        await EventsAsync(scratch, 2);
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "audit", "verify", "--anchor", anchorFile)).ExitCode);

        // The newest events and the head deleted: a finding on its own.
        await using (var db = new SqliteConnection($"Data Source={Database(scratch)};Pooling=False"))
        {
            await db.OpenAsync();
            await using var delete = db.CreateCommand();
            delete.CommandText = "DELETE FROM audit_events WHERE seq >= 3";
            await delete.ExecuteNonQueryAsync();
        }
        File.Delete(Path.Combine(scratch.Dir, ".stageproof", "audit.head"));
        var headless = await CliRun.InAsync(scratch.Dir, "--json", "audit", "verify");
        Assert.True(headless.ExitCode == ExitCodes.Finding, headless.ToString());
        Assert.Equal("headmissing", headless.Json.GetProperty("problem").GetString());

        // One more command writes a fresh, sealed head over the shortened log: only the anchor still tells.
        await EventsAsync(scratch, 1);
        Assert.Equal(ExitCodes.Ok, (await CliRun.InAsync(scratch.Dir, "audit", "verify")).ExitCode);
        var anchored = await CliRun.InAsync(scratch.Dir, "audit", "verify", "--anchor", anchorFile);
        Assert.True(anchored.ExitCode == ExitCodes.Finding, anchored.ToString());
        Assert.Contains($"{anchorFile}: ", anchored.Stderr, StringComparison.Ordinal);
        Assert.Contains("event #4 is missing from the end: the anchor of", anchored.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void The_audit_key_may_not_live_in_the_state_and_is_created_private_once()
    {
        using var scratch = new Scratch();
        var state = Directory.CreateDirectory(Path.Combine(scratch.Dir, "state")).FullName;
        var inside = Assert.Throws<InputException>(() => AuditKeys.Load(state, Path.Combine(state, "keys", "audit.key")));
        Assert.Contains("may not live inside the state directory", inside.Message, StringComparison.Ordinal);

        var keyPath = Path.Combine(scratch.Dir, "keys", "audit.key");
        var first = AuditKeys.Load(state, keyPath);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(keyPath)!));
        Assert.Equal(first.Id, AuditKeys.Load(state, keyPath).Id);

        File.WriteAllText(keyPath, "short");
        Assert.Contains("has 5 bytes, not 32", Assert.Throws<InputException>(() => AuditKeys.Load(state, keyPath)).Message, StringComparison.Ordinal);
    }
}
