using System.CommandLine;
using Spectre.Console;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Data;

namespace Stageproof.Cli.Commands;

internal static class AuditCommand
{
    public static Command Create(VerbContext verbs)
    {
        var command = new Command("audit", "The append-only, hash-chained record of every action");

        var limit = new Option<int>("--last") { Description = "Show only the last N events", DefaultValueFactory = _ => 0 };
        var log = new Command("log", "List audit events") { limit };
        log.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var last = parse.GetValue(limit);
            IEnumerable<AuditEvent> events = session.Server is not null
                ? await session.Remote.GetAsync<List<AuditEvent>>(last > 0 ? $"audit?last={last}" : "audit", ct).ConfigureAwait(false)
                : await (await session.StoreAsync(ct).ConfigureAwait(false)).ReadAllAsync(ct).ConfigureAwait(false);
            if (last > 0)
            {
                events = events.TakeLast(last);
            }
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(events);
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Simple)
                .AddColumns("#", "time (UTC)", "actor", "action", "target", "outcome", "reason");
            foreach (var e in events)
            {
                table.AddRow(e.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    e.Time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),
                    Infrastructure.Ui.Escape(e.Actor), Infrastructure.Ui.Escape(e.Action),
                    Infrastructure.Ui.Escape(e.Target), Infrastructure.Ui.Escape(e.Outcome ?? ""),
                    Infrastructure.Ui.Escape(e.Reason ?? ""));
            }
            session.Ui.Human.Write(table);
            return ExitCodes.Ok;
        }, throughServer: true));

        var anchors = new Option<string[]>("--anchor") { Description = "Also check anchors taken earlier with 'audit anchor' (repeatable)", AllowMultipleArgumentsPerToken = false };
        var verify = new Command("verify", "Check that no event was altered, removed, reordered or forged (exit 1 if one was)") { anchors };
        verify.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var anchorFiles = (parse.GetValue(anchors) ?? []).Select(ReadAnchor).ToList();
            if (session.Server is not null)
            {
                if (anchorFiles.Count > 0)
                {
                    throw new InputException("--anchor does not run through --server yet (checking an anchor needs the state's audit key); run it where the state is");
                }
                return Verified(session, await session.Remote.GetAsync<Verification>("audit/verify", ct).ConfigureAwait(false));
            }
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var result = await store.VerifyAuditAsync(ct).ConfigureAwait(false);
            if (result.IsOk && anchorFiles.Count > 0)
            {
                var events = await store.ReadAllAsync(ct).ConfigureAwait(false);
                foreach (var (file, anchor) in anchorFiles)
                {
                    var check = anchor.Check(events, store.AuditKey!);
                    result = check.IsOk ? result with { Message = $"{result.Message}; {check.Message}" } : check with { Message = $"{file}: {check.Message}" };
                    if (!check.IsOk)
                    {
                        break;
                    }
                }
            }
            return Verified(session, new Verification(result.IsOk, result.EventCount, result.IsOk ? null : result.Problem.ToString().ToLowerInvariant(), result.Sequence, result.Message));
        }, throughServer: true));

        var anchorOutput = new Option<string?>("--output", "-o") { Description = "Write the anchor to this file (keep it outside the state: another machine, a ticket)" };
        var anchor = new Command("anchor", "Export a sealed checkpoint of the chain; 'audit verify --anchor FILE' later proves no event up to it was removed") { anchorOutput };
        anchor.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var file = parse.GetValue(anchorOutput) is { } o ? Infrastructure.OutputFiles.Check(o, "--output") : null;
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            await session.AuditAsync("audit.anchor", file ?? "stdout", cancellationToken: ct).ConfigureAwait(false);
            var taken = AuditAnchor.Take(await store.ReadAllAsync(ct).ConfigureAwait(false), store.AuditKey!, session.Time.GetUtcNow());
            var json = System.Text.Json.JsonSerializer.Serialize(taken, AnchorJson);
            if (file is not null)
            {
                await Infrastructure.OutputFiles.WriteAsync(file, json + "\n", ct).ConfigureAwait(false);
                session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"Anchor of {taken.Count} events written to {file}"));
            }
            else
            {
                await session.Stdout.WriteLineAsync(json).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        }));

        var output = new Option<string?>("--output", "-o") { Description = "Write to this file instead of stdout" };
        var export = new Command("export", "Write every event as JSON lines") { output };
        export.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var file = parse.GetValue(output) is { } o ? Infrastructure.OutputFiles.Check(o, "--output") : null;
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var events = await store.ReadAllAsync(ct).ConfigureAwait(false);
            if (file is not null)
            {
                await Infrastructure.OutputFiles.WriteAsync(file, writer => AuditExport.WriteJsonLinesAsync(events, writer, ct)).ConfigureAwait(false);
                session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"Exported {events.Count} events to {file}"));
            }
            else
            {
                await AuditExport.WriteJsonLinesAsync(events, session.Stdout, ct).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        }));

        command.Subcommands.Add(log);
        command.Subcommands.Add(verify);
        command.Subcommands.Add(anchor);
        command.Subcommands.Add(export);
        return command;
    }

    /// <summary>The outcome of <c>audit verify</c>: its --json document, and what <c>/api/v1/audit/verify</c> answers.</summary>
    private sealed record Verification(bool Ok, int Events, string? Problem, long? Sequence, string Message);

    private static int Verified(Infrastructure.CliSession session, Verification result)
    {
        if (session.Ui.Json)
        {
            session.Ui.WriteJson(result);
        }
        else if (result.Ok)
        {
            session.Ui.Say(result.Message);
        }
        else
        {
            session.Ui.Error("audit chain broken: " + result.Message);
        }
        return result.Ok ? ExitCodes.Ok : ExitCodes.Finding;
    }

    private static readonly System.Text.Json.JsonSerializerOptions AnchorJson = new() { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase };

    private static (string File, AuditAnchor Anchor) ReadAnchor(string file)
    {
        var (text, problem) = Core.Validation.InputFiles.ReadText(file, 64 * 1024);
        if (text is null)
        {
            throw new InputException($"--anchor {file}: {problem}");
        }
        try
        {
            var anchor = System.Text.Json.JsonSerializer.Deserialize<AuditAnchor>(text, AnchorJson);
            return anchor is { LastHash.Length: 64, Seal.Length: 64 } && anchor.Count >= 0 && anchor.At is not null && anchor.KeyId is not null
                ? (file, anchor)
                : throw new InputException($"--anchor {file}: not a Stageproof audit anchor (count, lastHash, at, keyId, seal)");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InputException($"--anchor {file}: not a Stageproof audit anchor ({e.Message})");
        }
    }
}
