using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Stageproof.Core;
using Stageproof.Lab.Internal;

namespace Stageproof.Lab;

/// <summary>
/// The lab: a production / QA / staging estate on this machine. Hosts are overlayfs roots on a debootstrapped
/// base, each with its own 127.x address and its own sshd; one PostgreSQL per environment; a local apt
/// repository; the acme-mail demo service. Everything it creates is recorded in LABDIR/lab.json before it is
/// created, so <see cref="DownAsync"/> cleans up after a failed or killed <see cref="UpAsync"/>.
/// Needs root. Expected failures throw <see cref="InputException"/> (exit 2) or <see cref="InfrastructureException"/> (exit 3).
/// </summary>
public sealed partial class LabManager(LabOptions options)
{
    private static readonly string[] StandardEnvironments = ["prod", "qa", "staging"];

    public LabOptions Options { get; } = options;

    public string Directory => Path.GetFullPath(Options.Directory);
    public string ConfigFile => Path.Combine(Directory, "stageproof.yaml");
    public string IdentityFile => Path.Combine(Directory, "keys", "lab_ed25519");
    public string KnownHostsFile => Path.Combine(Directory, "keys", "known_hosts");

    /// <summary><c>lab up</c>: builds (or reuses) the base image, then the whole estate. On failure everything
    /// already created is torn down again before the exception propagates.</summary>
    public async Task<LabUpResult> UpAsync(IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        Validate();
        if (LabState.Load(Directory) is { } existing && (existing.Hosts.Count > 0 || existing.Mounts.Count > 0))
        {
            throw new InputException($"{LabState.PathIn(Directory)}: a lab is already up in {Directory}; run `stageproof lab down` first");
        }
        foreach (var d in new[] { Directory, Path.Combine(Directory, "keys"), LabRepo.PathIn(Directory) })
        {
            System.IO.Directory.CreateDirectory(d);
        }
        // PostgreSQL runs as user postgres and must traverse LABDIR.
        BaseImage.Chmod(Directory, "0755");

        var (envs, hosts) = Plan();
        await EnsureAddressesFreeAsync(envs, hosts, cancellationToken).ConfigureAwait(false);

        var (baseDir, built) = await BaseImage.EnsureAsync(Options, progress, cancellationToken).ConfigureAwait(false);
        progress?.Report(built ? $"base image built in {sw.Elapsed.TotalSeconds:0.0}s: {baseDir}" : $"base image (cached): {baseDir}");
        foreach (var h in hosts)
        {
            h.Lower = [baseDir];
        }
        var store = new StateStore(Directory, new LabState
        {
            Directory = Directory, BaseImage = baseDir, SshPort = Options.SshPort, PostgresPort = Options.PostgresPort,
            AcmeMailPort = Options.AcmeMailPort, AddressOctet = Options.AddressOctet, Hosts = hosts, Environments = envs,
            Estate = EstateName(Options.Estate), MariaDbPort = Options.MariaDbPort, LdapPort = Options.LdapPort,
        });
        await store.UpdateAsync(_ => { }, cancellationToken).ConfigureAwait(false);
        try
        {
            await EnsureLabKeyAsync(cancellationToken).ConfigureAwait(false);
            var debs = Options.InstallAcmeMail ? await AcmeMail.EnsureDebsAsync(Options, progress, cancellationToken).ConfigureAwait(false) : [];
            await LabRepo.AddAsync(LabRepo.PathIn(Directory), debs, cancellationToken).ConfigureAwait(false);
            var proxies = debs.Count > 0 && hosts.Any(h => h.Role == Nginx.Role);
            if (proxies)
            {
                await LabRepo.AddAsync(LabRepo.PathIn(Directory), await Nginx.EnsureDebsAsync(Options, progress, cancellationToken).ConfigureAwait(false),
                    cancellationToken).ConfigureAwait(false);
            }
            // The directory's hosts get slapd with or without acme-mail: it is the estate's, not the app's.
            if (hosts.Any(h => h.Role == Slapd.Role))
            {
                await LabRepo.AddAsync(LabRepo.PathIn(Directory), await Slapd.EnsureDebsAsync(Options, progress, cancellationToken).ConfigureAwait(false),
                    cancellationToken).ConfigureAwait(false);
            }
            await LabRepo.IndexAsync(LabRepo.PathIn(Directory), cancellationToken).ConfigureAwait(false);
            var acme = debs.Count > 0;
            await store.UpdateAsync(s => s.AcmeMail = acme, cancellationToken).ConfigureAwait(false);

            var roots = new HostRoots(store, Directory);
            var databases = Task.WhenAll(envs.Select(e => EstateServers.InitAsync(store.State, e, null, progress, cancellationToken)));
            var labKey = await File.ReadAllTextAsync(IdentityFile + ".pub", cancellationToken).ConfigureAwait(false);
            var upstream = Options.Upstream ? AptSources.UpstreamSources(Options.Suite) : null;
            var hostsUp = ForEachHostAsync(hosts, async (h, ct) =>
            {
                await roots.MountAsync(h, ct).ConfigureAwait(false);
                await roots.ConfigureAsync(h, labKey, ct).ConfigureAwait(false);
                await roots.StartSshdAsync(h, ct).ConfigureAwait(false);
                await roots.AptUpdateAsync(h, ct).ConfigureAwait(false);
                if (upstream is not null)
                {
                    await roots.UpstreamAsync(h, upstream, ct).ConfigureAwait(false);
                    progress?.Report($"{h.Name}: Debian's archives added (--upstream)");
                }
                var env = envs.Single(e => e.Name == h.Environment);
                if (h.Role == Slapd.Role)
                {
                    // Up before any acme-mail starts: every login is a bind to it.
                    await Slapd.InstallAsync(roots, h, Options.LdapPort, Directory, ct).ConfigureAwait(false);
                    await Slapd.StartAsync(roots, h, Options.LdapPort, ct).ConfigureAwait(false);
                    progress?.Report($"{h.Name}: OpenLDAP (slapd from the lab repository) up on {LdapServer.Url(h.Address, Options.LdapPort)}");
                }
                else if (acme && h.Role == Nginx.Role)
                {
                    await Nginx.InstallAsync(roots, h, AppAddresses(hosts, env), Options.AcmeMailPort, ct).ConfigureAwait(false);
                }
                else if (acme)
                {
                    await AcmeMail.InstallAsync(roots, h, EstateServers.AcmeMailSettings(store.State, env), Options.AcmeMailPort, ct).ConfigureAwait(false);
                }
                progress?.Report($"{h.Name}: sshd up on {h.Address}:{Options.SshPort}");
            }, cancellationToken);
            // Both must have finished before a failure tears the lab down, or teardown races a server still starting.
            await Task.WhenAll(Task.WhenAny(hostsUp), Task.WhenAny(databases)).ConfigureAwait(false);
            await hostsUp.ConfigureAwait(false);
            await databases.ConfigureAwait(false);
            await WriteKnownHostsAsync(store, roots, cancellationToken).ConfigureAwait(false);

            if (acme)
            {
                await StartAcmeMailAsync(store, roots, envs, hosts.Where(IsAppHost).ToList(), progress, cancellationToken).ConfigureAwait(false);
            }
            if (proxies)
            {
                await StartProxiesAsync(roots, hosts.Where(h => h.Role == Nginx.Role).ToList(), progress, cancellationToken).ConfigureAwait(false);
            }
            await LabConfigWriter.WriteAsync(Directory, store.State, cancellationToken).ConfigureAwait(false);
            progress?.Report($"lab up in {sw.Elapsed.TotalSeconds:0.0}s: {hosts.Count} hosts, {envs.Count} databases; configuration {ConfigFile}");
            return new LabUpResult(Directory, ConfigFile, baseDir, built, acme, ToHosts(store.State, hosts), ToEnvironments(store.State, envs), sw.Elapsed);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            progress?.Report($"lab up failed ({e.Message}); tearing down what was built");
            await DownAsync(progress, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary><c>lab down</c>: stops every service and process of the lab, stops the databases, unmounts
    /// everything under LABDIR and removes the hosts and databases. Keeps keys/ and repo/. Idempotent.</summary>
    public async Task<LabDownResult> DownAsync(IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        if (!System.IO.Directory.Exists(Directory))
        {
            return new LabDownResult(false, 0, 0, 0, 0, sw.Elapsed);
        }
        var state = LabState.Load(Directory);
        var hostsDir = Path.Combine(Directory, "hosts");
        var dbDir = Path.Combine(Directory, "db");
        var wasUp = state is not null || System.IO.Directory.Exists(hostsDir) || System.IO.Directory.Exists(dbDir)
                    || System.IO.Directory.Exists(SnapshotsDirectory) || Mounts.Under(Directory).Count > 0;
        if (!wasUp)
        {
            return new LabDownResult(false, 0, 0, 0, 0, sw.Elapsed);
        }
        var stopped = 0;
        if (System.IO.Directory.Exists(hostsDir))
        {
            var roots = System.IO.Directory.EnumerateDirectories(hostsDir).Select(d => Path.Combine(d, "root")).Where(Mounts.IsMountPoint).ToList();
            await Parallel.ForEachAsync(roots, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Options.Parallelism), CancellationToken = cancellationToken },
                async (root, ct) =>
                {
                    if (File.Exists(Path.Combine(root, "etc/init.d/acme-mail")) && File.Exists(Path.Combine(root, "run/acme-mail.pid")))
                    {
                        await Run.ExecAsync(Path.GetFileName(Path.GetDirectoryName(root)!), "/usr/sbin/chroot", [root, "/usr/sbin/service", "acme-mail", "stop"],
                            TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
                    }
                    var pidFile = Path.Combine(root, "run/sshd.pid");
                    if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid) && Processes.RootedUnder(root).Contains(pid))
                    {
                        Processes.Signal(pid, 15);
                    }
                }).ConfigureAwait(false);
            stopped = await Processes.StopAllAsync(hostsDir, TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        var dbs = await EstateServers.StopAllAsync(Directory, cancellationToken).ConfigureAwait(false);
        var (unmounted, lazy) = await Mounts.UnmountAllUnderAsync(Directory, cancellationToken).ConfigureAwait(false);
        foreach (var d in new[] { hostsDir, dbDir, Path.Combine(Directory, "logs"), SnapshotsDirectory })
        {
            await BaseImage.RemoveAsync(d, cancellationToken).ConfigureAwait(false);
        }
        File.Delete(LabState.PathIn(Directory));
        File.Delete(ConfigFile);
        File.Delete(Path.Combine(Directory, "snapshots.lock"));
        progress?.Report($"lab down in {sw.Elapsed.TotalSeconds:0.0}s: {stopped} processes, {dbs} database servers stopped, {unmounted + lazy} mounts removed" +
                         (lazy > 0 ? $" ({lazy} lazily)" : ""));
        return new LabDownResult(true, stopped, dbs, unmounted, lazy, sw.Elapsed);
    }

    /// <summary><c>lab status</c>: what is mounted, listening and healthy now.</summary>
    public async Task<LabStatus> StatusAsync(CancellationToken cancellationToken = default)
    {
        var state = LabState.Load(Directory);
        if (state is null)
        {
            return new LabStatus(false, Directory, [], []);
        }
        var hosts = await Task.WhenAll(state.Hosts.Select(async h =>
        {
            var mounted = Mounts.IsMountPoint(h.Root);
            var ssh = await Net.TcpOpenAsync(h.Address, state.SshPort, cancellationToken).ConfigureAwait(false);
            // A proxy's is acme-mail's health as users reach it: through its nginx.
            var healthUrl = h.AcmeMail ? AcmeMail.HealthUrl(h.Address, state.AcmeMailPort)
                : h.Role == Nginx.Role && mounted && Nginx.Enabled(h.Root) ? Nginx.HealthUrl(h.Address) : null;
            bool? acme = healthUrl is null ? null : await Net.HttpStatusAsync(healthUrl, cancellationToken).ConfigureAwait(false) == 200;
            return new LabHostStatus(h.Name, h.Environment, h.Address, mounted, ssh, acme);
        })).ConfigureAwait(false);
        var envs = await Task.WhenAll(state.Environments.Select(async e =>
            new LabEnvironmentStatus(e.Name, state.IsMail ? "mariadb" : "postgres", e.DatabaseAddress,
                await Net.TcpOpenAsync(e.DatabaseAddress, state.DatabasePort, cancellationToken).ConfigureAwait(false),
                state.IsMail ? e.DirectoryAddress : null,
                state.IsMail ? await Net.TcpOpenAsync(e.DirectoryAddress, state.LdapPort, cancellationToken).ConfigureAwait(false) : null)))
            .ConfigureAwait(false);
        return new LabStatus(true, Directory, hosts, envs);
    }

    /// <summary>
    /// <c>lab clone SRC DST</c>: a copy-on-write clone of every host of <paramref name="source"/> (its upper layer
    /// snapshotted with <c>cp -a --reflink=auto</c> and stacked on the base; the source keeps running) and of its
    /// database (pg_dump into a new server), on the next free addresses, added to stageproof.yaml with mirror_of SRC.
    /// With <paramref name="asControl"/>, SRC names the clone as its <c>control:</c> once the clone is up: its twins for
    /// a stage to measure latency against in the same seconds.
    /// </summary>
    public async Task<LabCloneResult> CloneAsync(string source, string destination, IProgress<string>? progress = null, CancellationToken cancellationToken = default,
        bool asControl = false)
    {
        var sw = Stopwatch.StartNew();
        var state = LabState.Load(Directory) ?? throw new InputException($"no lab in {Directory} (lab.json missing); run `stageproof lab up` first");
        var src = state.Environments.SingleOrDefault(e => e.Name == source)
                  ?? throw new InputException($"lab clone: environment '{source}' does not exist (known: {string.Join(", ", state.Environments.Select(e => e.Name))})");
        if (!NameRegex().IsMatch(destination))
        {
            throw new InputException($"lab clone: '{destination}' is not a valid environment name (lower-case letters, digits, '-')");
        }
        if (state.Environments.Any(e => e.Name == destination))
        {
            throw new InputException($"lab clone: environment '{destination}' already exists");
        }
        var octet = state.Environments.Max(e => e.Octet) + 10;
        if (octet > 250)
        {
            throw new InputException($"lab clone: no free address range left for '{destination}'");
        }
        var store = new StateStore(Directory, state);
        var env = NewEnv(destination, octet, source, state.IsMail);
        env.ClonedFrom = source;
        var pairs = new List<(HostState From, HostState To)>();
        var n = 11;
        foreach (var fromName in src.Hosts)
        {
            var from = state.Hosts.Single(h => h.Name == fromName);
            var name = fromName.StartsWith(source + "-", StringComparison.Ordinal) ? destination + fromName[source.Length..] : $"{destination}-{fromName}";
            var to = new HostState
            {
                // The directory's host keeps the directory's address (.7), which the clone's acme-mail and checks name.
                Name = name, Environment = destination, Role = from.Role, Address = from.Role == Slapd.Role ? env.DirectoryAddress : Address(octet, n++),
                HostDir = Path.Combine(Directory, "hosts", name), AcmeMail = from.AcmeMail,
            };
            to.Lower = [Path.Combine(to.HostDir, "lower"), .. from.Lower];
            env.Hosts.Add(name);
            pairs.Add((from, to));
        }
        await EnsureAddressesFreeAsync([env], pairs.Select(p => p.To).ToList(), cancellationToken, state).ConfigureAwait(false);
        await store.UpdateAsync(s =>
        {
            s.Environments.Add(env);
            s.Hosts.AddRange(pairs.Select(p => p.To));
        }, cancellationToken).ConfigureAwait(false);

        var roots = new HostRoots(store, Directory);
        var settings = EstateServers.AcmeMailSettings(state, env);
        var database = Task.Run(async () =>
        {
            await EstateServers.InitAsync(state, env, src, progress, cancellationToken).ConfigureAwait(false);
            await store.UpdateAsync(_ => env.Seeded = true, cancellationToken).ConfigureAwait(false);
        }, cancellationToken);
        var labKey = await File.ReadAllTextAsync(IdentityFile + ".pub", cancellationToken).ConfigureAwait(false);
        await ForEachHostAsync(pairs, async (p, ct) =>
        {
            var lower = p.To.Lower[0];
            System.IO.Directory.CreateDirectory(p.To.HostDir);
            await Run.CheckedAsync(p.To.Name, "/bin/cp", ["-a", "--reflink=auto", p.From.Upper, lower], TimeSpan.FromMinutes(10), ct).ConfigureAwait(false);
            // A snapshot boots with an empty /run: no pid files of the source's processes.
            var run = Path.Combine(lower, "run");
            if (System.IO.Directory.Exists(run))
            {
                await Run.CheckedAsync(p.To.Name, "/usr/bin/find", [run, "-mindepth", "1", "-delete"], TimeSpan.FromMinutes(1), ct).ConfigureAwait(false);
            }
            await roots.MountAsync(p.To, ct).ConfigureAwait(false);
            await roots.ConfigureAsync(p.To, labKey, ct).ConfigureAwait(false);
            if (p.To.AcmeMail)
            {
                await AcmeMail.ConfigureAsync(p.To, settings, state.AcmeMailPort, ct).ConfigureAwait(false);
            }
            else if (p.To.Role == Nginx.Role)
            {
                // The clone's proxy balances over the clone's app hosts, never over its source's.
                await Nginx.ConfigureAsync(p.To, AppAddresses(pairs.Select(q => q.To), env), state.AcmeMailPort, ct).ConfigureAwait(false);
            }
            else if (p.To.Role == Slapd.Role && Slapd.Enabled(p.To.Root))
            {
                // The copy of a running slapd's data is not trusted: the clone loads the source's entries as slapcat
                // reads them, and listens on its own address.
                await Slapd.ConfigureAsync(p.To, state.LdapPort, ct).ConfigureAwait(false);
                await Slapd.LoadAsync(roots, p.To, await Slapd.ExportAsync(roots, p.From, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
                await Slapd.StartAsync(roots, p.To, state.LdapPort, ct).ConfigureAwait(false);
            }
            await roots.StartSshdAsync(p.To, ct).ConfigureAwait(false);
            progress?.Report($"{p.To.Name}: cloned from {p.From.Name}, sshd up on {p.To.Address}:{state.SshPort}");
        }, cancellationToken).ConfigureAwait(false);
        await database.ConfigureAwait(false);
        await WriteKnownHostsAsync(store, roots, cancellationToken).ConfigureAwait(false);
        await ForEachHostAsync(pairs.Where(p => p.To.AcmeMail).ToList(), async (p, ct) =>
        {
            await AcmeMail.StartAsync(roots, p.To, state.AcmeMailPort, ct).ConfigureAwait(false);
            progress?.Report($"{p.To.Name}: acme-mail healthy on {AcmeMail.HealthUrl(p.To.Address, state.AcmeMailPort)}");
        }, cancellationToken).ConfigureAwait(false);
        await StartProxiesAsync(roots, pairs.Select(p => p.To).Where(h => h.Role == Nginx.Role && Nginx.Enabled(h.Root)).ToList(), progress, cancellationToken)
            .ConfigureAwait(false);
        if (asControl)
        {
            await store.UpdateAsync(_ => src.Control = destination, cancellationToken).ConfigureAwait(false);
        }
        await LabConfigWriter.WriteAsync(Directory, state, cancellationToken).ConfigureAwait(false);
        progress?.Report($"clone {source} -> {destination} in {sw.Elapsed.TotalSeconds:0.0}s" + (asControl ? $", the control of {source}" : ""));
        var targets = pairs.Select(p => p.To).ToList();
        return new LabCloneResult(ToEnvironments(state, [env])[0], ToHosts(state, targets), sw.Elapsed);
    }

    /// <summary><c>lab repo add DEB...</c>: publishes packages in the lab repository and refreshes every running host's index.</summary>
    public async Task<LabRepoResult> RepoAddAsync(IReadOnlyList<string> debFiles, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        if (debFiles.Count == 0)
        {
            throw new InputException("lab repo add: no package files given");
        }
        await LabRepo.AddAsync(LabRepo.PathIn(Directory), debFiles, cancellationToken).ConfigureAwait(false);
        return await ReindexAsync(progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Convenience form of <see cref="RepoAddAsync(IReadOnlyList{string}, IProgress{string}?, CancellationToken)"/>.</summary>
    public Task<LabRepoResult> RepoAddAsync(params string[] debFiles) => RepoAddAsync(debFiles, null, CancellationToken.None);

    /// <summary>Withdraws one version of a package from the lab repository (e.g. to rehearse a rollback whose old
    /// version is no longer in the mirror) and refreshes every running host's index.</summary>
    public async Task<LabRepoResult> RepoRemoveAsync(string package, string version, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!await LabRepo.RemoveAsync(LabRepo.PathIn(Directory), package, version, cancellationToken).ConfigureAwait(false))
        {
            throw new InputException($"lab repo remove: the lab repository {LabRepo.PathIn(Directory)} holds no {package}={version}");
        }
        return await ReindexAsync(progress, cancellationToken).ConfigureAwait(false);
    }

    private async Task<LabRepoResult> ReindexAsync(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var packages = await LabRepo.IndexAsync(LabRepo.PathIn(Directory), cancellationToken).ConfigureAwait(false);
        var updated = 0;
        if (LabState.Load(Directory) is { } state)
        {
            var roots = new HostRoots(new StateStore(Directory, state), Directory);
            var running = state.Hosts.Where(h => Mounts.IsMountPoint(h.Root)).ToList();
            await ForEachHostAsync(running, (h, ct) => new ValueTask(roots.AptUpdateAsync(h, ct)), cancellationToken).ConfigureAwait(false);
            updated = running.Count;
        }
        progress?.Report($"lab repository: {string.Join(", ", packages)}; {updated} hosts updated");
        return new LabRepoResult(packages, updated);
    }

    private void Validate()
    {
        var problems = new List<string>();
        if (!Path.IsPathFullyQualified(Options.Directory))
        {
            problems.Add($"lab directory '{Options.Directory}' must be an absolute path");
        }
        if (Directory.Any(c => c is ',' or ':' || char.IsWhiteSpace(c)))
        {
            problems.Add($"lab directory '{Directory}' must not contain ',', ':' or white space (overlayfs options)");
        }
        if (Options.AppHosts is < 1 or > 50)
        {
            problems.Add($"app hosts: {Options.AppHosts} is out of range 1..50");
        }
        // prod, qa and staging take octet, +10, +20: staging's must stay within 250 (clones check their own).
        if (Options.AddressOctet is < 1 or > 230)
        {
            problems.Add($"address octet: {Options.AddressOctet} is out of range 1..230");
        }
        if (problems.Count > 0)
        {
            throw new InputException(string.Join(Environment.NewLine, problems));
        }
        if (geteuid() != 0)
        {
            throw new InputException("the lab needs root (overlay mounts, chroot, sshd, PostgreSQL as user postgres)");
        }
    }

    private (List<EnvState> Envs, List<HostState> Hosts) Plan()
    {
        var envs = new List<EnvState>();
        var hosts = new List<HostState>();
        for (var i = 0; i < StandardEnvironments.Length; i++)
        {
            var name = StandardEnvironments[i];
            var env = NewEnv(name, Options.AddressOctet + 10 * i, name == "staging" ? "prod" : null, Options.Estate == LabEstate.Mail);
            var count = name == "prod" ? Options.AppHosts : 1;
            for (var n = 1; n <= count; n++)
            {
                var host = new HostState
                {
                    Name = $"{name}-app-{n}", Environment = name, Role = "app", Address = Address(env.Octet, 10 + n),
                    HostDir = Path.Combine(Directory, "hosts", $"{name}-app-{n}"),
                };
                env.Hosts.Add(host.Name);
                hosts.Add(host);
            }
            if (Options.Estate == LabEstate.Mail)
            {
                // The proxy after the app hosts: an environment's first host stays an app host (the demo's and a
                // rollout's canary).
                var proxy = new HostState
                {
                    Name = $"{name}-proxy-1", Environment = name, Role = Nginx.Role, Address = Address(env.Octet, 9),
                    HostDir = Path.Combine(Directory, "hosts", $"{name}-proxy-1"),
                };
                env.Hosts.Add(proxy.Name);
                hosts.Add(proxy);
                // The directory's host, on the directory's address: slapd as a package Stageproof can patch.
                var ldap = new HostState
                {
                    Name = $"{name}-ldap-1", Environment = name, Role = Slapd.Role, Address = env.DirectoryAddress,
                    HostDir = Path.Combine(Directory, "hosts", $"{name}-ldap-1"),
                };
                env.Hosts.Add(ldap.Name);
                hosts.Add(ldap);
            }
            envs.Add(env);
        }
        return (envs, hosts);
    }

    private EnvState NewEnv(string name, int octet, string? mirrorOf, bool mail) => new()
    {
        Name = name, Octet = octet, MirrorOf = mirrorOf, CreatedUtc = DateTimeOffset.UtcNow, DatabaseAddress = Address(octet, mail ? 6 : 5),
        DirectoryAddress = mail ? Address(octet, 7) : "",
        DataDir = Path.Combine(Directory, "db", name), SocketDir = Path.Combine(Directory, "db", name + ".sock"),
    };

    private static string EstateName(LabEstate estate) => estate == LabEstate.Mail ? "mail" : "standard";

    private static string Address(int octet, int last) => string.Create(CultureInfo.InvariantCulture, $"127.0.{octet}.{last}");

    private async Task EnsureAddressesFreeAsync(IReadOnlyList<EnvState> envs, IReadOnlyList<HostState> hosts, CancellationToken ct, LabState? existing = null)
    {
        // A clone takes the ports of the lab it joins; lab up those of its options.
        var (ssh, acme) = existing is null ? (Options.SshPort, Options.AcmeMailPort) : (existing.SshPort, existing.AcmeMailPort);
        var mail = existing?.IsMail ?? Options.Estate == LabEstate.Mail;
        var databasePort = existing?.DatabasePort ?? (mail ? Options.MariaDbPort : Options.PostgresPort);
        var ldapPort = existing?.LdapPort ?? Options.LdapPort;
        var endpoints = hosts.Select(h => (h.Name, h.Address, ssh))
            .Concat(hosts.Select(h => (h.Name, h.Address, h.Role == Nginx.Role ? Nginx.Port : acme)))
            .Concat(envs.Select(e => ($"{e.Name}-db", e.DatabaseAddress, databasePort)))
            .Concat(envs.Where(_ => mail).Select(e => ($"{e.Name}-ldap", e.DirectoryAddress, ldapPort)));
        foreach (var (name, address, port) in endpoints)
        {
            if (await Net.TcpOpenAsync(address, port, ct).ConfigureAwait(false))
            {
                throw new InputException($"{name}: {address}:{port} is already in use (another lab? run `stageproof lab down`, or choose other addresses)");
            }
        }
    }

    private async Task EnsureLabKeyAsync(CancellationToken ct)
    {
        if (File.Exists(IdentityFile) && File.Exists(IdentityFile + ".pub"))
        {
            return;
        }
        File.Delete(IdentityFile);
        File.Delete(IdentityFile + ".pub");
        await Run.CheckedAsync("lab", "/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "stageproof-lab", "-f", IdentityFile],
            TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
    }

    private async Task WriteKnownHostsAsync(StateStore store, HostRoots roots, CancellationToken ct)
    {
        var lines = store.State.Hosts.Where(h => File.Exists(Path.Combine(h.Root, "etc/ssh/ssh_host_ed25519_key.pub"))).Select(roots.KnownHostsLine);
        await File.WriteAllLinesAsync(KnownHostsFile, lines, ct).ConfigureAwait(false);
    }

    private async Task StartAcmeMailAsync(StateStore store, HostRoots roots, List<EnvState> envs, List<HostState> hosts, IProgress<string>? progress, CancellationToken ct)
    {
        foreach (var h in hosts)
        {
            h.AcmeMail = true;
        }
        await store.UpdateAsync(_ => { }, ct).ConfigureAwait(false);
        await Task.WhenAll(envs.Select(async e =>
        {
            await AcmeMail.SeedAsync(roots, hosts.First(h => h.Environment == e.Name), ct).ConfigureAwait(false);
            await store.UpdateAsync(_ => e.Seeded = true, ct).ConfigureAwait(false);
            progress?.Report($"{e.Name}: mail database migrated and seeded");
        })).ConfigureAwait(false);
        await ForEachHostAsync(hosts, async (h, c) =>
        {
            await AcmeMail.StartAsync(roots, h, Options.AcmeMailPort, c).ConfigureAwait(false);
            progress?.Report($"{h.Name}: acme-mail {AcmeMail.InitialVersion} healthy on {AcmeMail.HealthUrl(h.Address, Options.AcmeMailPort)}");
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Starts nginx on the proxies, once the app hosts behind them answer.</summary>
    private Task StartProxiesAsync(HostRoots roots, IReadOnlyList<HostState> proxies, IProgress<string>? progress, CancellationToken ct) =>
        ForEachHostAsync(proxies, async (h, c) =>
        {
            await Nginx.StartAsync(roots, h, c).ConfigureAwait(false);
            progress?.Report($"{h.Name}: nginx in front of acme-mail on {Nginx.HealthUrl(h.Address)}");
        }, ct);

    /// <summary>The addresses of an environment's app hosts (what its proxy balances over).</summary>
    private static List<string> AppAddresses(IEnumerable<HostState> hosts, EnvState env) =>
        hosts.Where(h => h.Environment == env.Name && IsAppHost(h)).Select(h => h.Address).ToList();

    /// <summary>A host that runs acme-mail (not a proxy, not the directory's).</summary>
    private static bool IsAppHost(HostState host) => host.Role != Nginx.Role && host.Role != Slapd.Role;

    private Task ForEachHostAsync<T>(IEnumerable<T> items, Func<T, CancellationToken, ValueTask> body, CancellationToken ct) =>
        Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Options.Parallelism), CancellationToken = ct }, body);

    private static List<LabHost> ToHosts(LabState state, IEnumerable<HostState> hosts) =>
        hosts.Select(h => new LabHost(h.Name, h.Environment, h.Role, h.Address, state.SshPort, h.Root)).ToList();

    private static List<LabEnvironment> ToEnvironments(LabState state, IEnumerable<EnvState> envs) =>
        envs.Select(e => new LabEnvironment(e.Name, e.Hosts, e.DatabaseAddress, state.DatabasePort,
            EstateServers.ConnectionString(state, e), e.MirrorOf, state.IsMail ? "mariadb" : "postgres",
            state.IsMail ? LdapServer.Url(e.DirectoryAddress, state.LdapPort) : null)).ToList();

    [GeneratedRegex("^[a-z][a-z0-9-]{0,30}$")]
    private static partial Regex NameRegex();

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();
}
