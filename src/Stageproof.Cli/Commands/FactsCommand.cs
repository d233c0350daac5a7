using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stageproof.Cli.Features;
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
            var scope = FactsScope.Resolve(session.Config, parse.GetValue(targets) ?? []);
            var run = await new FactsService(session).CollectAsync(scope, ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new
                {
                    manifests = run.Manifests.Select(m => new { digest = m.Digest, manifest = ManifestJson.Normalize(m.Manifest) }),
                    failures = run.Failures,
                });
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
        }));
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
                table.AddRow(
                    Infrastructure.Ui.Escape(m.Target), Infrastructure.Ui.Escape(m.Environment ?? "-"), Infrastructure.Ui.Escape(m.Role ?? "-"),
                    Infrastructure.Ui.Escape(m.Os?.PrettyName ?? "?"), Infrastructure.Ui.Escape(m.Os?.Kernel ?? "?"),
                    Count(m.Packages.Count),
                    $"{Count(m.PendingUpgrades.Count)} ({Count(m.PendingUpgrades.Count(u => u.Security))})",
                    Count(m.Files.Count),
                    $"{Count(m.Services.Count(s => s.Running))}/{Count(m.Services.Count)}",
                    Infrastructure.Ui.Escape(string.Join(' ', m.Ports.Select(p => p.Port).Distinct())),
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
    }

    private static string Count(int n) => n.ToString(CultureInfo.InvariantCulture);
}
