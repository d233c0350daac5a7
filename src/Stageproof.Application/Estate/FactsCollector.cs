using System.Threading.Channels;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Core.Manifests;
using Stageproof.Core.State;
using Stageproof.Hosts.Databases;
using Stageproof.Hosts.Facts;
using Stageproof.Hosts.Transports;

namespace Stageproof.Application.Estate;

/// <summary>A host or database whose facts could not be collected, and why.</summary>
public sealed record FactsFailure(string Target, string Message);

/// <summary>What one collection brought back: each stored manifest with its digest, and what failed.</summary>
public sealed record FactsRun(IReadOnlyList<(string Digest, Manifest Manifest)> Manifests, IReadOnlyList<FactsFailure> Failures)
{
    public int ExitCode => Failures.Count > 0 ? ExitCodes.Infrastructure : ExitCodes.Ok;
}

/// <summary>One target done: <paramref name="Done"/> of <paramref name="Total"/>, what it came to, and the time since
/// the collection began.</summary>
public sealed record FactsProgress(int Done, int Total, string Target, string Outcome, TimeSpan Elapsed);

/// <summary>What a facts target names: hosts (each with its environment) and databases.</summary>
public sealed record FactsScope(IReadOnlyList<(HostConfig Host, string? Environment)> Hosts,
    IReadOnlyList<(string Environment, string Name, string ConnectionString)> Databases)
{
    /// <summary>The LDAP directories of the environments named (environments.ENV.directories).</summary>
    public IReadOnlyList<(string Environment, string Name, DirectoryConfig Directory)> Directories { get; init; } = [];

    public static FactsScope Resolve(StageproofConfig config, IEnumerable<string> targets)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(targets);
        var hosts = new List<(HostConfig, string?)>();
        var databases = new List<(string, string, string)>();
        var directories = new List<(string, string, DirectoryConfig)>();
        foreach (var target in targets)
        {
            if (config.Environments.TryGetValue(target, out var env))
            {
                hosts.AddRange(env.Hosts.Select(h => (config.Host(h), (string?)target)));
                databases.AddRange(env.Databases.Select(d => (target, d.Key, d.Value)));
                directories.AddRange(env.Directories.Select(d => (target, d.Key, d.Value)));
            }
            else if (config.Groups.TryGetValue(target, out var group))
            {
                hosts.AddRange(group.Select(h => (config.Host(h), EnvironmentOf(config, h))));
            }
            else if (config.Hosts.TryGetValue(target, out var host))
            {
                hosts.Add((host, EnvironmentOf(config, host.Name)));
            }
            else
            {
                throw new InputException(
                    $"'{target}' is neither an environment, a group nor a host in {config.SourceFile} " +
                    $"(environments: {string.Join(", ", config.Environments.Keys)})");
            }
        }
        return new FactsScope(hosts.DistinctBy(h => h.Item1.Name).ToList(), databases.Distinct().ToList()) { Directories = directories.Distinct().ToList() };
    }

    /// <summary>The first environment that lists <paramref name="host"/>; null when none does.</summary>
    public static string? EnvironmentOf(StageproofConfig config, string host) =>
        config.Environments.Values.FirstOrDefault(e => e.Hosts.Contains(host))?.Name;
}

/// <summary>Collects manifests from hosts and databases in parallel, stores each, and audits every contact as
/// <paramref name="actor"/>. Progress is reported per target as it finishes, from whichever thread finished it.</summary>
public sealed class FactsCollector(StageproofConfig config, IStateStore store, ITransportFactory transports, TimeProvider time, string actor)
{
    /// <summary>Collects manifests. <paramref name="pendingUpgrades"/> runs apt's simulation, the costliest part;
    /// drift has no use for it (pending upgrades are facts, not drift).</summary>
    public async Task<FactsRun> CollectAsync(FactsScope scope, IProgress<FactsProgress>? progress, CancellationToken cancellationToken, bool pendingUpgrades = true)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var hostCollector = new HostFactsCollector(time) { PendingUpgrades = pendingUpgrades, Timeout = config.Ssh.CommandTimeout };
        var databaseCollector = new DatabaseAdapters(time);
        var collected = new List<(string, Manifest)>();
        var failures = new List<FactsFailure>();
        var total = scope.Hosts.Count + scope.Databases.Count + scope.Directories.Count;
        var directoryCollector = new LdapFactsCollector(time);
        var done = 0;
        var started = time.GetTimestamp();
        var gate = new object();

        void Report(string target, string outcome)
        {
            int n;
            lock (gate)
            {
                n = ++done;
            }
            progress?.Report(new FactsProgress(n, total, target, outcome, time.GetElapsedTime(started)));
        }

        // Databases are collected while the hosts are, and each manifest is stored (and audited) as it arrives rather
        // than all at the end, by one writer: the store's writes overlap the remaining hosts' answers, and neither a
        // host's slot nor SQLite's busy wait is spent on them.
        var arrived = Channel.CreateUnbounded<(string Target, Manifest Manifest, TaskCompletionSource<string> Digest)>(
            new UnboundedChannelOptions { SingleReader = true });
        var writer = Task.Run(async () =>
        {
            await foreach (var (target, manifest, digest) in arrived.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    var stored = await store.SaveManifestAsync(manifest, cancellationToken).ConfigureAwait(false);
                    await AuditAsync(target, "ok", stored, cancellationToken).ConfigureAwait(false);
                    digest.SetResult(stored);
                }
                catch (Exception e)
                {
                    digest.SetException(e);
                }
            }
        }, cancellationToken);
        Task<string> StoreAsync(string target, Manifest manifest)
        {
            var digest = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            arrived.Writer.TryWrite((target, manifest, digest));
            return digest.Task;
        }

        var databases = Task.WhenAll(scope.Databases.Select(async d =>
        {
            var (env, name, connectionString) = d;
            var target = $"{env}/{name}";
            try
            {
                var manifest = await databaseCollector.CollectFactsAsync(env, name, connectionString, cancellationToken).ConfigureAwait(false);
                var digest = await StoreAsync(target, manifest).ConfigureAwait(false);
                Report(target, $"{databaseCollector.For(connectionString).Adapter.DisplayName} {manifest.Database?.ServerVersion}, {manifest.Database?.Schema.Objects.Count} schema objects");
                return (Stored: ((string, Manifest)?)(digest, manifest), Failure: (FactsFailure?)null);
            }
            catch (InfrastructureException e)
            {
                Report(target, "FAILED");
                await AuditAsync(target, "failed: " + e.Message, null, cancellationToken).ConfigureAwait(false);
                return (Stored: null, Failure: new FactsFailure(target, e.Message));
            }
        }));

        var directories = Task.WhenAll(scope.Directories.Select(async d =>
        {
            var (env, name, directory) = d;
            var target = $"{env}/{name}";
            try
            {
                var manifest = await directoryCollector.CollectAsync(env, name, DirectorySource.From(target, directory), cancellationToken).ConfigureAwait(false);
                var digest = await StoreAsync(target, manifest).ConfigureAwait(false);
                Report(target, $"{manifest.Directory?.ServerVersion}, {manifest.Directory?.Modules.Count} modules, {manifest.Directory?.Overlays.Count} overlays, {manifest.Directory?.Settings.Count} settings");
                return (Stored: ((string, Manifest)?)(digest, manifest), Failure: (FactsFailure?)null);
            }
            catch (InfrastructureException e)
            {
                Report(target, "FAILED");
                await AuditAsync(target, "failed: " + e.Message, null, cancellationToken).ConfigureAwait(false);
                return (Stored: null, Failure: new FactsFailure(target, e.Message));
            }
        }));

        var hostResults = await HostFanout.RunAsync(scope.Hosts.Select(h => h.Host).ToList(), config.Ssh,
            async (host, ct) =>
            {
                var hostStarted = time.GetTimestamp();
                Manifest manifest;
                await using (var transport = transports.Create(host))
                {
                    var env = scope.Hosts.First(h => h.Host.Name == host.Name).Environment;
                    manifest = await hostCollector.CollectAsync(host, transport, config.Drift, env, ct).ConfigureAwait(false);
                }
                Report(host.Name, $"{manifest.Packages.Count} packages, {manifest.Files.Count} files, {time.GetElapsedTime(hostStarted).TotalSeconds:0.00}s");
                return (Digest: StoreAsync(host.Name, manifest), Manifest: manifest);
            }, progress: null, cancellationToken).ConfigureAwait(false);

        var dbOutcomes = (await databases.ConfigureAwait(false)).Concat(await directories.ConfigureAwait(false)).ToList();
        arrived.Writer.Complete();
        await writer.ConfigureAwait(false);
        foreach (var outcome in hostResults)
        {
            if (outcome.Value is { Manifest: not null } stored)
            {
                collected.Add((await stored.Digest.ConfigureAwait(false), stored.Manifest));
            }
            else
            {
                var message = outcome.Error?.Message ?? "unknown error";
                failures.Add(new FactsFailure(outcome.Host.Name, message));
                Report(outcome.Host.Name, "FAILED");
                await AuditAsync(outcome.Host.Name, "failed: " + message, null, cancellationToken).ConfigureAwait(false);
            }
        }
        foreach (var (dbStored, failure) in dbOutcomes)
        {
            if (dbStored is { } d)
            {
                collected.Add(d);
            }
            if (failure is not null)
            {
                failures.Add(failure);
            }
        }
        return new FactsRun(collected, failures);
    }

    private Task AuditAsync(string target, string outcome, string? digest, CancellationToken ct) =>
        store.AppendAsync(new AuditEvent { Actor = actor, Action = "facts.collect", Target = target, Outcome = outcome, PayloadDigest = digest }, ct);
}
