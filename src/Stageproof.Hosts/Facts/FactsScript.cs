using Stageproof.Core;
using Stageproof.Core.Configuration;
using Stageproof.Core.Hosts;

namespace Stageproof.Hosts.Facts;

/// <summary>
/// The one POSIX sh script that gathers a host's facts in a single round trip. It is a constant: its inputs
/// (the content size limit, then the tracked paths or globs) arrive as positional parameters.
/// </summary>
/// <remarks>
/// Output format (one section after another, each opened by a line starting with <c>@@</c>):
/// <code>
/// @@stageproof-facts 1
/// @@os-release            raw /etc/os-release (or /usr/lib/os-release)
/// @@kernel                uname -r
/// @@arch                  dpkg --print-architecture
/// @@packages              Package TAB Version TAB Architecture TAB Status-Abbrev, one a line
/// @@upgrades              the "Inst ..." lines of apt-get -s dist-upgrade (empty when not asked for); kept in
///                         /var/cache/stageproof/upgrades with a checksum of what apt's answer depends on (dpkg's
///                         status, apt's lists, /etc/apt), and read from there while that is unchanged: one stat
///                         instead of a resolver run (skipped, silently, where the directory cannot be written)
/// @@files                 per file: "@@file TAB owner TAB group TAB octal-mode TAB size TAB sha256 TAB path",
///                         then the content in base64 lines when size &lt;= limit (none otherwise)
/// @@services systemd      raw systemctl list-units --type=service --all --no-legend --plain
/// @@services sysv         name TAB exit-status-of-"status", one a line
/// @@services none
/// @@tcp                   the listening (st 0A) lines of /proc/net/tcp
/// @@tcp6                  the listening (st 0A) lines of /proc/net/tcp6
/// @@end
/// </code>
/// File names containing a newline are skipped; everything else in a path is carried verbatim after the
/// last tab. Base64 lines never start with '@', so file content cannot forge a section.
/// </remarks>
public static class FactsScript
{
    public const string Name = "stageproof-facts";
    public const string Header = "@@stageproof-facts 1";

    public const string Text = """
        max=$1; upgrades=$2; shift 2
        LC_ALL=C; export LC_ALL
        nl='
        '
        tab=$(printf '\t')
        echo '@@stageproof-facts 1'
        echo '@@os-release'
        if [ -r /etc/os-release ]; then cat /etc/os-release; elif [ -r /usr/lib/os-release ]; then cat /usr/lib/os-release; fi
        echo
        echo '@@kernel'
        uname -r
        echo '@@arch'
        dpkg --print-architecture 2>/dev/null
        echo '@@packages'
        dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n' 2>/dev/null
        echo '@@upgrades'
        if [ "$upgrades" = 1 ] && command -v apt-get >/dev/null 2>&1; then
          cache=/var/cache/stageproof/upgrades
          key=$(stat -L -c '%n %y %s %i' /var/lib/dpkg/status /var/lib/apt/extended_states /var/lib/apt/lists \
            /var/lib/apt/lists/* /etc/apt /etc/apt/* /etc/apt/*/* 2>/dev/null | cksum)
          first=
          [ -f "$cache" ] && IFS= read -r first < "$cache"
          if [ -n "$first" ] && [ "$first" = "$key" ]; then
            { IFS= read -r first; while IFS= read -r line; do printf '%s\n' "$line"; done; } < "$cache"
          else
            out=$(apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>/dev/null </dev/null | grep '^Inst ')
            [ -n "$out" ] && printf '%s\n' "$out"
            if mkdir -p /var/cache/stageproof 2>/dev/null && { printf '%s\n' "$key"; [ -z "$out" ] || printf '%s\n' "$out"; } > "$cache.$$" 2>/dev/null; then
              mv -f "$cache.$$" "$cache" 2>/dev/null || rm -f "$cache.$$"
            fi
          fi
        fi
        echo '@@files'
        IFS=$nl
        set +f
        for pat in "$@"; do
          for f in $pat; do
            case $f in *"$nl"*) continue;; esac
            [ -f "$f" ] || continue
            meta=$(stat -L -c "%U$tab%G$tab%a$tab%s" -- "$f" 2>/dev/null) || continue
            h=$(sha256sum < "$f" 2>/dev/null); h=${h%% *}
            size=${meta##*"$tab"}
            printf '@@file\t%s\t%s\t%s\n' "$meta" "$h" "$f"
            if [ -n "$h" ] && [ "$size" -le "$max" ]; then base64 < "$f" 2>/dev/null; fi
          done
        done
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
          echo '@@services systemd'
          systemctl list-units --type=service --all --no-legend --plain --no-pager 2>/dev/null </dev/null
        elif [ -d /etc/init.d ]; then
          echo '@@services sysv'
          to=
          if command -v timeout >/dev/null 2>&1; then to=timeout; fi
          for s in /etc/init.d/*; do
            n=${s##*/}
            case $n in README|rc|rcS|skeleton|*.sh|.*|*"$nl"*) continue;; esac
            [ -f "$s" ] && [ -x "$s" ] || continue
            if [ -n "$to" ]; then
              timeout 5 "$s" status >/dev/null 2>&1 </dev/null; rc=$?
            else
              "$s" status >/dev/null 2>&1 </dev/null; rc=$?
            fi
            printf '%s\t%s\n' "$n" "$rc"
          done
        else
          echo '@@services none'
        fi
        echo '@@tcp'
        grep ' 0A ' /proc/net/tcp 2>/dev/null
        echo '@@tcp6'
        grep ' 0A ' /proc/net/tcp6 2>/dev/null
        echo '@@end'
        """;

    /// <summary>Builds the command, after checking every tracked pattern. Nothing runs when one is bad.</summary>
    public static RemoteCommand Build(string hostName, DriftRules rules, bool pendingUpgrades = true)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ValidateTracked(hostName, rules.Track);
        if (rules.MaxContentBytes < 0)
        {
            throw new InputException($"drift.max_content_bytes: must not be negative (got {rules.MaxContentBytes})");
        }
        var args = new List<string>(rules.Track.Count + 2)
        {
            rules.MaxContentBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            pendingUpgrades ? "1" : "0",
        };
        args.AddRange(rules.Track);
        return RemoteCommand.Script(Name, Text, args);
    }

    /// <summary>Tracked patterns must be absolute, free of ".." segments and of control characters.</summary>
    public static void ValidateTracked(string hostName, IReadOnlyList<string> track)
    {
        ArgumentNullException.ThrowIfNull(track);
        var problems = new List<InputProblem>();
        for (var i = 0; i < track.Count; i++)
        {
            var p = track[i];
            var key = $"drift.track[{i}]";
            string? why = null;
            if (string.IsNullOrEmpty(p))
            {
                why = "is empty";
            }
            else if (p.Any(char.IsControl))
            {
                why = "contains a control character (newline, tab, NUL...)";
            }
            else if (p[0] != '/')
            {
                why = "must be an absolute path";
            }
            else if (p.Split('/').Any(s => s == ".."))
            {
                why = "must not contain '..'";
            }
            if (why is not null)
            {
                problems.Add(new InputProblem($"host '{hostName}'", 0, 0, key, $"tracked path '{Printable(p)}' {why}"));
            }
        }
        if (problems.Count > 0)
        {
            throw new InputException(problems);
        }
    }

    private static string Printable(string s) =>
        string.Concat(s.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));
}
