using System.Text;
using System.Text.Json;
using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Transports;
using Stageproof.Testing;

namespace Stageproof.Cli.Tests;

/// <summary>A lab of its own (127.0.170.x, ssh port 2522) so it never meets the Lab tests' or the user's.</summary>
public sealed class DriftLabFixture() : SharedLab(170, 2522);

/// <summary>Drift between real hosts of the lab, reached over SSH: exactly the differences made, nothing else.</summary>
[Trait("Category", "Lab")] // needs a whole lab: left out of the fast tier (dotnet test --filter "Category!=Lab")
public class LabDriftTests(DriftLabFixture lab) : IClassFixture<DriftLabFixture>
{
    private const string WorkerScript = """
        #!/bin/sh
        # A service that listens on nothing: its state is the only thing that can differ.
        PIDFILE=/run/report-worker.pid
        case "$1" in
          start) start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE --exec /bin/sleep -- 100000 ;;
          stop) start-stop-daemon --stop --quiet --oknodo --remove-pidfile --pidfile $PIDFILE ;;
          status) start-stop-daemon --status --pidfile $PIDFILE ;;
          *) echo "usage: $0 start|stop|status" >&2; exit 3 ;;
        esac
        """;

    private static async Task RunAsync(ITransport host, RemoteCommand command, byte[]? input = null)
    {
        var result = await host.RunAsync(command, new CommandOptions { StandardInput = input, Timeout = TimeSpan.FromMinutes(3) });
        Assert.True(result.Succeeded, $"{host.HostName}: {command} exited {result.ExitCode}: {result.StandardError}");
    }

    [SkippableFact]
    public async Task Drift_of_staging_against_prod_names_one_package_version_one_config_line_and_one_service_state_and_nothing_else()
    {
        lab.Require();
        var config = ConfigLoader.Load(Path.Combine(lab.Directory, "stageproof.yaml"));
        var factory = new TransportFactory(config.Ssh, HostKeyPolicy.Strict);
        foreach (var host in config.HostsOf("prod").Concat(config.HostsOf("staging")))
        {
            await using var t = factory.Create(host);
            await RunAsync(t, RemoteCommand.Script("install-worker", "cat > /etc/init.d/report-worker && chmod 755 /etc/init.d/report-worker"),
                Encoding.UTF8.GetBytes(WorkerScript.Replace("\r", "", StringComparison.Ordinal) + "\n"));
            if (host.Name.StartsWith("prod", StringComparison.Ordinal))
            {
                await RunAsync(t, RemoteCommand.Exec("/etc/init.d/report-worker", "start"));
            }
        }
        await using (var staging = factory.Create(config.HostsOf("staging")[0]))
        {
            await RunAsync(staging, RemoteCommand.Exec("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
                "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "acme-mail=1.1-1"));
            await RunAsync(staging, RemoteCommand.Script("tune", "printf 'log.level = debug\\n' >> /etc/acme-mail/acme-mail.conf"));
        }

        var dir = lab.Directory;
        var run = await RunInLabAsync(dir, "stageproof.yaml", "--json", "drift", "prod", "staging");

        // 6 of several hundred items keep fidelity above 0.98, but a high-severity difference fails (fail_on: high).
        Assert.True(run.ExitCode == ExitCodes.Finding, run.ToString());
        Assert.False(run.Json.GetProperty("fidelity").GetDouble() < 0.98);
        Assert.Equal("high", run.Json.GetProperty("maxSeverity").GetString());
        var drift = run.Json.GetProperty("drift");
        Assert.Equal(0, drift.GetProperty("items").GetArrayLength());
        var pairs = drift.GetProperty("hosts").EnumerateArray().ToList();
        Assert.Equal(2, pairs.Count);
        foreach (var pair in pairs)
        {
            var items = pair.GetProperty("drift").GetProperty("items").EnumerateArray()
                .Select(i => (i.GetProperty("category").GetString(), i.GetProperty("key").GetString())).Order().ToList();
            Assert.Equal([("config-content", "/etc/acme-mail/acme-mail.conf"), ("package-version", "acme-mail"), ("service-state", "service:report-worker")], items);
            var diff = pair.GetProperty("drift").GetProperty("items").EnumerateArray().Single(i => i.GetProperty("category").GetString() == "config-content").GetProperty("diff").GetString();
            Assert.Contains("+log.level = debug", diff);
        }
        foreach (var db in drift.GetProperty("databases").EnumerateArray())
        {
            Assert.Equal(0, db.GetProperty("drift").GetProperty("items").GetArrayLength());
        }
        var compared = drift.GetProperty("compared").GetInt32();
        var matching = drift.GetProperty("matching").GetInt32();
        Assert.Equal(6, compared - matching);
        Assert.Equal((double)matching / compared, run.Json.GetProperty("fidelity").GetDouble(), 9);
        var packages = Family(drift, "package");
        Assert.Equal(2, packages.Compared - packages.Matching);

        // Ignore rules: the package and the worker no longer count, and the figures follow.
        var yaml = await File.ReadAllTextAsync(Path.Combine(dir, "stageproof.yaml"));
        var ignoring = yaml.Replace("ignore: [", "ignore: [\"package:acme-*\", \"service:report-*\", ", StringComparison.Ordinal);
        Assert.NotEqual(yaml, ignoring);
        await File.WriteAllTextAsync(Path.Combine(dir, "ignoring.yaml"), ignoring);
        var ignored = await RunInLabAsync(dir, "ignoring.yaml", "--json", "drift", "prod", "staging");
        Assert.True(ignored.ExitCode == ExitCodes.Finding, ignored.ToString());
        var after = ignored.Json.GetProperty("drift");
        Assert.All(after.GetProperty("hosts").EnumerateArray(), pair =>
            Assert.Equal(["config-content"], pair.GetProperty("drift").GetProperty("items").EnumerateArray().Select(i => i.GetProperty("category").GetString())));
        Assert.Equal(2, after.GetProperty("compared").GetInt32() - after.GetProperty("matching").GetInt32());
        var ignoredPackages = Family(after, "package");
        Assert.Equal(ignoredPackages.Compared, ignoredPackages.Matching);
        Assert.Equal(packages.Compared - 2, ignoredPackages.Compared);

        // With only the figure as the rule, the same drift passes.
        await File.WriteAllTextAsync(Path.Combine(dir, "figure-only.yaml"), ignoring.Replace("fail_on: high", "fail_on: none", StringComparison.Ordinal));
        var figureOnly = await RunInLabAsync(dir, "figure-only.yaml", "drift", "prod", "staging");
        Assert.True(figureOnly.ExitCode == ExitCodes.Ok, figureOnly.ToString());
    }

    private static (int Compared, int Matching) Family(JsonElement drift, string family)
    {
        var f = drift.GetProperty("families").EnumerateArray().Single(x => x.GetProperty("family").GetString() == family);
        return (f.GetProperty("compared").GetInt32(), f.GetProperty("matching").GetInt32());
    }

    private static async Task<CliRun> RunInLabAsync(string dir, string configName, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var all = new[] { "--config", Path.Combine(dir, configName), "--state", Path.Combine(dir, ".stageproof") }.Concat(args).ToArray();
        var code = await StageproofCli.RunAsync(all, stdout, stderr);
        return new CliRun { ExitCode = code, Stdout = stdout.ToString(), Stderr = stderr.ToString() };
    }
}
