using Microsoft.Extensions.Hosting;

namespace AcmeMail;

/// <summary>
/// The background indexer: every <c>indexer.interval</c> seconds it makes new messages searchable (fills
/// <c>search_vector</c> on PostgreSQL, <c>search_text</c> under a FULLTEXT index on MariaDB) and logs
/// <c>indexer: indexed N messages</c>; a database error is logged as ERROR and retried on the next tick. With <c>fault.indexer_errors</c> (fault injection, see <see cref="Faults"/>) every cycle also
/// logs an ERROR line, while the service otherwise works.
/// </summary>
public sealed class Indexer(IMailStore store, AppLog log, TimeSpan interval, bool injectErrors = false) : BackgroundService
{
    public const int BatchSize = 5000;

    /// <summary>Indexes until every message is searchable; returns how many were indexed.</summary>
    public async Task<int> IndexPendingAsync(CancellationToken ct)
    {
        var total = 0;
        while (true)
        {
            var n = await store.IndexBatchAsync(BatchSize, ct);
            total += n;
            if (n < BatchSize)
            {
                return total;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval);
        do
        {
            try
            {
                var n = await IndexPendingAsync(stoppingToken);
                log.Info($"indexer: indexed {n} messages");
                if (injectErrors)
                {
                    log.Error("indexer: cannot index message batch: 54000: string is too long for tsvector (fault.indexer_errors)");
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (MailStore.IsDatabaseFailure(e))
            {
                log.Error($"indexer: cannot index messages: {e.GetType().Name}: {e.Message}");
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            return await timer.WaitForNextTickAsync(ct);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
