using Stageproof.Core.ConfigFiles;
using Stageproof.Core.Configuration;
using Stageproof.Core.Drift;
using Stageproof.Core.Manifests;
using Stageproof.Core.Patches;

namespace Stageproof.Core.Stage;

/// <summary>How unexpected changes weigh in a stage run: Failed (fail), Warned (warn) or Skipped (ignore: listed, never a reason).</summary>
public sealed record StagePolicy
{
    /// <summary>The category names of stage.policy in stageproof.yaml, in order.</summary>
    public static IReadOnlyList<string> Categories { get; } =
        ["unexpected_config", "unexpected_service", "permission_widened", "new_listening_port", "new_process", "new_log_errors",
         "other_package_file", "unowned_etc", "accounts", "scheduled", "kernel", "unexpected_other"];

    /// <summary>This policy with one category (a name of <see cref="Categories"/>) set.</summary>
    public StagePolicy With(string category, StepStatus status) => category switch
    {
        "unexpected_config" => this with { UnexpectedConfig = status },
        "unexpected_service" => this with { UnexpectedService = status },
        "permission_widened" => this with { PermissionWidened = status },
        "new_listening_port" => this with { NewListeningPort = status },
        "new_process" => this with { NewProcess = status },
        "new_log_errors" => this with { NewLogErrors = status },
        "other_package_file" => this with { OtherPackageFile = status },
        "unowned_etc" => this with { UnownedEtc = status },
        "accounts" => this with { Accounts = status },
        "scheduled" => this with { Scheduled = status },
        "kernel" => this with { Kernel = status },
        "unexpected_other" => this with { UnexpectedOther = status },
        _ => throw new ArgumentOutOfRangeException(nameof(category), category, null),
    };

    /// <summary>A tracked config file (or a key in it) the set does not declare, changed.</summary>
    public StepStatus UnexpectedConfig { get; init; } = StepStatus.Failed;
    /// <summary>A service that stopped or started.</summary>
    public StepStatus UnexpectedService { get; init; } = StepStatus.Failed;
    /// <summary>A tracked file that became group- or world-writable, setuid or setgid without the set declaring it.</summary>
    public StepStatus PermissionWidened { get; init; } = StepStatus.Failed;
    /// <summary>A port listening after the change that was not before: something new answers the network.</summary>
    public StepStatus NewListeningPort { get; init; } = StepStatus.Failed;
    /// <summary>A process the change started that still runs, which the set's <c>processes:</c> does not declare.</summary>
    public StepStatus NewProcess { get; init; } = StepStatus.Failed;
    /// <summary>Error lines in a log under /var/log that no check of the suite reads.</summary>
    public StepStatus NewLogErrors { get; init; } = StepStatus.Failed;
    /// <summary>An /etc file of a package the change does not install was changed or removed (a maintainer script
    /// editing another package's configuration).</summary>
    public StepStatus OtherPackageFile { get; init; } = StepStatus.Failed;
    /// <summary>An /etc file no package owns appeared or changed.</summary>
    public StepStatus UnownedEtc { get; init; } = StepStatus.Warned;
    /// <summary>A user or group was added or removed.</summary>
    public StepStatus Accounts { get; init; } = StepStatus.Warned;
    /// <summary>A cron file or an enabled unit / SysV link appeared, changed or went.</summary>
    public StepStatus Scheduled { get; init; } = StepStatus.Warned;
    /// <summary>A kernel module was loaded.</summary>
    public StepStatus Kernel { get; init; } = StepStatus.Warned;
    /// <summary>Anything else: a port that closed, a package the set did not bring, other file metadata, a process gone.</summary>
    public StepStatus UnexpectedOther { get; init; } = StepStatus.Warned;
}

/// <summary>
/// Splits what changed on a host from before a change to after it into what the patch set accounts for (its
/// packages and what apt brought with them, the files and keys it declares) and what it does not: a tracked config
/// value changed by a package's new conffile or defaults, a service that stopped, a port that moved.
/// </summary>
public static class ChangeClassifier
{
    public static IReadOnlyList<ChangeItem> Classify(string host, Manifest before, Manifest after, PatchSet set,
        HostPoint? point, DriftRules rules, StagePolicy policy)
    {
        var drift = DriftEngine.Compare(before, after, rules);
        var declaredPackages = set.Packages.ToDictionary(p => p.Name, p => p.Version, StringComparer.Ordinal);
        var brought = (point?.Packages ?? []).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var declaredFiles = PatchScope.Files(set).ToDictionary(f => f.Path, StringComparer.Ordinal);
        var beforeFiles = before.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var afterFiles = after.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var items = new List<ChangeItem>();

        ChangeItem Item(DriftItem d, bool expected, string why, StepStatus unexpectedStatus) => new()
        {
            Host = host,
            Category = d.Category.Code(),
            Key = d.Key,
            Before = d.Left,
            After = d.Right,
            Expected = expected,
            Why = why,
            Status = expected ? StepStatus.Passed : unexpectedStatus,
            Diff = d.Diff,
        };

        foreach (var d in drift.Items)
        {
            switch (d.Family)
            {
                case DriftFamily.Package:
                    if (declaredPackages.TryGetValue(d.Key, out var version))
                    {
                        var exact = d.Right == version;
                        items.Add(Item(d, exact, exact ? $"declared: {d.Key} = {version}" : $"declared {d.Key} = {version}, but it is {d.Right ?? "absent"}", policy.UnexpectedOther));
                    }
                    else
                    {
                        items.Add(Item(d, brought.Contains(d.Key), brought.Contains(d.Key)
                            ? "brought by the set's packages (apt resolved it)" : "a package the set does not name changed", policy.UnexpectedOther));
                    }
                    break;
                case DriftFamily.File when d.Category == DriftCategory.ConfigCosmetic:
                    items.Add(Item(d, false, $"cosmetic: only comments, whitespace, blank lines or order changed ({d.Format})", StepStatus.Passed) with
                    {
                        Cosmetic = true,
                    });
                    break;
                case DriftFamily.File when d.Category == DriftCategory.ConfigContent || d.Category == DriftCategory.ConfigMissing:
                    items.Add(ClassifyConfig(d, declaredFiles.GetValueOrDefault(d.Key), beforeFiles.GetValueOrDefault(d.Key), afterFiles.GetValueOrDefault(d.Key), Item, policy));
                    break;
                case DriftFamily.File:
                    var declaredMeta = declaredFiles.ContainsKey(d.Key);
                    if (!declaredMeta && Widened(beforeFiles.GetValueOrDefault(d.Key)?.Mode, afterFiles.GetValueOrDefault(d.Key)?.Mode) is { } widened)
                    {
                        items.Add(Item(d, false, $"permissions widened without the set declaring it: {widened}", policy.PermissionWidened));
                        break;
                    }
                    items.Add(Item(d, declaredMeta, declaredMeta ? "declared: the set writes this file" : "owner, group or mode changed without the set declaring it", policy.UnexpectedOther));
                    break;
                case DriftFamily.Service:
                    items.Add(Item(d, false, d.Right is not null && d.Right.Contains("running", StringComparison.Ordinal) && d.Left is not null
                        ? "a service started that was stopped" : "a service stopped or disappeared", policy.UnexpectedService));
                    break;
                case DriftFamily.Port when d.Left is null:
                    items.Add(Item(d, false, $"a new listening port the set does not declare ({d.Right})", policy.NewListeningPort));
                    break;
                default:
                    items.Add(Item(d, false, "not declared by the set", policy.UnexpectedOther));
                    break;
            }
        }
        return items;
    }

    private static ChangeItem ClassifyConfig(DriftItem d, PatchFile? declared, ConfigFileInfo? before, ConfigFileInfo? after,
        Func<DriftItem, bool, string, StepStatus, ChangeItem> item, StagePolicy policy)
    {
        // The values the file's format gives it; a file compared by bytes keeps the key = value reading (the one the
        // set's own edits use) to name what changed, where it finds any.
        var changedKeys = d.Values is { } values
            ? values.Select(v => new KeyValuePair<string, (string? Before, string? After)>(v.Key, (v.Before, v.After))).ToList()
            : ChangedKeys(before?.Content, after?.Content);
        if (declared is not null && declared.Set is null)
        {
            return item(d, true, "declared: the set writes this file's whole content", policy.UnexpectedConfig);
        }
        if (declared?.Set is { } edits)
        {
            var stray = changedKeys.Where(k => !edits.ContainsKey(k.Key)).ToList();
            return stray.Count == 0
                ? item(d, true, "declared: " + string.Join(", ", edits.Select(e => $"{e.Key} = {e.Value}")), policy.UnexpectedConfig)
                : item(d, false, "changed beyond the keys the set declares: " + Describe(stray), policy.UnexpectedConfig);
        }
        return item(d, false, changedKeys.Count > 0
            ? "tracked config changed, not declared by the set: " + Describe(changedKeys)
            : $"tracked config changed, not declared by the set ({d.Format ?? "compared by bytes"})", policy.UnexpectedConfig);
    }

    /// <summary>"0644 → 0666: world-writable" when the mode gained group or world write, setuid or setgid; else null.</summary>
    public static string? Widened(string? before, string? after)
    {
        if (before is null || after is null || !TryOctal(before, out var was) || !TryOctal(after, out var now))
        {
            return null;
        }
        var gained = now & ~was;
        var what = new List<string>();
        if ((gained & 0b010_000) != 0) what.Add("group-writable");
        if ((gained & 0b000_010) != 0) what.Add("world-writable");
        if ((gained & 0b100_000_000_000) != 0) what.Add("setuid");
        if ((gained & 0b010_000_000_000) != 0) what.Add("setgid");
        return what.Count == 0 ? null : $"{before} → {after}: {string.Join(", ", what)}";

        static bool TryOctal(string mode, out int value)
        {
            value = 0;
            if (mode.Length is 0 or > 5 || mode.Any(c => c is < '0' or > '7'))
            {
                return false;
            }
            value = Convert.ToInt32(mode, 8);
            return true;
        }
    }

    /// <summary>Keys whose value differs between two conf-style contents: key → (before, after).</summary>
    public static IReadOnlyList<KeyValuePair<string, (string? Before, string? After)>> ChangedKeys(string? before, string? after)
    {
        var b = PatchScope.ConfValues(before);
        var a = PatchScope.ConfValues(after);
        return b.Keys.Union(a.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Where(k => b.GetValueOrDefault(k) != a.GetValueOrDefault(k))
            .Select(k => new KeyValuePair<string, (string?, string?)>(k, (b.GetValueOrDefault(k), a.GetValueOrDefault(k))))
            .ToList();
    }

    private static string Describe(IEnumerable<KeyValuePair<string, (string? Before, string? After)>> keys) =>
        string.Join(", ", keys.Select(k => new ValueChange(k.Key, k.Value.Before, k.Value.After).Kind == "masked"
            ? $"{k.Key}: a masked secret (whether it changed cannot be seen)"
            : $"{k.Key}: {k.Value.Before ?? "unset"} → {k.Value.After ?? "unset"}"));
}
