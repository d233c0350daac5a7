using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stageproof.Application.Estate;
using Stageproof.Application.Views;
using Stageproof.Core;
using Stageproof.Core.Manifests;

namespace Stageproof.Cli.Commands;

internal static class FactsCommand
{
    public static Command Create(VerbContext verbs)
    {
        var targets = new Argument<string[]>("TARGET")
        {
            Description = "Environments, groups or hosts to collect from",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("facts", "Collect and store the manifest of every host (and database) of a target") { targets };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            FactsRun run;
            if (session.Server is { } server)
            {
                // The server resolves the targets in its own configuration, judges the caller's role and scope, and
                // collects over the connections it keeps open (ssh.keep_open), so a second collection skips the logins.
                // Each target is narrated as it is done, as locally; the last line is the document.
                session.Ui.Say($"collecting through {server} ...");
                var progress = session.FactsProgress();
                FactsDocument? document = null;
                await session.Remote.PostLinesAsync<FactsLine>("facts", new { targets = parse.GetValue(targets) ?? [] }, line =>
                {
                    if (line.Progress is { } p)
                    {
                        progress.Report(p);
                    }
                    document = line.Result ?? document;
                }, ct).ConfigureAwait(false);
                run = (document ?? throw new InfrastructureException(server.Text, "its answer ended before the collection's result")).ToRun();
            }
            else
            {
                var scope = FactsScope.Resolve(session.Config, parse.GetValue(targets) ?? []);
                var collector = await session.FactsCollectorAsync(ct).ConfigureAwait(false);
                run = await collector.CollectAsync(scope, session.FactsProgress(), ct).ConfigureAwait(false);
            }
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(FactsDocument.Of(run));
            }
            else
            {
                Render(session.Ui.Human, run);
            }
            foreach (var failure in run.Failures)
            {
                session.Ui.Error($"{failure.Target}: {failure.Message}");
            }
            return run.ExitCode;
        }, throughServer: true));
        return command;
    }

    private static void Render(IAnsiConsole console, FactsRun run)
    {
        var hosts = run.Manifests.Where(m => m.Manifest.Kind == ManifestKind.Host).ToList();
        if (hosts.Count > 0)
        {
            var table = new Table().Border(TableBorder.Rounded).Title("Hosts")
                .AddColumns("host", "env", "role", "os", "kernel", "packages", "upgrades (security)", "files", "services up", "ports", "manifest");
            foreach (var (digest, m) in hosts)
            {
                var f = FactsSummary.Of(digest, m);
                table.AddRow(
                    Infrastructure.Ui.Escape(m.Target), Infrastructure.Ui.Escape(f.Environment ?? "-"), Infrastructure.Ui.Escape(f.Role ?? "-"),
                    Infrastructure.Ui.Escape(f.Os ?? "?"), Infrastructure.Ui.Escape(f.Kernel ?? "?"),
                    Count(f.Packages),
                    $"{Count(f.Upgrades)} ({Count(f.SecurityUpgrades)})",
                    Count(f.Files),
                    $"{Count(f.ServicesUp)}/{Count(f.Services)}",
                    Infrastructure.Ui.Escape(string.Join(' ', f.Ports)),
                    digest[..12]);
            }
            console.Write(table);
        }
        var databases = run.Manifests.Where(m => m.Manifest.Kind == ManifestKind.Database).ToList();
        if (databases.Count > 0)
        {
            var table = new Table().Border(TableBorder.Rounded).Title("Databases")
                .AddColumns("database", "server", "non-default settings", "schema objects", "migrations", "schema fingerprint", "manifest");
            foreach (var (digest, m) in databases)
            {
                var db = m.Database!;
                table.AddRow(Infrastructure.Ui.Escape(m.Target), Infrastructure.Ui.Escape(db.ServerVersion), Count(db.Settings.Count),
                    Count(db.Schema.Objects.Count), Count(db.Schema.Migrations.Count), db.Schema.Digest[..12], digest[..12]);
            }
            console.Write(table);
        }
        var directories = run.Manifests.Where(m => m.Manifest.Kind == ManifestKind.Directory).ToList();
        if (directories.Count > 0)
        {
            var table = new Table().Border(TableBorder.Rounded).Title("Directories")
                .AddColumns("directory", "server", "modules", "overlays", "settings", "schema names", "entries", "schema fingerprint", "manifest");
            foreach (var (digest, m) in directories)
            {
                var d = m.Directory!;
                table.AddRow(Infrastructure.Ui.Escape(m.Target), Infrastructure.Ui.Escape(d.ServerVersion), Infrastructure.Ui.Escape(string.Join(' ', d.Modules)),
                    Infrastructure.Ui.Escape(string.Join(", ", d.Overlays)), Count(d.Settings.Count), Count(d.Schema.AttributeTypes.Count + d.Schema.ObjectClasses.Count),
                    Infrastructure.Ui.Escape(string.Join(", ", d.EntryCounts.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key}: {c.Value}")))),
                    d.Schema.Digest[..12], digest[..12]);
            }
            console.Write(table);
        }
    }

    private static string Count(int n) => n.ToString(CultureInfo.InvariantCulture);
}
