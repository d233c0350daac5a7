using Stageproof.Core.Jobs;
using Stageproof.Core.Validation;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Configuration.Internal;

internal sealed partial class ConfigReader
{
    private static readonly string[] JobsKeys = ["store", "password_file", "checkin", "lock_heartbeat", "lock_retry", "lock_attempts", "error_retry", "error_attempts"];
    private JobsConfig? _jobs;

    /// <summary>jobs: { store: postgres://USER@HOST:PORT/DB, password_file: F, checkin: 15s, lock_heartbeat: 10s, lock_retry: 30s,
    /// lock_attempts: 20, error_retry: 30s, error_attempts: 8 }: the password never in the
    /// file or the URL (a file of this user's alone, or STAGEPROOF_JOBS_PASSWORD).</summary>
    private void ReadJobs(YamlNode node, string path)
    {
        if (YamlWalker.IsNull(node) || _yaml.Mapping(node, path) is not { } mapping)
        {
            return;
        }
        var before = _problems.Count;
        Uri? store = null;
        string? passwordFile = null;
        var checkin = TimeSpan.FromSeconds(15);
        var heartbeat = JobsConfig.DefaultLockHeartbeat;
        var retry = TimeSpan.FromSeconds(30);
        var attempts = 20;
        var errorRetry = JobsConfig.DefaultErrorRetry;
        var errorAttempts = JobsConfig.DefaultErrorAttempts;
        foreach (var (key, _, value, keyPath) in _yaml.Entries(mapping, path, JobsKeys))
        {
            switch (key)
            {
                case "store":
                    store = ReadJobStore(value, keyPath);
                    break;
                case "password_file" when ReadPath(value, keyPath) is { } file:
                    if (InputFiles.SharedMode(file) is { } mode)
                    {
                        _yaml.Report(value, keyPath, $"{file} may be read by others (mode {mode}); a password must be its owner's alone: chmod 600 {file}");
                    }
                    else if (InputFiles.ReadText(file, 4096) is { Text: null, Problem: var problem })
                    {
                        _yaml.Report(value, keyPath, $"{file}: {problem}");
                    }
                    else
                    {
                        passwordFile = file;
                    }
                    break;
                case "checkin" when _yaml.Seconds(value, keyPath, 600) is { } interval:
                    if (interval < TimeSpan.FromSeconds(1))
                    {
                        _yaml.Report(value, keyPath, $"{interval.TotalMilliseconds:0}ms is too short a check-in: at least 1s");
                    }
                    checkin = interval;
                    break;
                case "lock_heartbeat" when _yaml.Seconds(value, keyPath, 600) is { } every:
                    if (every < TimeSpan.FromSeconds(1))
                    {
                        _yaml.Report(value, keyPath, $"{every.TotalMilliseconds:0}ms is too short a heartbeat: at least 1s");
                    }
                    heartbeat = every;
                    break;
                case "lock_retry" when _yaml.Seconds(value, keyPath, 3600) is { } delay:
                    if (delay < TimeSpan.FromSeconds(1))
                    {
                        _yaml.Report(value, keyPath, $"{delay.TotalMilliseconds:0}ms is too short a retry delay: at least 1s");
                    }
                    retry = delay;
                    break;
                case "lock_attempts" when _yaml.Int(value, keyPath, 1, 1000) is { } count:
                    attempts = count;
                    break;
                case "error_retry" when _yaml.Seconds(value, keyPath, 3600) is { } first:
                    if (first < TimeSpan.FromSeconds(1))
                    {
                        _yaml.Report(value, keyPath, $"{first.TotalMilliseconds:0}ms is too short a retry delay: at least 1s");
                    }
                    errorRetry = first;
                    break;
                case "error_attempts" when _yaml.Int(value, keyPath, 1, 100) is { } tries:
                    errorAttempts = tries;
                    break;
            }
        }
        if (store is null && !mapping.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == "store"))
        {
            _yaml.Report(node, path + ".store", "is required (postgres://USER@HOST:PORT/DB)");
        }
        if (_problems.Count > before || store is null)
        {
            return;
        }
        _jobs = new JobsConfig
        {
            Store = store, User = Uri.UnescapeDataString(store.UserInfo), Host = store.Host, Port = store.IsDefaultPort ? 5432 : store.Port,
            Database = Uri.UnescapeDataString(store.AbsolutePath.TrimStart('/')), PasswordFile = passwordFile, Checkin = checkin,
            LockHeartbeat = heartbeat, LockRetry = retry, LockAttempts = attempts,
            ErrorRetry = errorRetry, ErrorAttempts = errorAttempts,
            Source = new ValueSource(_file, (int)node.Start.Line, path),
        };
    }

    private Uri? ReadJobStore(YamlNode node, string path)
    {
        if (_yaml.RequiredString(node, path) is not { } text)
        {
            return null;
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("postgres" or "postgresql") || url.Host.Length == 0)
        {
            _yaml.Report(node, path, $"{Names.Show(text)} is not a postgres://USER@HOST:PORT/DB URL");
            return null;
        }
        if (url.UserInfo.Contains(':', StringComparison.Ordinal))
        {
            _yaml.Report(node, path, "a password in the URL would be shown wherever the configuration is: use password_file or STAGEPROOF_JOBS_PASSWORD");
            return null;
        }
        if (url.UserInfo.Length == 0 || url.AbsolutePath.Trim('/').Length == 0 || url.AbsolutePath.Trim('/').Contains('/', StringComparison.Ordinal)
            || url.Query.Length > 0 || url.Fragment.Length > 0)
        {
            _yaml.Report(node, path, $"{Names.Show(text)} must name a user and one database: postgres://USER@HOST:PORT/DB");
            return null;
        }
        return url;
    }
}
