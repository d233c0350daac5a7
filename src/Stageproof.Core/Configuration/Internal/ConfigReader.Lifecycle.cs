using System.Globalization;
using Cronos;
using Stageproof.Core.Lifecycle;
using Stageproof.Core.Validation;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Configuration.Internal;

/// <summary>The <c>lifecycle:</c> section: stages (each an environment with its gate, window and rollout policy) and the emergency lane.</summary>
internal sealed partial class ConfigReader
{
    private static readonly string[] LifecycleKeys = ["stages", "emergency"];
    private static readonly string[] StageKeys = ["environment", "max_evidence_age", "approvals", "roles", "window", "rollout"];
    private static readonly string[] WindowKeys = ["cron", "duration", "time_zone"];
    private static readonly string[] RolloutKeys = ["canary", "batch", "parallel", "max_failures", "pause", "settle", "checks", "rollback"];
    private static readonly string[] EmergencyKeys = ["max_clone_age", "roles"];
    private static readonly string[] RoleNames = ["viewer", "operator", "approver", "admin"];

    /// <summary>Evidence and clones may be at most a year old; a window lasts at most a week.</summary>
    private const double MaxAgeSeconds = 365 * 86400, MaxWindowSeconds = 7 * 86400;

    private (YamlNode Node, string Path)? _lifecycleNode;

    private LifecycleConfig ReadLifecycle(YamlNode node, string path, IReadOnlyDictionary<string, EnvironmentConfig> environments)
    {
        var lifecycle = new LifecycleConfig();
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return lifecycle;
        }
        foreach (var (name, _, value, key) in _yaml.Entries(mapping, path, LifecycleKeys))
        {
            switch (name)
            {
                case "stages":
                    lifecycle = lifecycle with { Stages = ReadStages(value, key, environments) };
                    break;
                case "emergency":
                    lifecycle = lifecycle with { Emergency = ReadEmergency(value, key) };
                    break;
                default:
                    break;
            }
        }
        return lifecycle;
    }

    private List<LifecycleStage> ReadStages(YamlNode node, string path, IReadOnlyDictionary<string, EnvironmentConfig> environments)
    {
        var stages = new List<LifecycleStage>();
        if (YamlWalker.IsNull(node))
        {
            return stages;
        }
        if (node is not YamlSequenceNode sequence)
        {
            _yaml.Report(node, path, $"expected a list of stages ('- environment: NAME' lines), got {YamlWalker.Describe(node)}");
            return stages;
        }
        var seen = new Dictionary<string, Where>(StringComparer.Ordinal);
        var index = 0;
        foreach (var item in sequence.Children)
        {
            var stagePath = $"{path}[{index++}]";
            if (ReadStage(item, stagePath, environments, seen) is { } stage)
            {
                stages.Add(stage);
            }
        }
        return stages;
    }

    private LifecycleStage? ReadStage(YamlNode node, string path, IReadOnlyDictionary<string, EnvironmentConfig> environments, Dictionary<string, Where> seen)
    {
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return null;
        }
        var fields = _yaml.Entries(mapping, path, StageKeys).ToDictionary(e => e.Name, StringComparer.Ordinal);
        if (!fields.TryGetValue("environment", out var f))
        {
            _yaml.Report(node, $"{path}.environment", "environment is required: the environment this stage promotes into");
            return null;
        }
        if (_yaml.RequiredString(f.Value, f.Path) is not { } environment)
        {
            return null;
        }
        var known = environments.TryGetValue(environment, out var env);
        if (!known)
        {
            var suggestion = YamlWalker.Suggest(environment, environments.Keys);
            _yaml.Report(f.Value, f.Path, $"unknown environment {Names.Show(environment)}"
                + (suggestion is not null ? $" (did you mean '{suggestion}'?)"
                    : environments.Count == 0 ? " (there is no environments: section)" : $" (known: {string.Join(", ", environments.Keys)})"));
        }
        if (seen.TryGetValue(environment, out var first))
        {
            _yaml.Report(f.Value, f.Path, $"environment '{environment}' is already a stage (line {first.Line.ToString(CultureInfo.InvariantCulture)}); an environment may appear once in the lifecycle");
        }
        else
        {
            seen[environment] = _yaml.At(f.Value, f.Path);
        }

        var stage = new LifecycleStage { Environment = environment };
        if (fields.TryGetValue("max_evidence_age", out f) && _yaml.Seconds(f.Value, f.Path, MaxAgeSeconds) is { } age)
        {
            stage = stage with { MaxEvidenceAge = age };
        }
        if (fields.TryGetValue("approvals", out f) && _yaml.Int(f.Value, f.Path, 0, 100) is { } approvals)
        {
            stage = stage with { Approvals = approvals };
        }
        if (fields.TryGetValue("roles", out f) && ReadRoles(f.Value, f.Path) is { } roles)
        {
            stage = stage with { Roles = roles };
        }
        if (fields.TryGetValue("window", out f))
        {
            stage = stage with { Window = ReadWindow(f.Value, f.Path) };
        }
        if (fields.TryGetValue("rollout", out f) && ReadRollout(f.Value, f.Path, known ? env : null) is { } rollout)
        {
            stage = stage with { Rollout = rollout };
        }
        return stage;
    }

    private List<Role>? ReadRoles(YamlNode node, string path)
    {
        if (_yaml.StringList(node, path) is not { } list)
        {
            return null;
        }
        if (list.Count == 0)
        {
            _yaml.Report(node, path, $"at least one role is required ({string.Join(", ", RoleNames)})");
            return null;
        }
        var roles = new List<Role>();
        var ok = true;
        foreach (var (value, itemNode, itemPath) in list)
        {
            if (!RoleNames.Contains(value))
            {
                _yaml.Report(itemNode, itemPath, $"unknown role {Names.Show(value)} (expected {string.Join(", ", RoleNames)})"
                    + (YamlWalker.Suggest(value, RoleNames) is { } s ? $" (did you mean '{s}'?)" : ""));
                ok = false;
                continue;
            }
            var role = Enum.Parse<Role>(value, ignoreCase: true);
            if (!roles.Contains(role))
            {
                roles.Add(role);
            }
        }
        return ok ? roles : null;
    }

    private MaintenanceWindow? ReadWindow(YamlNode node, string path)
    {
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return null;
        }
        var fields = _yaml.Entries(mapping, path, WindowKeys).ToDictionary(e => e.Name, StringComparer.Ordinal);
        string? cron = null;
        if (!fields.TryGetValue("cron", out var f))
        {
            _yaml.Report(node, $"{path}.cron", "cron is required: when the window opens, e.g. \"0 2 * * 6\" (Saturdays 02:00)");
        }
        else if (_yaml.RequiredString(f.Value, f.Path) is { } text)
        {
            try
            {
                _ = MaintenanceWindow.ParseCron(text);
                cron = text;
            }
            catch (CronFormatException ex)
            {
                _yaml.Report(f.Value, f.Path, $"cron expression {Names.Show(text)} does not parse: {ex.Message} (five fields: minute hour day-of-month month day-of-week, or six with seconds first)");
            }
        }
        TimeSpan? duration = null;
        if (!fields.TryGetValue("duration", out f))
        {
            _yaml.Report(node, $"{path}.duration", "duration is required: how long the window stays open (e.g. 4h; at most 7d)");
        }
        else
        {
            duration = _yaml.Seconds(f.Value, f.Path, MaxWindowSeconds);
        }
        var zone = "UTC";
        var zoneOk = true;
        if (fields.TryGetValue("time_zone", out f) && _yaml.RequiredString(f.Value, f.Path) is { } id)
        {
            try
            {
                _ = TimeZoneInfo.FindSystemTimeZoneById(id);
                zone = id;
            }
            catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
            {
                _yaml.Report(f.Value, f.Path, $"unknown time zone {Names.Show(id)} (an IANA name such as UTC or Europe/Berlin)");
                zoneOk = false;
            }
        }
        return cron is not null && duration is { } d && zoneOk ? new MaintenanceWindow { Cron = cron, Duration = d, TimeZone = zone } : null;
    }

    private RolloutPolicy? ReadRollout(YamlNode node, string path, EnvironmentConfig? environment)
    {
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return null;
        }
        var policy = new RolloutPolicy();
        foreach (var (name, _, value, key) in _yaml.Entries(mapping, path, RolloutKeys))
        {
            switch (name)
            {
                case "canary" when _yaml.Int(value, key, 0, 100_000) is { } canary:
                    policy = policy with { Canary = canary };
                    break;
                case "batch" when _yaml.RequiredString(value, key) is { } batch:
                    if (ParseBatch(batch) is { } parsed)
                    {
                        policy = policy with { Batch = parsed.Size, BatchIsPercent = parsed.Percent };
                    }
                    else
                    {
                        _yaml.Report(value, key, $"expected a host count (1 or more) or a percentage from 1% to 100%, got '{batch}'");
                    }
                    break;
                case "parallel" when _yaml.Int(value, key, 1, 256) is { } parallel:
                    policy = policy with { Parallel = parallel };
                    break;
                case "max_failures" when _yaml.Int(value, key, 0, 100_000) is { } failures:
                    policy = policy with { MaxFailures = failures };
                    break;
                case "pause" when _yaml.Seconds(value, key, 86400, allowZero: true) is { } pause:
                    policy = policy with { Pause = pause };
                    break;
                case "settle" when _yaml.Seconds(value, key, 3600, allowZero: true) is { } settle:
                    policy = policy with { Settle = settle };
                    break;
                case "checks" when _yaml.StringList(value, key) is { } checks:
                    if (environment?.Checks is { } suiteName && _checks.TryGetValue(suiteName, out var suite))
                    {
                        foreach (var (check, itemNode, itemKey) in checks.Where(c => suite.Find(c.Value) is null))
                        {
                            var suggestion = YamlWalker.Suggest(check, suite.Checks.Select(c => c.Name));
                            _yaml.Report(itemNode, itemKey, $"suite '{suiteName}' of environment '{environment.Name}' has no check {Names.Show(check)}"
                                + (suggestion is not null ? $" (did you mean '{suggestion}'?)" : $" (known: {string.Join(", ", suite.Checks.Select(c => c.Name))})"));
                        }
                    }
                    policy = policy with { Checks = checks.Select(c => c.Value).ToList() };
                    break;
                case "rollback" when _yaml.RequiredString(value, key) is { } rollback:
                    switch (rollback)
                    {
                        case "batch": policy = policy with { RollbackOnFailure = RollbackScope.Batch }; break;
                        case "all": policy = policy with { RollbackOnFailure = RollbackScope.All }; break;
                        default:
                            _yaml.Report(value, key, $"rollback {Names.Show(rollback)} is not batch or all (batch: only the failed batch; all: every patched host)");
                            break;
                    }
                    break;
                default:
                    break;
            }
        }
        return policy;
    }

    internal static (int Size, bool Percent)? ParseBatch(string text)
    {
        var trimmed = text.Trim();
        var percent = trimmed.EndsWith('%');
        if (percent)
        {
            trimmed = trimmed[..^1].TrimEnd();
        }
        if (!int.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out var size) || size < 1 || (percent && size > 100))
        {
            return null;
        }
        return (size, percent);
    }

    private EmergencyLane ReadEmergency(YamlNode node, string path)
    {
        var lane = new EmergencyLane();
        if (_yaml.Mapping(node, path) is not { } mapping)
        {
            return lane;
        }
        foreach (var (name, _, value, key) in _yaml.Entries(mapping, path, EmergencyKeys))
        {
            switch (name)
            {
                case "max_clone_age" when _yaml.Seconds(value, key, MaxAgeSeconds) is { } age:
                    lane = lane with { MaxCloneAge = age };
                    break;
                case "roles" when ReadRoles(value, key) is { } roles:
                    lane = lane with { Roles = roles };
                    break;
                default:
                    break;
            }
        }
        return lane;
    }
}
