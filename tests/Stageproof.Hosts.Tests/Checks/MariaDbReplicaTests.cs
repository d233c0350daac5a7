using MySqlConnector;
using Stageproof.Core.Checks;
using Stageproof.Testing;

namespace Stageproof.Hosts.Tests.Checks;

/// <summary>A private MariaDB server that writes a binary log: a replication source.</summary>
public sealed class MariaDbSourceFixture : MariaDbFixture
{
    protected override IEnumerable<string> ServerArguments => ["--log-bin=mariadb-bin", "--binlog-format=ROW"];
}

/// <summary>
/// The db-integrity check's <c>replica:</c> on MariaDB against real replication: a private source server (binary log
/// on) and a private replica (<see cref="MariaDbFixture"/>) that this class points at it with CHANGE MASTER TO.
/// </summary>
public sealed class MariaDbReplicaTests(MariaDbSourceFixture source, MariaDbFixture replica)
    : IClassFixture<MariaDbSourceFixture>, IClassFixture<MariaDbFixture>, IDisposable
{
    private readonly Suites _suites = new();

    public void Dispose() => _suites.Dispose();

    private Task<CheckSuiteResult> IntegrityAsync(string replicaName) =>
        Suites.RunAsync(_suites.Config(
            $"- {{ name: integrity, type: db-integrity, database: mail, amcheck: false, replica: {replicaName}, max_replication_lag: 5s }}",
            databases: $"{{ mail: \"{source.Endpoint}\", mail_replica: \"{replica.Endpoint}\" }}"));

    /// <summary>The first row <paramref name="sql"/> returns, by column name.</summary>
    private static async Task<Dictionary<string, string?>> RowAsync(string connectionString, string sql)
    {
        await using var connection = new MySqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new MySqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), sql + " returned no row");
        return Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName,
            i => reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture), StringComparer.Ordinal);
    }

    /// <summary>Points the replica at the source's binary log as it stands now (each server set up its own test user and
    /// database before, which the replica must not replay) and starts replicating, each event applied no sooner than
    /// <paramref name="delaySeconds"/> after the source wrote it (MariaDB's delayed replication).</summary>
    private async Task ReplicateAsync(int delaySeconds = 0)
    {
        var position = await RowAsync(source.ConnectionString, "SHOW MASTER STATUS");
        var password = MariaDbFixture.Password.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal);
        await replica.ExecuteAsync(
            $"STOP SLAVE; RESET SLAVE ALL; CHANGE MASTER TO MASTER_HOST='{source.Address}', MASTER_PORT={source.Port}, MASTER_USER='{MariaDbFixture.User}', " +
            $"MASTER_PASSWORD='{password}', MASTER_LOG_FILE='{position["File"]}', MASTER_LOG_POS={position["Position"]}, MASTER_USE_GTID=no, MASTER_DELAY={delaySeconds}; START SLAVE;");
    }

    /// <summary>Waits (bounded: a hang guard, not a timing) until both replication threads run: right after START
    /// SLAVE the IO thread is still connecting, and the check rightly calls such a replica not replicating.</summary>
    private async Task WaitRunningAsync()
    {
        var threads = "";
        for (var i = 0; i < 300; i++)
        {
            var status = await RowAsync(replica.ConnectionString, "SHOW REPLICA STATUS");
            threads = $"IO thread {status["Slave_IO_Running"]}, SQL thread {status["Slave_SQL_Running"]}";
            if (threads == "IO thread Yes, SQL thread Yes")
            {
                return;
            }
            await Task.Delay(100);
        }
        Assert.Fail($"replication never ran: {threads}");
    }

    /// <summary>Waits (bounded: a hang guard, not a timing) until the replica has the source's rows.</summary>
    private async Task WaitReplicatedAsync(long rows)
    {
        for (var i = 0; i < 300; i++)
        {
            try
            {
                if (Convert.ToInt64(await replica.ScalarAsync("SELECT count(*) FROM items"), System.Globalization.CultureInfo.InvariantCulture) == rows)
                {
                    return;
                }
            }
            catch (MySqlException)
            {
                // the table is not there yet
            }
            await Task.Delay(100);
        }
        var status = await RowAsync(replica.ConnectionString, "SHOW REPLICA STATUS");
        Assert.Fail($"the replica never caught up to {rows} row(s): {string.Join(" | ", status.Select(c => $"{c.Key}={c.Value}"))}");
    }

    [SkippableFact]
    public async Task A_replica_that_keeps_up_passes_a_stopped_one_fails_naming_its_threads_and_a_source_is_not_a_replica()
    {
        source.EnsureAvailable();
        replica.EnsureAvailable();
        await ReplicateAsync();
        await source.ExecuteAsync("CREATE TABLE items (id int PRIMARY KEY, name varchar(50) NOT NULL); INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three');");
        await WaitReplicatedAsync(3);

        var healthy = Assert.Single((await IntegrityAsync("mail_replica")).Results);
        Assert.True(healthy.Status == CheckStatus.Passed, healthy.Message);
        Assert.Contains("replica mail_replica lags 0s", healthy.Message, StringComparison.Ordinal);
        Assert.Equal(0, healthy.Measurements["replication_lag_s"]);

        // The replica stops applying what it receives: at a failover, what it has not applied would be lost.
        await replica.ExecuteAsync("STOP SLAVE SQL_THREAD");
        await source.ExecuteAsync("INSERT INTO items VALUES (4, 'four')");
        var stopped = Assert.Single((await IntegrityAsync("mail_replica")).Results);
        Assert.True(stopped.Status == CheckStatus.Failed, stopped.Message);
        Assert.Contains("replica mail_replica is not replicating (IO thread Yes, SQL thread No)", stopped.Message, StringComparison.Ordinal);

        // Started again, it catches up and passes.
        await replica.ExecuteAsync("START SLAVE SQL_THREAD");
        await WaitReplicatedAsync(4);
        var again = Assert.Single((await IntegrityAsync("mail_replica")).Results);
        Assert.True(again.Status == CheckStatus.Passed, again.Message);

        // The source named as its own replica: not a replica at all.
        var notReplica = Assert.Single((await IntegrityAsync("mail")).Results);
        Assert.True(notReplica.Status == CheckStatus.Failed, notReplica.Message);
        Assert.Contains("replica mail is not a replica (SHOW REPLICA STATUS is empty)", notReplica.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_replica_that_applies_what_it_received_later_than_the_limit_fails_naming_its_lag_and_the_limit()
    {
        source.EnsureAvailable();
        replica.EnsureAvailable();
        // Delayed replication makes a real lag: the replica receives each event at once and applies it only after a
        // minute, so Seconds_Behind_Master grows with the clock while both threads run.
        await ReplicateAsync(delaySeconds: 60);
        try
        {
            await WaitRunningAsync();
            await source.ExecuteAsync("CREATE TABLE delayed_items (id int PRIMARY KEY); INSERT INTO delayed_items VALUES (1);");
            CheckResult? lagging = null;
            // Polls until the lag passes the 5 s limit (bounded: a hang guard, not a timing).
            for (var i = 0; i < 60 && lagging is null; i++)
            {
                var result = Assert.Single((await IntegrityAsync("mail_replica")).Results);
                if (result.Status == CheckStatus.Failed)
                {
                    lagging = result;
                }
                else
                {
                    Assert.True(result.Status == CheckStatus.Passed, result.Message);
                    await Task.Delay(500);
                }
            }
            Assert.True(lagging is not null, "the delayed replica never lagged past the 5 s limit");
            Assert.Matches(@"replica mail_replica lags \d+(\.\d+)?s behind, limit 5s", lagging.Message);
            Assert.True(lagging.Measurements["replication_lag_s"] > 5, lagging.Message);
        }
        finally
        {
            await replica.ExecuteAsync("STOP SLAVE; RESET SLAVE ALL;");
        }
    }
}
