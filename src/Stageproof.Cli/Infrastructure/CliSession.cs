using System.CommandLine;
using Stageproof.Application.Estate;
using Stageproof.Application.Identity;
using Stageproof.Application.Lifecycle;
using Stageproof.Cli.Remote;
using Stageproof.Application.Notifications;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.State;
using Stageproof.Data;
using Stageproof.Hosts.Transports;

namespace Stageproof.Cli.Infrastructure;

/// <summary>Everything one invocation shares: options, configuration, state store, audit, output.</summary>
internal sealed class CliSession : IAsyncDisposable
{
    private StageproofConfig? _config;
    private IStateStore? _store;
    private WebhookDispatcher? _webhooks;

    /// <summary>How long a verb waits, as it exits, for webhook deliveries still being sent.</summary>
    public static readonly TimeSpan WebhookDrain = TimeSpan.FromSeconds(5);

    public CliSession(ParseResult parse, TextWriter stdout, TimeProvider time, Ui ui)
    {
        ConfigPath = Path.GetFullPath(parse.GetValue(GlobalOptions.Config) ?? "stageproof.yaml");
        _stateOption = parse.GetValue(GlobalOptions.State);
        OsUser = Environment.UserName;
        Actor = parse.GetValue(GlobalOptions.Actor) is { Length: > 0 } actor ? actor : OsUser;
        AuthenticatedBy = Actor == OsUser ? "os:" + OsUser : null;
        _tokenFile = parse.GetValue(GlobalOptions.TokenFile);
        AcceptNewHostKeys = parse.GetValue(GlobalOptions.AcceptNewHostKeys);
        Server = parse.GetValue(GlobalOptions.Server) is { Length: > 0 } server ? ServerUrl.Parse(server, "--server")
            : Environment.GetEnvironmentVariable("STAGEPROOF_SERVER") is { Length: > 0 } env ? ServerUrl.Parse(env, "STAGEPROOF_SERVER")
            : null;
        if (Server is not null && parse.GetValue(GlobalOptions.Actor) is { Length: > 0 } claimed)
        {
            throw new InputException($"--actor {claimed}: through --server {Server} the actor is the token's user; drop --actor");
        }
        Stdout = stdout;
        Ui = ui;
        Time = time;
    }

    public string ConfigPath { get; }

    private readonly string? _stateOption;
    private StateSettings? _stateSettings;
    private string? _stateDirectory;

    /// <summary>The state keys of stageproof.yaml (state:, state_password_file:, audit_key_file:), read alone so that
    /// verbs needing no estate work beside a configuration being edited.</summary>
    public StateSettings StateSettings => _stateSettings ??= ConfigLoader.LoadStateSettings(ConfigPath);

    /// <summary>Where the state is: --state, else stageproof.yaml's state:, else ./.stageproof.</summary>
    /// <exception cref="InputException">--state or state: is malformed, or a URL carries a password.</exception>
    public Core.State.StateLocation StateLocation => StateStores.Resolve(_stateOption, StateSettings);

    /// <summary>
    /// The local state directory: the state itself for SQLite; beside a PostgreSQL state, the files that stay on this
    /// machine (database dumps, snapshot repositories, the console's cookie keys) in ./.stageproof. Never throws: a bad
    /// state setting is reported when the store is opened.
    /// </summary>
    public string StateDirectory => _stateDirectory ??= LocalDirectory();

    private string LocalDirectory()
    {
        try
        {
            return StateLocation.Directory ?? Path.GetFullPath(StateStores.DefaultDirectory);
        }
        catch (InputException)
        {
            return Path.GetFullPath(_stateOption is { } option && !Core.State.StateLocation.LooksLikeUrl(option) ? option : StateStores.DefaultDirectory);
        }
    }
    public string Actor { get; private set; }
    /// <summary>The OS user running this process: who Stageproof knows is acting when no token says otherwise.</summary>
    public string OsUser { get; }
    /// <summary>How <see cref="Actor"/> is known: "os:NAME" or "token:ID"; null when it is only a name typed with --actor.</summary>
    public string? AuthenticatedBy { get; private set; }

    private readonly string? _tokenFile;

    /// <summary>The server this invocation runs through (--server, else STAGEPROOF_SERVER); null to use the local state.</summary>
    public ServerUrl? Server { get; }

    private ServerClient? _remote;

    /// <summary>The client for <see cref="Server"/>, presenting --token-file, else STAGEPROOF_TOKEN, else the token
    /// 'stageproof login' stored for that server; with none, bad input telling how to log in.</summary>
    public ServerClient Remote
    {
        get
        {
            if (_remote is null)
            {
                var server = Server ?? throw new InvalidOperationException("no --server: the verb should have used the local state");
                var (token, source) = PresentedToken() ?? (CredentialStore.Default() is var stored && stored.Find(server) is { } login
                    ? (login.Token, stored.Path)
                    : throw new InputException($"not logged in to {server} (stageproof login --server {server})"));
                _remote = new ServerClient(server, token, source);
            }
            return _remote;
        }
    }

    /// <summary>The token this invocation presents (--token-file, else STAGEPROOF_TOKEN), and where it came from.</summary>
    public (string Text, string Source)? PresentedToken()
    {
        if (_tokenFile is { } file)
        {
            try
            {
                return (File.ReadAllText(file).Trim(), "--token-file " + file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InputException($"--token-file {file}: {e.Message}");
            }
        }
        return Environment.GetEnvironmentVariable("STAGEPROOF_TOKEN") is { Length: > 0 } env ? (env.Trim(), "STAGEPROOF_TOKEN") : null;
    }

    /// <summary>Resolves a presented token to its user (called before any verb runs). A token that is unknown, expired,
    /// revoked, not sealed by this state's audit key, or whose user is gone is refused in one line (exit 2).</summary>
    public async Task AuthenticateAsync(CancellationToken ct)
    {
        // Through a server, the server judges the token on every request.
        if (Server is not null || PresentedToken() is not { } presented)
        {
            return;
        }
        var principal = await VerifyTokenAsync(presented.Text, presented.Source, ct).ConfigureAwait(false);
        if (Actor != OsUser && Actor != principal.Name)
        {
            throw new InputException($"--actor {Actor}: the token from {presented.Source} is {principal.Name}'s; give one or the other");
        }
        SignedIn(principal);
    }

    private async Task<Principal> VerifyTokenAsync(string text, string source, CancellationToken ct)
    {
        var store = await StoreAsync(ct).ConfigureAwait(false);
        var check = await TokenAuthenticator.VerifyAsync(store, text, Time.GetUtcNow(), ct).ConfigureAwait(false);
        return check.Principal ?? throw new InputException($"{source}: {check.Refusal}");
    }

    private void SignedIn(Principal? principal)
    {
        _tokenPrincipal = principal;
        if (principal is not null)
        {
            Actor = principal.Name;
            AuthenticatedBy = principal.AuthenticatedBy;
        }
    }

    /// <summary>The principal a presented token proved, with its user narrowed by the token's scope.</summary>
    private Principal? _tokenPrincipal;

    /// <summary>The actor as the application layer sees it: name, how it was proven, and the user record every role
    /// decision judges — for a token, the user narrowed by the token's scope, never a fresh lookup by name.</summary>
    public async Task<Principal> PrincipalAsync(CancellationToken ct)
    {
        if (_tokenPrincipal is not null)
        {
            return _tokenPrincipal;
        }
        var store = await StoreAsync(ct).ConfigureAwait(false);
        var user = (await store.ListUsersAsync(ct).ConfigureAwait(false)).FirstOrDefault(u => u.Name == Actor);
        return new Principal(Actor, AuthenticatedBy, user);
    }

    /// <summary>The acting user as the access policy judges it (see <see cref="PrincipalAsync"/>); null when the actor is no user.</summary>
    public async Task<User?> ActingUserAsync(CancellationToken ct) => (await PrincipalAsync(ct).ConfigureAwait(false)).User;

    /// <summary>
    /// Refuses a verb where a role decides when the actor is only a claim: once Stageproof has users, `--actor carol`
    /// typed by the OS user root is not carol. Without users (a single operator trying it out) a claim is allowed, as the
    /// first user must be added by someone.
    /// </summary>
    public async Task RequireAuthenticatedAsync(string doing, CancellationToken ct)
    {
        if (AuthenticatedBy is not null)
        {
            return;
        }
        var store = await StoreAsync(ct).ConfigureAwait(false);
        if ((await store.ListUsersAsync(ct).ConfigureAwait(false)).Count == 0)
        {
            return;
        }
        var refusal = new GateRefusal(GateRules.AuthenticatedActor,
            $"--actor {Actor} is a name, not a login: {OsUser} is running this command. To {doing} as {Actor}, present {Actor}'s API token " +
            $"(STAGEPROOF_TOKEN or --token-file; an admin creates one with 'stageproof token create {Actor}')");
        await store.AppendAsync(new AuditEvent { Actor = OsUser, Action = "identity.refused", Target = Actor, Outcome = refusal.ToString() }, ct).ConfigureAwait(false);
        throw new RefusedException(refusal.Rule, refusal.Message);
    }

    public bool AcceptNewHostKeys { get; }
    public Ui Ui { get; }
    /// <summary>Raw standard output, for verbs whose output is a stream (audit export).</summary>
    public TextWriter Stdout { get; }
    public TimeProvider Time { get; }

    /// <summary>The configuration, loaded on first use; its warnings go to stderr then (one line each), unless the verb
    /// shows them itself.</summary>
    public StageproofConfig Config
    {
        get
        {
            if (_config is null)
            {
                _config = ConfigLoader.Load(ConfigPath);
                if (!ConfigWarningsShownByVerb)
                {
                    foreach (var warning in _config.Warnings)
                    {
                        Ui.Warn(warning.ToString());
                    }
                }
            }
            return _config;
        }
    }

    /// <summary>Set by a verb that shows the configuration's warnings in its own output (config show).</summary>
    public bool ConfigWarningsShownByVerb { get; set; }

    /// <summary>Loads a configuration other than the default one (the lab writes its own).</summary>
    public void UseConfig(StageproofConfig config) => _config = config;

    public async Task<IStateStore> StoreAsync(CancellationToken cancellationToken)
    {
        if (Server is not null)
        {
            // A verb that runs through --server must never read or write a local state instead.
            throw new InvalidOperationException($"this verb asked for the local state although --server {Server} is set");
        }
        if (_store is null)
        {
            var location = StateLocation;
            _store = await StateStores.OpenAsync(location, StateSettings, Time, cancellationToken).ConfigureAwait(false);
            if (location.Directory is { } directory && PrivateFiles.Warning(directory) is { } warning)
            {
                Ui.Warn(warning);
            }
        }
        return _store;
    }

    /// <summary>Where workflows publish events: the configured webhooks, or nowhere when there are none.</summary>
    public async Task<IEventPublisher> EventsAsync(CancellationToken cancellationToken) =>
        Config.Webhooks.Count == 0 ? NullEventPublisher.Instance : await WebhooksAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>The webhook dispatcher of this invocation (drained when the session ends).</summary>
    public async Task<WebhookDispatcher> WebhooksAsync(CancellationToken cancellationToken)
    {
        if (_webhooks is null)
        {
            var store = await StoreAsync(cancellationToken).ConfigureAwait(false);
            _webhooks = new WebhookDispatcher(Config.Webhooks, store, store, Time, Ui.Warn);
        }
        return _webhooks;
    }

    /// <summary>The engines over this session's configuration and state, as every entry point composes them.</summary>
    public Task<EstateEngines> EnginesAsync(CancellationToken cancellationToken) => EnginesAsync(Transports(), cancellationToken);

    /// <inheritdoc cref="EnginesAsync(CancellationToken)"/>
    public async Task<EstateEngines> EnginesAsync(ITransportFactory transports, CancellationToken cancellationToken) =>
        new(await StoreAsync(cancellationToken).ConfigureAwait(false), Config, Time, StateDirectory, transports,
            await EventsAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>Collects facts as this session's actor, over its configuration, state and transports.</summary>
    public async Task<FactsCollector> FactsCollectorAsync(CancellationToken cancellationToken)
    {
        var config = Config;
        return new FactsCollector(config, await StoreAsync(cancellationToken).ConfigureAwait(false), Transports(), Time, Actor);
    }

    /// <summary>Each target's facts as they arrive, one line each: "[2/5] web-1: 412 packages, … (1.3s)".</summary>
    public IProgress<FactsProgress> FactsProgress() =>
        new SyncProgress<FactsProgress>(p => Ui.Say($"[{p.Done}/{p.Total}] {p.Target}: {p.Outcome} ({p.Elapsed.TotalSeconds:0.0}s)"));

    /// <summary>Drift operands resolved on this session: collected now, or from the stored manifests.</summary>
    public async Task<DriftOperands> DriftOperandsAsync(CancellationToken cancellationToken)
    {
        var collector = await FactsCollectorAsync(cancellationToken).ConfigureAwait(false);
        return new DriftOperands(Config, await StoreAsync(cancellationToken).ConfigureAwait(false), Time, collector, FactsProgress());
    }

    public ITransportFactory Transports() =>
        new TransportFactory(Config.Ssh, AcceptNewHostKeys ? HostKeyPolicy.AcceptNew : HostKeyPolicy.Strict);

    /// <summary>Appends one event to the audit chain.</summary>
    public async Task AuditAsync(string action, string target, string? outcome = null, string? payloadDigest = null,
        string? reason = null, CancellationToken cancellationToken = default)
    {
        var store = await StoreAsync(cancellationToken).ConfigureAwait(false);
        await store.AppendAsync(new AuditEvent
        {
            Actor = Actor,
            Action = action,
            Target = target,
            Outcome = outcome,
            PayloadDigest = payloadDigest,
            Reason = reason,
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _remote?.Dispose();
        if (_webhooks is not null)
        {
            // A delivery is sent in the background; the process waits a little for it, then says what is left.
            foreach (var left in await _webhooks.DrainAsync(WebhookDrain).ConfigureAwait(false))
            {
                Ui.Warn($"webhook {left.Webhook}: delivery {left.Id} ({left.EventType}) still pending after {WebhookDrain.TotalSeconds:0}s " +
                        $"({left.Attempts.Count} attempt(s) so far); 'stageproof webhook deliveries' shows it");
            }
            await _webhooks.DisposeAsync().ConfigureAwait(false);
        }
        if (_store is not null)
        {
            await _store.DisposeAsync().ConfigureAwait(false);
        }
    }
}
