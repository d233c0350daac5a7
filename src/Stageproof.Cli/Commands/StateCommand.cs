using System.CommandLine;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.State;
using Stageproof.Data;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof state migrate --from DIR --to postgres://…</c>: moves a SQLite state into an empty PostgreSQL
/// database, the audit chain included and verified where it arrives.</summary>
internal static class StateCommand
{
    public static Command Create(VerbContext verbs)
    {
        var from = new Option<string>("--from") { Description = "The SQLite state directory to copy (read, never changed)", Required = true };
        var to = new Option<string>("--to")
        {
            Description = "The empty PostgreSQL state: postgres://USER@HOST:PORT/DB (password from STAGEPROOF_STATE_PASSWORD or state_password_file)",
            Required = true,
        };
        var migrate = new Command("migrate", "Copy a SQLite state into an empty PostgreSQL database, audit chain verified on arrival (exit 1 if the source's chain does not verify)")
        {
            from, to,
        };
        migrate.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var directory = Path.GetFullPath(parse.GetValue(from)!);
            if (!File.Exists(Path.Combine(directory, SqliteStateStore.DatabaseFileName)))
            {
                throw new InputException($"--from {directory}: no Stageproof state here ({SqliteStateStore.DatabaseFileName} is missing)");
            }
            var target = StateLocation.Parse(parse.GetValue(to)!, "--to", Directory.GetCurrentDirectory());
            if (!target.IsPostgres)
            {
                throw new InputException($"--to {target}: not a postgres://USER@HOST:PORT/DB URL; a state is migrated into PostgreSQL");
            }
            var settings = session.StateSettings;
            await using var source = await SqliteStateStore.OpenKeyedAsync(directory, session.Time, ct, settings.AuditKeyFile).ConfigureAwait(false);
            await using var opened = await StateStores.OpenAsync(target, settings, session.Time, ct).ConfigureAwait(false);
            var destination = (PostgresStateStore)opened;

            var result = await StateMigration.CopyAsync(source, destination, ct).ConfigureAwait(false);
            if (!result.Copied)
            {
                var refusal = new Migration(false, directory, target.ToString(), new Dictionary<string, long>(), result.Verification.EventCount, result.Verification.Message);
                if (session.Ui.Json)
                {
                    session.Ui.WriteJson(refusal);
                }
                session.Ui.Error($"{directory}: the audit chain does not verify, so nothing was copied: {result.Verification.Message}");
                return ExitCodes.Finding;
            }
            var tables = result.Tables.ToDictionary(t => t.Table, t => t.Rows);
            await destination.AppendAsync(new AuditEvent
            {
                Actor = session.Actor,
                Action = "state.migrate",
                Target = directory,
                Outcome = $"copied {string.Join(", ", result.Tables.Where(t => t.Rows > 0).Select(t => $"{t.Rows} {t.Table}"))}; {result.Verification.Message}",
            }, ct).ConfigureAwait(false);

            var done = new Migration(true, directory, target.ToString(), tables, result.Verification.EventCount, result.Verification.Message);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(done);
                return ExitCodes.Ok;
            }
            foreach (var (table, rows) in result.Tables.Where(t => t.Rows > 0))
            {
                session.Ui.Say($"{table}: {rows} copied");
            }
            session.Ui.Say($"audit chain verified on arrival: {result.Verification.Message}");
            session.Ui.Say($"{directory} -> {target}; point stageproof at it with 'state: {target}' in stageproof.yaml (the SQLite state is left as it was)");
            return ExitCodes.Ok;
        }));
        return new Command("state", "The state store itself") { migrate };
    }

    private sealed record Migration(bool Copied, string From, string To, IReadOnlyDictionary<string, long> Tables, int AuditEvents, string Verification);
}
