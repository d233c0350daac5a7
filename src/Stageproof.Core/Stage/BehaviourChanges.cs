using Stageproof.Core.Drift;
using Stageproof.Core.Patches;
using Stageproof.Core.Validation;

namespace Stageproof.Core.Stage;

/// <summary>
/// What a change did to a host beyond its manifest (processes, logs, accounts, privileged files, cron, units, modules,
/// /etc files of every package), split into what the patch set accounts for and what it does not, each weighed by
/// the stage policy and named with its evidence.
/// </summary>
public static class BehaviourChanges
{
    /// <summary>/etc files that change whenever a library or the clock does: never evidence of anything.</summary>
    private static readonly HashSet<string> Volatile = new(StringComparer.Ordinal) { "/etc/ld.so.cache", "/etc/adjtime", "/etc/mtab" };

    /// <summary>The copies dpkg and ucf leave beside a conffile (the package's new version, the old one).</summary>
    private static readonly string[] ConffileCopies = [".dpkg-dist", ".dpkg-old", ".dpkg-new", ".dpkg-bak", ".ucf-dist", ".ucf-old", ".ucf-new"];

    /// <summary>The conffile a dpkg or ucf copy stands beside, or null.</summary>
    private static string? ConffileOf(string path) =>
        ConffileCopies.FirstOrDefault(s => path.EndsWith(s, StringComparison.Ordinal)) is { } suffix ? path[..^suffix.Length] : null;

    /// <summary>The categories a <c>stage.allow</c> rule may name, each with a glob on the finding's key.</summary>
    public static IReadOnlyList<string> AllowCategories { get; } = ["process", "log", "account", "privileged", "cron", "unit", "module", "etc"];

    /// <param name="changedPackages">The packages the change installed or upgraded (the set's and what apt brought).</param>
    /// <param name="judged">Paths the manifest comparison already classified (tracked files): not judged twice.</param>
    /// <param name="allow"><c>stage.allow</c>: "category:glob" rules for what a host is known to do whatever the set.</param>
    public static IReadOnlyList<ChangeItem> Classify(string host, HostBehaviour before, HostBehaviour after, PatchSet set,
        IReadOnlySet<string> changedPackages, IReadOnlySet<string> judged, IgnoreRules ignore, StagePolicy policy,
        IReadOnlyList<string>? allow = null)
    {
        var items = ClassifyAll(host, before, after, set, changedPackages, judged, ignore, policy);
        if (allow is not { Count: > 0 })
        {
            return items;
        }
        return items.Select(i => !i.Unexpected ? i : allow.FirstOrDefault(r => Allows(r, i)) is { } rule
            ? i with { Expected = true, Status = StepStatus.Passed, Why = $"allowed by stage.allow {rule} ({i.Why})" }
            : i).ToList();
    }

    /// <summary>Whether "category:glob" matches a finding: the glob against its key (a process's command line, or its program's name).</summary>
    private static bool Allows(string rule, ChangeItem item)
    {
        var colon = rule.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || rule[..colon] != item.Category)
        {
            return false;
        }
        var glob = rule[(colon + 1)..];
        var key = item.Category == "account" ? item.Key[(item.Key.IndexOf(' ', StringComparison.Ordinal) + 1)..] : item.Key;
        return ProcessGlob(glob, key)
            || (item.Category == "process" && ProcessGlob(glob, Path.GetFileName(key.Split(' ', 2)[0])));
    }

    private static List<ChangeItem> ClassifyAll(string host, HostBehaviour before, HostBehaviour after, PatchSet set,
        IReadOnlySet<string> changedPackages, IReadOnlySet<string> judged, IgnoreRules ignore, StagePolicy policy)
    {
        var items = new List<ChangeItem>();
        var declaredFiles = PatchScope.Files(set).Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        bool Ignored(string path) => ignore.IsIgnored(DriftFamily.File, path);
        string? OwnerOf(string path) => after.Owners.GetValueOrDefault(path) ?? before.Owners.GetValueOrDefault(path);
        string? ChangedOwner(string path) => OwnerOf(path) is { } owner && changedPackages.Contains(owner) ? owner : null;

        ChangeItem Item(string category, string key, string? was, string? now, bool expected, string why, StepStatus unexpected) => new()
        {
            Host = host, Category = category, Key = key, Before = was, After = now, Expected = expected, Why = why,
            Status = expected ? StepStatus.Passed : unexpected,
        };

        // Processes: one the change started that still runs, unless the set declares it.
        foreach (var p in NewProcesses(before, after))
        {
            var declared = set.Processes?.FirstOrDefault(g => ProcessGlob(g, Path.GetFileName(p.Executable)) || ProcessGlob(g, p.CommandLine));
            items.Add(Item("process", p.CommandLine, null, $"{p.User}: {p.CommandLine} ({p.Executable})", declared is not null,
                declared is not null ? $"declared by the set's processes: {declared}" : "a new long-running process the set does not declare (processes:)",
                policy.NewProcess));
        }
        var has = after.Processes.Select(p => p.Identity).ToHashSet(StringComparer.Ordinal);
        foreach (var p in before.Processes.Where(p => !has.Contains(p.Identity)).DistinctBy(p => p.Identity))
        {
            items.Add(Item("process", p.CommandLine, $"{p.User}: {p.CommandLine} ({p.Executable})", null, false,
                "a process that ran before the change is gone", policy.UnexpectedOther));
        }

        // Logs no check reads that gained error lines.
        foreach (var log in after.LogErrors.Where(e => !Ignored(e.Path)).GroupBy(e => e.Path))
        {
            var lines = log.ToList();
            items.Add(Item("log", log.Key, null, $"{lines.Count} new error line(s), first: {lines[0].Line.Trim()}", false,
                "new error lines in a log no check reads", policy.NewLogErrors));
        }

        // Accounts.
        foreach (var (kind, was, now) in new[] { ("user", before.Users, after.Users), ("group", before.Groups, after.Groups) })
        {
            foreach (var name in now.Except(was, StringComparer.Ordinal))
            {
                items.Add(Item("account", $"{kind} {name}", null, name, false, $"a {kind} was added", policy.Accounts));
            }
            foreach (var name in was.Except(now, StringComparer.Ordinal))
            {
                items.Add(Item("account", $"{kind} {name}", name, null, false, $"a {kind} was removed", policy.Accounts));
            }
        }

        // setuid, setgid and world-writable files, wherever they are.
        var privilegedBefore = before.Privileged.ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (var f in after.Privileged.Where(f => !judged.Contains(f.Path) && !Ignored(f.Path)))
        {
            var was = privilegedBefore.GetValueOrDefault(f.Path);
            var what = was is null ? Privileges(f.Mode) : ChangeClassifier.Widened(was.Mode.PadLeft(4, '0'), f.Mode.PadLeft(4, '0'));
            if (what is null || (was is not null && was.Mode == f.Mode))
            {
                continue;
            }
            var owner = ChangedOwner(f.Path);
            items.Add(Item("privileged", f.Path, was?.Mode, $"{f.Mode} {f.Owner}", owner is not null,
                owner is not null ? $"a file of {owner}, which the change installs: {what}"
                    : was is null ? $"a new {what} file the set does not account for" : $"permissions widened: {what}",
                policy.PermissionWidened));
        }

        // Scheduled work: cron files and enabled units (systemd links, SysV rc links).
        foreach (var (key, wasHash, nowHash) in Changed(before.Cron, after.Cron).Where(c => !Ignored(c.Key)))
        {
            var (was, now) = (wasHash is null ? null : "md5 " + wasHash, nowHash is null ? null : "md5 " + nowHash);
            var owner = ChangedOwner(key);
            items.Add(Item("cron", key, was, now, owner is not null,
                owner is not null ? $"a cron file of {owner}, which the change installs" : $"a cron file was {Verb(was, now)}", policy.Scheduled));
        }
        foreach (var (key, was, now) in Changed(before.Units, after.Units))
        {
            var target = now ?? was!;
            var owner = ChangedOwner(target.StartsWith("../", StringComparison.Ordinal) ? "/etc/" + target[3..] : target);
            items.Add(Item("unit", key, was, now, owner is not null,
                owner is not null ? $"enables a service of {owner}, which the change installs" : $"a unit or init link was {Verb(was, now)}", policy.Scheduled));
        }

        foreach (var module in after.Modules.Except(before.Modules, StringComparer.Ordinal))
        {
            items.Add(Item("module", module, null, "loaded", false, "a kernel module was loaded", policy.Kernel));
        }

        // /etc: another package's file edited, or a file no package owns appearing or changing.
        foreach (var (path, wasHash, nowHash) in Changed(before.Etc, after.Etc))
        {
            var (was, now) = (wasHash is null ? null : "md5 " + wasHash, nowHash is null ? null : "md5 " + nowHash);
            if (judged.Contains(path) || Ignored(path) || Volatile.Contains(path) || after.Cron.ContainsKey(path) || before.Cron.ContainsKey(path))
            {
                continue;
            }
            var owner = OwnerOf(path);
            if (owner is null && ConffileOf(path) is { } conffile && ChangedOwner(conffile) is { } of)
            {
                items.Add(Item("etc", path, was, now, true, $"dpkg's copy beside {conffile}, a conffile of {of}, which the change installs", policy.UnownedEtc));
            }
            else if (declaredFiles.Contains(path))
            {
                items.Add(Item("etc", path, was, now, true, "declared: the set writes this file", policy.UnownedEtc));
            }
            else if (owner is not null && changedPackages.Contains(owner))
            {
                items.Add(Item("etc", path, was, now, true, $"a file of {owner}, which the change installs", policy.UnownedEtc));
            }
            else if (owner is not null)
            {
                items.Add(Item("etc", path, was, now, false, $"a file of {owner}, a package the change does not touch, was {Verb(was, now)}", policy.OtherPackageFile));
            }
            else
            {
                items.Add(Item("etc", path, was, now, false, $"a file no package owns was {Verb(was, now)}", policy.UnownedEtc));
            }
        }
        return items;
    }

    /// <summary>
    /// What a rollback left behind that was not there before the change: a process still running, a setuid or
    /// world-writable file, a user, a cron file, a unit link, an /etc file no package owns, an /etc file of a package
    /// the change did not install still edited (<paramref name="changedPackages"/>: the packages it installed).
    /// </summary>
    public static IReadOnlyList<string> Residue(string host, HostBehaviour before, HostBehaviour after, IgnoreRules ignore,
        IReadOnlySet<string>? changedPackages = null)
    {
        var residue = new List<string>();
        residue.AddRange(NewProcesses(before, after).Select(p => $"{host}: process still running after the rollback: {p.User}: {p.CommandLine}"));
        var privileged = before.Privileged.Select(f => f.Path + " " + f.Mode).ToHashSet(StringComparer.Ordinal);
        residue.AddRange(after.Privileged.Where(f => !privileged.Contains(f.Path + " " + f.Mode) && !ignore.IsIgnored(DriftFamily.File, f.Path))
            .Select(f => $"{host}: {Privileges(f.Mode) ?? "privileged"} file left by the change: {f.Path} ({f.Mode})"));
        residue.AddRange(after.Users.Except(before.Users, StringComparer.Ordinal).Select(u => $"{host}: user left by the change: {u}"));
        residue.AddRange(after.Cron.Keys.Except(before.Cron.Keys, StringComparer.Ordinal).Select(c => $"{host}: cron file left by the change: {c}"));
        residue.AddRange(after.Units.Keys.Except(before.Units.Keys, StringComparer.Ordinal).Select(u => $"{host}: unit link left by the change: {u}"));
        residue.AddRange(after.Etc.Keys.Except(before.Etc.Keys, StringComparer.Ordinal)
            .Where(p => !after.Owners.ContainsKey(p) && !Volatile.Contains(p) && ConffileOf(p) is null && !ignore.IsIgnored(DriftFamily.File, p))
            .Select(p => $"{host}: /etc file no package owns, left by the change: {p}"));
        if (changedPackages is not null)
        {
            // A package the change installed may keep its new conffile after a downgrade, as dpkg does; another's may not change at all.
            residue.AddRange(Changed(before.Etc, after.Etc)
                .Where(c => c.Before is not null && c.After is not null && !Volatile.Contains(c.Key) && !ignore.IsIgnored(DriftFamily.File, c.Key)
                            && (after.Owners.GetValueOrDefault(c.Key) ?? before.Owners.GetValueOrDefault(c.Key)) is { } owner && !changedPackages.Contains(owner))
                .Select(c => $"{host}: {c.Key}, a file of {after.Owners.GetValueOrDefault(c.Key) ?? before.Owners[c.Key]}, is still edited after the rollback"));
        }
        return residue;
    }

    /// <summary>Processes in <paramref name="after"/> that were not in <paramref name="before"/>, each tree once: a new
    /// process's own children (the helper's `sleep`) are part of it, not findings of their own.</summary>
    private static IEnumerable<BehaviourProcess> NewProcesses(HostBehaviour before, HostBehaviour after)
    {
        var had = before.Processes.Select(p => p.Identity).ToHashSet(StringComparer.Ordinal);
        var fresh = after.Processes.Where(p => !had.Contains(p.Identity)).ToList();
        var freshPids = fresh.Where(p => p.Pid > 0).Select(p => p.Pid).ToHashSet();
        return fresh.Where(p => !freshPids.Contains(p.ParentPid)).DistinctBy(p => p.Identity);
    }

    /// <summary>Whether a path is tracked (drift.track globs): such files are judged by the manifest comparison.</summary>
    public static bool Tracked(IReadOnlyList<string> track, string path) => track.Any(t => Glob.IsMatch(t, path));

    /// <summary>A processes: or stage.allow glob: * is any text (slashes included, as command lines and paths have them), ? one character.</summary>
    private static bool ProcessGlob(string glob, string text) => Wildcard.IsMatch(glob, text);

    /// <summary>"setuid, world-writable" for a mode that has those bits; null when it has none of them.</summary>
    private static string? Privileges(string mode)
    {
        if (mode.Length == 0 || mode.Any(c => c is < '0' or > '7'))
        {
            return null;
        }
        var bits = Convert.ToInt32(mode, 8);
        var what = new List<string>();
        if ((bits & 0b100_000_000_000) != 0) what.Add("setuid");
        if ((bits & 0b010_000_000_000) != 0) what.Add("setgid");
        if ((bits & 0b000_000_000_010) != 0) what.Add("world-writable");
        return what.Count == 0 ? null : string.Join(", ", what);
    }

    private static string Verb(string? was, string? now) => was is null ? "added" : now is null ? "removed" : "changed";

    private static IEnumerable<(string Key, string? Before, string? After)> Changed(IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after) =>
        before.Keys.Union(after.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(k => (Key: k, Before: before.GetValueOrDefault(k), After: after.GetValueOrDefault(k)))
            .Where(c => c.Before != c.After);
}
