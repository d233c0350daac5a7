using System.Data.Common;
using System.Text.Json;
using Dapper;
using Microsoft.Data.Sqlite;
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
/// The state store in one SQLite file, <c>state.db</c>, in the state directory (WAL, busy timeout, foreign keys),
/// with <c>audit.head</c> beside it. Safe to use from several instances and processes at once: every audit append
/// is one IMMEDIATE transaction, so concurrent writers queue instead of forking the chain.
/// </summary>
public sealed class SqliteStateStore : DocumentStateStore, IStateStore, IWebhookDeliveryStore
{
    public const string DatabaseFileName = "state.db";

    private const int BusyTimeoutSeconds = 30;

    private readonly string _connectionString;
    private readonly TimeProvider _time;

    private SqliteStateStore(string stateDirectory, string databasePath, TimeProvider time)
    {
        StateDirectory = stateDirectory;
        DatabasePath = databasePath;
        _time = time;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            DefaultTimeout = BusyTimeoutSeconds,
            Pooling = true,
        }.ToString();
    }

    public string StateDirectory { get; }

    /// <inheritdoc />
    public string Location => StateDirectory;

    public string DatabasePath { get; }

    public string AuditHeadPath => Path.Combine(StateDirectory, AuditHeadFile.FileName);

    /// <summary>Seals every appended event and the head, and is checked by <see cref="VerifyAuditAsync"/>; null: the chain
    /// is kept and verified unsealed (tests of the chain itself).</summary>
    public AuditKey? AuditKey { get; set; }

    /// <summary>Opens the state in <paramref name="stateDirectory"/> as every entry point uses it: sealed under the audit
    /// key of the user running Stageproof (<see cref="AuditKeys"/>), or the one at <paramref name="auditKeyFile"/>.</summary>
    public static async Task<SqliteStateStore> OpenKeyedAsync(string stateDirectory, TimeProvider time, CancellationToken cancellationToken = default,
        string? auditKeyFile = null)
    {
        var store = await OpenAsync(stateDirectory, time, cancellationToken).ConfigureAwait(false);
        try
        {
            store.AuditKey = AuditKeys.Load(store.StateDirectory, AuditKeys.PathFor(auditKeyFile));
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Opens (creating if needed) the state in <paramref name="stateDirectory"/> and brings its schema up to date.</summary>
    /// <exception cref="InputException">The database was written by a newer Stageproof, or is not a database.</exception>
    public static async Task<SqliteStateStore> OpenAsync(string stateDirectory, TimeProvider time, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stateDirectory);
        ArgumentNullException.ThrowIfNull(time);
        var directory = Path.GetFullPath(stateDirectory);
        PrivateFiles.CreateDirectory(directory);
        try
        {
            // SQLite would only say "unable to open database file"; name the state and the user instead.
            _ = Directory.EnumerateFileSystemEntries(directory).FirstOrDefault();
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException(
                $"{directory}: user {Environment.UserName} may not read this state (it is private to its owner)", e);
        }
        var store = new SqliteStateStore(directory, Path.Combine(directory, DatabaseFileName), time);
        try
        {
            var connection = await store.ConnectAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                await connection.ExecuteAsync(new CommandDefinition("PRAGMA journal_mode = WAL", cancellationToken: cancellationToken)).ConfigureAwait(false);
                await SqliteSchema.MigrateAsync(connection, store.DatabasePath, time, cancellationToken).ConfigureAwait(false);
            }
            foreach (var file in new[] { store.DatabasePath, store.DatabasePath + "-wal", store.DatabasePath + "-shm" })
            {
                PrivateFiles.Restrict(file);
            }
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is 26 /* SQLITE_NOTADB */ or 11 /* SQLITE_CORRUPT */)
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw new InputException($"{store.DatabasePath}: not a Stageproof state database ({ex.Message})");
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return store;
    }

    // ---- manifests ----

    public async Task<string> SaveManifestAsync(Manifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var digest = ManifestJson.Digest(manifest);
        await ExecuteAsync(
            """
            INSERT OR IGNORE INTO manifests (digest, target, kind, environment, collected_at, json)
            VALUES (@digest, @target, @kind, @environment, @collectedAt, @json)
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

    /// <summary>A digest or digest prefix in lower-case hex, or null when the text cannot be one (so callers can try
    /// it as a name instead). Hex digits sort below 'g', so [prefix, prefix + 'g') selects exactly its digests.</summary>
    private static string? DigestPrefix(string digestOrPrefix)
    {
        ArgumentNullException.ThrowIfNull(digestOrPrefix);
        var prefix = digestOrPrefix.Trim().ToLowerInvariant();
        return prefix.Length is > 0 and <= 64 && prefix.All(char.IsAsciiHexDigitLower) ? prefix : null;
    }

    public async Task<StoredManifest?> FindManifestAsync(string digestOrPrefix, CancellationToken cancellationToken = default)
    {
        if (DigestPrefix(digestOrPrefix) is not { } prefix)
        {
            return null;
        }
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var matches = (await connection.QueryAsync<ManifestRow>(new CommandDefinition(
                """
                SELECT digest AS Digest, target AS Target, collected_at AS CollectedAt, json AS Json
                FROM manifests WHERE digest >= @prefix AND digest < @upper
                ORDER BY collected_at DESC, id DESC
                """,
                new { prefix, upper = prefix + "g" },
                cancellationToken: cancellationToken)).ConfigureAwait(false)).ToList();
            var digests = matches.DistinctBy(m => m.Digest).ToList();
            return digests.Count switch
            {
                0 => null,
                // The same state collected several times has one digest; the latest collection stands for it.
                1 => ToStored(matches[0]),
                _ => throw Ambiguous(digestOrPrefix, digests),
            };
        }
    }

    public async Task<StoredManifest?> LatestManifestAsync(string target, DateTimeOffset? atOrBefore = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        var at = AuditChain.FormatTime(atOrBefore ?? _time.GetUtcNow());
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var row = await connection.QuerySingleOrDefaultAsync<ManifestRow>(new CommandDefinition(
                """
                SELECT digest AS Digest, target AS Target, collected_at AS CollectedAt, json AS Json
                FROM manifests WHERE target = @target AND collected_at <= @at
                ORDER BY collected_at DESC, id DESC LIMIT 1
                """,
                new { target, at },
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return row is null ? null : ToStored(row);
        }
    }

    public async Task<IReadOnlyList<StoredManifest>> ListManifestsAsync(string? target = null, CancellationToken cancellationToken = default)
    {
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var rows = await connection.QueryAsync<ManifestRow>(new CommandDefinition(
                """
                SELECT digest AS Digest, target AS Target, collected_at AS CollectedAt, json AS Json
                FROM manifests WHERE @target IS NULL OR target = @target
                ORDER BY collected_at, target, id
                """,
                new { target },
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return rows.Select(ToStored).ToList();
        }
    }

    // ---- patch sets ----

    public async Task<bool> SavePatchSetAsync(FrozenPatchSet patchSet, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patchSet);
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var inserted = await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT OR IGNORE INTO patch_sets (digest, id, title, author, frozen_at, json)
                VALUES (@digest, @id, @title, @author, @frozenAt, @json)
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
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return inserted > 0;
        }
    }

    public async Task<StoredPatchSet?> FindPatchSetAsync(string digestOrPrefix, CancellationToken cancellationToken = default)
    {
        if (DigestPrefix(digestOrPrefix) is not { } prefix)
        {
            return null;
        }
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var matches = (await connection.QueryAsync<PatchSetRow>(new CommandDefinition(
                """
                SELECT digest AS Digest, id AS Id, title AS Title, frozen_at AS FrozenAt, json AS Json
                FROM patch_sets WHERE digest >= @prefix AND digest < @upper
                ORDER BY frozen_at, digest
                """,
                new { prefix, upper = prefix + "g" },
                cancellationToken: cancellationToken)).ConfigureAwait(false)).ToList();
            if (matches.Count > 1)
            {
                const int shown = 10;
                var names = matches.Take(shown).Select(m => $"{m.Digest[..16]} ({m.Id}, {m.FrozenAt})");
                var more = matches.Count > shown ? $" and {matches.Count - shown} more" : "";
                throw new InputException($"patch set digest prefix '{digestOrPrefix}' is ambiguous: it matches {string.Join(", ", names)}{more}");
            }
            return matches.Count == 0 ? null : ToStored(matches[0]);
        }
    }

    public async Task<IReadOnlyList<StoredPatchSet>> ListPatchSetsAsync(CancellationToken cancellationToken = default)
    {
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var rows = await connection.QueryAsync<PatchSetRow>(new CommandDefinition(
                """
                SELECT digest AS Digest, id AS Id, title AS Title, frozen_at AS FrozenAt, json AS Json
                FROM patch_sets ORDER BY frozen_at, digest
                """,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return rows.Select(ToStored).ToList();
        }
    }

    private StoredPatchSet ToStored(PatchSetRow row)
    {
        try
        {
            return new StoredPatchSet(PatchSetFreezer.FromJson(row.Digest, row.Json), ParseStoredTime(row.FrozenAt));
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidDataException)
        {
            throw new InputException($"{DatabasePath}: stored patch set {row.Digest} ({row.Id}) is unreadable: {ex.Message}");
        }
    }

    // ---- audit ----

    /// <summary>
    /// Appends <paramref name="draft"/> to the chain: sequence, previous hash and hash are computed here, in one
    /// IMMEDIATE transaction, and the audit head is rewritten before commit. The time is the draft's, or now when
    /// the draft has none.
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
            using var transaction = await BeginAppendAsync(connection, cancellationToken).ConfigureAwait(false);
            var last = await connection.QuerySingleOrDefaultAsync<LastEventRow>(new CommandDefinition(
                "SELECT seq AS Sequence, hash AS Hash FROM audit_events ORDER BY seq DESC LIMIT 1",
                transaction: transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            var chained = AuditChain.Next(stamped, last?.Sequence ?? 0, last?.Hash);
            var key = AuditKey;
            chained = chained with { Seal = key?.Seal(chained) };
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO audit_events (seq, time, actor, action, target, reason, payload_digest, outcome, prev_hash, hash, seal)
                VALUES (@Sequence, @Time, @Actor, @Action, @Target, @Reason, @PayloadDigest, @Outcome, @PreviousHash, @Hash, @Seal)
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
                },
                transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);

            // Written while the write lock is held, so heads from concurrent appenders cannot land out of order.
            await AuditHeadFile.WriteAsync(AuditHeadPath, Head(chained.Sequence, chained.Hash, key), cancellationToken).ConfigureAwait(false);
            try
            {
                transaction.Commit();
            }
            catch
            {
                await AuditHeadFile.WriteAsync(AuditHeadPath, Head(last?.Sequence ?? 0, last?.Hash ?? AuditChain.GenesisHash, key), CancellationToken.None).ConfigureAwait(false);
                throw;
            }
            return chained;
        }
    }

    /// <summary>How long an append waits for the write lock in all before it gives up.</summary>
    private static readonly TimeSpan AppendPatience = TimeSpan.FromMinutes(5);

    /// <summary>
    /// BEGIN IMMEDIATE for an append, retried while another writer holds the lock. SQLite's busy handler is not fair:
    /// with eight writers appending flat out (the contract's 8 x 1,000 test) one of them was measured starving past the
    /// 30 s busy timeout ("database is locked") while the others went on. An append is small, so it keeps queueing, up to
    /// <see cref="AppendPatience"/> (real time: how long this machine waits, whatever the injected clock says).
    /// </summary>
    private static async Task<SqliteTransaction> BeginAppendAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            try
            {
                return connection.BeginTransaction(deferred: false);
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 5 /* SQLITE_BUSY */ && TimeProvider.System.GetElapsedTime(started) < AppendPatience)
            {
                await Task.Yield();
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
    }

    private static AuditHead Head(long count, string lastHash, AuditKey? key) => new(count, lastHash, key?.SealHead(count, lastHash));

    /// <summary>Every stored event in sequence order, as stored (nothing is verified here).</summary>
    public async Task<IReadOnlyList<AuditEvent>> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var rows = await connection.QueryAsync<AuditRow>(new CommandDefinition(
                """
                SELECT seq AS Sequence, time AS Time, actor AS Actor, action AS Action, target AS Target, reason AS Reason,
                       payload_digest AS PayloadDigest, outcome AS Outcome, prev_hash AS PreviousHash, hash AS Hash, seal AS Seal
                FROM audit_events ORDER BY seq
                """,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            return rows.Select(r => new AuditEvent
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
            }).ToList();
        }
    }

    /// <summary>The audit head (count and last hash) written with the latest append; null before the first append.</summary>
    /// <exception cref="InputException">The head file exists but cannot be read as a head.</exception>
    public Task<AuditHead?> ReadAuditHeadAsync(CancellationToken cancellationToken = default) =>
        AuditHeadFile.ReadAsync(AuditHeadPath, cancellationToken);

    /// <summary>Reads the chain and the head and verifies them together.</summary>
    public async Task<AuditVerification> VerifyAuditAsync(CancellationToken cancellationToken = default)
    {
        var head = await ReadAuditHeadAsync(cancellationToken).ConfigureAwait(false);
        var events = await ReadAllAsync(cancellationToken).ConfigureAwait(false);
        return AuditChain.Verify(events, head, AuditKey);
    }

    public ValueTask DisposeAsync()
    {
        // Pooled connections keep the file open; release them so the directory can be moved or deleted.
        using (var connection = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(connection);
        }
        return ValueTask.CompletedTask;
    }

    private protected override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await ConnectAsync(cancellationToken).ConfigureAwait(false);

    private protected override TimeProvider Clock => _time;

    /// <summary>An IMMEDIATE transaction: SQLite's one write lock, taken before the lock row is read.</summary>
    private protected override Task<DbTransaction> BeginLockTransactionAsync(DbConnection connection, string environment, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    private protected override string InsertionOrder => "rowid";

    private protected override string RecordOrigin => DatabasePath;

    private protected override AuditKey? SealingKey => AuditKey;

    private async Task<SqliteConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await connection.ExecuteAsync(new CommandDefinition(
                $"PRAGMA busy_timeout = {BusyTimeoutSeconds * 1000}", cancellationToken: cancellationToken)).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private StoredManifest ToStored(ManifestRow row)
    {
        try
        {
            return new StoredManifest(row.Digest, ManifestJson.Deserialize(row.Json));
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidDataException)
        {
            throw new InputException($"{DatabasePath}: stored manifest {row.Digest} of {row.Target} ({row.CollectedAt}) is unreadable: {ex.Message}");
        }
    }

    private static InputException Ambiguous(string prefix, IReadOnlyList<ManifestRow> matches)
    {
        const int shown = 10;
        var names = matches.Take(shown).Select(m => $"{m.Digest[..Math.Min(16, m.Digest.Length)]} ({m.Target}, {m.CollectedAt})");
        var more = matches.Count > shown ? $" and {matches.Count - shown} more" : "";
        return new InputException($"manifest digest prefix '{prefix}' is ambiguous: it matches {string.Join(", ", names)}{more}");
    }

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
        (await QueryDocumentsAsync<PatchRun>("SELECT json FROM patch_runs WHERE id = @id", new { id }, cancellationToken)
            .ConfigureAwait(false)).FirstOrDefault();

    public Task<IReadOnlyList<PatchRun>> ListPatchRunsAsync(string? environment = null, CancellationToken cancellationToken = default) =>
        QueryDocumentsAsync<PatchRun>(
            "SELECT json FROM patch_runs WHERE @environment IS NULL OR environment = @environment ORDER BY started_at DESC, rowid DESC",
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
        (await QueryDocumentsAsync<RollbackPoint>("SELECT json FROM rollback_points WHERE id = @id", new { id }, cancellationToken)
            .ConfigureAwait(false)).FirstOrDefault();

    public Task<IReadOnlyList<RollbackPoint>> ListRollbackPointsAsync(string? environment = null, CancellationToken cancellationToken = default) =>
        QueryDocumentsAsync<RollbackPoint>(
            "SELECT json FROM rollback_points WHERE @environment IS NULL OR environment = @environment ORDER BY created_at DESC, rowid DESC",
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
            WHERE (@patchDigest IS NULL OR patch_digest = @patchDigest) AND (@environment IS NULL OR environment = @environment)
            ORDER BY started_at DESC, rowid DESC
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
            new
            {
                name = user.Name,
                role = user.Role.ToString(),
                json = JsonSerializer.Serialize(user, PatchSetFreezer.JsonOptions),
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> SaveFirstUserAsync(User user, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentException.ThrowIfNullOrWhiteSpace(user.Name, nameof(user));
        // One statement: SQLite runs it under its write lock, so the emptiness it checks is the emptiness it writes into.
        var added = await ExecuteAsync(
            "INSERT INTO users (name, role, json) SELECT @name, @role, @json WHERE NOT EXISTS (SELECT 1 FROM users)",
            new
            {
                name = user.Name,
                role = user.Role.ToString(),
                json = JsonSerializer.Serialize(user, PatchSetFreezer.JsonOptions),
            },
            cancellationToken).ConfigureAwait(false);
        return added == 1;
    }

    public async Task<bool> DeleteUserAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // A removed user's password goes with it: re-adding the name must not bring an old password back.
            await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM passwords WHERE user_name = @name", new { name }, cancellationToken: cancellationToken)).ConfigureAwait(false);
            var deleted = await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM users WHERE name = @name", new { name }, cancellationToken: cancellationToken)).ConfigureAwait(false);
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
            WHERE (@patchDigest IS NULL OR patch_digest = @patchDigest) AND (@environment IS NULL OR environment = @environment)
            ORDER BY at, rowid
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

    /// <summary>The rollout with exactly this id, else the only one whose id starts with it.</summary>
    public async Task<Rollout?> FindRolloutAsync(string idOrPrefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(idOrPrefix);
        var prefix = idOrPrefix.Trim();
        if (prefix.Length == 0)
        {
            return null;
        }
        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var matches = (await connection.QueryAsync<RolloutRow>(new CommandDefinition(
                """
                SELECT id AS Id, environment AS Environment, created_at AS CreatedAt, json AS Json
                FROM rollouts WHERE substr(id, 1, length(@prefix)) = @prefix
                ORDER BY created_at, id
                """,
                new { prefix },
                cancellationToken: cancellationToken)).ConfigureAwait(false)).ToList();
            if (matches.Count > 1 && matches.Find(m => m.Id == prefix) is { } exact)
            {
                matches = [exact];
            }
            if (matches.Count > 1)
            {
                const int shown = 10;
                var names = matches.Take(shown).Select(m => $"{m.Id} ({m.Environment}, {m.CreatedAt})");
                var more = matches.Count > shown ? $" and {matches.Count - shown} more" : "";
                throw new InputException($"rollout id prefix '{idOrPrefix}' is ambiguous: it matches {string.Join(", ", names)}{more}");
            }
            return matches.Count == 0 ? null : Deserialize<Rollout>(matches[0].Json);
        }
    }

    public Task<IReadOnlyList<Rollout>> ListRolloutsAsync(string? environment = null, CancellationToken cancellationToken = default) =>
        QueryDocumentsAsync<Rollout>(
            "SELECT json FROM rollouts WHERE @environment IS NULL OR environment = @environment ORDER BY created_at DESC, id DESC",
            new { environment }, cancellationToken);
}
