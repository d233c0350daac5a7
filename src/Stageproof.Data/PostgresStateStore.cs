using System.Data;
using System.Data.Common;
using System.Text.Json;
using Dapper;
using Npgsql;
using Stageproof.Core;
using Stageproof.Core.Audit;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;
using Stageproof.Core.Rollouts;
using Stageproof.Core.Stage;
using Stageproof.Core.State;
using Stageproof.Core.Webhooks;
using Stageproof.Data.Internal;

namespace Stageproof.Data;

/// <summary>
/// The state store in a PostgreSQL database, shared by every machine that points at it. Same contract and semantics as
/// <see cref="SqliteStateStore"/> (one contract test suite runs against both). Where SQLite serializes writers with its
/// one write lock (IMMEDIATE transactions), this store takes a transaction-scoped advisory lock for each compare-and-
/// write: audit appends, the first user, each environment's rollout lock. The audit head is a row written in the
/// append's own transaction, so chain and head commit together.
/// </summary>
public sealed class PostgresStateStore : DocumentStateStore, IStateStore
{
    /// <summary>Advisory lock keys (one namespace per database: PostgreSQL scopes advisory locks to the database).</summary>
    private const long AuditAppendLock = 0x5354_4750_0002;
    private const long FirstUserLock = 0x5354_4750_0003;
    private const string AuditKeySetting = "audit_key_id";

    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;

    private PostgresStateStore(NpgsqlDataSource dataSource, string location, TimeProvider time)
    {
        _dataSource = dataSource;
        Location = location;
        _time = time;
    }

    /// <summary>The database as a URL without any password.</summary>
    public string Location { get; }

    /// <inheritdoc />
    public AuditKey? AuditKey { get; private set; }

    /// <summary>Opens the database at <paramref name="connectionString"/> (named <paramref name="location"/> in messages)
    /// and brings its schema up to date; with <paramref name="auditKey"/>, the state is sealed under it and a key other
    /// than the one the state was first sealed with is refused.</summary>
    /// <exception cref="InputException">The schema is newer than this Stageproof, or the audit key is not the state's.</exception>
    /// <exception cref="InfrastructureException">The server cannot be reached or refuses the login.</exception>
    public static async Task<PostgresStateStore> OpenAsync(string connectionString, string location, TimeProvider time,
        Func<string?, AuditKey>? auditKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentNullException.ThrowIfNull(time);
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.ConnectionStringBuilder.ApplicationName ??= "stageproof";
        var store = new PostgresStateStore(builder.Build(), location, time);
        try
        {
            var connection = await store.ConnectAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                await PostgresSchema.MigrateAsync(connection, location, time, cancellationToken).ConfigureAwait(false);
            }
            if (auditKey is not null)
            {
                await store.UseAuditKeyAsync(auditKey, cancellationToken).ConfigureAwait(false);
            }
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The audit key is kept outside the database (a key beside the log would let whoever can rewrite the log re-seal
    /// it). The database records only the key's id, the first time a key is used, so that a machine holding a different
    /// key — or none, about to create a fresh one — is refused instead of sealing with a key the others cannot verify.
    /// </summary>
    private async Task UseAuditKeyAsync(Func<string?, AuditKey> load, CancellationToken cancellationToken)
    {
        var recorded = await ReadSettingAsync(AuditKeySetting, cancellationToken).ConfigureAwait(false);
        // With an id recorded, the key must already exist: load(recorded) refuses to create one.
        var key = load(recorded);
        if (recorded is null)
        {
            var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "INSERT INTO state_settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO NOTHING",
                    new { name = AuditKeySetting, value = key.Id }, cancellationToken: cancellationToken)).ConfigureAwait(false);
            }
            recorded = await ReadSettingAsync(AuditKeySetting, cancellationToken).ConfigureAwait(false);
        }
        if (recorded != key.Id)
        {
            throw new InputException(
                $"{Location}: this state is sealed under audit key {recorded}, but the audit key here is {key.Id}; " +
                "copy the state's key file from a machine that uses this state (audit_key_file or STAGEPROOF_AUDIT_KEY names where it goes)");
        }
        AuditKey = key;
    }

    /// <summary>The audit key id the state is sealed under; null before any key was used.</summary>
    public Task<string?> AuditKeyIdAsync(CancellationToken cancellationToken = default) => ReadSettingAsync(AuditKeySetting, cancellationToken);

    private async Task<string?> ReadSettingAsync(string name, CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT value FROM state_settings WHERE name = @name", new { name }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
    }

    // ---- manifests ----

    public async Task<string> SaveManifestAsync(Manifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var digest = ManifestJson.Digest(manifest);
        await ExecuteAsync(
            """
            INSERT INTO manifests (digest, target, kind, environment, collected_at, json)
            VALUES (@digest, @target, @kind, @environment, @collectedAt, @json)
            ON CONFLICT (digest, collected_at) DO NOTHING
            """,
            new
            {
                digest,
                target = manifest.Target,
                kind = manifest.Kind.ToString().ToLowerInvariant(),
                environment = manifest.Environment,
                collectedAt = AuditChain.FormatTime(manifest.CollectedAt),
                json = ManifestJson.Serialize(manifest),
            },
            cancellationToken).ConfigureAwait(false);
        return digest;
    }

    /// <summary>As SQLite's: lower-case hex, and [prefix, prefix + 'g') selects exactly its digests (collation "C").</summary>
    private static string? DigestPrefix(string digestOrPrefix)
    {
        ArgumentNullException.ThrowIfNull(digestOrPrefix);
        var prefix = digestOrPrefix.Trim().ToLowerInvariant();
        return prefix.Length is > 0 and <= 64 && prefix.All(char.IsAsciiHexDigitLower) ? prefix : null;
    }

    private const string ManifestColumns = "digest AS Digest, target AS Target, collected_at AS CollectedAt, json AS Json";

    public async Task<StoredManifest?> FindManifestAsync(string digestOrPrefix, CancellationToken cancellationToken = default)
    {
        if (DigestPrefix(digestOrPrefix) is not { } prefix)
        {
            return null;
        }
        var matches = await QueryAsync<ManifestRow>(
            $"SELECT {ManifestColumns} FROM manifests WHERE digest >= @prefix AND digest < @upper ORDER BY collected_at DESC, id DESC",
            new { prefix, upper = prefix + "g" }, cancellationToken).ConfigureAwait(false);
        var digests = matches.DistinctBy(m => m.Digest).ToList();
        return digests.Count switch
        {
            0 => null,
            1 => ToStored(matches[0]),
            _ => throw Ambiguous("manifest digest prefix", digestOrPrefix,
                digests.Select(m => $"{m.Digest[..Math.Min(16, m.Digest.Length)]} ({m.Target}, {m.CollectedAt})").ToList()),
        };
    }

    public async Task<StoredManifest?> LatestManifestAsync(string target, DateTimeOffset? atOrBefore = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        var at = AuditChain.FormatTime(atOrBefore ?? _time.GetUtcNow());
        var rows = await QueryAsync<ManifestRow>(
            $"SELECT {ManifestColumns} FROM manifests WHERE target = @target AND collected_at <= @at ORDER BY collected_at DESC, id DESC LIMIT 1",
            new { target, at }, cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : ToStored(rows[0]);
    }

    public async Task<IReadOnlyList<StoredManifest>> ListManifestsAsync(string? target = null, CancellationToken cancellationToken = default) =>
        (await QueryAsync<ManifestRow>(
            $"SELECT {ManifestColumns} FROM manifests WHERE @target::text IS NULL OR target = @target ORDER BY collected_at, target, id",
            new { target }, cancellationToken).ConfigureAwait(false)).Select(ToStored).ToList();

    private StoredManifest ToStored(ManifestRow row)
    {
        try
        {
            return new StoredManifest(row.Digest, ManifestJson.Deserialize(row.Json));
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException)
        {
            throw new InputException($"{Location}: stored manifest {row.Digest} of {row.Target} ({row.CollectedAt}) is unreadable: {ex.Message}");
        }
    }

    // ---- patch sets ----

    public async Task<bool> SavePatchSetAsync(FrozenPatchSet patchSet, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patchSet);
        var inserted = await ExecuteAsync(
            """
            INSERT INTO patch_sets (digest, id, title, author, frozen_at, json)
            VALUES (@digest, @id, @title, @author, @frozenAt, @json)
            ON CONFLICT (digest) DO NOTHING
            """,
            new
            {
                digest = patchSet.Digest,
                id = patchSet.Set.Id,
                title = patchSet.Set.Title,
                author = patchSet.Set.Author,
                frozenAt = AuditChain.FormatTime(_time.GetUtcNow()),
                json = patchSet.Json,
            },
            cancellationToken).ConfigureAwait(false);
        return inserted > 0;
    }

    private const string PatchSetColumns = "digest AS Digest, id AS Id, title AS Title, frozen_at AS FrozenAt, json AS Json";

    public async Task<StoredPatchSet?> FindPatchSetAsync(string digestOrPrefix, CancellationToken cancellationToken = default)
    {
        if (DigestPrefix(digestOrPrefix) is not { } prefix)
        {
            return null;
        }
        var matches = await QueryAsync<PatchSetRow>(
            $"SELECT {PatchSetColumns} FROM patch_sets WHERE digest >= @prefix AND digest < @upper ORDER BY frozen_at, digest",
            new { prefix, upper = prefix + "g" }, cancellationToken).ConfigureAwait(false);
        if (matches.Count > 1)
        {
            throw Ambiguous("patch set digest prefix", digestOrPrefix, matches.Select(m => $"{m.Digest[..16]} ({m.Id}, {m.FrozenAt})").ToList());
        }
        return matches.Count == 0 ? null : ToStored(matches[0]);
    }

    public async Task<IReadOnlyList<StoredPatchSet>> ListPatchSetsAsync(CancellationToken cancellationToken = default) =>
        (await QueryAsync<PatchSetRow>($"SELECT {PatchSetColumns} FROM patch_sets ORDER BY frozen_at, digest", new { }, cancellationToken)
            .ConfigureAwait(false)).Select(ToStored).ToList();

    private StoredPatchSet ToStored(PatchSetRow row)
    {
        try
        {
            return new StoredPatchSet(PatchSetFreezer.FromJson(row.Digest, row.Json), ParseStoredTime(row.FrozenAt));
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException)
        {
            throw new InputException($"{Location}: stored patch set {row.Digest} ({row.Id}) is unreadable: {ex.Message}");
        }
    }

    /// <summary>The same wording as SQLite's: the first ten matches, then how many more.</summary>
    private static InputException Ambiguous(string what, string prefix, IReadOnlyList<string> matches)
    {
        const int shown = 10;
        var more = matches.Count > shown ? $" and {matches.Count - shown} more" : "";
        return new InputException($"{what} '{prefix}' is ambiguous: it matches {string.Join(", ", matches.Take(shown))}{more}");
    }

    // ---- audit ----

    /// <summary>
    /// Appends <paramref name="draft"/> to the chain in one transaction that first takes the audit advisory lock, then
    /// reads the last event: every appender on every machine queues on that lock, so each reads the head its predecessor
    /// committed (READ COMMITTED takes a fresh snapshot per statement, after the lock is granted). The head row is
    /// written in the same transaction, so chain and head cannot disagree after a crash.
    /// </summary>
    public async Task<AuditEvent> AppendAsync(AuditEvent draft, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentException.ThrowIfNullOrWhiteSpace(draft.Actor, nameof(draft));
        ArgumentException.ThrowIfNullOrWhiteSpace(draft.Action, nameof(draft));
        ArgumentNullException.ThrowIfNull(draft.Target, nameof(draft));
        var stamped = draft.Time == default ? draft with { Time = _time.GetUtcNow() } : draft;

        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
            await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@key)", new { key = AuditAppendLock },
                transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            var last = await connection.QuerySingleOrDefaultAsync<LastEventRow>(new CommandDefinition(
                "SELECT seq AS Sequence, hash AS Hash FROM audit_events ORDER BY seq DESC LIMIT 1",
                transaction: transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            var chained = AuditChain.Next(stamped, last?.Sequence ?? 0, last?.Hash);
            var key = AuditKey;
            chained = chained with { Seal = key?.Seal(chained) };
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO audit_events (seq, time, actor, action, target, reason, payload_digest, outcome, prev_hash, hash, seal)
                VALUES (@Sequence, @Time, @Actor, @Action, @Target, @Reason, @PayloadDigest, @Outcome, @PreviousHash, @Hash, @Seal);
                INSERT INTO audit_head (id, count, last_hash, seal) VALUES (1, @Sequence, @Hash, @HeadSeal)
                ON CONFLICT (id) DO UPDATE SET count = excluded.count, last_hash = excluded.last_hash, seal = excluded.seal;
                """,
                new
                {
                    chained.Sequence,
                    Time = AuditChain.FormatTime(chained.Time),
                    chained.Actor,
                    chained.Action,
                    chained.Target,
                    chained.Reason,
                    chained.PayloadDigest,
                    chained.Outcome,
                    chained.PreviousHash,
                    chained.Hash,
                    chained.Seal,
                    HeadSeal = key?.SealHead(chained.Sequence, chained.Hash),
                },
                transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return chained;
        }
    }

    /// <summary>Every stored event in sequence order, as stored (nothing is verified here).</summary>
    public async Task<IReadOnlyList<AuditEvent>> ReadAllAsync(CancellationToken cancellationToken = default) =>
        (await QueryAsync<AuditRow>(
            """
            SELECT seq AS Sequence, time AS Time, actor AS Actor, action AS Action, target AS Target, reason AS Reason,
                   payload_digest AS PayloadDigest, outcome AS Outcome, prev_hash AS PreviousHash, hash AS Hash, seal AS Seal
            FROM audit_events ORDER BY seq
            """, new { }, cancellationToken).ConfigureAwait(false)).Select(ToEvent).ToList();

    public async Task<AuditHead?> ReadAuditHeadAsync(CancellationToken cancellationToken = default)
    {
        var rows = await QueryAsync<HeadRow>("SELECT count AS Count, last_hash AS LastHash, seal AS Seal FROM audit_head WHERE id = 1",
            new { }, cancellationToken).ConfigureAwait(false);
        if (rows.Count == 0)
        {
            return null;
        }
        var row = rows[0];
        if (row.Count < 0 || row.LastHash is not { Length: 64 })
        {
            throw new InputException($"{Location}: the audit head row is not a valid head (count or last hash invalid); it may have been tampered with");
        }
        return new AuditHead(row.Count, row.LastHash, row.Seal);
    }

    /// <summary>Reads chain and head in one REPEATABLE READ snapshot, so an append by another machine between the two
    /// reads cannot look like tampering.</summary>
    public async Task<AuditVerification> VerifyAuditAsync(CancellationToken cancellationToken = default)
    {
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
            var result = await VerifyAuditAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }
    }

    /// <summary>Verifies chain and head as <paramref name="transaction"/> sees them (also before it commits).</summary>
    internal async Task<AuditVerification> VerifyAuditAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var headRow = await connection.QuerySingleOrDefaultAsync<HeadRow>(new CommandDefinition(
            "SELECT count AS Count, last_hash AS LastHash, seal AS Seal FROM audit_head WHERE id = 1",
            transaction: transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        var rows = await connection.QueryAsync<AuditRow>(new CommandDefinition(
            """
            SELECT seq AS Sequence, time AS Time, actor AS Actor, action AS Action, target AS Target, reason AS Reason,
                   payload_digest AS PayloadDigest, outcome AS Outcome, prev_hash AS PreviousHash, hash AS Hash, seal AS Seal
            FROM audit_events ORDER BY seq
            """, transaction: transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
        if (headRow is not null && (headRow.Count < 0 || headRow.LastHash is not { Length: 64 }))
        {
            throw new InputException($"{Location}: the audit head row is not a valid head (count or last hash invalid); it may have been tampered with");
        }
        var head = headRow is null ? null : new AuditHead(headRow.Count, headRow.LastHash, headRow.Seal);
        return AuditChain.Verify(rows.Select(ToEvent).ToList(), head, AuditKey);
    }

    /// <summary>Runs <paramref name="work"/> in one transaction holding the audit lock (no append can interleave), and
    /// commits it when the work returns.</summary>
    internal async Task InTransactionAsync(Func<NpgsqlConnection, NpgsqlTransaction, Task> work, CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@key)", new { key = AuditAppendLock },
                transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            await work(connection, transaction).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static AuditEvent ToEvent(AuditRow r) => new()
    {
        Sequence = r.Sequence,
        Time = ParseStoredTime(r.Time),
        Actor = r.Actor,
        Action = r.Action,
        Target = r.Target,
        Reason = r.Reason,
        PayloadDigest = r.PayloadDigest,
        Outcome = r.Outcome,
        PreviousHash = r.PreviousHash,
        Hash = r.Hash,
        Seal = r.Seal,
    };

    // ---- runs, rollback points, stage results ----

    public async Task SavePatchRunAsync(PatchRun run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        await ExecuteAsync(
            """
            INSERT INTO patch_runs (id, kind, environment, patch_digest, started_at, json)
            VALUES (@id, @kind, @environment, @digest, @startedAt, @json)
            ON CONFLICT (id) DO UPDATE SET json = excluded.json
            """,
            new
            {
                id = run.Id,
                kind = run.Kind.ToString(),
                environment = run.Environment,
                digest = run.PatchDigest,
                startedAt = AuditChain.FormatTime(run.StartedAt),
                json = JsonSerializer.Serialize(run, PatchSetFreezer.JsonOptions),
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<PatchRun?> FindPatchRunAsync(string id, CancellationToken cancellationToken = default) =>
        (await QueryDocumentsAsync<PatchRun>("SELECT json FROM patch_runs WHERE id = @id", new { id }, cancellationToken).ConfigureAwait(false))
        .FirstOrDefault();

    public Task<IReadOnlyList<PatchRun>> ListPatchRunsAsync(string? environment = null, CancellationToken cancellationToken = default) =>
        QueryDocumentsAsync<PatchRun>(
            "SELECT json FROM patch_runs WHERE @environment::text IS NULL OR environment = @environment ORDER BY started_at DESC, row_no DESC",
            new { environment }, cancellationToken);

    public async Task SaveRollbackPointAsync(RollbackPoint point, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(point);
        await ExecuteAsync(
            """
            INSERT INTO rollback_points (id, environment, patch_digest, created_at, status, json)
            VALUES (@id, @environment, @digest, @createdAt, @status, @json)
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, json = excluded.json
            """,
            new
            {
                id = point.Id,
                environment = point.Environment,
                digest = point.PatchDigest,
                createdAt = AuditChain.FormatTime(point.CreatedAt),
                status = point.Status.ToString(),
                json = JsonSerializer.Serialize(point, PatchSetFreezer.JsonOptions),
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<RollbackPoint?> FindRollbackPointAsync(string id, CancellationToken cancellationToken = default) =>
        (await QueryDocumentsAsync<RollbackPoint>("SELECT json FROM rollback_points WHERE id = @id", new { id }, cancellationToken).ConfigureAwait(false))
        .FirstOrDefault();

    public Task<IReadOnlyList<RollbackPoint>> ListRollbackPointsAsync(string? environment = null, CancellationToken cancellationToken = default) =>
        QueryDocumentsAsync<RollbackPoint>(
            "SELECT json FROM rollback_points WHERE @environment::text IS NULL OR environment = @environment ORDER BY created_at DESC, row_no DESC",
            new { environment }, cancellationToken);

    public async Task SaveStageResultAsync(StageResult result, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(result);
        await ExecuteAsync(
            """
            INSERT INTO stage_results (id, environment, patch_digest, verdict, started_at, json)
            VALUES (@id, @environment, @digest, @verdict, @startedAt, @json)
            ON CONFLICT (id) DO UPDATE SET verdict = excluded.verdict, json = excluded.json
            """,
            new
            {
                id = result.Id,
                environment = result.Environment,
                digest = result.PatchDigest,
                verdict = result.Verdict.ToString(),
                startedAt = AuditChain.FormatTime(result.StartedAt),
                json = JsonSerializer.Serialize(result, PatchSetFreezer.JsonOptions),
            },
            cancellationToken).ConfigureAwait(false);
    }

    public Task<IReadOnlyList<StageResult>> ListStageResultsAsync(string? patchDigest = null, string? environment = null, CancellationToken cancellationToken = default) =>
        QueryDocumentsAsync<StageResult>(
            """
            SELECT json FROM stage_results
            WHERE (@patchDigest::text IS NULL OR patch_digest = @patchDigest) AND (@environment::text IS NULL OR environment = @environment)
            ORDER BY started_at DESC, row_no DESC
            """,
            new { patchDigest, environment }, cancellationToken);

    // ---- users and approvals (tokens, passwords, logins: DocumentStateStore) ----

    public async Task SaveUserAsync(User user, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentException.ThrowIfNullOrWhiteSpace(user.Name, nameof(user));
        await ExecuteAsync(
            """
            INSERT INTO users (name, role, json) VALUES (@name, @role, @json)
            ON CONFLICT (name) DO UPDATE SET role = excluded.role, json = excluded.json
            """,
            new { name = user.Name, role = user.Role.ToString(), json = JsonSerializer.Serialize(user, PatchSetFreezer.JsonOptions) },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Under READ COMMITTED "insert where none exists" is not atomic (two transactions both see none); the
    /// advisory lock makes the check and the insert one step, as SQLite's write lock does.</summary>
    public async Task<bool> SaveFirstUserAsync(User user, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentException.ThrowIfNullOrWhiteSpace(user.Name, nameof(user));
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@key)", new { key = FirstUserLock },
                transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            var added = await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO users (name, role, json) SELECT @name, @role, @json WHERE NOT EXISTS (SELECT 1 FROM users)",
                new { name = user.Name, role = user.Role.ToString(), json = JsonSerializer.Serialize(user, PatchSetFreezer.JsonOptions) },
                transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return added == 1;
        }
    }

    public async Task<bool> DeleteUserAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            // A removed user's password goes with it: re-adding the name must not bring an old password back.
            await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM passwords WHERE user_name = @name", new { name }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            var deleted = await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM users WHERE name = @name", new { name }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return deleted > 0;
        }
    }

    public Task<IReadOnlyList<User>> ListUsersAsync(CancellationToken cancellationToken = default) =>
        QueryDocumentsAsync<User>("SELECT json FROM users ORDER BY name", new { }, cancellationToken);

    public async Task SaveApprovalAsync(Approval approval, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(approval);
        approval = approval with { Seal = AuditKey?.SealRecord(approval.SealText) };
        await ExecuteAsync(
            """
            INSERT INTO approvals (id, patch_digest, environment, approver, at, json)
            VALUES (@id, @digest, @environment, @approver, @at, @json)
            ON CONFLICT (id) DO UPDATE SET json = excluded.json
            """,
            new
            {
                id = approval.Id,
                digest = approval.PatchDigest,
                environment = approval.Environment,
                approver = approval.Approver,
                at = AuditChain.FormatTime(approval.At),
                json = JsonSerializer.Serialize(approval, PatchSetFreezer.JsonOptions),
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Approval>> ListApprovalsAsync(string? patchDigest = null, string? environment = null, CancellationToken cancellationToken = default) =>
        (await QueryDocumentsAsync<Approval>(
            """
            SELECT json FROM approvals
            WHERE (@patchDigest::text IS NULL OR patch_digest = @patchDigest) AND (@environment::text IS NULL OR environment = @environment)
            ORDER BY at, row_no
            """,
            new { patchDigest, environment }, cancellationToken).ConfigureAwait(false))
        .Select(a => a with { SealBroken = SealBroken(a.Seal, a.SealText) }).ToList();

    // ---- rollouts ----

    public async Task SaveRolloutAsync(Rollout rollout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rollout);
        await ExecuteAsync(
            """
            INSERT INTO rollouts (id, environment, patch_digest, status, created_at, json)
            VALUES (@id, @environment, @digest, @status, @createdAt, @json)
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, json = excluded.json
            """,
            new
            {
                id = rollout.Id,
                environment = rollout.Environment,
                digest = rollout.PatchDigest,
                status = rollout.Status.ToString(),
                createdAt = AuditChain.FormatTime(rollout.CreatedAt),
                json = JsonSerializer.Serialize(rollout, PatchSetFreezer.JsonOptions),
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The rollout with exactly this id, else the only one whose id starts with it (compared as text, so '%' and
    /// '_' are no wildcards).</summary>
    public async Task<Rollout?> FindRolloutAsync(string idOrPrefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(idOrPrefix);
        var prefix = idOrPrefix.Trim();
        if (prefix.Length == 0)
        {
            return null;
        }
        var matches = await QueryAsync<RolloutRow>(
            """
            SELECT id AS Id, environment AS Environment, created_at AS CreatedAt, json AS Json
            FROM rollouts WHERE left(id, length(@prefix)) = @prefix
            ORDER BY created_at, id
            """,
            new { prefix }, cancellationToken).ConfigureAwait(false);
        if (matches.Count > 1 && matches.FirstOrDefault(m => m.Id == prefix) is { } exact)
        {
            matches = [exact];
        }
        if (matches.Count > 1)
        {
            throw Ambiguous("rollout id prefix", idOrPrefix, matches.Select(m => $"{m.Id} ({m.Environment}, {m.CreatedAt})").ToList());
        }
        return matches.Count == 0 ? null : Deserialize<Rollout>(matches[0].Json);
    }

    public Task<IReadOnlyList<Rollout>> ListRolloutsAsync(string? environment = null, CancellationToken cancellationToken = default) =>
        QueryDocumentsAsync<Rollout>(
            "SELECT json FROM rollouts WHERE @environment::text IS NULL OR environment = @environment ORDER BY created_at DESC, id DESC",
            new { environment }, cancellationToken);

    // ---- plumbing ----

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await ConnectAsync(cancellationToken).ConfigureAwait(false);

    private protected override TimeProvider Clock => _time;

    /// <summary>A transaction holding the advisory lock of <paramref name="environment"/>'s rollout lock row (keyed by its
    /// name): an absent row cannot be locked, so SELECT ... FOR UPDATE would not serialize two first takers.</summary>
    private protected override async Task<DbTransaction> BeginLockTransactionAsync(DbConnection connection, string environment, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "SELECT pg_advisory_xact_lock(hashtextextended('stageproof.rollout_lock:' || @environment, 0))",
                new { environment }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private protected override string InsertionOrder => "row_no";

    private protected override string RecordOrigin => Location;

    private protected override AuditKey? SealingKey => AuditKey;

    private async Task<NpgsqlConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException e) when (e is not PostgresException || e is PostgresException { SqlState: "28P01" or "28000" or "3D000" })
        {
            // Unreachable, refused login or no such database: the infrastructure's answer, named with the state (exit 3).
            throw new InfrastructureException(Location, $"cannot open the PostgreSQL state: {e.Message}", e);
        }
    }

    private sealed class HeadRow
    {
        public long Count { get; set; }
        public string LastHash { get; set; } = "";
        public string? Seal { get; set; }
    }
}
