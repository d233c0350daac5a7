using System.CommandLine;
using Spectre.Console;
using Stageproof.Cli.Features;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core;
using Stageproof.Core.Patches;
using Stageproof.Hosts.Apply;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof apply D --env ENV</c> and <c>stageproof rollback --env ENV</c>.</summary>
internal static class ApplyCommand
{
    private static Option<string> EnvOption() => new("--env") { Description = "The environment", Required = true };

    private static Option<string[]> HostsOption() => new("--hosts")
    {
        Description = "Only these hosts of the environment (comma separated or repeated)",
        AllowMultipleArgumentsPerToken = true,
    };

    public static Command CreateApply(VerbContext verbs)
    {
        var digest = new Argument<string>("D") { Description = "The frozen patch set's digest, or a unique prefix of it" };
        var env = EnvOption();
        var hosts = HostsOption();
        var conffiles = ChoiceOption.Create("--conffiles",
            "A conffile the operator changed, when the package ships a new one: keep the operator's (default) or take the package's", ConffilePolicy.Keep);
        var noAutoRollback = new Option<bool>("--no-auto-rollback") { Description = "Leave a failed host as it is for a person, instead of rolling it back" };
        var keepGoing = new Option<bool>("--keep-going") { Description = "Go on with the other hosts after one failed" };
        var command = new Command("apply", "Apply a frozen patch set to an environment, each host behind a rollback point")
        {
            digest, env, hosts, conffiles, noAutoRollback, keepGoing,
        };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var runs = new PatchRuns(session);
            var environment = runs.Environment(parse.GetValue(env)!);
            var targets = runs.Hosts(environment, parse.GetValue(hosts));
            var stored = await runs.PatchSetAsync(parse.GetValue(digest)!, ct).ConfigureAwait(false);
            var request = runs.ApplyRequest(environment, stored, targets);
            var engine = await runs.EngineAsync(ct).ConfigureAwait(false);
            var leftAlone = targets.Where(t => !request.Hosts.Contains(t)).Select(t => t.Name).ToList();
            session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape(
                $"Applying {stored.Set.Id} ({stored.Digest[..12]}) to {environment.Name}: {string.Join(", ", request.Hosts.Select(t => t.Name))}" +
                (leftAlone.Count == 0 ? "" : $" (not {string.Join(", ", leftAlone)}: the set is for role(s) {string.Join(", ", stored.Set.Roles ?? [])})")));
            var proven = await runs.ProvenClosureAsync(stored.Digest, null, ct).ConfigureAwait(false);
            session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape(proven is null
                ? "Packages: no stage has proven this set; the closure is resolved against the first host's sources and recorded"
                : $"Packages: the proven closure {proven.Digest[..12]} ({proven.Packages.Count} .deb(s), resolved on {proven.ResolvedOn}), from a snapshot repository"));
            var run = await engine.ApplyAsync(request with
            {
                Closure = proven,
                Conffiles = parse.GetValue(conffiles),
                AutoRollback = !parse.GetValue(noAutoRollback),
                KeepGoing = parse.GetValue(keepGoing),
            }, runs.Progress(), ct).ConfigureAwait(false);
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var point = run.RollbackPoint is { } id ? await store.FindRollbackPointAsync(id, ct).ConfigureAwait(false) : null;
            runs.Render(run, point);
            return PatchRuns.ExitCode(run);
        }));
        return command;
    }

    public static Command CreateRollback(VerbContext verbs)
    {
        var env = EnvOption();
        var hosts = HostsOption();
        var pointOption = new Option<string?>("--point") { Description = "The rollback point (default: the environment's latest active one)" };
        var database = ChoiceOption.Create("--database",
            "Restore databases from their dumps: auto (when the schema changed since the point, unless every migration added since declares a down script or compatibility in the set's way_back: then its down scripts run instead), keep (never; declared down scripts still run), or restore (always)",
            DatabaseRestoreMode.Auto);
        var directory = ChoiceOption.Create("--directory",
            "Restore directories' entries from their exports, after the hosts: auto (when entries held at the point are gone; entries added or changed since are kept), keep (never), or restore (always, back to the point exactly)",
            DatabaseRestoreMode.Auto);
        var list = new Option<bool>("--list") { Description = "List the environment's rollback points instead" };
        var command = new Command("rollback", "Return an environment to a rollback point, then verify each host against its manifest from before the change")
        {
            env, hosts, pointOption, database, directory, list,
        };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var runs = new PatchRuns(session);
            var environment = runs.Environment(parse.GetValue(env)!);
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var points = await store.ListRollbackPointsAsync(environment.Name, ct).ConfigureAwait(false);
            if (parse.GetValue(list))
            {
                if (session.Ui.Json)
                {
                    session.Ui.WriteJson(points);
                }
                else
                {
                    foreach (var p in points)
                    {
                        session.Ui.Say($"{p.Id}  {p.Status.ToString().ToLowerInvariant(),-11} {p.PatchId} ({p.PatchDigest[..12]})  {PatchRuns.DescribePoint(p)}");
                    }
                }
                return ExitCodes.Ok;
            }
            var point = parse.GetValue(pointOption) is { } id
                ? points.FirstOrDefault(p => p.Id == id) ?? throw new InputException($"--point: environment {environment.Name} has no rollback point '{id}' (see 'stageproof rollback --env {environment.Name} --list')")
                : points.FirstOrDefault(p => p.Status == RollbackPointStatus.Active)
                  ?? throw new InputException($"environment {environment.Name} has no active rollback point: nothing was applied there since the last rollback");
            var stored = await runs.PatchSetAsync(point.PatchDigest, ct).ConfigureAwait(false);
            var engine = await runs.EngineAsync(ct).ConfigureAwait(false);
            session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape($"Rolling {environment.Name} back to {point.Id} (before {point.PatchId}): {PatchRuns.DescribePoint(point)}"));
            var run = await engine.RollbackAsync(runs.RollbackRequest(environment, point, stored.Set, parse.GetValue(database), parse.GetValue(hosts), parse.GetValue(directory)),
                runs.Progress(), ct).ConfigureAwait(false);
            runs.Render(run, point);
            return PatchRuns.ExitCode(run);
        }));
        return command;
    }
}
