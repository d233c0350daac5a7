using Stageproof.Application.Lifecycle;
using Spectre.Console;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Apply;

namespace Stageproof.Cli.Features;

/// <summary>Builds apply and rollback runs from the configuration and reports them.</summary>
internal sealed class PatchRuns(CliSession session)
{
    public async Task<PatchEngine> EngineAsync(CancellationToken ct) => (await session.EnginesAsync(ct).ConfigureAwait(false)).Patches();

    /// <inheritdoc cref="EstateEngines.ProvenClosureAsync"/>
    public async Task<PackageClosure?> ProvenClosureAsync(string digest, IReadOnlyList<string>? evidence, CancellationToken ct) =>
        await EstateEngines.ProvenClosureAsync(await session.StoreAsync(ct).ConfigureAwait(false), digest, evidence, ct).ConfigureAwait(false);

    /// <inheritdoc cref="EstateEngines.Environment(StageproofConfig, string)"/>
    public EnvironmentConfig Environment(string name) => EstateEngines.Environment(session.Config, name);

    /// <summary>The environment's hosts, or the named subset of them (each must belong to it).</summary>
    public IReadOnlyList<HostConfig> Hosts(EnvironmentConfig env, IReadOnlyList<string>? only)
    {
        if (only is null || only.Count == 0)
        {
            return env.Hosts.Select(session.Config.Host).ToList();
        }
        var names = only.SelectMany(o => o.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        var stranger = names.FirstOrDefault(n => !env.Hosts.Contains(n));
        if (stranger is not null)
        {
            throw new InputException($"--hosts: '{stranger}' is not a host of environment {env.Name} (hosts: {string.Join(", ", env.Hosts)})");
        }
        return env.Hosts.Where(names.Contains).Select(session.Config.Host).ToList();
    }

    /// <inheritdoc cref="EstateEngines.PatchSetToActOnAsync"/>
    public async Task<StoredPatchSet> PatchSetAsync(string digest, CancellationToken ct) =>
        await (await session.EnginesAsync(ct).ConfigureAwait(false)).PatchSetToActOnAsync(digest, ct).ConfigureAwait(false);

    /// <summary>Applying a stored set to (some of) an environment's hosts, as this session's actor, with the configured rules.</summary>
    public ApplyRequest ApplyRequest(EnvironmentConfig env, StoredPatchSet stored, IReadOnlyList<HostConfig> hosts) =>
        EstateEngines.ApplyRequest(session.Config, env, stored, hosts, session.Actor);

    /// <summary>Returning the hosts of <paramref name="env"/> that the point covers (or the named ones among them) to it.</summary>
    public RollbackRequest RollbackRequest(EnvironmentConfig env, RollbackPoint point, PatchSet set,
        DatabaseRestoreMode database = DatabaseRestoreMode.Auto, IReadOnlyList<string>? only = null,
        DatabaseRestoreMode directory = DatabaseRestoreMode.Auto) =>
        EstateEngines.RollbackRequest(session.Config, env, point, set, Hosts(env, only), session.Actor, database, directory);

    public IProgress<string> Progress() => new SyncProgress<string>(line => session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape(line)));

    /// <summary>0 when every host ended as asked; 1 when any was rolled back instead, failed, or was not reached.</summary>
    public static int ExitCode(PatchRun run) => run.Succeeded ? ExitCodes.Ok : ExitCodes.Finding;

    public void Render(PatchRun run, RollbackPoint? point)
    {
        if (session.Ui.Json)
        {
            session.Ui.WriteJson(new { run, rollbackPoint = point });
            return;
        }
        var console = session.Ui.Human;
        console.MarkupLine($"[bold]{(run.Kind == RunKind.Apply ? "apply" : "rollback")} {Infrastructure.Ui.Escape(run.Id)}[/]: {Infrastructure.Ui.Escape(run.PatchId)} ({run.PatchDigest[..12]}) on {Infrastructure.Ui.Escape(run.Environment)}");
        if (point is not null)
        {
            console.MarkupLine($"rollback point {Infrastructure.Ui.Escape(point.Id)}: " + Infrastructure.Ui.Escape(DescribePoint(point)));
        }
        foreach (var db in run.Databases.Where(d => d.Applied.Count > 0 || d.Message is not null))
        {
            console.MarkupLine($"  database {Infrastructure.Ui.Escape(db.Database)}: " + Infrastructure.Ui.Escape(db.Message ?? "migrated " + string.Join(", ", db.Applied)));
        }
        foreach (var r in run.Restores)
        {
            var what = r.Restored ? "restored from its dump" : r.Needed ? "NOT restored, though its schema changed" : "not restored (not needed)";
            console.MarkupLine($"  database {Infrastructure.Ui.Escape(r.Database)}: {what}; {Infrastructure.Ui.Escape(r.Why ?? "")}");
            if (r.DownScripts.Count > 0)
            {
                console.MarkupLine("    " + Infrastructure.Ui.Escape("declared down script(s) run: " + string.Join("; ", r.DownScripts)));
            }
            if (r.DownFailed is { } failed)
            {
                console.MarkupLine("    [red]" + Infrastructure.Ui.Escape(failed) + "[/]");
            }
            console.MarkupLine("    " + Infrastructure.Ui.Escape(r.Discarded.Count == 0 ? "no data was written since the point"
                : (r.Restored ? "discarded, written since the change: " : "a restore would discard: ") + string.Join("; ", r.Discarded)));
        }
        foreach (var r in run.DirectoryRestores)
        {
            var what = r.Restored ? "entries restored to the point" : r.Needed ? "NOT restored, though entries it held are gone" : "not restored";
            console.MarkupLine($"  directory {Infrastructure.Ui.Escape(r.Directory)}: {what}; {Infrastructure.Ui.Escape(r.Why ?? "")}");
            if (r.Error is { } error)
            {
                console.MarkupLine("    [red]" + Infrastructure.Ui.Escape(error) + "[/]");
            }
            foreach (var line in r.Discarded)
            {
                console.MarkupLine("    " + Infrastructure.Ui.Escape((r.Restored ? "undone: " : "a restore would undo: ") + line));
            }
        }
        var table = new Table().Border(TableBorder.Simple).AddColumns("host", "outcome", "detail");
        foreach (var h in run.Hosts)
        {
            var colour = h.Status switch
            {
                HostRunStatus.Applied or HostRunStatus.AlreadyApplied => "green",
                HostRunStatus.RolledBack => run.Kind == RunKind.Rollback ? "green" : "yellow",
                HostRunStatus.NotStarted => "grey",
                _ => "red",
            };
            var detail = h.Message ?? "";
            if (h.Residue.Count > 0)
            {
                detail += " residue: " + string.Join("; ", h.Residue);
            }
            table.AddRow(Infrastructure.Ui.Escape(h.Host), $"[{colour}]{Infrastructure.Ui.Escape(PatchEngine.Status(h.Status))}[/]", Infrastructure.Ui.Escape(detail));
        }
        console.Write(table);
    }

    public static string DescribePoint(RollbackPoint point) =>
        $"{point.Hosts.Count} host(s) [{string.Join("; ", point.Hosts.Select(h => $"{h.Host}: {h.Packages.Count(p => p.KeptDeb is not null)} kept .deb(s) " +
            $"({string.Join(", ", h.Packages.Where(p => p.OldVersion is not null).Select(p => $"{p.Name} {p.OldVersion}"))}), {h.Files.Count} saved file(s)" +
            (h.Snapshot is null ? "" : ", overlay snapshot")))}], " +
        $"{point.Databases.Count} database dump(s){(point.Databases.Count == 0 ? "" : " (" + string.Join(", ", point.Databases.Select(d => d.Database)) + ")")}" +
        (point.Directories.Count == 0 ? "" : $", {point.Directories.Count} directory export(s) ({string.Join(", ", point.Directories.Select(d => $"{d.Name}: {d.Entries} entries"))})");
}
