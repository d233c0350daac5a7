using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Stageproof.Cli.Features;
using Stageproof.Cli.Infrastructure;
using Stageproof.Cli.Remote;
using Stageproof.Core;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Server;

namespace Stageproof.Cli.Commands;

internal static partial class DemoCommand
{
    /// <summary>
    /// The lifecycle part of the demo as a team runs it: a local <c>stageproof serve</c> over the lab's configuration and
    /// state, and alice, bob and carol acting through its API, each with a personal token — so every approval and
    /// promotion is judged by the server for the token's user, and the rollouts run in the server, not in this process.
    /// </summary>
    private sealed class DemoServer : IAsyncDisposable
    {
        /// <summary>Loopback, and a port the system picks: a demo never collides with a server already running.</summary>
        private const string Listen = "http://127.0.0.1:0";

        private readonly WebApplication _app;
        private readonly Dictionary<string, ServerClient> _people = new(StringComparer.Ordinal);
        private readonly CliSession _session;

        private DemoServer(WebApplication app, ServerUrl url, CliSession session)
        {
            _app = app;
            Url = url;
            _session = session;
        }

        public ServerUrl Url { get; }

        /// <summary>Starts the server; the configuration is read now, so a server started before the lab grew an
        /// environment (a clone) must be started again to know it, as a real one is restarted after a config change.</summary>
        public static async Task<DemoServer> StartAsync(CliSession session, string configFile, IReadOnlyDictionary<string, string> tokens, CancellationToken ct)
        {
            var options = new ServerOptions { Urls = Listen, ConfigPath = configFile, StateDirectory = session.StateDirectory, State = session.StateLocation };
            var app = await StageproofServer.BuildAsync(options, session.Time, ct).ConfigureAwait(false);
            try
            {
                await app.StartAsync(ct).ConfigureAwait(false);
            }
            catch
            {
                await app.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var server = new DemoServer(app, ServerUrl.Parse(address, "the demo's server"), session);
            foreach (var (name, token) in tokens)
            {
                server._people[name] = new ServerClient(server.Url, token, $"{name}'s demo token");
            }
            await session.AuditAsync("serve.start", address, "by demo", cancellationToken: ct).ConfigureAwait(false);
            return server;
        }

        /// <summary><c>stageproof --server URL approve …</c> as <paramref name="person"/>: the approval, or null when the
        /// server refused it (the refusal is printed).</summary>
        public async Task<Approval?> ApproveAsync(string person, StoredPatchSet set, string environment, string comment, CancellationToken ct)
        {
            try
            {
                var approval = await _people[person].PostAsync<Approval>($"patch-sets/{set.Digest}/approvals", new { environment, comment }, ct).ConfigureAwait(false);
                _session.Ui.Say($"{approval.Id}: {approval.Approver} approved {set.Set.Id} ({set.Digest[..12]}) for {approval.Environment}, through {Url}");
                return approval;
            }
            catch (RefusedException e)
            {
                _session.Ui.Say($"{person}: {e.Message}");
                return null;
            }
        }

        /// <summary><c>stageproof --server URL promote …</c> as <paramref name="person"/>: the gate's refusal (its rule
        /// and words), or the rollout the server ran, followed to its end and rendered.</summary>
        public async Task<(RefusedException? Refused, Rollout? Rollout)> PromoteAsync(string person, StoredPatchSet set, PromoteOptions options, CancellationToken ct)
        {
            var client = _people[person];
            PromoteCommand.RemotePromotion answer;
            try
            {
                answer = await client.PostAsync<PromoteCommand.RemotePromotion>($"patch-sets/{set.Digest}/promotions", new
                {
                    target = options.Target, emergency = options.Emergency, reason = options.Reason, ticket = options.Ticket,
                }, ct).ConfigureAwait(false);
            }
            catch (RefusedException e)
            {
                _session.Ui.Say($"{person}: {e.Message}");
                return (e, null);
            }
            var started = answer.Rollout ?? throw new InfrastructureException(Url.Text, "answered a promotion without a rollout");
            _session.Ui.Say($"{started.Id}: {set.Set.Id} rolls out to {options.Target} in the server (the console shows it live at {Url}/rollouts/{started.Id}):");
            var rollout = await RolloutFollower.FollowAsync(client, started, _session.Ui, _session.Time, ct).ConfigureAwait(false);
            new Promotions(_session).Render(rollout);
            return (null, rollout);
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var client in _people.Values)
            {
                client.Dispose();
            }
            await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
