using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;
using Stageproof.Core.Databases;
using Stageproof.Core.Hosts;
using Stageproof.Hosts.Facts;
using Stageproof.Hosts.Transports;

namespace Stageproof.Hosts.Checks;

/// <summary>
/// Runs a check suite against an environment. Checks run in suite order, each against every host of the environment at
/// once, up to <see cref="HostParallelism"/> hosts at a time (or once, for a url, a database or a soak); logs checks run last and read only what was written since their
/// marker — taken at the start of the run unless the caller took one earlier (<see cref="MarkLogsAsync"/>).
/// A check that could not run because a host was unreachable is <see cref="CheckStatus.Error"/>; everything the
/// environment itself answered is Passed, Warned or Failed.
/// </summary>
public sealed class CheckSuiteRunner : ICheckSuiteRunner, IDisposable
{
    private readonly HttpExecutor _http;
    private readonly TimeProvider _time;
    private SemaphoreSlim? _hostSlots;

    public CheckSuiteRunner(HttpClient? client = null, TimeProvider? time = null)
    {
        _http = new HttpExecutor(client);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Optional progress: called with each result as it is produced.</summary>
    public Action<CheckResult>? Progress { get; init; }

    /// <summary>Hosts a host check (command, service, port, logs) is sent to at the same time, across every run of this
    /// runner: <c>ssh.parallelism</c>, as for facts and apply, so a check of hundreds of hosts does not open hundreds of
    /// SSH sessions at once. Unbounded when not set.</summary>
    public int HostParallelism { get; init; } = int.MaxValue;

    public void Dispose()
    {
        _http.Dispose();
        _hostSlots?.Dispose();
    }

    /// <summary>Runs <paramref name="body"/> for one host once one of the <see cref="HostParallelism"/> slots is free.</summary>
    private async Task<T> OnHostAsync<T>(Func<Task<T>> body, CancellationToken ct)
    {
        if (HostParallelism == int.MaxValue)
        {
            return await body().ConfigureAwait(false);
        }
        var slots = LazyInitializer.EnsureInitialized(ref _hostSlots, () => new SemaphoreSlim(HostParallelism));
        await slots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await body().ConfigureAwait(false);
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>Runs every check of <paramref name="suite"/>.</summary>
    /// <param name="transports">Host name → transport, for every host of the environment (command, service, logs).</param>
    /// <param name="logsSince">Markers taken before (e.g. before a patch); null takes them now, at the start of the run.</param>
    /// <param name="control">Twins of the environment's hosts (paired in order): each load check runs against them in
    /// the same seconds as against the environment, into <see cref="CheckSuiteResult.Control"/>.</param>
    /// <param name="only">Run just these checks of the suite (which still resolves what they refer to, such as a load
    /// check's auth check); all of them when null.</param>
    public async Task<CheckSuiteResult> RunAsync(CheckEnvironment environment, CheckSuite suite,
        IReadOnlyDictionary<string, ITransport> transports, CancellationToken ct, LogMarkers? logsSince = null, CheckEnvironment? control = null,
        IReadOnlyList<CheckDefinition>? only = null)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(suite);
        ArgumentNullException.ThrowIfNull(transports);
        var sw = Stopwatch.StartNew();
        var markers = logsSince ?? await MarkLogsAsync(environment, suite, transports, ct).ConfigureAwait(false);
        var results = new List<CheckResult>();
        var controls = new List<ControlResult>();
        var checks = only ?? suite.Checks;
        var ordered = checks.Where(c => c is not LogsCheck and not SoakCheck)
            .Concat(checks.OfType<SoakCheck>()).Concat(checks.OfType<LogsCheck>());
        foreach (var check in ordered)
        {
            IReadOnlyList<CheckResult> checkResults;
            if (control is not null && check is LoadCheck { Target.Url: null } load)
            {
                var (own, twins) = await RunBesideControlAsync(environment, control, suite, load, ct).ConfigureAwait(false);
                checkResults = own;
                controls.AddRange(twins);
            }
            else if (control is not null && check is LdapCheck { IsLoad: true, Directory: { } directory } ldapLoad
                     && control.Directories.ContainsKey(directory))
            {
                // The directory's load beside the control's directory of the same name, in the same seconds.
                var own = DirectoryLdapAsync(environment, ldapLoad, directory, ct);
                var twin = DirectoryLdapAsync(control, ldapLoad, directory, ct);
                var ownResult = await own.ConfigureAwait(false);
                checkResults = [ownResult];
                controls.Add(new ControlResult(ownResult.Target, await twin.ConfigureAwait(false)));
            }
            else
            {
                checkResults = await RunCheckAsync(environment, suite, check, transports, markers, ct).ConfigureAwait(false);
            }
            foreach (var result in checkResults)
            {
                results.Add(result);
                Progress?.Invoke(result);
            }
        }
        return new CheckSuiteResult(environment.Name, suite.Name, results, sw.Elapsed) { Control = controls };
    }

    /// <summary>
    /// One load check against the environment's hosts and their control twins at once, so both sides share whatever
    /// else the machines were doing in those seconds. Twins are paired by position among the hosts the check runs on.
    /// </summary>
    public async Task<(IReadOnlyList<CheckResult> Own, IReadOnlyList<ControlResult> Control)> RunBesideControlAsync(CheckEnvironment environment,
        CheckEnvironment control, CheckSuite suite, LoadCheck check, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(control);
        var hosts = HostsFor(environment, check);
        var twins = HostsFor(control, check);
        if (twins.Count != hosts.Count)
        {
            throw new InputException($"check {check.Name}: {environment.Name} has {hosts.Count} host(s) for it and its control {control.Name} {twins.Count}: a control pairs one twin with each host");
        }
        var own = hosts.Select(host => TimedAsync(check, host.Name, () => LoadAsync(suite, check, BaseUri(check.Target, host), ct))).ToList();
        var beside = twins.Select(twin => TimedAsync(check, twin.Name, () => LoadAsync(suite, check, BaseUri(check.Target, twin), ct))).ToList();
        var ownResults = await Task.WhenAll(own).ConfigureAwait(false);
        var controlResults = await Task.WhenAll(beside).ConfigureAwait(false);
        return (ownResults, controlResults.Select((r, i) => new ControlResult(hosts[i].Name, r)).ToList());
    }

    /// <summary>An ldap check against an environment's directory of that name, once (not per host).</summary>
    private Task<CheckResult> DirectoryLdapAsync(CheckEnvironment environment, LdapCheck check, string directory, CancellationToken ct) =>
        TimedAsync(check, $"{environment.Name}/{directory}", () => environment.Directories.TryGetValue(directory, out var known)
            ? LdapChecks.RunAsync(check, known.Url, ct)
            : Task.FromResult(Fail($"environment {environment.Name} has no directory '{directory}'")));

    /// <summary>Records where every logs check's file ends on every host, so a later run reads only newer lines.</summary>
    public async Task<LogMarkers> MarkLogsAsync(CheckEnvironment environment, CheckSuite suite,
        IReadOnlyDictionary<string, ITransport> transports, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(suite);
        ArgumentNullException.ThrowIfNull(transports);
        var marks = new Dictionary<(string, string), LogMarker>();
        foreach (var check in suite.Checks.OfType<LogsCheck>())
        {
            var tasks = HostsFor(environment, check).Select(async host =>
            {
                try
                {
                    return (host.Name, Marker: await OnHostAsync(() => LogsReader.MarkAsync(Transport(transports, host), host, check.File, check.Timeout, ct), ct).ConfigureAwait(false));
                }
                catch (InfrastructureException)
                {
                    return (host.Name, Marker: (LogMarker?)null);
                }
            });
            foreach (var (host, marker) in await Task.WhenAll(tasks).ConfigureAwait(false))
            {
                if (marker is not null)
                {
                    marks[(check.Name, host)] = marker;
                }
            }
        }
        return new LogMarkers(marks, _time.GetUtcNow());
    }

    /// <summary>Runs one check; one result per host (or one for a url, a database or a soak).</summary>
    public async Task<IReadOnlyList<CheckResult>> RunCheckAsync(CheckEnvironment environment, CheckSuite suite, CheckDefinition check,
        IReadOnlyDictionary<string, ITransport> transports, LogMarkers? markers, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(check);
        switch (check)
        {
            case SoakCheck soak:
                return [await SoakAsync(environment, suite, soak, transports, ct).ConfigureAwait(false)];
            case SqlCheck or SchemaCheck or DbIntegrityCheck:
                return [await TimedAsync(check, $"{environment.Name}/{DatabaseOf(check)}", () => DatabaseCheckAsync(environment, check, ct)).ConfigureAwait(false)];
            case HttpCheck { Target.Url: { } url }:
                return [await TimedAsync(check, url.ToString(), () => HttpAsync((HttpCheck)check, url, ct)).ConfigureAwait(false)];
            case AuthCheck { Target.Url: { } url }:
                return [await TimedAsync(check, url.ToString(), () => AuthAsync((AuthCheck)check, url, ct)).ConfigureAwait(false)];
            case LoadCheck { Target.Url: { } url }:
                return [await TimedAsync(check, url.ToString(), () => LoadAsync(suite, (LoadCheck)check, url, ct)).ConfigureAwait(false)];
            case LdapCheck { Directory: { } directory } ldap:
                return [await DirectoryLdapAsync(environment, ldap, directory, ct).ConfigureAwait(false)];
            case LdapCheck { Target.Url: { } url }:
                return [await TimedAsync(check, url.ToString(), () => LdapChecks.RunAsync((LdapCheck)check, url, ct)).ConfigureAwait(false)];
            default:
                var hosts = HostsFor(environment, check);
                if (hosts.Count == 0)
                {
                    return [await TimedAsync(check, environment.Name, () => Task.FromResult(
                        Fail($"environment {environment.Name} has no host with role '{check.Role}' (roles: {string.Join(", ", environment.Hosts.Select(h => h.Role ?? "none").Distinct())})"))).ConfigureAwait(false)];
                }
                var perHost = hosts.Select(host => OnHostAsync(() => TimedAsync(check, host.Name, () => HostCheckAsync(suite, check, host, transports, markers, ct)), ct));
                return await Task.WhenAll(perHost).ConfigureAwait(false);
        }
    }

    /// <summary>The hosts a host check runs on: all of the environment's, or those of the check's role.</summary>
    public static IReadOnlyList<HostConfig> HostsFor(CheckEnvironment environment, CheckDefinition check)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(check);
        return check.Role is { } role ? environment.Hosts.Where(h => h.Role == role).ToList() : environment.Hosts;
    }

    private static string? DatabaseOf(CheckDefinition check) => check switch
    {
        SqlCheck s => s.Database,
        SchemaCheck s => s.Database,
        DbIntegrityCheck s => s.Database,
        _ => null,
    };

    private async Task<CheckResult> TimedAsync(CheckDefinition check, string target, Func<Task<Outcome>> body)
    {
        var started = _time.GetUtcNow();
        var sw = Stopwatch.StartNew();
        Outcome outcome;
        try
        {
            outcome = await body().ConfigureAwait(false);
        }
        catch (InfrastructureException e)
        {
            outcome = new Outcome(CheckStatus.Error, e.Message);
        }
        return new CheckResult
        {
            Name = check.Name, Type = check.Type, Target = target, Status = outcome.Status, Message = outcome.Message,
            Measurements = outcome.Measurements ?? new Dictionary<string, double>(), Duration = sw.Elapsed, StartedAt = started,
            Load = outcome.Load, Evidence = outcome.Evidence ?? [], Values = outcome.Values,
        };
    }

    internal sealed record Outcome(CheckStatus Status, string Message, Dictionary<string, double>? Measurements = null,
        LoadRun? Load = null, IReadOnlyList<string>? Evidence = null)
    {
        public IReadOnlyDictionary<string, string?>? Values { get; init; }
    }

    private static Outcome Pass(string message, Dictionary<string, double>? m = null) => new(CheckStatus.Passed, message, m);
    private static Outcome Fail(string message, Dictionary<string, double>? m = null) => new(CheckStatus.Failed, message, m);

    private static ITransport Transport(IReadOnlyDictionary<string, ITransport> transports, HostConfig host) =>
        transports.TryGetValue(host.Name, out var t) ? t : throw new InfrastructureException(host.Name, "no transport for this host");

    private static Uri BaseUri(HttpTarget target, HostConfig host) =>
        target.Url ?? new UriBuilder(target.Scheme, CheckEnvironment.AddressOf(host), target.Port ?? 80).Uri;

    private Task<Outcome> HostCheckAsync(CheckSuite suite, CheckDefinition check, HostConfig host,
        IReadOnlyDictionary<string, ITransport> transports, LogMarkers? markers, CancellationToken ct) => check switch
    {
        HttpCheck http => HttpAsync(http, BaseUri(http.Target, host), ct),
        AuthCheck auth => AuthAsync(auth, BaseUri(auth.Target, host), ct),
        LoadCheck load => LoadAsync(suite, load, BaseUri(load.Target, host), ct),
        LdapCheck ldap => LdapChecks.RunAsync(ldap, LdapChecks.TargetOf(ldap, host), ct),
        TcpCheck tcp => TcpAsync(tcp, tcp.Address ?? CheckEnvironment.AddressOf(host), ct),
        CommandCheck command => CommandAsync(command, host, Transport(transports, host), ct),
        ServiceCheck service => ServiceAsync(service, host, Transport(transports, host), ct),
        LogsCheck logs => LogsAsync(logs, host, Transport(transports, host), markers, ct),
        _ => throw new InvalidOperationException($"check type {check.Type} has no host runner"),
    };

    // ---- http ---------------------------------------------------------------------------------------

    private async Task<Outcome> HttpAsync(HttpCheck check, Uri baseUri, CancellationToken ct)
    {
        var outcome = await _http.SendAsync(baseUri, check.Request, new Dictionary<string, string>(), check.Timeout, ct).ConfigureAwait(false);
        var ms = outcome.Latency.TotalMilliseconds;
        var m = new Dictionary<string, double> { ["latency_ms"] = Math.Round(ms, 3), ["status"] = outcome.Status };
        if (outcome.Error is { } error)
        {
            return Fail($"{outcome.Description}: {error}", m);
        }
        var problems = new List<string>();
        if (outcome.Status != check.Request.ExpectStatus)
        {
            problems.Add($"status {outcome.Status}, expected {check.Request.ExpectStatus}");
        }
        if (check.ExpectBody is { } text && !outcome.Body.Contains(text, StringComparison.Ordinal))
        {
            problems.Add($"body does not contain \"{text}\" (body: {HttpExecutor.Short(outcome.Body)})");
        }
        if (check.ExpectBodyRegex is { } pattern && !Regex.IsMatch(outcome.Body, pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))
        {
            problems.Add($"body does not match /{pattern}/ (body: {HttpExecutor.Short(outcome.Body)})");
        }
        if (check.ExpectJson.Count > 0)
        {
            try
            {
                using var doc = JsonDocument.Parse(outcome.Body);
                foreach (var assertion in check.ExpectJson)
                {
                    var (holds, found) = assertion.Evaluate(doc.RootElement);
                    if (!holds)
                    {
                        problems.Add($"{assertion} does not hold (found {found})");
                    }
                }
            }
            catch (JsonException)
            {
                problems.Add($"body is not JSON (body: {HttpExecutor.Short(outcome.Body)})");
            }
        }
        if (check.MaxLatency is { } max && outcome.Latency > max)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"latency {ms:0.#}ms over the limit {max.TotalMilliseconds:0.#}ms"));
        }
        var summary = string.Create(CultureInfo.InvariantCulture, $"{outcome.Description}: ");
        return problems.Count == 0
            ? Pass(summary + string.Create(CultureInfo.InvariantCulture, $"status {outcome.Status} in {ms:0.#}ms"), m)
            : Fail(summary + string.Join("; ", problems), m);
    }

    // ---- auth ---------------------------------------------------------------------------------------

    /// <summary>Runs an auth sequence once per account (bounded to the first 5 accounts) and reports the first failure.</summary>
    private async Task<Outcome> AuthAsync(AuthCheck check, Uri baseUri, CancellationToken ct)
    {
        var (accounts, error) = Credentials.Load(check.Credentials, check.User);
        if (error is not null)
        {
            return Fail($"credentials: {error}");
        }
        var latencies = new List<double>();
        foreach (var account in accounts.Take(5))
        {
            var (ok, message, samples) = await AuthSequenceAsync(check, baseUri, account, ct).ConfigureAwait(false);
            latencies.AddRange(samples.Select(s => s.LatencyMs));
            if (!ok)
            {
                return Fail($"user {account.User}: {message}", new Dictionary<string, double> { ["steps"] = samples.Count });
            }
        }
        var summary = LatencySummary.Of(latencies);
        return Pass(string.Create(CultureInfo.InvariantCulture,
                $"{check.Steps.Count} steps for {Math.Min(accounts.Count, 5)} account(s) against {baseUri}, slowest step {summary.Max:0.#}ms"),
            new Dictionary<string, double> { ["accounts"] = Math.Min(accounts.Count, 5), ["max_ms"] = Math.Round(summary.Max, 3) });
    }

    /// <summary>One pass through an auth sequence: each step a sample; variables extracted from answers flow into later steps.</summary>
    internal async Task<(bool Ok, string Message, List<LoadSample> Samples)> AuthSequenceAsync(AuthCheck check, Uri baseUri, Account account,
        CancellationToken ct, Stopwatch? clock = null, Dictionary<string, string>? variablesOut = null)
    {
        var variables = variablesOut ?? new Dictionary<string, string>(StringComparer.Ordinal);
        variables["user"] = account.User;
        variables["password"] = account.Password;
        var samples = new List<LoadSample>();
        foreach (var step in check.Steps)
        {
            var start = clock?.Elapsed.TotalMilliseconds ?? 0;
            var outcome = await _http.SendAsync(baseUri, step, variables, check.Timeout, ct).ConfigureAwait(false);
            var ok = outcome.Error is null && outcome.Status == step.ExpectStatus;
            string? problem = outcome.Error ?? (outcome.Status != step.ExpectStatus ? $"status {outcome.Status}, expected {step.ExpectStatus}" : null);
            if (ok)
            {
                var (values, extractError) = HttpExecutor.Extract(outcome.Body, step.Extract);
                if (extractError is not null)
                {
                    ok = false;
                    problem = extractError;
                }
                foreach (var (k, v) in values)
                {
                    variables[k] = v;
                }
            }
            samples.Add(new LoadSample(start, outcome.Latency.TotalMilliseconds, ok, $"{check.Name}:{step.Method} {step.Path}"));
            if (!ok)
            {
                return (false, $"{Redact(outcome.Description, account.Password)}: {Redact(problem ?? "failed", account.Password)}", samples);
            }
        }
        return (true, "ok", samples);
    }

    private static string Redact(string text, string secret) =>
        secret.Length == 0 ? text : text.Replace(secret, "********", StringComparison.Ordinal).Replace(Uri.EscapeDataString(secret), "********", StringComparison.Ordinal);

    // ---- load ---------------------------------------------------------------------------------------

    /// <summary>The hard cap on samples one load run keeps, whatever duration and iterations say.</summary>
    public const int MaxSamples = 2_000_000;

    private async Task<Outcome> LoadAsync(CheckSuite suite, LoadCheck check, Uri baseUri, CancellationToken ct)
    {
        var auth = check.Auth is { } authName ? suite.Find(authName) as AuthCheck : null;
        IReadOnlyList<Account> accounts = [];
        if (auth is not null)
        {
            var (loaded, error) = Credentials.Load(auth.Credentials, auth.User);
            if (error is not null)
            {
                return Fail($"credentials of {auth.Name}: {error}");
            }
            accounts = loaded;
        }
        var run = await new LoadGenerator(this, _http).RunAsync(check, auth, accounts, baseUri, ct).ConfigureAwait(false);
        return LoadGenerator.Summarise(check.Clients, check.MaxErrorRate, check.MaxP95, baseUri.ToString(), run);
    }

    // ---- tcp, command, service ----------------------------------------------------------------------

    private static async Task<Outcome> TcpAsync(TcpCheck check, string address, CancellationToken ct)
    {
        using var client = new TcpClient();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(check.Timeout);
        var sw = Stopwatch.StartNew();
        var target = $"{address}:{check.Port.ToString(CultureInfo.InvariantCulture)}";
        try
        {
            await client.ConnectAsync(address, check.Port, cts.Token).ConfigureAwait(false);
            return Pass(string.Create(CultureInfo.InvariantCulture, $"{target} accepted a connection in {sw.Elapsed.TotalMilliseconds:0.#}ms"),
                new Dictionary<string, double> { ["connect_ms"] = Math.Round(sw.Elapsed.TotalMilliseconds, 3) });
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Fail($"{target}: no connection within {check.Timeout.TotalSeconds:0.###}s");
        }
        catch (SocketException e)
        {
            return Fail($"{target}: {e.SocketErrorCode} ({e.Message})");
        }
    }

    private static RemoteCommand Elevated(RemoteCommand command, HostConfig host) => host.Become == "sudo" ? command.WithSudo() : command;

    private static async Task<Outcome> CommandAsync(CommandCheck check, HostConfig host, ITransport transport, CancellationToken ct)
    {
        var command = Elevated(RemoteCommand.Exec(check.Run[0], check.Run.Skip(1)), host);
        var result = await transport.RunAsync(command, new CommandOptions { Timeout = check.Timeout }, ct).ConfigureAwait(false);
        var problems = new List<string>();
        if (result.ExitCode != check.ExpectExit)
        {
            problems.Add($"exit {result.ExitCode}, expected {check.ExpectExit}" + (result.StandardError.Trim() is { Length: > 0 } err ? $" (stderr: {HttpExecutor.Short(err)})" : ""));
        }
        if (check.ExpectOutput is { } text && !result.StandardOutput.Contains(text, StringComparison.Ordinal))
        {
            problems.Add($"output does not contain \"{text}\" (output: {HttpExecutor.Short(result.StandardOutput)})");
        }
        if (check.ExpectOutputRegex is { } pattern && !Regex.IsMatch(result.StandardOutput, pattern, RegexOptions.CultureInvariant | RegexOptions.Multiline, TimeSpan.FromSeconds(1)))
        {
            problems.Add($"output does not match /{pattern}/ (output: {HttpExecutor.Short(result.StandardOutput)})");
        }
        var m = new Dictionary<string, double> { ["exit"] = result.ExitCode, ["seconds"] = Math.Round(result.Elapsed.TotalSeconds, 3) };
        return problems.Count == 0 ? Pass($"{command.Display}: exit {result.ExitCode}", m) : Fail($"{command.Display}: {string.Join("; ", problems)}", m);
    }

    /// <summary>The same detection as the facts collector: systemd when it runs, else the SysV init script's status.</summary>
    internal const string ServiceScript = """
        svc=$1
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
          systemctl is-active --quiet -- "$svc" </dev/null; echo "systemd $?"
        elif [ -f "/etc/init.d/$svc" ] && [ -x "/etc/init.d/$svc" ]; then
          if command -v timeout >/dev/null 2>&1; then
            timeout 10 "/etc/init.d/$svc" status >/dev/null 2>&1 </dev/null; echo "sysv $?"
          else
            "/etc/init.d/$svc" status >/dev/null 2>&1 </dev/null; echo "sysv $?"
          fi
        elif command -v service >/dev/null 2>&1; then
          echo "missing 4"
        else
          echo "none 4"
        fi
        """;

    private static async Task<Outcome> ServiceAsync(ServiceCheck check, HostConfig host, ITransport transport, CancellationToken ct)
    {
        var result = await transport.RunAsync(Elevated(RemoteCommand.Script("stageproof-service", ServiceScript, check.Service), host),
            new CommandOptions { Timeout = check.Timeout }, ct).ConfigureAwait(false);
        var parts = result.StandardOutput.Trim().Split(' ');
        if (!result.Succeeded || parts.Length != 2 || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out var rc))
        {
            return new Outcome(CheckStatus.Error, $"service {check.Service}: unexpected answer from the host (exit {result.ExitCode}: {HttpExecutor.Short(result.StandardOutput + result.StandardError)})");
        }
        var manager = parts[0];
        var running = rc == 0;
        var how = manager switch
        {
            "systemd" => $"systemctl is-active: exit {rc}",
            "sysv" => $"/etc/init.d/{check.Service} status: exit {rc}",
            _ => "no such service (no systemd unit running, no init script)",
        };
        var state = running ? "running" : "not running";
        var m = new Dictionary<string, double> { ["running"] = running ? 1 : 0 };
        return running == check.ExpectRunning
            ? Pass($"service {check.Service} is {state} ({how})", m)
            : Fail($"service {check.Service} is {state}, expected {(check.ExpectRunning ? "running" : "stopped")} ({how})", m);
    }

    // ---- logs ---------------------------------------------------------------------------------------

    private static async Task<Outcome> LogsAsync(LogsCheck check, HostConfig host, ITransport transport, LogMarkers? markers, CancellationToken ct)
    {
        var marker = markers?.Marks.TryGetValue((check.Name, host.Name), out var mark) == true ? mark : null;
        if (marker is null)
        {
            return new Outcome(CheckStatus.Error, $"{check.File}: no marker was taken on this host before the run (host unreachable then?)");
        }
        var read = await LogsReader.ReadSinceAsync(transport, host, check.File, marker, check.MaxBytes, check.Timeout, ct).ConfigureAwait(false);
        return LogsReader.Evaluate(check, read);
    }

    // ---- databases ----------------------------------------------------------------------------------

    private async Task<Outcome> DatabaseCheckAsync(CheckEnvironment environment, CheckDefinition check, CancellationToken ct)
    {
        var database = DatabaseOf(check)!;
        if (!environment.OwnDatabases.TryGetValue(database, out var connection))
        {
            return new Outcome(CheckStatus.Error, $"environment {environment.Name} has no database '{database}'");
        }
        // The engine is chosen here, once: the schema check is shared (fingerprints have one shape), sql and db-integrity are the engine's.
        if (!DatabaseEndpoint.TryParse(connection, out var endpoint, out var problem))
        {
            return new Outcome(CheckStatus.Error, $"database '{database}': {problem}");
        }
        if (check is SchemaCheck schemaCheck)
        {
            return await DatabaseChecks.SchemaAsync(schemaCheck, environment, connection, _time, ct).ConfigureAwait(false);
        }
        if (endpoint.Engine != DatabaseEngine.Postgres)
        {
            return check switch
            {
                SqlCheck sql => await MariaDbChecks.SqlAsync(sql, endpoint.ConnectionString, ct).ConfigureAwait(false),
                DbIntegrityCheck integrity => await MariaDbChecks.IntegrityAsync(integrity, endpoint.ConnectionString,
                    integrity.Replica is { } replica && environment.OwnDatabases.TryGetValue(replica, out var replicaConnection)
                        && DatabaseEndpoint.TryParse(replicaConnection, out var replicaEndpoint, out _) && replicaEndpoint.Engine != DatabaseEngine.Postgres
                        ? replicaEndpoint.ConnectionString : null, ct).ConfigureAwait(false),
                _ => throw new InvalidOperationException(check.Type),
            };
        }
        return check switch
        {
            SqlCheck sql => await DatabaseChecks.SqlAsync(sql, connection, ct).ConfigureAwait(false),
            DbIntegrityCheck integrity => await DatabaseChecks.IntegrityAsync(integrity, connection,
                integrity.Replica is { } replica && environment.OwnDatabases.TryGetValue(replica, out var replicaConnection) ? replicaConnection : null, ct).ConfigureAwait(false),
            _ => throw new InvalidOperationException(check.Type),
        };
    }

    // ---- soak ---------------------------------------------------------------------------------------

    private async Task<CheckResult> SoakAsync(CheckEnvironment environment, CheckSuite suite, SoakCheck soak,
        IReadOnlyDictionary<string, ITransport> transports, CancellationToken ct)
    {
        var started = _time.GetUtcNow();
        var sw = Stopwatch.StartNew();
        var checks = soak.Checks.Select(suite.Find).OfType<CheckDefinition>().Where(c => c is not SoakCheck).ToList();
        var maxRounds = (int)Math.Min(100_000, Math.Ceiling(soak.Duration / soak.Interval) + 1);
        var rounds = 0;
        var markers = await MarkLogsAsync(environment, new CheckSuite(suite.Name, checks), transports, ct).ConfigureAwait(false);
        CheckResult? firstFailure = null;
        TimeSpan failedAt = default;
        while (rounds < maxRounds)
        {
            var roundStart = sw.Elapsed;
            rounds++;
            foreach (var check in checks)
            {
                var results = await RunCheckAsync(environment, suite, check, transports, markers, ct).ConfigureAwait(false);
                if (results.FirstOrDefault(r => !r.Passed) is { } bad)
                {
                    firstFailure = bad;
                    failedAt = sw.Elapsed;
                    break;
                }
            }
            if (firstFailure is not null || roundStart + soak.Interval > soak.Duration)
            {
                break;
            }
            // Task.Delay's timer ticks in whole milliseconds and can fire just before the stopwatch agrees: wait again
            // until it does, so rounds start at least an interval apart as the soak's settings say.
            var nextRound = roundStart + soak.Interval;
            while (sw.Elapsed < nextRound)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling((nextRound - sw.Elapsed).TotalMilliseconds)), ct).ConfigureAwait(false);
            }
        }
        var inv = CultureInfo.InvariantCulture;
        var m = new Dictionary<string, double> { ["rounds"] = rounds, ["seconds"] = Math.Round(sw.Elapsed.TotalSeconds, 3) };
        if (firstFailure is { } f)
        {
            m["first_failure_s"] = Math.Round(failedAt.TotalSeconds, 3);
            return new CheckResult
            {
                Name = soak.Name, Type = soak.Type, Target = environment.Name, Status = f.Status == CheckStatus.Error ? CheckStatus.Error : CheckStatus.Failed,
                Message = string.Create(inv, $"{f.Name} on {f.Target} failed {failedAt.TotalSeconds:0.#}s into the soak (round {rounds}, at {started + failedAt:HH:mm:ss}Z): {f.Message}"),
                Measurements = m, Duration = sw.Elapsed, StartedAt = started,
            };
        }
        return new CheckResult
        {
            Name = soak.Name, Type = soak.Type, Target = environment.Name, Status = CheckStatus.Passed,
            Message = string.Create(inv, $"{string.Join(", ", soak.Checks)} held for {sw.Elapsed.TotalSeconds:0.#}s ({rounds} rounds every {soak.Interval.TotalSeconds:0.###}s)"),
            Measurements = m, Duration = sw.Elapsed, StartedAt = started,
        };
    }
}
