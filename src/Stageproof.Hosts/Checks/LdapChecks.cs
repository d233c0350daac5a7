using System.Diagnostics;
using System.DirectoryServices.Protocols;
using System.Globalization;
using System.Net;
using Stageproof.Core.Checks;
using Stageproof.Core.Configuration;

namespace Stageproof.Hosts.Checks;

/// <summary>
/// The ldap check: binds as each account and searches, once or as a load. System.DirectoryServices.Protocols (libldap
/// underneath on Linux) is synchronous, so every call runs on a thread of its own and is bounded by the check's timeout.
/// </summary>
internal static class LdapChecks
{
    /// <summary>The request names of a load's samples.</summary>
    public const string BindRequest = "bind", SearchRequestName = "search";

    /// <summary>How many accounts a single (not load) run tries, as the auth check does.</summary>
    public const int MaxAccountsOnce = 5;

    /// <summary>The URI an ldap check uses for a host: its url, or ldap://ADDRESS:PORT.</summary>
    public static Uri TargetOf(LdapCheck check, HostConfig? host) =>
        check.Target.Url ?? new UriBuilder("ldap", host is null ? "127.0.0.1" : CheckEnvironment.AddressOf(host), check.Target.Port ?? 389).Uri;

    public static async Task<CheckSuiteRunner.Outcome> RunAsync(LdapCheck check, Uri target, CancellationToken ct)
    {
        var (accounts, error) = AccountsOf(check);
        if (error is not null)
        {
            return new CheckSuiteRunner.Outcome(CheckStatus.Failed, $"credentials: {error}");
        }
        return check.IsLoad
            ? await LoadAsync(check, target, accounts, ct).ConfigureAwait(false)
            : await Task.Factory.StartNew(() => Once(check, target, accounts), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
    }

    /// <summary>The accounts of the credential source, narrowed to <see cref="LdapCheck.Accounts"/> when given.</summary>
    public static (IReadOnlyList<Account> Accounts, string? Error) AccountsOf(LdapCheck check)
    {
        ArgumentNullException.ThrowIfNull(check);
        var (all, error) = Credentials.Load(check.Credentials, check.User);
        if (error is not null || check.Accounts.Count == 0)
        {
            return (all, error);
        }
        var missing = check.Accounts.Where(a => all.All(x => x.User != a)).ToList();
        if (missing.Count > 0)
        {
            return ([], $"no password for account(s) {string.Join(", ", missing)} in {check.Credentials.File ?? $"${check.Credentials.Env}"}");
        }
        return (check.Accounts.Select(a => all.First(x => x.User == a)).ToList(), null);
    }

    private static CheckSuiteRunner.Outcome Once(LdapCheck check, Uri target, IReadOnlyList<Account> accounts)
    {
        var inv = CultureInfo.InvariantCulture;
        var seen = new List<string>();
        double maxBind = 0, maxSearch = 0;
        var fewest = int.MaxValue;
        foreach (var account in accounts.Take(MaxAccountsOnce))
        {
            using var connection = Connect(target, check.Timeout);
            var attempt = BindAndSearch(connection, check, account);
            var m = new Dictionary<string, double>
            {
                ["bind_ms"] = Math.Round(Math.Max(maxBind, attempt.BindMs), 3), ["search_ms"] = Math.Round(Math.Max(maxSearch, attempt.SearchMs ?? 0), 3),
            };
            if (attempt.Error is { } problem)
            {
                m["entries"] = attempt.Entries ?? 0;
                return new CheckSuiteRunner.Outcome(CheckStatus.Failed, $"{target}: user {account.User}: {problem}", m);
            }
            maxBind = Math.Max(maxBind, attempt.BindMs);
            maxSearch = Math.Max(maxSearch, attempt.SearchMs ?? 0);
            fewest = Math.Min(fewest, attempt.Entries ?? 0);
            seen.Add(string.Create(inv, $"{account.User} {attempt.Entries} entr{(attempt.Entries == 1 ? "y" : "ies")} (bind {attempt.BindMs:0.#}ms, search {attempt.SearchMs:0.#}ms)"));
        }
        var measurements = new Dictionary<string, double>
        {
            ["bind_ms"] = Math.Round(maxBind, 3), ["search_ms"] = Math.Round(maxSearch, 3), ["entries"] = fewest == int.MaxValue ? 0 : fewest, ["accounts"] = seen.Count,
        };
        return new CheckSuiteRunner.Outcome(CheckStatus.Passed, $"{target}: bound and searched {check.Base} {check.Filter}: {string.Join(", ", seen)}", measurements);
    }

    private static async Task<CheckSuiteRunner.Outcome> LoadAsync(LdapCheck check, Uri target, IReadOnlyList<Account> accounts, CancellationToken ct)
    {
        var shape = new LoadGenerator.LoadShape(check.Clients ?? 4, check.Duration, check.Iterations, check.Warmup, check.Timeout);
        var result = await LoadGenerator.RunLoopAsync(shape, () =>
        {
            var holder = new ConnectionHolder(target, check.Timeout);
            return new LoadGenerator.LoadClient((iteration, clock, add, _) =>
            {
                var account = accounts[iteration % accounts.Count]; // accounts in turn, across all clients
                var start = clock.Elapsed.TotalMilliseconds;
                var attempt = BindAndSearch(holder.Connection, check, account);
                var bindOk = attempt.SearchMs is not null;
                add(new LoadSample(start, attempt.BindMs, bindOk, BindRequest), bindOk ? null : $"user {account.User}: {attempt.Error}");
                if (bindOk)
                {
                    add(new LoadSample(start + attempt.BindMs, attempt.SearchMs!.Value, attempt.Error is null, SearchRequestName),
                        attempt.Error is null ? null : $"user {account.User}: {attempt.Error}");
                }
                if (attempt.ConnectionLost)
                {
                    holder.Reset();
                }
                return Task.CompletedTask;
            }, holder);
        }, ct).ConfigureAwait(false);
        return LoadGenerator.Summarise(check.Clients ?? 4, check.MaxErrorRate, check.MaxP95, target.ToString(), result);
    }

    /// <summary>One bind then one search. <see cref="SearchMs"/> is null when the bind failed.</summary>
    private sealed record Attempt(double BindMs, double? SearchMs, int? Entries, string? Error, bool ConnectionLost);

    private static Attempt BindAndSearch(LdapConnection connection, LdapCheck check, Account account)
    {
        var dn = LdapSyntax.FillDn(check.BindDn, account.User);
        var sw = Stopwatch.StartNew();
        try
        {
            connection.Bind(new NetworkCredential(dn, account.Password));
        }
        catch (Exception e) when (e is LdapException or DirectoryOperationException or InvalidOperationException)
        {
            return new Attempt(sw.Elapsed.TotalMilliseconds, null, null, $"bind as {dn} failed: {Describe(e, account.Password, check.Timeout)}", Lost(e));
        }
        var bindMs = sw.Elapsed.TotalMilliseconds;
        var filter = LdapSyntax.FillFilter(check.Filter, account.User);
        var searchBase = LdapSyntax.FillDn(check.Base, account.User);
        var request = new SearchRequest(searchBase, filter, ScopeOf(check.Scope), check.Attributes.Count == 0 ? ["1.1"] : [.. check.Attributes]);
        sw.Restart();
        try
        {
            var response = (SearchResponse)connection.SendRequest(request, check.Timeout);
            var searchMs = sw.Elapsed.TotalMilliseconds;
            var entries = response.Entries.Count;
            return entries < check.MinEntries
                ? new Attempt(bindMs, searchMs, entries, $"search {searchBase} {filter} found {entries} entr{(entries == 1 ? "y" : "ies")}, expected at least {check.MinEntries}", false)
                : new Attempt(bindMs, searchMs, entries, null, false);
        }
        catch (Exception e) when (e is LdapException or DirectoryOperationException or InvalidOperationException)
        {
            return new Attempt(bindMs, sw.Elapsed.TotalMilliseconds, null, $"search {searchBase} {filter} failed: {Describe(e, account.Password, check.Timeout)}", Lost(e));
        }
    }

    private static SearchScope ScopeOf(LdapScope scope) => scope switch
    {
        LdapScope.Base => SearchScope.Base,
        LdapScope.One => SearchScope.OneLevel,
        _ => SearchScope.Subtree,
    };

    /// <summary>LDAP_SERVER_DOWN (81), LDAP_TIMEOUT (85), LDAP_CONNECT_ERROR (91): the connection is gone; make a new one.</summary>
    private static bool Lost(Exception e) => e is not LdapException ldap || ldap.ErrorCode is 81 or 85 or 91;

    private static string Describe(Exception e, string password, TimeSpan timeout)
    {
        var text = e switch
        {
            // The client gave up waiting (LibLdap bounds the bind, SendRequest the rest): say how long it waited.
            LdapException { ErrorCode: 85 } => string.Create(CultureInfo.InvariantCulture, $"no answer within {timeout.TotalSeconds:0.###}s (85)"),
            LdapException l => $"{l.Message.TrimEnd('.')} ({l.ErrorCode}){(string.IsNullOrEmpty(l.ServerErrorMessage) ? "" : $": {l.ServerErrorMessage}")}",
            DirectoryOperationException d => $"{d.Response?.ResultCode.ToString() ?? "error"}{(string.IsNullOrEmpty(d.Response?.ErrorMessage) ? "" : $": {d.Response!.ErrorMessage}")}",
            _ => e.Message,
        };
        return password.Length == 0 ? text : text.Replace(password, "********", StringComparison.Ordinal);
    }

    /// <summary>An LDAP v3 connection with a connect and operation timeout; ldaps when the URI says so. It connects at the first bind.</summary>
    public static LdapConnection Connect(Uri target, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(target);
        var secure = target.Scheme == "ldaps";
        var port = target.Port > 0 ? target.Port : secure ? 636 : 389;
        // The bind is bounded by libldap's default for synchronous calls, which the handle copies when it is made.
        var connection = LibLdap.WithSyncTimeout(timeout, () =>
            new LdapConnection(new LdapDirectoryIdentifier(target.DnsSafeHost, port, fullyQualifiedDnsHostName: true, connectionless: false))
            {
                AuthType = AuthType.Basic, Timeout = timeout, AutoBind = false,
            });
        connection.SessionOptions.ProtocolVersion = 3;
        connection.SessionOptions.ReferralChasing = ReferralChasingOptions.None;
        if (secure)
        {
            connection.SessionOptions.SecureSocketLayer = true;
        }
        return connection;
    }

    /// <summary>A load client's connection, replaced after the server dropped it.</summary>
    private sealed class ConnectionHolder(Uri target, TimeSpan timeout) : IDisposable
    {
        private LdapConnection? _connection;

        public LdapConnection Connection => _connection ??= Connect(target, timeout);

        public void Reset()
        {
            _connection?.Dispose();
            _connection = null;
        }

        public void Dispose() => Reset();
    }
}
