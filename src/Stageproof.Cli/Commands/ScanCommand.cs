using System.CommandLine;
using Stageproof.Application.Estate;
using Stageproof.Core;
using Stageproof.Core.Patches;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof scan ENV</c>: the environment's pending upgrades as a draft patch set.</summary>
internal static class ScanCommand
{
    public static Command Create(VerbContext verbs)
    {
        var env = new Argument<string>("ENV") { Description = "The environment to scan" };
        var security = new Option<bool>("--security") { Description = "Only upgrades from a security archive" };
        var role = new Option<string?>("--role") { Description = "Only the hosts of this role; the draft is then for that role alone (roles: [ROLE])" };
        var output = new Option<string?>("--output", "-o") { Description = "Write the draft here (default: ENV-updates-YYYYMMDD.yaml, or ENV-security-..., in the current directory)" };
        var command = new Command("scan", "Write a draft patch set of an environment's pending upgrades, with exact candidate versions")
        {
            env, security, role, output,
        };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var name = parse.GetValue(env)!;
            if (!session.Config.Environments.ContainsKey(name))
            {
                throw new InputException($"{session.Config.SourceFile}: no environment '{name}' (environments: {string.Join(", ", session.Config.Environments.Keys)})");
            }
            var requested = parse.GetValue(output) is { } o ? Infrastructure.OutputFiles.Check(o, "--output") : null;
            var scope = FactsScope.Resolve(session.Config, [name]);
            scope = scope with { Databases = [] };
            var onlyRole = parse.GetValue(role);
            if (onlyRole is not null)
            {
                if (Core.Validation.Names.IdentifierError(onlyRole, "--role") is { } error)
                {
                    throw new InputException(error);
                }
                var ofRole = scope.Hosts.Where(h => h.Host.Role == onlyRole).ToList();
                if (ofRole.Count == 0)
                {
                    throw new InputException($"--role: no host of {name} has role '{onlyRole}' (their roles: " +
                                             $"{string.Join(", ", scope.Hosts.Select(h => h.Host.Role ?? "(none)").Distinct(StringComparer.Ordinal))})");
                }
                scope = scope with { Hosts = ofRole };
            }
            var collector = await session.FactsCollectorAsync(ct).ConfigureAwait(false);
            var facts = await collector.CollectAsync(scope, session.FactsProgress(), ct, pendingUpgrades: true).ConfigureAwait(false);
            if (facts.Failures.Count > 0)
            {
                foreach (var f in facts.Failures)
                {
                    session.Ui.Error($"{f.Target}: {f.Message}");
                }
                return ExitCodes.Infrastructure;
            }
            var onlySecurity = parse.GetValue(security);
            var upgrades = ScanDraft.Collect(facts.Manifests.Select(m => m.Manifest), onlySecurity);
            var draft = ScanDraft.Render(name, upgrades, scope.Hosts.Count, onlySecurity, session.Actor, session.Time.GetUtcNow(), onlyRole);
            var file = requested ?? Path.GetFullPath(ScanDraft.IdFor(name, onlySecurity, session.Time.GetUtcNow()) + ".yaml");
            await Infrastructure.OutputFiles.WriteAsync(file, draft, ct).ConfigureAwait(false);
            await session.AuditAsync("scan", name, $"{upgrades.Count} pending upgrade(s){(onlySecurity ? " (security only)" : "")}; draft {file}",
                payloadDigest: PatchSetFreezer.Sha256(draft), cancellationToken: ct).ConfigureAwait(false);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(new { environment = name, role = onlyRole, securityOnly = onlySecurity, file, upgrades });
                return ExitCodes.Ok;
            }
            session.Ui.Say($"{upgrades.Count} pending upgrade(s) on {name}{(onlyRole is null ? "" : $"'s {onlyRole} hosts")}{(onlySecurity ? " (security only)" : "")}; draft written to {file}");
            foreach (var u in upgrades)
            {
                session.Ui.Say($"  {u.Name} {u.CandidateVersion}{(u.Security ? "  (security)" : "")}  on {string.Join(", ", u.Hosts)}");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
