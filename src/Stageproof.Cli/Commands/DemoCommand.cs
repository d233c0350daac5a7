using System.CommandLine;
using System.Globalization;
using System.Text;
using Spectre.Console;
using Stageproof.Cli.Features;
using Stageproof.Cli.Infrastructure;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Hosts;
using Stageproof.Lab;

namespace Stageproof.Cli.Commands;

/// <summary>The seeds' story told on the lab: what is on every host, does staging mirror prod, and mending it when not.</summary>
internal static class DemoCommand
{
    private const string TunedFile = "/etc/acme-mail/acme-mail.conf";
    private const string HandTuning = "db.pool_size = 5";

    public static Command Create(VerbContext verbs)
    {
        var dir = new Option<string>("--dir") { Description = "The lab's directory", DefaultValueFactory = _ => "lab" };
        var octet = new Option<int>("--address-octet") { Description = "Third octet of prod's 127.0.N.x addresses", DefaultValueFactory = _ => 10 };
        var command = new Command("demo", "Bring the lab up if needed and show, step by step, how Stageproof proves staging mirrors production") { dir, octet };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var ui = session.Ui;
            var lab = new LabManager(new LabOptions { Directory = Path.GetFullPath(parse.GetValue(dir) ?? "lab"), AddressOctet = parse.GetValue(octet) });

            Step(ui, 1, "The estate");
            var status = await lab.StatusAsync(ct).ConfigureAwait(false);
            if (status.Up && (!status.Healthy || !File.Exists(lab.ConfigFile)))
            {
                ui.Say("A lab is recorded here but is not healthy (a failed or interrupted run?): taking it down first.");
                await lab.DownAsync(LabCommand.Progress(session), ct).ConfigureAwait(false);
                status = await lab.StatusAsync(ct).ConfigureAwait(false);
            }
            if (!status.Up)
            {
                ui.Say("No lab is up yet: building prod (2 app hosts + PostgreSQL), qa and staging on this machine. The first time includes a Debian base image; later runs take seconds.");
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
            var facts = await new FactsService(session).CollectAsync(scope, ct).ConfigureAwait(false);
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

            ui.Human.Write(new Rule().LeftJustified());
            ui.Say($"Explore: stageproof --config {lab.ConfigFile} drift prod staging | facts prod | audit log. Tear down: stageproof lab down --dir {lab.Directory}");
            return verdict ? ExitCodes.Ok : ExitCodes.Finding;
        }));
        return command;
    }

    private static async Task<EnvironmentDrift> DriftAsync(CliSession session, CancellationToken ct)
    {
        var operands = new DriftOperands(session);
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
        ui.Human.Write(new Rule($"[bold]{n}. {Markup.Escape(title)}[/]").LeftJustified());
    }
}
