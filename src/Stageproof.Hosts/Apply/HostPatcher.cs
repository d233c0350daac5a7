using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Stageproof.Core;
using Stageproof.Core.Hosts;
using Stageproof.Core.Patches;
using Stageproof.Core.Validation;

namespace Stageproof.Hosts.Apply;

/// <summary>A package apt will change: <see cref="OldVersion"/> null when it is newly installed.</summary>
public sealed record PackageChange(string Name, string? OldVersion, string NewVersion);

/// <summary>A step on a host that ran and failed: the host is reachable, the step said no.</summary>
public sealed class StepFailedException(string host, string step, string message) : StageproofException($"{host}: {step}: {message}", ExitCodes.Finding)
{
    public string Host { get; } = host;
    public string Step { get; } = step;
}

/// <summary>
/// The host side of applying and rolling back a patch set. Every command is a constant script or a quoted
/// program line (<see cref="RemoteCommand"/>); package names, versions and paths were validated when the set was frozen
/// and are validated again here before they reach a host.
/// </summary>
public sealed partial class HostPatcher(ITransport transport, TimeSpan commandTimeout)
{
    /// <summary>Where rollback points live on a host.</summary>
    public const string RollbackRoot = "/var/lib/stageproof/rollback";

    private static readonly TimeSpan PackageTimeout = TimeSpan.FromMinutes(15);

    public string Host => transport.HostName;

    /// <summary>apt options naming the sources apt may use (a snapshot repository's); empty for the host's own sources.</summary>
    public IReadOnlyList<string> AptOptions { get; init; } = [];

    /// <summary>The conffiles dpkg knows for the installed ones of <paramref name="packages"/>.</summary>
    public async Task<IReadOnlyList<string>> ConffilesAsync(IEnumerable<string> packages, CancellationToken ct)
    {
        var names = packages.Select(CheckedPackage).ToList();
        if (names.Count == 0)
        {
            return [];
        }
        // Not-installed packages make dpkg-query exit 1; what it printed for the others still counts.
        var r = await RunAsync(RemoteCommand.Exec("dpkg-query", new[] { "-W", "-f=${Conffiles}\\n" }.Concat(names)), commandTimeout, ct).ConfigureAwait(false);
        return r.StandardOutput.Split('\n')
            .Select(l => l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 2 && f[0].StartsWith('/') && Names.IsSafeAbsolutePath(f[0]) && f[^1] != "obsolete")
            .Select(f => f[0]).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    private const string SaveFilesScript = """
        set -u
        dir=$1; shift
        mkdir -p "$dir" && chmod 0700 "$dir" || exit 1
        : > "$dir/files.list"; : > "$dir/absent.list"
        nl='
        '
        IFS=$nl
        for pat in "$@"; do
          found=
          for f in $pat; do
            if [ -f "$f" ] || [ -L "$f" ]; then printf '%s\n' "$f" >> "$dir/files.list"; found=1; fi
          done
          case $pat in
            *[*?[]*) ;;
            *) [ -z "$found" ] && printf '%s\n' "$pat" >> "$dir/absent.list" ;;
          esac
        done
        sort -u -o "$dir/files.list" "$dir/files.list"
        sort -u -o "$dir/absent.list" "$dir/absent.list"
        if [ -s "$dir/files.list" ]; then
          tar -cpPf "$dir/files.tar" --no-recursion --verbatim-files-from -T "$dir/files.list" || exit 1
        fi
        sed 's/^/FILE /' "$dir/files.list"
        sed 's/^/ABSENT /' "$dir/absent.list"
        """;

    /// <summary>Saves every file matching <paramref name="patterns"/> (owner, mode and content) into the point's
    /// directory; literal paths that do not exist are recorded so a rollback removes them.</summary>
    public async Task<(IReadOnlyList<string> Saved, IReadOnlyList<string> Absent)> SaveFilesAsync(string directory,
        IEnumerable<string> patterns, CancellationToken ct)
    {
        var r = await RunAsync(RemoteCommand.Script("stageproof-save-files", SaveFilesScript,
            new[] { CheckedPath(directory) }.Concat(patterns.Select(CheckedPattern))), commandTimeout, ct).ConfigureAwait(false);
        Require(r, "rollback-point", "saving files");
        var saved = Lines(r.StandardOutput, "FILE ");
        var absent = Lines(r.StandardOutput, "ABSENT ");
        return (saved, absent);
    }

    /// <summary>Refreshes apt's package lists.</summary>
    public async Task UpdatePackageListsAsync(CancellationToken ct) =>
        Require(await RunAsync(RemoteCommand.Exec("apt-get", [.. AptOptions, "update", "-q"]), PackageTimeout, ct).ConfigureAwait(false),
            "packages", "apt-get update");

    /// <summary>What apt would change to install exactly <paramref name="packages"/>, without changing anything.</summary>
    public async Task<IReadOnlyList<PackageChange>> SimulateAsync(IReadOnlyList<PatchPackage> packages, CancellationToken ct)
    {
        if (packages.Count == 0)
        {
            return [];
        }
        var r = await RunAsync(RemoteCommand.Exec("apt-get",
            new[] { "-s", "-q", "-o", "Debug::NoLocking=1" }.Concat(AptOptions).Concat(["--allow-downgrades", "--no-install-recommends", "install"])
                .Concat(packages.Select(Spec))), commandTimeout, ct).ConfigureAwait(false);
        Require(r, "packages", "apt cannot install " + string.Join(" ", packages.Select(Spec)));
        return ParseSimulation(r.StandardOutput);
    }

    /// <summary>Parses apt-get -s output: "Inst NAME [OLD] (NEW ...)" and "Remv NAME [OLD]".</summary>
    public static IReadOnlyList<PackageChange> ParseSimulation(string output)
    {
        var changes = new List<PackageChange>();
        foreach (var line in output.Split('\n'))
        {
            var m = SimulatedInstall().Match(line);
            if (m.Success)
            {
                changes.Add(new PackageChange(m.Groups["name"].Value,
                    m.Groups["old"].Success ? m.Groups["old"].Value : null, m.Groups["new"].Value));
            }
        }
        return changes;
    }

    [GeneratedRegex(@"^Inst (?<name>[a-z0-9][a-z0-9+.-]*)(?::[a-z0-9]+)? (?:\[(?<old>[^\]\s]+)\] )?\((?<new>\S+)")]
    private static partial Regex SimulatedInstall();

    private const string KeepDebsScript = """
        set -u
        dir=$1; sub=$2; extra=$3; shift 3
        mkdir -p "$dir/$sub" && cd "$dir/$sub" || exit 1
        for spec in "$@"; do
          name=${spec%%=*}; ver=${spec#*=}
          file=$(printf '%s_%s_' "$name" "$ver" | sed 's/:/%3a/g')
          kept=
          for d in /var/cache/apt/archives "$extra"; do
            [ -n "$d" ] || continue
            for c in "$d"/"$file"*.deb; do
              if [ -f "$c" ]; then cp -p "$c" . && kept=$(basename "$c"); break 2; fi
            done
          done
          if [ -z "$kept" ]; then
            if apt-get download -q "$name=$ver" >download.log 2>&1; then
              for c in "$file"*.deb; do [ -f "$c" ] && kept=$c; done
            fi
          fi
          if [ -n "$kept" ]; then
            printf 'KEPT %s %s %s\n' "$name" "$ver" "$dir/$sub/$kept"
          else
            printf 'MISSING %s %s %s\n' "$name" "$ver" "$(tail -n 1 download.log 2>/dev/null)"
          fi
        done
        rm -f download.log
        """;

    /// <summary>Keeps the exact installed .deb of every package about to change (from apt's cache, else from a
    /// snapshot's kept previous versions in <paramref name="previousDirectory"/>, else downloaded while the mirror still
    /// serves it). A package that cannot be kept is named: its downgrade could not be promised.</summary>
    public async Task<IReadOnlyList<PackagePoint>> KeepOldPackagesAsync(string directory, IReadOnlyList<PackageChange> changes, CancellationToken ct,
        string? previousDirectory = null)
    {
        var upgrades = changes.Where(c => c.OldVersion is not null).ToList();
        var kept = await FetchDebsAsync(directory, "debs", previousDirectory, upgrades.Select(c => new PatchPackage(c.Name, c.OldVersion!)).ToList(),
            "rollback-point", "keeping the installed packages", "cannot keep the installed version of {0}: it is in neither apt's cache nor the mirror, so a downgrade could not be promised", ct)
            .ConfigureAwait(false);
        return changes.Select(c => new PackagePoint(c.Name, c.OldVersion, c.NewVersion,
            c.OldVersion is null ? null : kept.GetValueOrDefault(c.Name))).ToList();
    }

    /// <summary>Puts the .deb of each of <paramref name="packages"/> (exact versions) into <paramref name="directory"/>/<paramref name="sub"/>:
    /// from apt's cache, a snapshot's directory or the host's sources. Name → path on the host; any it cannot find fails the step.</summary>
    public async Task<IReadOnlyDictionary<string, string>> FetchDebsAsync(string directory, string sub, string? extraDirectory,
        IReadOnlyList<PatchPackage> packages, string step, string what, string missingFormat, CancellationToken ct)
    {
        var kept = new Dictionary<string, string>(StringComparer.Ordinal);
        if (packages.Count > 0)
        {
            var r = await RunAsync(RemoteCommand.Script("stageproof-keep-debs", KeepDebsScript,
                new[] { CheckedPath(directory), sub, extraDirectory is null ? "" : CheckedPath(extraDirectory) }.Concat(packages.Select(Spec))),
                PackageTimeout, ct).ConfigureAwait(false);
            Require(r, step, what);
            var missing = new List<string>();
            foreach (var line in r.StandardOutput.Split('\n'))
            {
                var f = line.Split(' ', 4);
                if (f.Length == 4 && f[0] == "KEPT")
                {
                    kept[f[1]] = f[3].Trim();
                }
                else if (f.Length >= 3 && f[0] == "MISSING")
                {
                    missing.Add($"{f[1]} {f[2]}{(f.Length == 4 && f[3].Length > 0 ? " (" + f[3].Trim() + ")" : "")}");
                }
            }
            if (missing.Count > 0)
            {
                throw new StepFailedException(Host, step, string.Format(CultureInfo.InvariantCulture, missingFormat, string.Join(", ", missing)));
            }
        }
        return kept;
    }

    private const string PullDebsScript = """
        set -u
        for f in "$@"; do
          fields=$(dpkg-deb --show --showformat='${Package} ${Version} ${Architecture}' "$f") || exit 1
          sum=$(sha256sum < "$f") || exit 1
          printf 'DEB %s %s %s %s\n' "$fields" "${sum%% *}" "$(wc -c < "$f")" "$f"
          base64 -w0 < "$f" || exit 1
          printf '\n'
        done
        """;

    /// <summary>The .debs at <paramref name="paths"/> on the host: their control fields, SHA-256 and bytes (carried as base64).</summary>
    public async Task<IReadOnlyList<(ClosureDeb Deb, byte[] Bytes)>> PullDebsAsync(IReadOnlyList<string> paths, CancellationToken ct)
    {
        if (paths.Count == 0)
        {
            return [];
        }
        var r = await RunAsync(RemoteCommand.Script("stageproof-pull-debs", PullDebsScript, paths.Select(CheckedPath)), PackageTimeout, ct).ConfigureAwait(false);
        Require(r, "closure", "reading the .debs apt chose");
        var lines = r.StandardOutput.Split('\n');
        var debs = new List<(ClosureDeb, byte[])>();
        for (var i = 0; i + 1 < lines.Length; i++)
        {
            var f = lines[i].Split(' ', 7);
            if (f.Length < 6 || f[0] != "DEB")
            {
                continue;
            }
            var deb = new ClosureDeb(CheckedPackage(f[1]), CheckedVersion(f[2]), f[3], f[4], long.Parse(f[5], CultureInfo.InvariantCulture));
            var bytes = Convert.FromBase64String(lines[++i].Trim());
            var found = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
            if (found != deb.Sha256 || bytes.LongLength != deb.Size)
            {
                throw new StepFailedException(Host, "closure", $"{deb.Spec}: the host hashed it {deb.Sha256}, the bytes that arrived hash {found}");
            }
            debs.Add((deb, bytes));
        }
        if (debs.Count != paths.Count)
        {
            throw new StepFailedException(Host, "closure", $"read {debs.Count.ToString(CultureInfo.InvariantCulture)} of {paths.Count.ToString(CultureInfo.InvariantCulture)} .debs");
        }
        return debs;
    }

    private const string ReceiveSnapshotScript = """
        set -u
        dir=$1; shift
        rm -rf "$dir.new" && mkdir -p "$dir.new" && tar -x -o -C "$dir.new" -f - || exit 1
        bad=0
        while [ $# -ge 2 ]; do
          sum=$(sha256sum < "$dir.new/$1" 2>/dev/null) || sum=missing
          if [ "${sum%% *}" != "$2" ]; then printf 'MISMATCH %s %s %s\n' "$1" "$2" "${sum%% *}"; bad=1; fi
          shift 2
        done
        if [ "$bad" -ne 0 ]; then rm -rf "$dir.new"; exit 4; fi
        mkdir -p "$dir.new/lists/partial" "$dir.new/parts.d" && chmod -R a+rX "$dir.new" || exit 1
        rm -rf "$dir" && mv "$dir.new" "$dir"
        """;

    // The host holds the snapshot when its directory has exactly these files (lists/ and parts.d/ aside) with these
    // hashes. Then lists/ and parts.d/ are made empty again, so apt finds the directory as a fresh receive leaves it.
    private const string HeldSnapshotScript = """
        set -u
        dir=$1; count=$2; shift 2
        [ -d "$dir" ] || exit 3
        [ "$(find "$dir" ! -type d ! -path "$dir/lists/*" ! -path "$dir/parts.d/*" | wc -l)" -eq "$count" ] || exit 3
        while [ $# -ge 2 ]; do
          [ -f "$dir/$1" ] && [ ! -L "$dir/$1" ] || exit 3
          sum=$(sha256sum < "$dir/$1") || exit 3
          [ "${sum%% *}" = "$2" ] || exit 3
          shift 2
        done
        rm -rf "$dir/lists" "$dir/parts.d" && mkdir -p "$dir/lists/partial" "$dir/parts.d" && chmod -R a+rX "$dir" || exit 3
        echo HELD
        """;

    /// <summary>Unpacks a snapshot repository into <paramref name="directory"/> and checks every .deb in it against
    /// its recorded SHA-256 before apt may read it; a mismatch fails the step naming the package and both hashes.
    /// With <paramref name="contents"/> (every file of the tar and its SHA-256), a host whose directory already holds
    /// exactly those files is not sent the tar again (a reapply, a retried host); returns true then. A copy that differs
    /// in any file, or has one more or one less, is replaced by the tar as if it were not there.</summary>
    public async Task<bool> ReceiveSnapshotAsync(string directory, byte[] tar, IReadOnlyList<(string Path, ClosureDeb Deb)> files, CancellationToken ct,
        IReadOnlyList<(string Path, string Sha256)>? contents = null)
    {
        if (contents is { Count: > 0 })
        {
            var probe = new List<string> { CheckedPath(directory), contents.Count.ToString(CultureInfo.InvariantCulture) };
            foreach (var (path, sha256) in contents)
            {
                // Paths of our own tar, relative to the directory; a name that could leave it is not probed.
                if (path.Length == 0 || path.StartsWith('/') || path.Split('/').Contains("..") || path.Any(char.IsControl))
                {
                    throw new InvalidOperationException($"snapshot file {Names.Show(path)} is not a path inside the snapshot");
                }
                probe.Add(path);
                probe.Add(sha256);
            }
            var held = await RunAsync(RemoteCommand.Script("stageproof-held-snapshot", HeldSnapshotScript, probe), PackageTimeout, ct).ConfigureAwait(false);
            if (held.Succeeded && held.StandardOutput.Trim() == "HELD")
            {
                return true;
            }
        }
        var args = new List<string> { CheckedPath(directory) };
        foreach (var (path, deb) in files)
        {
            args.Add(path);
            args.Add(deb.Sha256);
        }
        var r = await RunAsync(RemoteCommand.Script("stageproof-receive-snapshot", ReceiveSnapshotScript, args), PackageTimeout, ct, tar).ConfigureAwait(false);
        var mismatches = r.StandardOutput.Split('\n').Select(l => l.Split(' ')).Where(f => f.Length == 4 && f[0] == "MISMATCH")
            .Select(f => $"{files.First(x => x.Path == f[1]).Deb.Spec}: expected SHA-256 {f[2]}, found {f[3]}").ToList();
        if (mismatches.Count > 0)
        {
            throw new StepFailedException(Host, "snapshot", "the snapshot's .debs on the host are not the proven bytes: " + string.Join("; ", mismatches) + " (nothing was installed)");
        }
        Require(r, "snapshot", "unpacking the snapshot repository");
        return false;
    }

    /// <summary>Runs an operator's command from the patch set (its text is the operator's shell, by design) with its timeout.</summary>
    public async Task RunPatchCommandAsync(string phase, PatchCommand command, CancellationToken ct)
    {
        var timeout = command.TimeoutSeconds is { } s ? TimeSpan.FromSeconds(s) : commandTimeout;
        var r = await RunAsync(RemoteCommand.Script("stageproof-" + phase, "exec sh -c \"$1\"", command.Run), timeout, ct).ConfigureAwait(false);
        Require(r, phase + "-commands", $"'{command.Run}' exited {r.ExitCode.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>Installs exactly the given versions, non-interactively, with an explicit conffile policy; then checks,
    /// in the same query, that each is installed at its version and that every package of <paramref name="alsoAt"/> (a
    /// proven closure) the host has is at the version given there.</summary>
    public async Task InstallAsync(IReadOnlyList<PatchPackage> packages, ConffilePolicy conffiles, CancellationToken ct,
        IReadOnlyList<PatchPackage>? alsoAt = null)
    {
        if (packages.Count == 0)
        {
            return;
        }
        var r = await RunAsync(RemoteCommand.Exec("env",
            new[]
            {
                "DEBIAN_FRONTEND=noninteractive", "apt-get", "-y", "-q", "--allow-downgrades", "--no-install-recommends",
            }.Concat(AptOptions).Concat(new[]
            {
                // A dpkg left running by a killed Stageproof (its SSH session gone) finishes first: wait for its lock.
                "-o", "DPkg::Lock::Timeout=120",
                "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=" + ConffileOption(conffiles), "install",
            }).Concat(packages.Select(Spec))), PackageTimeout, ct).ConfigureAwait(false);
        Require(r, "packages", "apt-get install failed");
        var closure = alsoAt ?? [];
        var installed = await InstalledVersionsAsync(packages.Concat(closure).Select(p => p.Name).Distinct(StringComparer.Ordinal), ct).ConfigureAwait(false);
        var wrong = packages.Where(p => installed.GetValueOrDefault(p.Name) != (p.Version, true))
            .Select(p => $"{p.Name} is {Describe(installed.GetValueOrDefault(p.Name))}, not {p.Version}").ToList();
        if (wrong.Count > 0)
        {
            throw new StepFailedException(Host, "packages", string.Join("; ", wrong));
        }
        var offClosure = closure.Where(p => installed.TryGetValue(p.Name, out var v) && v != (p.Version, true))
            .Select(p => $"{p.Name} is {Describe(installed[p.Name])}, the proven closure has {p.Version}").ToList();
        if (offClosure.Count > 0)
        {
            throw new StepFailedException(Host, "verify", string.Join("; ", offClosure));
        }
    }

    /// <summary>Installed version of each package and whether it is fully installed ("ii").</summary>
    public async Task<IReadOnlyDictionary<string, (string Version, bool Ok)>> InstalledVersionsAsync(IEnumerable<string> packages, CancellationToken ct)
    {
        var r = await RunAsync(RemoteCommand.Exec("dpkg-query",
            new[] { "-W", "-f=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n" }.Concat(packages.Select(CheckedPackage))), commandTimeout, ct)
            .ConfigureAwait(false);
        var result = new Dictionary<string, (string, bool)>(StringComparer.Ordinal);
        foreach (var line in r.StandardOutput.Split('\n'))
        {
            var f = line.Split('\t');
            if (f.Length == 3 && f[1].Length > 0)
            {
                result[f[0]] = (f[1], f[2].Trim() == "ii");
            }
        }
        return result;
    }

    private static string Describe((string Version, bool Ok) state) =>
        state.Version is null ? "not installed" : state.Ok ? state.Version : $"{state.Version} (not configured)";

    private const string WriteFileScript = """
        set -u
        path=$1; owner=$2; group=$3; mode=$4
        tmp=$(mktemp "$path.stageproof.XXXXXX") || exit 1
        cat > "$tmp" || { rm -f "$tmp"; exit 1; }
        if [ -e "$path" ]; then
          chown --reference="$path" "$tmp" && chmod --reference="$path" "$tmp"
        else
          chmod 0644 "$tmp"
        fi
        if [ -n "$owner" ]; then chown "$owner" "$tmp" || { rm -f "$tmp"; exit 1; }; fi
        if [ -n "$group" ]; then chgrp "$group" "$tmp" || { rm -f "$tmp"; exit 1; }; fi
        if [ -n "$mode" ]; then chmod "$mode" "$tmp" || { rm -f "$tmp"; exit 1; }; fi
        mv -f "$tmp" "$path"
        """;

    private const string EditFileScript = """
        set -u
        path=$1; shift
        [ -f "$path" ] || { echo "$path does not exist" >&2; exit 1; }
        tmp=$(mktemp "$path.stageproof.XXXXXX") || exit 1
        awk -v pairs="$#" '
          BEGIN { for (i = 1; i <= pairs; i += 2) { k = ARGV[i]; v[k] = ARGV[i + 1]; order[++n] = k; ARGV[i] = ""; ARGV[i + 1] = "" } }
          {
            line = $0; key = line; sub(/^[ \t]*/, "", key); sub(/[ \t]*=.*$/, "", key)
            if ((key in v) && line ~ /^[ \t]*[^#;][^=]*=/) { if (!(key in done)) print key " = " v[key]; done[key] = 1; next }
            print
          }
          END { for (i = 1; i <= n; i++) if (!(order[i] in done)) print order[i] " = " v[order[i]] }
        ' "$@" - < "$path" > "$tmp" || { rm -f "$tmp"; exit 1; }
        chown --reference="$path" "$tmp" && chmod --reference="$path" "$tmp" && mv -f "$tmp" "$path"
        """;

    /// <summary>Writes a file's whole content (atomically, keeping its owner and mode unless the set gives them), or sets
    /// keys in an ini/conf style file (replacing the key's line, appending it when absent).</summary>
    public async Task WriteFileAsync(PatchFile file, CancellationToken ct)
    {
        var path = CheckedPath(file.Path);
        CommandResult r;
        if (file.Set is { } edits)
        {
            var args = new List<string> { path };
            foreach (var (key, value) in edits)
            {
                args.Add(key);
                args.Add(value);
            }
            r = await RunAsync(RemoteCommand.Script("stageproof-edit-file", EditFileScript, args), commandTimeout, ct).ConfigureAwait(false);
        }
        else
        {
            r = await RunAsync(RemoteCommand.Script("stageproof-write-file", WriteFileScript, path, file.Owner ?? "", file.Group ?? "", file.Mode ?? ""),
                commandTimeout, ct, Encoding.UTF8.GetBytes(file.Content ?? "")).ConfigureAwait(false);
        }
        Require(r, "files", "writing " + path);
    }

    private const string RestoreScript = """
        set -u
        dir=$1; confopt=$2
        status=0
        # An apt or dpkg still running from an interrupted change (its SSH session killed) finishes first (at most 120 s).
        # Only one under this host's root counts: a container or chroot host sees its neighbours' processes too.
        busy() { for p in /proc/[0-9]*; do [ "$p/root" -ef / ] || continue; case $(cat "$p/comm" 2>/dev/null) in dpkg|apt-get|apt) return 0;; esac; done; return 1; }
        waited=0
        while busy && [ "$waited" -lt 120 ]; do sleep 1; waited=$((waited + 1)); done
        # dpkg, waiting while another process holds its lock (within the same 120 s): one the wait above cannot see, such
        # as a dpkg of the interrupted change that started just after it, or a lock holder of another name.
        dpkg_() {
          while :; do
            DEBIAN_FRONTEND=noninteractive dpkg "$@" 2>"$dir/dpkg.err"; rc=$?
            if [ "$rc" -ne 0 ] && grep -q "locked by another process" "$dir/dpkg.err" && [ "$waited" -lt 120 ]; then
              sleep 1; waited=$((waited + 1)); continue
            fi
            cat "$dir/dpkg.err" >&2; rm -f "$dir/dpkg.err"
            return "$rc"
          done
        }
        if ls "$dir"/debs/*.deb >/dev/null 2>&1; then
          # dpkg unpacks in the order given (by name); a package whose Pre-Depends names another kept version (libpam-modules
          # on libpam-modules-bin) fails until that one is back, so a failed pass is followed by another (at most three).
          pass=1
          until dpkg_ --force-confdef "$confopt" -i "$dir"/debs/*.deb; do
            if [ "$pass" -ge 3 ]; then status=1; break; fi
            pass=$((pass + 1))
          done
        fi
        if [ -s "$dir/purge.list" ]; then
          # Package names only (checked before they were written), one a line.
          set -f; dpkg_ --purge $(cat "$dir/purge.list") || status=1; set +f
        fi
        dpkg_ --force-confdef "$confopt" --configure -a || status=1
        if [ -f "$dir/files.tar" ]; then tar -xpPf "$dir/files.tar" || status=1; fi
        if [ -s "$dir/absent.list" ]; then
          while IFS= read -r f; do rm -f -- "$f" || status=1; done < "$dir/absent.list"
        fi
        exit $status
        """;

    /// <summary>Puts the kept packages back (downgrading, from the kept .debs only), removes packages the change
    /// installed, and restores every saved file; files that did not exist are removed again.</summary>
    public async Task RestoreAsync(HostPoint point, CancellationToken ct)
    {
        var purge = point.Packages.Where(p => p.OldVersion is null).Select(p => CheckedPackage(p.Name)).ToList();
        var dir = CheckedPath(point.Directory);
        var write = await RunAsync(RemoteCommand.Script("stageproof-purge-list", "cat > \"$1/purge.list\"", dir), commandTimeout, ct,
            Encoding.UTF8.GetBytes(string.Concat(purge.Select(p => p + "\n")))).ConfigureAwait(false);
        Require(write, "rollback", "recording the packages to remove");
        var r = await RunAsync(RemoteCommand.Script("stageproof-restore", RestoreScript, dir, "--force-confold"), PackageTimeout, ct).ConfigureAwait(false);
        Require(r, "rollback", "restoring packages and files");
    }

    /// <summary>Deletes a point's directory on the host once it is no longer needed.</summary>
    public async Task DiscardAsync(string directory, CancellationToken ct) =>
        await RunAsync(RemoteCommand.Exec("rm", "-rf", "--", CheckedPath(directory)), commandTimeout, ct).ConfigureAwait(false);

    public static string PointDirectory(string pointId) => RollbackRoot + "/" + pointId;

    private static string ConffileOption(ConffilePolicy policy) => policy == ConffilePolicy.Package ? "--force-confnew" : "--force-confold";

    private async Task<CommandResult> RunAsync(RemoteCommand command, TimeSpan timeout, CancellationToken ct, byte[]? input = null) =>
        await transport.RunAsync(command, new CommandOptions { Timeout = timeout, StandardInput = input }, ct).ConfigureAwait(false);

    private void Require(CommandResult r, string step, string what)
    {
        if (!r.Succeeded)
        {
            var detail = Tail(r.StandardOutput + "\n" + r.StandardError);
            throw new StepFailedException(Host, step, $"{what} (exit {r.ExitCode.ToString(CultureInfo.InvariantCulture)}){(detail.Length > 0 ? ": " + detail : "")}");
        }
    }

    private static string Tail(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("W: ", StringComparison.Ordinal) && !l.StartsWith("debconf: ", StringComparison.Ordinal)
                && !l.StartsWith("(Reading database", StringComparison.Ordinal)).TakeLast(4);
        var joined = string.Join(" | ", lines);
        return joined.Length <= 600 ? joined : joined[..600] + "…";
    }

    private static List<string> Lines(string output, string prefix) =>
        output.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).Select(l => l[prefix.Length..]).ToList();

    private static string Spec(PatchPackage p) => CheckedPackage(p.Name) + "=" + CheckedVersion(p.Version);

    private static string CheckedPackage(string name) =>
        Names.PackageNameError(name) is { } e ? throw new InputException($"package name {Names.Show(name)}: {e}") : name;

    private static string CheckedVersion(string version) =>
        Names.PackageVersionError(version) is { } e ? throw new InputException($"package version {Names.Show(version)}: {e}") : version;

    private static string CheckedPath(string path) =>
        Names.AbsolutePathError(path) is { } e ? throw new InputException($"path {Names.Show(path)}: {e}") : path;

    private static string CheckedPattern(string pattern) =>
        pattern.Any(char.IsControl) || pattern.Contains("/../", StringComparison.Ordinal) || !pattern.StartsWith('/')
            ? throw new InputException($"tracked path {Names.Show(pattern)} must be absolute, without '..' or control characters")
            : pattern;
}
