using System.CommandLine;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;
using Stageproof.Core.State;
using Stageproof.Data;
using Stageproof.Hosts.Transports;

namespace Stageproof.Cli.Infrastructure;

/// <summary>Everything one invocation shares: options, configuration, state store, audit, output.</summary>
internal sealed class CliSession : IAsyncDisposable
{
    private StageproofConfig? _config;
    private IStateStore? _store;

    public CliSession(ParseResult parse, TextWriter stdout, TimeProvider time, Ui ui)
    {
        ConfigPath = Path.GetFullPath(parse.GetValue(GlobalOptions.Config) ?? "stageproof.yaml");
        StateDirectory = Path.GetFullPath(parse.GetValue(GlobalOptions.State) ?? ".stageproof");
        Actor = parse.GetValue(GlobalOptions.Actor) is { Length: > 0 } actor ? actor : Environment.UserName;
        AcceptNewHostKeys = parse.GetValue(GlobalOptions.AcceptNewHostKeys);
        Stdout = stdout;
        Ui = ui;
        Time = time;
    }

    public string ConfigPath { get; }
    public string StateDirectory { get; }
    public string Actor { get; private set; }

    /// <summary>Acts as <paramref name="actor"/> until disposed: the demo plays alice, bob and carol in one process; gates
    /// and the audit log see that name, exactly as --actor would give it.</summary>
    public IDisposable ActAs(string actor)
    {
        var before = Actor;
        Actor = actor;
        return new Restore(() => Actor = before);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
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
        if (_store is null)
        {
            var store = await SqliteStateStore.OpenAsync(StateDirectory, Time, cancellationToken).ConfigureAwait(false);
            try
            {
                store.AuditKey = AuditKeys.Load(StateDirectory);
            }
            catch
            {
                await store.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            _store = store;
            if (PrivateFiles.Warning(StateDirectory) is { } warning)
            {
                Ui.Warn(warning);
            }
        }
        return _store;
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
        if (_store is not null)
        {
            await _store.DisposeAsync().ConfigureAwait(false);
        }
    }
}
