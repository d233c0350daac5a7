using System.CommandLine;
using System.Globalization;
using System.Text;
using Spectre.Console;
using Stageproof.Application.Estate;
using Stageproof.Application.Staging;
using Stageproof.Cli.Features;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Hosts;
using Stageproof.Core.Patches;
using Stageproof.Core.Stage;
using Stageproof.Hosts.Apply;
using Stageproof.Lab;

namespace Stageproof.Cli.Commands;

/// <summary>The seeds' story told on the lab: does staging mirror prod, mending it; a patch behind a rollback point; the stage gate;
/// then the lifecycle (DemoCommand.Lifecycle.cs): people and roles, promotion, a failing canary, the emergency lane.</summary>
internal static partial class DemoCommand
{
    private const string TunedFile = "/etc/acme-mail/acme-mail.conf";
    private const string HandTuning = "db.pool_size = 5";

    public static Command Create(VerbContext verbs)
    {
        var dir = new Option<string>("--dir") { Description = "The lab's directory", DefaultValueFactory = _ => "lab" };
        var octet = new Option<int>("--address-octet") { Description = "Third octet of prod's 127.0.N.x addresses", DefaultValueFactory = _ => 10 };
        var estate = ChoiceOption.Create("--estate",
            "The lab to tell it on: mail (the default: acme-mail on MariaDB, logins bound against OpenLDAP, as the platform the product was born from) or standard (acme-mail on PostgreSQL)", LabEstate.Mail);
        var command = new Command("demo", "Bring the lab up if needed and tell the story step by step: drift, a patch applied and rolled back, the stage gate passing a fix and failing a bad update, users and approvals, the fix promoted to prod canary first, a canary that fails and rolls back, the emergency lane") { dir, octet, estate };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var ui = session.Ui;
            var wanted = parse.GetValue(estate);
            var lab = new LabManager(new LabOptions { Directory = Path.GetFullPath(parse.GetValue(dir) ?? "lab"), AddressOctet = parse.GetValue(octet), Estate = wanted });

            Step(ui, 1, "The estate");
            var status = await lab.StatusAsync(ct).ConfigureAwait(false);
            var isMail = status.Environments.Any(e => e.DatabaseEngine == "mariadb");
            if (status.Up && status.Healthy && isMail != (wanted == LabEstate.Mail))
            {
                ui.Say($"The lab here is the {(isMail ? "mail" : "standard")} estate and --estate asks for the {(wanted == LabEstate.Mail ? "mail" : "standard")} one: taking it down first.");
                await lab.DownAsync(LabCommand.Progress(session), ct).ConfigureAwait(false);
                status = await lab.StatusAsync(ct).ConfigureAwait(false);
            }
            if (status.Up && (!status.Healthy || !File.Exists(lab.ConfigFile)))
            {
                ui.Say("A lab is recorded here but is not healthy (a failed or interrupted run?): taking it down first.");
                await lab.DownAsync(LabCommand.Progress(session), ct).ConfigureAwait(false);
                status = await lab.StatusAsync(ct).ConfigureAwait(false);
            }
            if (!status.Up)
            {
                ui.Say(wanted == LabEstate.Mail
                    ? "No lab is up yet: building the mail estate — prod (2 app hosts, MariaDB, an OpenLDAP directory), qa and staging — on this machine. acme-mail keeps its mail in MariaDB and checks every login by binding to the directory. The first time includes a Debian base image; later runs take seconds."
                    : "No lab is up yet: building prod (2 app hosts + PostgreSQL), qa and staging on this machine. The first time includes a Debian base image; later runs take seconds.");
                await lab.UpAsync(LabCommand.Progress(session), ct).ConfigureAwait(false);
                await session.AuditAsync("lab.up", lab.Directory, "by demo", cancellationToken: ct).ConfigureAwait(false);
            }
            else
            {
                ui.Say($"The lab in {lab.Directory} is already up.");
            }
            session.UseConfig(ConfigLoader.Load(lab.ConfigFile));
            var config = session.Config;
            ui.Say($"Configuration: {lab.ConfigFile}. Every host is a real root filesystem with its own sshd; Stageproof reaches each over SSH with its host key verified.");

            Step(ui, 2, "Facts: what is really on every host");
            var scope = FactsScope.Resolve(config, config.Environments.Keys.Where(e => e is "prod" or "qa" or "staging"));
            var facts = await (await session.FactsCollectorAsync(ct).ConfigureAwait(false)).CollectAsync(scope, session.FactsProgress(), ct).ConfigureAwait(false);
            foreach (var failure in facts.Failures)
            {
                ui.Error($"{failure.Target}: {failure.Message}");
            }
            if (facts.Failures.Count > 0)
            {
                return ExitCodes.Infrastructure;
            }
            ui.Say($"{facts.Manifests.Count} manifests stored, each with its own SHA-256 digest; 'stageproof facts prod --json' shows one in full.");

            Step(ui, 3, "Somebody tuned staging by hand");
            var staging = config.HostsOf("staging")[0];
            var prodHost = config.HostsOf("prod")[0];
            var factory = session.Transports();
            await using (var transport = factory.Create(staging))
            {
                var current = await ReadAsync(transport, TunedFile, ct).ConfigureAwait(false);
                if (!current.Contains(HandTuning, StringComparison.Ordinal))
                {
                    await WriteAsync(transport, TunedFile, current.TrimEnd('\n') + "\n# tuned during a load test last spring, never reverted\n" + HandTuning + "\n", ct).ConfigureAwait(false);
                }
            }
            await session.AuditAsync("demo.inject-drift", staging.Name, $"{TunedFile}: {HandTuning}", cancellationToken: ct).ConfigureAwait(false);
            ui.Say($"On {staging.Name}, {TunedFile} now says '{HandTuning}' — the kind of legacy setting that makes staging lie about production.");

            Step(ui, 4, "Does staging really mirror production?");
            var drift = await DriftAsync(session, ct).ConfigureAwait(false);
            var tuned = drift.Hosts.SelectMany(p => p.Drift.Items).FirstOrDefault(i => i.Key == TunedFile);
            ui.Say(tuned is null
                ? "Unexpected: the hand-tuned file did not show up as drift."
                : $"Found: {TunedFile} differs ({tuned.Category.Code()}, {tuned.Severity.Code()} severity). A patch proven on this staging host would be proven against a different pool size than production runs with.");

            Step(ui, 5, "Reconcile staging with production");
            string reference;
            await using (var transport = factory.Create(prodHost))
            {
                reference = await ReadAsync(transport, TunedFile, ct).ConfigureAwait(false);
            }
            await using (var transport = factory.Create(staging))
            {
                await WriteAsync(transport, TunedFile, reference, ct).ConfigureAwait(false);
                var restart = await transport.RunAsync(RemoteCommand.Exec("service", "acme-mail", "restart"), cancellationToken: ct).ConfigureAwait(false);
                ui.Say(restart.Succeeded ? $"{staging.Name}: {TunedFile} copied from {prodHost.Name}; acme-mail restarted." : $"{staging.Name}: restart said: {restart.StandardError.Trim()}");
            }
            await session.AuditAsync("demo.reconcile", staging.Name, $"{TunedFile} copied from {prodHost.Name}", cancellationToken: ct).ConfigureAwait(false);

            Step(ui, 6, "Drift again");
            var after = await DriftAsync(session, ct).ConfigureAwait(false);
            var verdict = !DriftReport.From(after).Fails(config.Drift.MinFidelity, config.Drift.FailOn);
            ui.Say(verdict
                ? $"Staging mirrors production again: fidelity {after.Fidelity.ToString("0.0%", CultureInfo.InvariantCulture)}. Every step above is in the audit log: 'stageproof audit log', 'stageproof audit verify'."
                : "Staging still differs from production; see the table above.");

            var patched = verdict && await PatchStoryAsync(session, lab, ct).ConfigureAwait(false);
            var staged = patched && await StageStoryAsync(session, lab, ct).ConfigureAwait(false);
            var promoted = staged && await LifecycleStoryAsync(session, lab, ct).ConfigureAwait(false);

            ui.Human.Write(new Rule().LeftJustified());
            ui.Say($"Explore: stageproof --config {lab.ConfigFile} drift prod staging | facts prod | patch list | rollback --env staging --list | audit log. Tear down: stageproof lab down --dir {lab.Directory}");
            return verdict && patched && staged && promoted ? ExitCodes.Ok : ExitCodes.Finding;
        }));
        return command;
    }

    private const string FixPatchSet = """
        # The security fix, as an immutable patch set: exact version, change record, and how to restart.
        id: ACME-2026-11-01
        title: acme-mail 1.1 security update
        ticket: INC-4711
        reason: the mailbox endpoint answers for another user's token
        root_cause: the token's owner was not compared with the mailbox owner
        severity: critical
        author: alice
        roles: [app]
        packages:
          - { name: acme-mail, version: "1.1-1" }
        commands:
          post: [{ run: "service acme-mail restart", timeout: 60 }]
        """;

    /// <summary>Steps 7-9: freeze the fix, apply it to staging behind a rollback point, and roll it back.</summary>
    private static async Task<bool> PatchStoryAsync(CliSession session, LabManager lab, CancellationToken ct)
    {
        var ui = session.Ui;
        Step(ui, 7, "Freeze the fix: an immutable, content-addressed patch set");
        var file = Path.Combine(lab.Directory, "patches", "acme-mail-1.1.yaml");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        // Stamped per run (in its reason, so in its digest): a re-run freezes a fresh set, so the approvals and rollouts
        // of an earlier run do not count for it and the promotion story below is told again from its start.
        var stamp = session.Time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        await File.WriteAllTextAsync(file, FixPatchSet.Replace("for another user's token", $"for another user's token (demo run {stamp} UTC)", StringComparison.Ordinal), ct).ConfigureAwait(false);
        var frozen = PatchSetFreezer.Freeze(file);
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        await store.SavePatchSetAsync(frozen, ct).ConfigureAwait(false);
        await session.AuditAsync("patch.freeze", frozen.Set.Id, "by demo", frozen.Digest, cancellationToken: ct).ConfigureAwait(false);
        ui.Say($"{file} frozen as {frozen.Digest}. From here on everything names it by this digest: what staging proves is byte for byte what production gets.");

        Step(ui, 8, "Apply it to staging, behind a rollback point");
        var runs = new PatchRuns(session);
        var staging = runs.Environment("staging");
        var stored = (await store.FindPatchSetAsync(frozen.Digest, ct).ConfigureAwait(false))!;
        var engine = await runs.EngineAsync(ct).ConfigureAwait(false);
        var apply = await engine.ApplyAsync(runs.ApplyRequest(staging, stored, runs.Hosts(staging, null)), runs.Progress(), ct).ConfigureAwait(false);
        var point = apply.RollbackPoint is { } id ? await store.FindRollbackPointAsync(id, ct).ConfigureAwait(false) : null;
        runs.Render(apply, point);
        if (!apply.Succeeded || point is null)
        {
            ui.Error("the fix did not apply to staging; see the table above");
            return false;
        }
        ui.Say($"Before anything changed, rollback point {point.Id} was taken:");
        foreach (var h in point.Hosts)
        {
            foreach (var p in h.Packages.Where(p => p.KeptDeb is not null))
            {
                ui.Say($"  {h.Host}: the exact installed {p.Name} {p.OldVersion} kept as {p.KeptDeb}, so going back never depends on a mirror");
            }
            ui.Say($"  {h.Host}: {h.Files.Count} config file(s) saved with owner and mode; manifest {h.ManifestBefore[..12]} recorded" +
                (h.Snapshot is null ? "" : "; an overlay snapshot of the whole host as a last resort"));
        }
        foreach (var d in point.Databases)
        {
            var dbEngine = Stageproof.Core.Databases.DatabaseEndpoint.Parse(session.Config.Environment("staging").Databases[d.Database]).Engine;
            ui.Say($"  database {d.Database}: dumped ({(dbEngine == Stageproof.Core.Databases.DatabaseEngine.Postgres ? "pg_dump" : "mariadb-dump")}) into {d.Directory}");
        }

        Step(ui, 9, "Roll it back, and prove the host is as it was");
        var rollback = await engine.RollbackAsync(runs.RollbackRequest(staging, point, stored.Set), runs.Progress(), ct).ConfigureAwait(false);
        runs.Render(rollback, null);
        var restored = rollback.Restores.Where(r => r.Restored).Select(r => r.Database).ToList();
        ui.Say(!rollback.Succeeded ? "The rollback left residue; see the table above."
            : "Every host's packages, config files and services match its manifest from before the change; " + (restored.Count == 0
                ? "no database needed a restore, so nothing written to it meanwhile was lost."
                : $"database(s) {string.Join(", ", restored)} had to be restored from the dump: what was written since the change is listed above as discarded."));
        return rollback.Succeeded;
    }

    /// <summary>Steps 10-12: the stage gate passes the fix, fails a bad update with its reason read out, and leaves
    /// staging as it found it.</summary>
    private static async Task<bool> StageStoryAsync(CliSession session, LabManager lab, CancellationToken ct)
    {
        var ui = session.Ui;
        var store = await session.StoreAsync(ct).ConfigureAwait(false);
        var fix = PatchSetFreezer.Freeze(Path.Combine(lab.Directory, "patches", "acme-mail-1.1.yaml"));
        var reports = Path.Combine(lab.Directory, "reports");
        Directory.CreateDirectory(reports);

        Step(ui, 10, "Stage the fix: prove it in staging before production");
        ui.Say("fidelity → baseline (with load) → rollback point and apply → the suite again, compared → what changed, expected or not → soak → rollback rehearsal → re-apply → verdict.");
        var good = await new StageService(session).RunAsync(new StageOptions { Digest = fix.Digest, Environment = "staging" }, ct).ConfigureAwait(false);
        var goodHtml = Path.Combine(reports, "stage-acme-mail-1.1.html");
        await StageCommand.WriteReportsAsync(good, null, goodHtml, ui, ct).ConfigureAwait(false);
        StageCommand.Render(ui.Human, good);

        Step(ui, 11, "A bad update: it starts, it answers — and it changes a default nobody set");
        var bad = await BadPackages.BuildAsync(Path.Combine(lab.Directory, "repo", "acme-mail_1.1-1_amd64.deb"), BadUpdate.ChangedDefault,
            Path.Combine(lab.Directory, "bad"), ct).ConfigureAwait(false);
        await lab.RepoAddAsync([bad], LabCommand.Progress(session), ct).ConfigureAwait(false);
        var badFile = Path.Combine(lab.Directory, "patches", "acme-mail-1.1.1.yaml");
        await File.WriteAllTextAsync(badFile, FixPatchSet
            .Replace("ACME-2026-11-01", "ACME-2026-11-02", StringComparison.Ordinal)
            .Replace("acme-mail 1.1 security update", "acme-mail 1.1.1 maintenance update", StringComparison.Ordinal)
            .Replace("\"1.1-1\"", $"\"{BadPackages.Version(BadUpdate.ChangedDefault)}\"", StringComparison.Ordinal), ct).ConfigureAwait(false);
        var badSet = PatchSetFreezer.Freeze(badFile);
        await store.SavePatchSetAsync(badSet, ct).ConfigureAwait(false);
        ui.Say($"{BadPackages.Describe(BadUpdate.ChangedDefault)} — frozen as {badSet.Digest[..12]}; staged on top of the fix.");
        var failed = await new StageService(session).RunAsync(new StageOptions { Digest = badSet.Digest, Environment = "staging" }, ct).ConfigureAwait(false);
        var badHtml = Path.Combine(reports, "stage-acme-mail-1.1.1.html");
        await StageCommand.WriteReportsAsync(failed, null, badHtml, ui, ct).ConfigureAwait(false);
        StageCommand.Render(ui.Human, failed);
        foreach (var reason in failed.Reasons)
        {
            ui.Say($"Why it failed: {reason.Step} — {reason.Subject}: {reason.Evidence}");
        }

        Step(ui, 12, "Leave staging as it was");
        var points = await store.ListRollbackPointsAsync("staging", ct).ConfigureAwait(false);
        if (points.FirstOrDefault(p => p.Status == RollbackPointStatus.Active) is { } point)
        {
            var runs = new PatchRuns(session);
            var engine = await runs.EngineAsync(ct).ConfigureAwait(false);
            var staging = runs.Environment("staging");
            var set = (await runs.PatchSetAsync(point.PatchDigest, ct).ConfigureAwait(false)).Set;
            var back = await engine.RollbackAsync(runs.RollbackRequest(staging, point, set), runs.Progress(), ct).ConfigureAwait(false);
            ui.Say(back.Succeeded ? "Staging is back at acme-mail 1.0, as production is." : "Staging could not be returned to 1.0; see above.");
        }
        ui.Say($"Reports (open in any browser, no network needed): {goodHtml} (PASS) and {badHtml} (FAIL).");
        return good.Verdict == StageVerdict.Pass && failed.Verdict == StageVerdict.Fail;
    }

    private static async Task<EnvironmentDrift> DriftAsync(CliSession session, CancellationToken ct)
    {
        var operands = await session.DriftOperandsAsync(ct).ConfigureAwait(false);
        var (prod, failuresProd) = await operands.ResolveAsync("prod", storedOnly: false, ct).ConfigureAwait(false);
        var (staging, failuresStaging) = await operands.ResolveAsync("staging", storedOnly: false, ct).ConfigureAwait(false);
        var failures = failuresProd.Concat(failuresStaging).ToList();
        if (failures.Count > 0)
        {
            throw new InfrastructureException(failures[0].Target, failures[0].Message);
        }
        var drift = DriftEngine.CompareEnvironments(prod.Label, prod.Manifests, staging.Label, staging.Manifests, session.Config.Drift);
        var report = DriftReport.From(drift);
        var rules = session.Config.Drift;
        DriftView.Render(session.Ui.Human, report, rules.MinFidelity, report.Fails(rules.MinFidelity, rules.FailOn), rules.FailOn);
        await session.AuditAsync("drift.compare", "prod vs staging", $"fidelity {drift.Fidelity.ToString("0.0000", CultureInfo.InvariantCulture)}", cancellationToken: ct).ConfigureAwait(false);
        return drift;
    }

    private static async Task<string> ReadAsync(ITransport transport, string path, CancellationToken ct)
    {
        var result = await transport.RunAsync(RemoteCommand.Exec("cat", "--", path), cancellationToken: ct).ConfigureAwait(false);
        return result.Succeeded ? result.StandardOutput : throw new InfrastructureException(transport.HostName, $"cannot read {path}: {result.StandardError.Trim()}");
    }

    private static async Task WriteAsync(ITransport transport, string path, string content, CancellationToken ct)
    {
        var result = await transport.RunAsync(RemoteCommand.Script("write-file", "cat > \"$1\"", path),
            new CommandOptions { StandardInput = Encoding.UTF8.GetBytes(content) }, ct).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new InfrastructureException(transport.HostName, $"cannot write {path}: {result.StandardError.Trim()}");
        }
    }

    private static void Step(Ui ui, int n, string title)
    {
        ui.Human.WriteLine();
        ui.Human.Write(new Rule($"[bold]{n}. {Infrastructure.Ui.Escape(title)}[/]").LeftJustified());
    }
}
