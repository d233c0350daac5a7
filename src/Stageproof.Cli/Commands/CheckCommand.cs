using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stageproof.Core;
using Stageproof.Core.Checks;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Checks;

namespace Stageproof.Cli.Commands;

/// <summary><c>stageproof check ENV</c>: runs the environment's check suite once and shows every result.</summary>
internal static class CheckCommand
{
    public static Command Create(VerbContext verbs)
    {
        var environment = new Argument<string>("ENV") { Description = "The environment whose check suite runs" };
        var only = new Option<string[]>("--only") { Description = "Run only these checks of the suite (by name)", AllowMultipleArgumentsPerToken = true };
        var command = new Command("check", "Run an environment's check suite (exit 1 when a check fails, 3 when one could not run)") { environment, only };
        command.SetAction((parse, ct) => verbs.RunAsync(parse, async session =>
        {
            var config = session.Config;
            var envName = parse.GetValue(environment)!;
            var env = CheckEnvironment.From(config, envName);
            var suite = config.SuiteOf(envName);
            if (config.Environment(envName).Checks is null)
            {
                throw new InputException($"{config.SourceFile}: environment '{envName}' names no check suite (environments.{envName}.checks)");
            }
            if (parse.GetValue(only) is { Length: > 0 } names && names.Where(n => suite.Find(n) is null).ToList() is { Count: > 0 } unknown)
            {
                throw new InputException($"suite '{suite.Name}' has no check {string.Join(", ", unknown.Select(u => $"'{u}'"))} (checks: {string.Join(", ", suite.Checks.Select(c => c.Name))})");
            }

            var factory = session.Transports();
            var transports = new Dictionary<string, ITransport>(StringComparer.Ordinal);
            try
            {
                foreach (var host in env.Hosts)
                {
                    transports[host.Name] = factory.Create(host);
                }
                using var runner = new CheckSuiteRunner
                {
                    Progress = r => session.Ui.Human.MarkupLine($"{Badge(r.Status)} {Infrastructure.Ui.Escape(r.Name)} [grey]({Infrastructure.Ui.Escape(r.Type)}, {Infrastructure.Ui.Escape(r.Target)})[/] {Infrastructure.Ui.Escape(r.Message)}"),
                };
                var only2 = parse.GetValue(only) is { Length: > 0 } selected ? selected : null;
                session.Ui.Say($"suite {suite.Name} on {env.Name}: {suite.Checks.Count(c => only2 is null || only2.Contains(c.Name))} checks, {env.Hosts.Count} host(s)");
                var result = await RunAsync(runner, env, suite, transports, only2, ct).ConfigureAwait(false);
                var failed = result.Results.Count(r => r.Status == CheckStatus.Failed);
                var errors = result.Results.Count(r => r.Status == CheckStatus.Error);
                var warned = result.Results.Count(r => r.Status == CheckStatus.Warned);
                var summary = string.Create(CultureInfo.InvariantCulture,
                    $"{result.Results.Count} results: {result.Results.Count - failed - errors - warned} passed, {warned} warned, {failed} failed, {errors} could not run ({result.Elapsed.TotalSeconds:0.0}s)");
                await session.AuditAsync("check.run", env.Name, summary, cancellationToken: ct).ConfigureAwait(false);
                if (session.Ui.Json)
                {
                    session.Ui.WriteJson(new
                    {
                        environment = env.Name,
                        suite = suite.Name,
                        passed = result.ExitCode == ExitCodes.Ok,
                        elapsedSeconds = result.Elapsed.TotalSeconds,
                        results = result.Results.Select(r => new
                        {
                            r.Name, r.Type, r.Target, status = r.Status.ToString().ToLowerInvariant(), r.Message, r.Measurements,
                            durationSeconds = r.Duration.TotalSeconds, r.StartedAt, r.Evidence,
                            load = r.Load is { } l ? new { l.Clients, l.Requests, l.Errors, l.ErrorRate, l.Throughput, latency = l.Latency, elapsedSeconds = l.Elapsed.TotalSeconds, samples = l.Samples } : null,
                        }),
                    });
                }
                else
                {
                    session.Ui.Say(summary);
                }
                return result.ExitCode;
            }
            finally
            {
                foreach (var t in transports.Values)
                {
                    await t.DisposeAsync().ConfigureAwait(false);
                }
            }
        }));
        return command;
    }

    /// <summary>Runs the suite; with --only, only the named checks run (a soak or load still finds the checks it refers to in the whole suite).</summary>
    private static async Task<CheckSuiteResult> RunAsync(CheckSuiteRunner runner, CheckEnvironment env, CheckSuite suite,
        IReadOnlyDictionary<string, ITransport> transports, string[]? only, CancellationToken ct)
    {
        if (only is null)
        {
            return await runner.RunAsync(env, suite, transports, ct).ConfigureAwait(false);
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var markers = await runner.MarkLogsAsync(env, suite, transports, ct).ConfigureAwait(false);
        var results = new List<CheckResult>();
        var ordered = suite.Checks.Where(c => only.Contains(c.Name)).OrderBy(c => c is LogsCheck ? 2 : c is SoakCheck ? 1 : 0);
        foreach (var check in ordered)
        {
            foreach (var r in await runner.RunCheckAsync(env, suite, check, transports, markers, ct).ConfigureAwait(false))
            {
                results.Add(r);
                runner.Progress?.Invoke(r);
            }
        }
        return new CheckSuiteResult(env.Name, suite.Name, results, sw.Elapsed);
    }

    internal static string Badge(CheckStatus status) => status switch
    {
        CheckStatus.Passed => "[green]PASS[/]",
        CheckStatus.Warned => "[yellow]WARN[/]",
        CheckStatus.Failed => "[red]FAIL[/]",
        _ => "[red]ERROR[/]",
    };
}
