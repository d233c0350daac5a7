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
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            IEnumerable<AuditEvent> events = await store.ReadAllAsync(ct).ConfigureAwait(false);
            var last = parse.GetValue(limit);
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
                    Markup.Escape(e.Actor), Markup.Escape(e.Action), Markup.Escape(e.Target),
                    Markup.Escape(e.Outcome ?? ""), Markup.Escape(e.Reason ?? ""));
            }
            session.Ui.Human.Write(table);
            return ExitCodes.Ok;
        }));

        var verify = new Command("verify", "Check that no event was altered, removed or reordered (exit 1 if one was)");
        verify.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var result = store is SqliteStateStore sqlite
                ? await sqlite.VerifyAuditAsync(ct).ConfigureAwait(false)
                : AuditChain.Verify(await store.ReadAllAsync(ct).ConfigureAwait(false));
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { ok = result.IsOk, events = result.EventCount, problem = result.IsOk ? null : result.Problem.ToString().ToLowerInvariant(), sequence = result.Sequence, message = result.Message });
            }
            else if (result.IsOk)
            {
                session.Ui.Say(result.Message);
            }
            else
            {
                session.Ui.Error("audit chain broken: " + result.Message);
            }
            return result.IsOk ? ExitCodes.Ok : ExitCodes.Finding;
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
                session.Ui.Errors.MarkupLine(Markup.Escape($"Exported {events.Count} events to {file}"));
            }
            else
            {
                await AuditExport.WriteJsonLinesAsync(events, session.Stdout, ct).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        }));

        command.Subcommands.Add(log);
        command.Subcommands.Add(verify);
        command.Subcommands.Add(export);
        return command;
    }
}
