using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core;
using Stageproof.Lab;

namespace Stageproof.Cli.Commands;

internal static class LabCommand
{
    public static readonly Option<string> Dir = new("--dir")
    {
        Description = "The lab's directory (its stageproof.yaml, keys, repository and host roots live there)",
        DefaultValueFactory = _ => "lab",
        Recursive = true,
    };

    /// <summary>prod, qa and staging get 127.0.N.x, 127.0.N+10.x, 127.0.N+20.x: lets two labs (a test's and yours) coexist.</summary>
    public static readonly Option<int> AddressOctet = new("--address-octet")
    {
        Description = "Third octet of prod's 127.0.N.x addresses (qa N+10, staging N+20)",
        DefaultValueFactory = _ => 10,
        Recursive = true,
    };

    /// <summary>DroppedSearchIndex → dropped-search-index.</summary>
    private static string Kebab(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(c) : c.ToString()));

    public static Command Create(VerbContext verbs)
    {
        var command = new Command("lab", "A production / QA / staging estate on this machine: chroot hosts with their own sshd, PostgreSQL (or MariaDB and OpenLDAP), an apt repository") { Dir, AddressOctet };

        var appHosts = new Option<int>("--app-hosts") { Description = "Number of prod app hosts", DefaultValueFactory = _ => 2 };
        var sshPort = new Option<int>("--ssh-port") { Description = "Port of every host's sshd", DefaultValueFactory = _ => 2222 };
        var upstream = new Option<bool>("--upstream") { Description = "Also give the hosts this machine's Debian archives (security included), so scan finds real pending updates" };
        var estate = ChoiceOption.Create("--estate",
            "standard: acme-mail on PostgreSQL; mail: acme-mail on MariaDB with logins bound against OpenLDAP (slapd on an LDAP host), behind an nginx proxy host, per environment", LabEstate.Standard);
        var up = new Command("up", "Build (or reuse) the base image and bring the estate up") { appHosts, sshPort, upstream, estate };
        up.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            if (parse.GetValue(appHosts) is < 1 or > 50)
            {
                throw new InputException("--app-hosts must be between 1 and 50");
            }
            var lab = Manager(parse, parse.GetValue(appHosts), parse.GetValue(sshPort), parse.GetValue(upstream), parse.GetValue(estate));
            var result = await lab.UpAsync(Progress(session), ct).ConfigureAwait(false);
            await session.AuditAsync("lab.up", result.Directory, $"{result.Hosts.Count} hosts, {result.Environments.Count} environments", cancellationToken: ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(result);
            }
            else
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumns("host", "environment", "role", "address", "ssh port");
                foreach (var h in result.Hosts)
                {
                    table.AddRow(h.Name, h.Environment, h.Role, h.Address, h.Port.ToString(CultureInfo.InvariantCulture));
                }
                session.Ui.Human.Write(table);
                session.Ui.Say($"Lab up in {result.Elapsed.TotalSeconds:0.0}s{(result.BaseImageBuilt ? " (base image built)" : " (cached base image)")}. Configuration: {result.ConfigFile}");
                session.Ui.Say($"Try: stageproof --config {result.ConfigFile} --state {Path.Combine(result.Directory, ".stageproof")} drift prod staging");
            }
            return ExitCodes.Ok;
        }));

        var down = new Command("down", "Stop every process, unmount everything and remove the hosts (idempotent)");
        down.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var result = await Manager(parse).DownAsync(Progress(session), ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(result);
            }
            else
            {
                session.Ui.Say(result.WasUp
                    ? $"Lab down: {result.ProcessesStopped} processes stopped, {result.DatabasesStopped} database servers stopped, {result.Unmounted} mounts removed ({result.Elapsed.TotalSeconds:0.0}s)."
                    : "The lab was not up; nothing to do.");
            }
            return ExitCodes.Ok;
        }));

        var status = new Command("status", "Mounts, sshd, acme-mail, the databases and directories of every lab host and environment");
        status.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var result = await Manager(parse).StatusAsync(ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { result.Up, result.Healthy, result.Directory, result.Hosts, result.Environments });
                return result.Healthy ? ExitCodes.Ok : ExitCodes.Finding;
            }
            if (!result.Up)
            {
                session.Ui.Say($"No lab is up in {result.Directory}.");
                return ExitCodes.Finding;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("host", "environment", "address", "mounted", "sshd", "acme-mail");
            foreach (var h in result.Hosts)
            {
                table.AddRow(h.Name, h.Environment, h.Address, Mark(h.Mounted), Mark(h.SshUp), h.AcmeMailHealthy is null ? "-" : Mark(h.AcmeMailHealthy.Value));
            }
            session.Ui.Human.Write(table);
            foreach (var e in result.Environments)
            {
                session.Ui.Say($"{(e.DatabaseEngine == "mariadb" ? "MariaDB" : "PostgreSQL")} of {e.Name} on {e.DatabaseAddress}: {(e.DatabaseUp ? "up" : "DOWN")}");
                if (e.DirectoryAddress is not null)
                {
                    session.Ui.Say($"OpenLDAP of {e.Name} on {e.DirectoryAddress}: {(e.DirectoryUp == true ? "up" : "DOWN")}");
                }
            }
            return result.Healthy ? ExitCodes.Ok : ExitCodes.Finding;
        }));

        var source = new Argument<string>("SRC_ENV") { Description = "Environment to clone (e.g. prod)" };
        var destination = new Argument<string>("DST_ENV") { Description = "Name of the clone (e.g. prod-clone)" };
        var asControl = new Option<bool>("--control")
        {
            Description = "Make the clone SRC_ENV's control: a stage of SRC_ENV loads it in the same seconds and judges latency against it",
        };
        var clone = new Command("clone", "Copy-on-write clone of an environment's hosts and database") { source, destination, asControl };
        clone.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var result = await Manager(parse).CloneAsync(parse.GetValue(source)!, parse.GetValue(destination)!, Progress(session), ct,
                parse.GetValue(asControl)).ConfigureAwait(false);
            await session.AuditAsync("lab.clone", $"{parse.GetValue(source)} -> {parse.GetValue(destination)}", $"{result.Hosts.Count} hosts", cancellationToken: ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(result);
            }
            else
            {
                session.Ui.Say($"Cloned {parse.GetValue(source)} as {result.Environment.Name}: {string.Join(", ", result.Hosts.Select(h => $"{h.Name} ({h.Address})"))}, database on {result.Environment.DatabaseAddress} ({result.Elapsed.TotalSeconds:0.0}s).");
            }
            return ExitCodes.Ok;
        }));

        var debs = new Argument<string[]>("DEB") { Description = ".deb files to publish", Arity = ArgumentArity.OneOrMore };
        var repoAdd = new Command("add", "Publish .deb files into the lab's apt repository and refresh every host") { debs };
        repoAdd.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var files = parse.GetValue(debs)!.Select(Path.GetFullPath).ToList();
            foreach (var f in files.Where(f => !File.Exists(f) || !f.EndsWith(".deb", StringComparison.Ordinal)))
            {
                throw new InputException($"{f}: not an existing .deb file");
            }
            var result = await Manager(parse).RepoAddAsync(files, Progress(session), ct).ConfigureAwait(false);
            await session.AuditAsync("lab.repo.add", string.Join(' ', files.Select(Path.GetFileName)), $"{result.HostsUpdated} hosts refreshed", cancellationToken: ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(result);
            }
            else
            {
                session.Ui.Say($"Repository now offers: {string.Join(", ", result.Packages)} ({result.HostsUpdated} hosts refreshed).");
            }
            return ExitCodes.Ok;
        }));
        var kinds = string.Join(", ", BadPackages.All.Select(k => Kebab(k.ToString())));
        var badKind = new Argument<string>("KIND") { Description = $"One of the gauntlet's bad updates: {kinds}" };
        var repoAddBad = new Command("add-bad", "Build one of the gauntlet's bad updates from the repository's acme-mail 1.1 and publish it (prints its version)") { badKind };
        repoAddBad.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var name = parse.GetValue(badKind)!;
            var kind = BadPackages.All.Where(k => Kebab(k.ToString()) == name).Select(k => (BadUpdate?)k).FirstOrDefault()
                       ?? throw new InputException($"lab repo add-bad: unknown bad update '{name}' (known: {kinds})");
            var manager = Manager(parse);
            var good = Path.Combine(manager.Directory, "repo", "acme-mail_1.1-1_amd64.deb");
            if (!File.Exists(good))
            {
                throw new InputException($"{good}: missing; the gauntlet's updates are built from the lab's acme-mail 1.1 (run `stageproof lab up` first)");
            }
            var deb = await BadPackages.BuildAsync(good, kind, Path.Combine(manager.Directory, "bad"), ct).ConfigureAwait(false);
            var result = await manager.RepoAddAsync([deb], Progress(session), ct).ConfigureAwait(false);
            await session.AuditAsync("lab.repo.add", Path.GetFileName(deb), $"{result.HostsUpdated} hosts refreshed", cancellationToken: ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { kind = name, version = BadPackages.Version(kind), deb, description = BadPackages.Describe(kind) });
            }
            else
            {
                session.Ui.Say($"{BadPackages.Describe(kind)}: acme-mail {BadPackages.Version(kind)} published ({result.HostsUpdated} hosts refreshed).");
            }
            return ExitCodes.Ok;
        }));
        var repo = new Command("repo", "The lab's local apt repository") { repoAdd, repoAddBad };

        var snapHost = new Argument<string>("HOST") { Description = "Lab host (e.g. prod-app-1)" };
        var snapId = new Argument<string>("ID") { Description = "Snapshot id (a letter or '_', then letters, digits, '_' or '-')" };
        var snapshot = new Command("snapshot", "Snapshot a host: a copy of its overlay upper layer in LABDIR/snapshots/ID/HOST") { snapHost, snapId };
        snapshot.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var result = await Manager(parse).SnapshotAsync(parse.GetValue(snapHost)!, parse.GetValue(snapId)!, ct).ConfigureAwait(false);
            await session.AuditAsync("lab.snapshot", $"{result.Host} {result.Id}", $"{result.Bytes} bytes in {result.Path}", cancellationToken: ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(result);
            }
            else
            {
                session.Ui.Say($"Snapshot {result.Id} of {result.Host}: {result.Bytes / 1024 / 1024} MiB in {result.Path} ({result.Elapsed.TotalSeconds:0.00}s).");
            }
            return ExitCodes.Ok;
        }));

        var restore = new Command("restore", "Return a host exactly to a snapshot: stop, swap the upper layer, remount, restart sshd and acme-mail") { snapHost, snapId };
        restore.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var result = await Manager(parse).RestoreSnapshotAsync(parse.GetValue(snapHost)!, parse.GetValue(snapId)!, ct).ConfigureAwait(false);
            await session.AuditAsync("lab.restore", $"{result.Host} {result.Id}",
                $"outage {result.Outage.TotalSeconds:0.00}s, acme-mail started: {result.AcmeMailStarted}", cancellationToken: ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(result);
            }
            else
            {
                session.Ui.Say($"{result.Host} restored to {result.Id}: {result.ProcessesStopped} processes stopped, outage {result.Outage.TotalSeconds:0.00}s" +
                               (result.AcmeMailStarted ? ", acme-mail healthy again." : "."));
            }
            return ExitCodes.Ok;
        }));

        var listHost = new Argument<string?>("HOST") { Description = "Only this host's snapshots", Arity = ArgumentArity.ZeroOrOne };
        var snapshots = new Command("snapshots", "List host snapshots") { listHost };
        snapshots.SetAction((parse, ct) => verbs.RunAsync(parse, session =>
        {
            var result = Manager(parse).ListSnapshots(parse.GetValue(listHost));
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(result);
                return Task.FromResult(ExitCodes.Ok);
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("host", "id", "taken (UTC)", "MiB", "path");
            foreach (var s in result)
            {
                table.AddRow(s.Host, s.Id, s.CreatedUtc.ToString("u", CultureInfo.InvariantCulture), (s.Bytes / 1024 / 1024).ToString(CultureInfo.InvariantCulture), Infrastructure.Ui.Escape(s.Path));
            }
            session.Ui.Human.Write(table);
            return Task.FromResult(ExitCodes.Ok);
        }));

        var forget = new Command("snapshot-delete", "Delete a host snapshot") { snapHost, snapId };
        forget.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var (host, id) = (parse.GetValue(snapHost)!, parse.GetValue(snapId)!);
            if (!await Manager(parse).DeleteSnapshotAsync(host, id, ct).ConfigureAwait(false))
            {
                throw new InputException($"lab snapshot-delete: host '{host}' has no snapshot '{id}'");
            }
            await session.AuditAsync("lab.snapshot.delete", $"{host} {id}", "deleted", cancellationToken: ct).ConfigureAwait(false);
            session.Ui.Say($"Snapshot {id} of {host} deleted.");
            return ExitCodes.Ok;
        }));

        command.Subcommands.Add(up);
        command.Subcommands.Add(down);
        command.Subcommands.Add(status);
        command.Subcommands.Add(clone);
        command.Subcommands.Add(repo);
        command.Subcommands.Add(snapshot);
        command.Subcommands.Add(restore);
        command.Subcommands.Add(snapshots);
        command.Subcommands.Add(forget);
        return command;
    }

    internal static LabManager Manager(ParseResult parse, int appHosts = 2, int sshPort = 2222, bool upstream = false, LabEstate estate = LabEstate.Standard) =>
        new(new LabOptions
        {
            Estate = estate,
            Directory = Path.GetFullPath(parse.GetValue(Dir) ?? "lab"),
            AppHosts = appHosts,
            SshPort = sshPort,
            Upstream = upstream,
            AddressOctet = parse.GetValue(AddressOctet),
        });

    internal static IProgress<string> Progress(CliSession session)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        return new SyncProgress<string>(line => session.Ui.Say($"  [{clock.Elapsed.TotalSeconds,5:0.0}s] {line}"));
    }

    private static string Mark(bool ok) => ok ? "[green]yes[/]" : "[red]NO[/]";

}
