using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Stageproof.Application.Patches;
using Stageproof.Application.Views;
using Stageproof.Core;
using Stageproof.Cli.Features;
using Stageproof.Core.Patches;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof patch freeze FILE | show D | list</c>: immutable, content-addressed patch sets.</summary>
internal static class PatchSetCommand
{
    public static Command Create(VerbContext verbs)
    {
        var command = new Command("patch", "Immutable, content-addressed patch sets");

        var file = new Argument<string>("FILE") { Description = "The patch set YAML file" };
        var freeze = new Command("freeze", "Validate a patch set, resolve every file it refers to into it, store it and print its digest") { file };
        freeze.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var frozen = PatchSetFreezer.Freeze(parse.GetValue(file)!);
            // Who froze a set is its author for four eyes: a claimed name here would let its writer approve it.
            await session.RequireAuthenticatedAsync("freeze a patch set", ct).ConfigureAwait(false);
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var added = await FreezeWorkflow.FreezeAsync(store, session.Actor, frozen, ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { digest = frozen.Digest, id = frozen.Set.Id });
            }
            else
            {
                session.Ui.Say(frozen.Digest);
                session.Ui.Errors.MarkupLine(Infrastructure.Ui.Escape(added
                    ? $"Frozen {frozen.Set.Id}: {frozen.Set.Title}"
                    : $"{frozen.Set.Id} was already frozen with this content"));
            }
            return ExitCodes.Ok;
        }));

        var digest = new Argument<string>("D") { Description = "Digest, or a unique prefix of it" };
        var show = new Command("show", "Show a frozen patch set") { digest };
        show.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var wanted = parse.GetValue(digest)!;
            if (session.Server is not null)
            {
                return ShowRemote(session, await session.Remote.GetAsync<RemotePatchSet>($"patch-sets/{Uri.EscapeDataString(wanted)}", ct).ConfigureAwait(false));
            }
            var store = await session.StoreAsync(ct).ConfigureAwait(false);
            var stored = await store.FindPatchSetAsync(wanted, ct).ConfigureAwait(false)
                ?? throw new InputException($"no frozen patch set has a digest starting with {Core.Validation.Names.Show(wanted)} (see 'stageproof patch list')");
            var closure = await new PatchRuns(session).ProvenClosureAsync(stored.Digest, null, ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                using var document = JsonDocument.Parse(stored.Frozen.Json);
                session.Ui.WriteJson(new { digest = stored.Digest, frozenAt = stored.FrozenAt, patchSet = document.RootElement.Clone(), closure });
            }
            else
            {
                Render(session.Ui.Human, stored);
                RenderClosure(session.Ui.Human, stored.Set, closure);
            }
            return ExitCodes.Ok;
        }, throughServer: true));

        var list = new Command("list", "List frozen patch sets");
        list.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            IReadOnlyList<PatchSetSummary> sets = session.Server is not null
                ? await session.Remote.GetAsync<List<PatchSetSummary>>("patch-sets", ct).ConfigureAwait(false)
                : (await (await session.StoreAsync(ct).ConfigureAwait(false)).ListPatchSetsAsync(ct).ConfigureAwait(false)).Select(PatchSetSummary.Of).ToList();
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(sets);
                return ExitCodes.Ok;
            }
            if (sets.Count == 0)
            {
                session.Ui.Say("No frozen patch sets yet (stageproof patch freeze FILE).");
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Simple)
                .AddColumns("digest", "id", "title", "severity", "ticket", "author", "frozen (UTC)");
            foreach (var s in sets)
            {
                table.AddRow(Infrastructure.Ui.Escape(s.Digest[..Math.Min(12, s.Digest.Length)]), Infrastructure.Ui.Escape(s.Id), Infrastructure.Ui.Escape(s.Title), Infrastructure.Ui.Escape(s.Severity),
                    Infrastructure.Ui.Escape(s.Ticket ?? "-"), Infrastructure.Ui.Escape(s.Author), Time(s.FrozenAt));
            }
            session.Ui.Human.Write(table);
            return ExitCodes.Ok;
        }, throughServer: true));

        command.Subcommands.Add(freeze);
        command.Subcommands.Add(show);
        command.Subcommands.Add(list);
        return command;
    }

    /// <summary>What <c>GET /api/v1/patch-sets/{digest}</c> answers: the set as frozen, without its closure.</summary>
    private sealed record RemotePatchSet(string Digest, DateTimeOffset FrozenAt, JsonElement PatchSet);

    /// <summary><c>patch show</c> through a server: the same document and lines, less the closure the API does not serve.</summary>
    private static int ShowRemote(Infrastructure.CliSession session, RemotePatchSet answer)
    {
        if (session.Ui.Json)
        {
            session.Ui.WriteJson(new { digest = answer.Digest, frozenAt = answer.FrozenAt, patchSet = answer.PatchSet });
            return ExitCodes.Ok;
        }
        PatchSet set;
        try
        {
            set = answer.PatchSet.Deserialize<PatchSet>(PatchSetFreezer.JsonOptions) ?? throw new JsonException("empty patch set");
        }
        catch (JsonException e)
        {
            throw new InfrastructureException(session.Remote.Server.Text, $"answered with a patch set this CLI cannot read ({e.Message})");
        }
        Render(session.Ui.Human, set, answer.Digest, answer.FrozenAt);
        if (set.Packages.Count > 0)
        {
            session.Ui.Human.MarkupLine("[bold]closure[/]   not shown: the server's API does not serve it yet ('stageproof patch show' where the state is shows it)");
        }
        return ExitCodes.Ok;
    }

    private static void Render(IAnsiConsole console, StoredPatchSet stored) => Render(console, stored.Set, stored.Digest, stored.FrozenAt);

    private static void Render(IAnsiConsole console, PatchSet p, string digest, DateTimeOffset frozenAt)
    {
        console.MarkupLine($"[bold]{Infrastructure.Ui.Escape(p.Id)}[/]: {Infrastructure.Ui.Escape(p.Title)}");
        console.MarkupLine($"digest    {Infrastructure.Ui.Escape(digest)}");
        console.MarkupLine($"frozen    {Time(frozenAt)} UTC");
        console.MarkupLine($"severity  {Lower(p.Severity)}");
        console.MarkupLine($"author    {Infrastructure.Ui.Escape(p.Author)}");
        console.MarkupLine($"ticket    {Infrastructure.Ui.Escape(p.Ticket ?? "-")}");
        if (p.Cves.Count > 0)
        {
            console.MarkupLine($"cves      {Infrastructure.Ui.Escape(string.Join(", ", p.Cves))}");
        }
        console.MarkupLine($"hosts     {(p.Roles is null ? "every host" : "role " + Infrastructure.Ui.Escape(string.Join(", ", p.Roles)) + " only")}");
        console.MarkupLine($"reason    {Infrastructure.Ui.Escape(p.Reason)}");
        if (p.RootCause is not null)
        {
            console.MarkupLine($"root cause {Infrastructure.Ui.Escape(p.RootCause)}");
        }
        if (p.Repositories.Count > 0)
        {
            console.MarkupLine("[bold]repositories[/]");
            foreach (var r in p.Repositories)
            {
                console.MarkupLine("  " + Infrastructure.Ui.Escape(r));
            }
        }
        if (p.Packages.Count > 0)
        {
            console.MarkupLine("[bold]packages[/]");
            foreach (var pkg in p.Packages)
            {
                console.MarkupLine($"  {Infrastructure.Ui.Escape(pkg.Name)} = {Infrastructure.Ui.Escape(pkg.Version)}");
            }
        }
        if (p.Files.Count > 0)
        {
            console.MarkupLine("[bold]files[/]");
            foreach (var f in p.Files)
            {
                var how = f.Set is not null
                    ? $"set {string.Join(", ", f.Set.Select(kv => $"{kv.Key} = {kv.Value}"))}"
                    : $"content {(f.Content ?? "").Length.ToString(CultureInfo.InvariantCulture)} chars, sha256 {PatchSetFreezer.Sha256(f.Content ?? "")[..12]}"
                      + (f.Source is null ? "" : $" (from {f.Source})");
                var meta = $"{f.Owner ?? "-"}:{f.Group ?? "-"} {f.Mode ?? "-"}";
                console.MarkupLine($"  {Infrastructure.Ui.Escape(f.Path)}  {Infrastructure.Ui.Escape(meta)}  {Infrastructure.Ui.Escape(how)}");
            }
        }
        if (p.Migrations.Count > 0)
        {
            console.MarkupLine("[bold]migrations[/]");
            foreach (var m in p.Migrations)
            {
                console.MarkupLine($"  database {Infrastructure.Ui.Escape(m.Database)}");
                var n = 1;
                foreach (var s in m.Scripts)
                {
                    console.MarkupLine($"    {n++.ToString(CultureInfo.InvariantCulture)}. {Infrastructure.Ui.Escape(s.File)}  sha256 {Infrastructure.Ui.Escape(s.Sha256?[..12] ?? "?")}");
                }
            }
        }
        RenderCommands(console, "pre", p.Commands.Pre);
        RenderCommands(console, "post", p.Commands.Post);
    }

    /// <summary>The .debs a PASS bound to this digest, which every later environment installs; or why there are none yet.</summary>
    private static void RenderClosure(IAnsiConsole console, PatchSet set, PackageClosure? closure)
    {
        if (set.Packages.Count == 0)
        {
            return;
        }
        if (closure is null)
        {
            console.MarkupLine("[bold]closure[/]   none proven yet: the first stage resolves it against its hosts' sources and binds its PASS to it");
            return;
        }
        console.MarkupLine($"[bold]closure[/]   {closure.Digest[..12]}, resolved on {Infrastructure.Ui.Escape(closure.ResolvedOn)} at {Time(closure.ResolvedAt)} UTC; installed from a snapshot repository");
        foreach (var d in closure.Packages)
        {
            console.MarkupLine($"  {Infrastructure.Ui.Escape(d.Name)} {Infrastructure.Ui.Escape(d.Version)} {d.Architecture}  sha256 {d.Sha256}");
        }
        foreach (var d in closure.Previous)
        {
            console.MarkupLine($"  [dim]kept for rollback: {Infrastructure.Ui.Escape(d.Name)} {Infrastructure.Ui.Escape(d.Version)} {d.Architecture}  sha256 {d.Sha256}[/]");
        }
    }

    private static void RenderCommands(IAnsiConsole console, string phase, IReadOnlyList<Core.Patches.PatchCommand> commands)
    {
        if (commands.Count == 0)
        {
            return;
        }
        console.MarkupLine($"[bold]commands ({phase})[/]");
        foreach (var c in commands)
        {
            var timeout = c.TimeoutSeconds is { } t ? $"  (timeout {t.ToString(CultureInfo.InvariantCulture)}s)" : "";
            console.MarkupLine($"  {Infrastructure.Ui.Escape(c.Run)}{timeout}");
        }
    }

    private static string Lower(PatchSeverity severity) => severity.ToString().ToLowerInvariant();

    private static string Time(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
}
