using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Cli.Infrastructure;

namespace Stageproof.Cli.Commands;

/// <summary><c>config show</c>: the estate as Stageproof resolved it, and where each value came from, so an imported
/// inventory can be checked before a host is touched.</summary>
internal static class ConfigCommand
{
    /// <summary>What an ssh host without an identity uses (SshTransport's defaults, in its order).</summary>
    private const string DefaultKeys = "default: the ssh-agent's keys, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa";

    public static Command Create(VerbContext verbs)
    {
        var show = new Command("show", "Show every environment, group and host as resolved, with where each value came from (file:line)");
        show.SetAction((parse, _) => verbs.RunAsync(parse, session =>
        {
            session.ConfigWarningsShownByVerb = true;
            var config = session.Config;
            var estate = Estate.Of(config);
            if (session.Ui.Json)
            {
                session.Ui.WriteJson(estate.ToJson());
            }
            else
            {
                estate.Render(session.Ui.Human);
            }
            return Task.FromResult(ExitCodes.Ok);
        }));
        return new Command("config", "Inspect the configuration (and the Ansible inventory it reads)") { show };
    }

    private sealed record HostView(HostConfig Host, HostOrigin? Origin, IReadOnlyList<string> Environments);

    private sealed class Estate(StageproofConfig config, List<HostView> hosts)
    {
        private readonly string _baseDirectory = Path.GetDirectoryName(config.SourceFile) ?? ".";

        public static Estate Of(StageproofConfig config)
        {
            var hosts = config.Hosts.Values
                .Select(h => new HostView(h, config.Origins.GetValueOrDefault(h.Name),
                    config.Environments.Values.Where(e => e.Hosts.Contains(h.Name)).Select(e => e.Name).ToList()))
                .ToList();
            return new Estate(config, hosts);
        }

        private static readonly string[] Settings =
            ["transport", "address", "port", "user", "identity", "identity_agent", "identities_only", "known_hosts", "host_key_checking", "jump", "become", "role", "root"];

        private static string? Value(HostConfig host, string setting) => setting switch
        {
            "transport" => host.Transport.ToString().ToLowerInvariant(),
            "address" => host.Address,
            "port" => host.Transport == TransportKind.Ssh ? host.Port.ToString(CultureInfo.InvariantCulture) : null,
            "user" => host.Transport == TransportKind.Ssh ? host.User : null,
            "identity" => host.Transport != TransportKind.Ssh ? null : host.Identity ?? DefaultKeys,
            "identity_agent" => host.IdentityAgent,
            "identities_only" => host.IdentitiesOnly ? "yes" : null,
            "known_hosts" => host.KnownHosts,
            "host_key_checking" => host.AcceptNewHostKeys ? "accept-new" : null,
            "jump" => host.Jumps.Count == 0 ? null : JumpChain(host),
            "become" => host.Become,
            "role" => host.Role,
            "root" => host.Root,
            _ => null,
        };

        /// <summary>The key file, relative to the configuration when it lies beneath it.</summary>
        private string KeyOf(HostConfig host) =>
            host.Identity is null ? "default (agent, ~/.ssh)"
            : Path.GetRelativePath(_baseDirectory, host.Identity) is var relative && !relative.StartsWith("..", StringComparison.Ordinal) ? relative
            : host.Identity;

        /// <summary>Each hop as it is reached: user@address:port, first to last.</summary>
        private static string JumpChain(HostConfig host) => string.Join(" -> ", host.Jumps.Select(j => j.Endpoint));

        private string Where(ValueSource source) =>
            (Path.IsPathRooted(source.File) ? Path.GetRelativePath(_baseDirectory, source.File) : source.File)
            + (source.Line > 0 ? ":" + source.Line.ToString(CultureInfo.InvariantCulture) : "")
            + (source.Key.Length > 0 ? $" ({source.Key})" : "");

        public object ToJson() => new
        {
            configuration = config.SourceFile,
            inventory = config.InventoryFile,
            environments = config.Environments.Values.Select(e => new
            {
                name = e.Name,
                hosts = e.Hosts,
                mirrorOf = e.MirrorOf,
                checks = e.Checks,
                databases = e.Databases.Keys, // names only: connection strings may carry passwords
            }),
            groups = config.Groups.Select(g => new { name = g.Key, hosts = g.Value }),
            hosts = hosts.Select(v => new
            {
                name = v.Host.Name,
                environments = v.Environments,
                definedAt = v.Origin is { } o ? Source(o.Definition) : null,
                values = Settings.Where(s => Value(v.Host, s) is not null).ToDictionary(s => s, s => new
                {
                    value = Value(v.Host, s),
                    from = v.Origin?.Values.GetValueOrDefault(s) is { } src ? Source(src) : null,
                    isDefault = v.Origin?.Values.ContainsKey(s) != true,
                }),
                jumps = v.Host.Jumps.Select(j => new
                {
                    name = j.Name,
                    address = j.Address,
                    port = j.Port,
                    user = j.User,
                    identity = j.Identity,
                    knownHosts = j.KnownHosts,
                }),
            }),
            skippedHosts = config.SkippedHosts.Values.Select(s => new { name = s.Name, reason = s.Reason, from = Source(s.Source) }),
            warnings = config.Warnings.Select(w => w.ToString()),
        };

        private static object Source(ValueSource s) => new { file = s.File, line = s.Line, key = s.Key };

        public void Render(IAnsiConsole console)
        {
            console.MarkupLine($"configuration: {Ui.Escape(config.SourceFile)}");
            console.MarkupLine($"inventory:     {Ui.Escape(config.InventoryFile ?? "(none)")}");

            // A database's name, and its engine when it is not PostgreSQL (never the connection string: it may carry a password).
            static string Named(KeyValuePair<string, string> d) =>
                Core.Databases.DatabaseEndpoint.TryParse(d.Value, out var endpoint, out _) && endpoint.Engine != Core.Databases.DatabaseEngine.Postgres
                    ? $"{d.Key} ({Core.Databases.DatabaseEndpoint.NameOf(endpoint.Engine)})" : d.Key;
            var environments = new Table().Border(TableBorder.Rounded).Title("Environments").AddColumns("environment", "hosts", "mirror of", "checks", "databases");
            foreach (var e in config.Environments.Values)
            {
                environments.AddRow(Ui.Escape(e.Name), Ui.Escape(string.Join(", ", e.Hosts)), Ui.Escape(e.MirrorOf ?? "-"),
                    Ui.Escape(e.Checks ?? "-"), Ui.Escape(e.Databases.Count == 0 ? "-" : string.Join(", ", e.Databases.Select(Named))));
            }
            console.Write(environments);

            var groups = new Table().Border(TableBorder.Rounded).Title("Groups").AddColumns("group", "hosts");
            foreach (var (name, members) in config.Groups)
            {
                groups.AddRow(Ui.Escape(name), Ui.Escape(members.Count == 0 ? "-" : string.Join(", ", members)));
            }
            console.Write(groups);

            var table = new Table().Border(TableBorder.Rounded).Title("Hosts")
                .AddColumns("host", "environments", "transport", "address", "port", "user", "key", "become", "role", "jump");
            foreach (var v in hosts)
            {
                var h = v.Host;
                var ssh = h.Transport == TransportKind.Ssh;
                table.AddRow(
                    Ui.Escape(h.Name),
                    Ui.Escape(v.Environments.Count == 0 ? "-" : string.Join(", ", v.Environments)),
                    Ui.Escape(Value(h, "transport")),
                    Ui.Escape(h.Address ?? (h.Root is { } root ? $"root {root}" : "-")),
                    ssh ? h.Port.ToString(CultureInfo.InvariantCulture) : "-",
                    Ui.Escape(ssh ? h.User : "-"),
                    Ui.Escape(!ssh ? "-" : KeyOf(h)),
                    Ui.Escape(h.Become ?? "-"),
                    Ui.Escape(h.Role ?? "-"),
                    h.Jumps.Count == 0 ? "none" : Ui.Escape(JumpChain(h)));
            }
            console.Write(table);

            var sources = new Table().Border(TableBorder.Rounded).Title("Where each value came from").AddColumns("host", "setting", "value", "from");
            foreach (var v in hosts)
            {
                sources.AddRow(Ui.Escape(v.Host.Name), "(host)", "", Ui.Escape(v.Origin is { } o ? Where(o.Definition with { Key = "" }) : "-"));
                foreach (var setting in Settings.Where(s => Value(v.Host, s) is not null))
                {
                    var from = v.Origin?.Values.GetValueOrDefault(setting) is { } src ? Where(src) : "default";
                    sources.AddRow("", setting, Ui.Escape(Value(v.Host, setting)), Ui.Escape(from));
                }
                // Each hop as it will be reached, with the key it is offered (its values come from ssh_config or the jump spec).
                for (var i = 0; i < v.Host.Jumps.Count; i++)
                {
                    var hop = v.Host.Jumps[i];
                    sources.AddRow("", $"jump {i + 1}", Ui.Escape($"{hop.Name}: {hop.Endpoint}, key {KeyOf(hop)}"), "");
                }
            }
            console.Write(sources);

            if (config.SkippedHosts.Count > 0)
            {
                var skipped = new Table().Border(TableBorder.Rounded).Title("Left out (no environment uses them)").AddColumns("host", "reason", "from");
                foreach (var s in config.SkippedHosts.Values)
                {
                    skipped.AddRow(Ui.Escape(s.Name), Ui.Escape(s.Reason), Ui.Escape(Where(s.Source)));
                }
                console.Write(skipped);
            }
            if (config.Warnings.Count > 0)
            {
                console.MarkupLine($"[yellow]{config.Warnings.Count.ToString(CultureInfo.InvariantCulture)} warning(s):[/]");
                foreach (var w in config.Warnings)
                {
                    console.MarkupLine("  " + Ui.Escape(w.ToString()));
                }
            }
        }
    }
}
