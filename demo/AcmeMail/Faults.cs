using System.Globalization;

namespace AcmeMail;

/// <summary>
/// Fault injection for Stageproof's gauntlet (the bad updates its stage gate must catch). Read from
/// <c>/usr/share/acme-mail/faults.conf</c> (<c>ACME_MAIL_FAULTS</c>), a file that only a deliberately broken
/// package ships: when it is absent — every real release — nothing is injected. Same format as defaults.conf.
/// </summary>
public sealed record Faults
{
    public const string DefaultPath = "/usr/share/acme-mail/faults.conf";

    public static readonly IReadOnlyList<string> Keys = ["fault.login_race", "fault.die_after", "fault.indexer_errors", "fault.search_delay"];

    public static readonly Faults None = new();

    /// <summary>Logins share one token buffer (a "no allocation" optimization gone wrong): overlapping logins
    /// overwrite each other's token, so some fail under concurrency while one at a time always works.</summary>
    public bool LoginRace { get; init; }

    /// <summary>Seconds after the service starts listening when the process crashes (unhandled exception); null: never.</summary>
    public int? DieAfterSeconds { get; init; }

    /// <summary>The indexer logs an ERROR line every cycle (while /health still answers 200).</summary>
    public bool IndexerErrors { get; init; }

    /// <summary>Milliseconds every /search request waits before it answers; null: none. The gauntlet's dropped-index update
    /// ships it so that its slowdown is as large as a production-sized mailbox table makes it, far beyond the noise of a
    /// busy machine (the lab's 20,000 messages make the missing index cost only 2–3×).</summary>
    public int? SearchDelayMilliseconds { get; init; }

    public bool Any => LoginRace || DieAfterSeconds is not null || IndexerErrors || SearchDelayMilliseconds is not null;

    /// <summary>Reads the faults file; a missing file is <see cref="None"/>, a malformed one a <see cref="ConfigException"/>.</summary>
    public static Faults Load(string path)
    {
        if (!File.Exists(path))
        {
            return None;
        }
        var f = new Faults();
        var lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ConfigException($"{path}:{lineNo}: expected 'key = value', got '{line}'");
            }
            var key = line[..eq].Trim();
            var value = line[(eq + 1)..].Trim();
            bool Bool() => value.ToLowerInvariant() switch
            {
                "true" or "yes" or "on" or "1" => true,
                "false" or "no" or "off" or "0" => false,
                _ => throw new ConfigException($"{path}:{lineNo}: {key} must be true or false, got '{value}'"),
            };
            f = key switch
            {
                "fault.login_race" => f with { LoginRace = Bool() },
                "fault.indexer_errors" => f with { IndexerErrors = Bool() },
                "fault.die_after" => f with
                {
                    DieAfterSeconds = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 86_400
                        ? n
                        : throw new ConfigException($"{path}:{lineNo}: fault.die_after must be an integer from 1 to 86400 (seconds), got '{value}'"),
                },
                "fault.search_delay" => f with
                {
                    SearchDelayMilliseconds = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms is >= 1 and <= 60_000
                        ? ms
                        : throw new ConfigException($"{path}:{lineNo}: fault.search_delay must be an integer from 1 to 60000 (milliseconds), got '{value}'"),
                },
                _ => throw new ConfigException($"{path}:{lineNo}: unknown key '{key}' (known: {string.Join(", ", Keys)})"),
            };
        }
        return f;
    }

    public override string ToString() => string.Join(", ", new[]
    {
        LoginRace ? "login_race" : null,
        DieAfterSeconds is { } s ? $"die_after={s.ToString(CultureInfo.InvariantCulture)}s" : null,
        IndexerErrors ? "indexer_errors" : null,
        SearchDelayMilliseconds is { } ms ? $"search_delay={ms.ToString(CultureInfo.InvariantCulture)}ms" : null,
    }.Where(x => x is not null));
}
