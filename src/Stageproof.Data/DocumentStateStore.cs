using System.Data.Common;
using System.Text.Json;
using Dapper;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Webhooks;

namespace Stageproof.Data;

/// <summary>
/// What the SQLite and the PostgreSQL store share word for word: rows kept as JSON documents beside the columns that
/// are queried, the records sealed under the audit key (tokens, passwords), login states, webhook deliveries, and the
/// plumbing under them. Each store brings its connection, its name for insertion order (SQLite's rowid, PostgreSQL's
/// identity column) and its key; where their SQL differs, the member stays in the store.
/// </summary>
public abstract class DocumentStateStore
{
    private protected DocumentStateStore()
    {
    }

    /// <summary>An open connection of its own, disposed by the caller.</summary>
    private protected abstract Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>The column that orders rows as they were written ("rowid", "row_no").</summary>
    private protected abstract string InsertionOrder { get; }

    /// <summary>Where the records are, for the message about one that cannot be read.</summary>
    private protected abstract string RecordOrigin { get; }

    /// <summary>The key records are sealed under; null: nothing is sealed and nothing condemned.</summary>
    private protected abstract AuditKey? SealingKey { get; }

    // ---- rollout locks ----

    /// <summary>This store's clock: heartbeats are stamped and judged with it.</summary>
    private protected abstract TimeProvider Clock { get; }

    /// <summary>
    /// A transaction that serializes every change to <paramref name="environment"/>'s lock row: taken before the row is read
    /// or written, so of two processes racing for the same environment exactly one inserts (or replaces) the row and the
    /// other reads the winner — and no release or heartbeat can slip in between a read and the write that judged it.
    /// </summary>
    private protected abstract Task<DbTransaction> BeginLockTransactionAsync(DbConnection connection, string environment, CancellationToken cancellationToken);

    public async Task<RolloutLock?> TryLockRolloutAsync(RolloutLock wanted, RolloutLock? replacing = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        if (replacing is not null && replacing.Environment != wanted.Environment)
        {
            throw new ArgumentException(
                $"the lock to replace is {replacing.Environment}'s, not {wanted.Environment}'s", nameof(replacing));
        }
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await BeginLockTransactionAsync(connection, wanted.Environment, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                // With a holder to replace: only that holder exactly as the caller judged it (its heartbeat too — one that
                // beat since was not gone after all); without one, or when that holder has released it since: only if free.
                var changed = replacing is null ? 0 : await ReplaceLockAsync(connection, transaction, wanted, replacing, cancellationToken).ConfigureAwait(false);
                if (changed == 0)
                {
                    changed = await connection.ExecuteAsync(new CommandDefinition(
                        """
                        INSERT INTO rollout_locks (environment, rollout_id, process_id, machine, acquired_at, heartbeat_at, heartbeat_ms)
                        VALUES (@environment, @rolloutId, @processId, @machine, @acquiredAt, @heartbeatAt, @heartbeatMs)
                        ON CONFLICT (environment) DO NOTHING
                        """,
                        LockParameters(wanted), transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                }
                var holder = changed > 0 ? null : await ReadLockAsync(connection, transaction, wanted.Environment, cancellationToken).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return holder;
            }
        }
    }

    /// <summary>Free, or its holder silent past its own limit by this store's clock: taken, in the transaction that read
    /// the holder — so the judgement cannot go stale before the write, and a second taker reads the first one's fresh lock.</summary>
    public async Task<RolloutLockTake> TakeRolloutLockAsync(RolloutLock wanted, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(wanted);
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await BeginLockTransactionAsync(connection, wanted.Environment, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var holder = await ReadLockAsync(connection, transaction, wanted.Environment, cancellationToken).ConfigureAwait(false);
                RolloutLockTake take;
                if (holder is null)
                {
                    await connection.ExecuteAsync(new CommandDefinition(
                        """
                        INSERT INTO rollout_locks (environment, rollout_id, process_id, machine, acquired_at, heartbeat_at, heartbeat_ms)
                        VALUES (@environment, @rolloutId, @processId, @machine, @acquiredAt, @heartbeatAt, @heartbeatMs)
                        """,
                        LockParameters(wanted), transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                    take = new(null, null);
                }
                else if (holder.IsSilentAt(Clock.GetUtcNow()))
                {
                    var changed = await ReplaceLockAsync(connection, transaction, wanted, holder, cancellationToken).ConfigureAwait(false);
                    take = changed == 1 ? new(null, holder)
                        : throw new InvalidOperationException($"{wanted.Environment}'s lock changed inside the transaction that holds it");
                }
                else
                {
                    take = new(holder, null);
                }
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return take;
            }
        }
    }

    public async Task<RolloutLock?> HeartbeatRolloutLockAsync(RolloutLock held, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(held);
        var beat = held with { HeartbeatAt = Clock.GetUtcNow() };
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await BeginLockTransactionAsync(connection, held.Environment, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var changed = await connection.ExecuteAsync(new CommandDefinition(
                    """
                    UPDATE rollout_locks SET heartbeat_at = @heartbeatAt, heartbeat_ms = @heartbeatMs
                    WHERE environment = @environment AND rollout_id = @rolloutId AND process_id = @processId
                      AND machine = @machine AND acquired_at = @acquiredAt
                    """,
                    LockParameters(beat), transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return changed == 1 ? beat : null;
            }
        }
    }

    public async Task ReleaseRolloutLockAsync(string environment, string rolloutId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(rolloutId);
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await BeginLockTransactionAsync(connection, environment, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "DELETE FROM rollout_locks WHERE environment = @environment AND rollout_id = @rolloutId",
                    new { environment, rolloutId }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async Task<RolloutLock?> FindRolloutLockAsync(string environment, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await ReadLockAsync(connection, null, environment, cancellationToken).ConfigureAwait(false);
        }
    }

    private static Task<int> ReplaceLockAsync(DbConnection connection, DbTransaction transaction, RolloutLock wanted, RolloutLock replacing,
        CancellationToken cancellationToken)
    {
        var parameters = new DynamicParameters(LockParameters(wanted));
        parameters.AddDynamicParams(new
        {
            oldRolloutId = replacing.RolloutId,
            oldProcessId = (long)replacing.ProcessId,
            oldMachine = replacing.Machine,
            oldAcquiredAt = AuditChain.FormatTime(replacing.AcquiredAt),
            oldHeartbeatAt = replacing.HeartbeatAt is { } beat ? AuditChain.FormatTime(beat) : null,
        });
        return connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE rollout_locks
            SET rollout_id = @rolloutId, process_id = @processId, machine = @machine, acquired_at = @acquiredAt,
                heartbeat_at = @heartbeatAt, heartbeat_ms = @heartbeatMs
            WHERE environment = @environment AND rollout_id = @oldRolloutId AND process_id = @oldProcessId
              AND machine = @oldMachine AND acquired_at = @oldAcquiredAt
              AND (heartbeat_at = @oldHeartbeatAt OR (heartbeat_at IS NULL AND @oldHeartbeatAt IS NULL))
            """,
            parameters, transaction, cancellationToken: cancellationToken));
    }

    private static object LockParameters(RolloutLock held) => new
    {
        environment = held.Environment,
        rolloutId = held.RolloutId,
        processId = (long)held.ProcessId,
        machine = held.Machine,
        acquiredAt = AuditChain.FormatTime(held.AcquiredAt),
        heartbeatAt = held.HeartbeatAt is { } beat ? AuditChain.FormatTime(beat) : null,
        heartbeatMs = held.HeartbeatEvery is { } every ? (long?)(long)every.TotalMilliseconds : null,
    };

    private static async Task<RolloutLock?> ReadLockAsync(DbConnection connection, DbTransaction? transaction, string environment,
        CancellationToken cancellationToken)
    {
        var row = await connection.QuerySingleOrDefaultAsync<LockRow>(new CommandDefinition(
            """
            SELECT environment AS Environment, rollout_id AS RolloutId, process_id AS ProcessId, machine AS Machine, acquired_at AS AcquiredAt,
                   heartbeat_at AS HeartbeatAt, heartbeat_ms AS HeartbeatMs
            FROM rollout_locks WHERE environment = @environment
            """,
            new { environment }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return row is null ? null : new RolloutLock
        {
            Environment = row.Environment,
            RolloutId = row.RolloutId,
            ProcessId = checked((int)row.ProcessId),
            Machine = row.Machine,
            AcquiredAt = AuditChain.ParseTime(row.AcquiredAt),
            HeartbeatAt = row.HeartbeatAt is { } beat ? AuditChain.ParseTime(beat) : null,
            HeartbeatEvery = row.HeartbeatMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
        };
    }

    // ---- tokens, passwords, login states ----

    public async Task SaveTokenAsync(ApiToken token, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        token = token with { Seal = SealingKey?.SealRecord(token.SealText) };
        await ExecuteAsync(
            """
            INSERT INTO api_tokens (id, user_name, json) VALUES (@id, @user, @json)
            ON CONFLICT (id) DO UPDATE SET json = excluded.json
            """,
            new { id = token.Id, user = token.User, json = JsonSerializer.Serialize(token, PatchSetFreezer.JsonOptions) },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<ApiToken?> FindTokenAsync(string id, CancellationToken cancellationToken = default) =>
        (await QueryDocumentsAsync<ApiToken>("SELECT json FROM api_tokens WHERE id = @id", new { id }, cancellationToken).ConfigureAwait(false))
        .Select(t => t with { SealBroken = SealBroken(t.Seal, t.SealText) }).FirstOrDefault(t => t.Id == id);

    public async Task<IReadOnlyList<ApiToken>> ListTokensAsync(CancellationToken cancellationToken = default) =>
        (await QueryDocumentsAsync<ApiToken>($"SELECT json FROM api_tokens ORDER BY {InsertionOrder} DESC", new { }, cancellationToken).ConfigureAwait(false))
        .Select(t => t with { SealBroken = SealBroken(t.Seal, t.SealText) }).ToList();

    public async Task SavePasswordAsync(PasswordCredential credential, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(credential);
        credential = credential with { Seal = SealingKey?.SealRecord(credential.SealText) };
        await ExecuteAsync(
            """
            INSERT INTO passwords (user_name, json) VALUES (@user, @json)
            ON CONFLICT (user_name) DO UPDATE SET json = excluded.json
            """,
            new { user = credential.User, json = JsonSerializer.Serialize(credential, PatchSetFreezer.JsonOptions) },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<PasswordCredential?> FindPasswordAsync(string user, CancellationToken cancellationToken = default) =>
        (await QueryDocumentsAsync<PasswordCredential>("SELECT json FROM passwords WHERE user_name = @user", new { user }, cancellationToken).ConfigureAwait(false))
        .Select(c => c with { SealBroken = SealBroken(c.Seal, c.SealText) }).FirstOrDefault(c => c.User == user);

    public async Task<LoginState?> FindLoginStateAsync(string user, CancellationToken cancellationToken = default) =>
        (await QueryDocumentsAsync<LoginState>("SELECT json FROM login_states WHERE user_name = @user", new { user }, cancellationToken).ConfigureAwait(false))
        .FirstOrDefault(s => s.User == user);

    public async Task SaveLoginStateAsync(LoginState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Failures.Count == 0 && state.LockedUntil is null)
        {
            await ExecuteAsync("DELETE FROM login_states WHERE user_name = @user", new { user = state.User }, cancellationToken).ConfigureAwait(false);
            return;
        }
        await ExecuteAsync(
            """
            INSERT INTO login_states (user_name, json) VALUES (@user, @json)
            ON CONFLICT (user_name) DO UPDATE SET json = excluded.json
            """,
            new { user = state.User, json = JsonSerializer.Serialize(state, PatchSetFreezer.JsonOptions) },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A record that grants something verifies only under the audit key; without a key (a store opened by a
    /// tool, not the CLI) nothing can be checked and nothing is condemned.</summary>
    private protected bool SealBroken(string? seal, string text) => SealingKey is { } key && !AuditKey.Matches(seal, key.SealRecord(text));

    // ---- webhook deliveries ----

    public async Task SaveDeliveryAsync(WebhookDelivery delivery, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        await ExecuteAsync(
            """
            INSERT INTO webhook_deliveries (id, webhook, event, status, created_at, json)
            VALUES (@id, @webhook, @event, @status, @createdAt, @json)
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, json = excluded.json
            """,
            new
            {
                id = delivery.Id,
                webhook = delivery.Webhook,
                @event = delivery.EventType,
                status = delivery.Status.ToString(),
                createdAt = AuditChain.FormatTime(delivery.CreatedAt),
                json = JsonSerializer.Serialize(delivery, PatchSetFreezer.JsonOptions),
            },
            cancellationToken).ConfigureAwait(false);
    }

    public Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(int limit = 100, CancellationToken cancellationToken = default) =>
        QueryDocumentsAsync<WebhookDelivery>(
            $"SELECT json FROM webhook_deliveries ORDER BY created_at DESC, {InsertionOrder} DESC LIMIT @limit",
            new { limit = Math.Clamp(limit, 1, 10_000) }, cancellationToken);

    // ---- plumbing ----

    /// <summary>Runs one statement on a connection of its own; the rows it changed.</summary>
    private protected async Task<int> ExecuteAsync(string sql, object parameters, CancellationToken cancellationToken)
    {
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await connection.ExecuteAsync(new CommandDefinition(sql, parameters, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
    }

    /// <summary>Runs one query on a connection of its own.</summary>
    private protected async Task<List<T>> QueryAsync<T>(string sql, object parameters, CancellationToken cancellationToken)
    {
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return (await connection.QueryAsync<T>(new CommandDefinition(sql, parameters, cancellationToken: cancellationToken)).ConfigureAwait(false)).ToList();
        }
    }

    /// <summary>A query whose one column is a JSON document, each read as <typeparamref name="T"/>.</summary>
    private protected async Task<IReadOnlyList<T>> QueryDocumentsAsync<T>(string sql, object parameters, CancellationToken cancellationToken) =>
        (await QueryAsync<string>(sql, parameters, cancellationToken).ConfigureAwait(false)).Select(Deserialize<T>).ToList();

    private protected T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, PatchSetFreezer.JsonOptions)
            ?? throw new InputException($"{RecordOrigin}: an empty {typeof(T).Name} record");

    private protected static DateTimeOffset ParseStoredTime(string text)
    {
        try
        {
            return AuditChain.ParseTime(text);
        }
        catch (FormatException)
        {
            // An unparseable time is tampering too: keep the event, with a time that cannot hash the same,
            // so that verification names it instead of reading failing.
            return DateTimeOffset.MinValue;
        }
    }

    private protected sealed class ManifestRow
    {
        public string Digest { get; set; } = "";
        public string Target { get; set; } = "";
        public string CollectedAt { get; set; } = "";
        public string Json { get; set; } = "";
    }

    private protected sealed class PatchSetRow
    {
        public string Digest { get; set; } = "";
        public string Id { get; set; } = "";
        public string Title { get; set; } = "";
        public string FrozenAt { get; set; } = "";
        public string Json { get; set; } = "";
    }

    private protected sealed class RolloutRow
    {
        public string Id { get; set; } = "";
        public string Environment { get; set; } = "";
        public string CreatedAt { get; set; } = "";
        public string Json { get; set; } = "";
    }

    private protected sealed class LockRow
    {
        public string Environment { get; set; } = "";
        public string RolloutId { get; set; } = "";
        public long ProcessId { get; set; }
        public string Machine { get; set; } = "";
        public string AcquiredAt { get; set; } = "";
        public string? HeartbeatAt { get; set; }
        public long? HeartbeatMs { get; set; }
    }

    private protected sealed class LastEventRow
    {
        public long Sequence { get; set; }
        public string Hash { get; set; } = "";
    }

    private protected sealed class AuditRow
    {
        public long Sequence { get; set; }
        public string Time { get; set; } = "";
        public string Actor { get; set; } = "";
        public string Action { get; set; } = "";
        public string Target { get; set; } = "";
        public string? Reason { get; set; }
        public string? PayloadDigest { get; set; }
        public string? Outcome { get; set; }
        public string PreviousHash { get; set; } = "";
        public string Hash { get; set; } = "";
        public string? Seal { get; set; }
    }
}
