namespace Stageproof.Hosts.Facts;

/// <summary>
/// The POSIX sh script that records what a host does beyond its manifest, in one round trip, for the stage's
/// before/after comparison: the processes whose root is the host's root (a chroot sees the machine's /proc), users
/// and groups, setuid/setgid files and world-writable files in system folders, cron files, enabled units and SysV
/// links, kernel modules, every /etc file's MD5 and the package owning it, and /var/log's files.
/// </summary>
/// <remarks>
/// Arguments: <c>$1</c> is <c>before</c> or <c>after</c>, <c>$2</c> the error pattern; the rest are log files the check suite already reads (left
/// out of the error scan). For <c>after</c>, stdin holds the <c>@@logs</c> lines of the <c>before</c> run, and the
/// script prints the error lines each log gained since (at most 20 a file, from at most 256 KiB of new text).
/// <code>
/// @@stageproof-behaviour 1
/// @@processes   uid TAB pid TAB parent pid TAB executable TAB command line (NULs as spaces)
/// @@users       name:uid, from /etc/passwd
/// @@groups      name:gid, from /etc/group
/// @@privileged  octal mode TAB owner TAB path
/// @@cron        md5 TAB path
/// @@units       link TAB target
/// @@modules     name
/// @@etc         md5 TAB path
/// @@owners      package TAB path (for /etc files and the privileged ones)
/// @@logs        size TAB inode TAB path
/// @@log-errors  path TAB line
/// @@end
/// </code>
/// Processes of the script's own session and sshd's per-connection processes are left out: they are Stageproof.
/// </remarks>
public static class BehaviourScript
{
    public const string Name = "stageproof-behaviour";
    public const string Header = "@@stageproof-behaviour 1";

    /// <summary>What counts as an error line in a log nobody named (GNU grep -E).</summary>
    public const string ErrorPattern = @"\b(ERROR|FATAL|CRITICAL|CRIT|PANIC|EMERG|ALERT)\b|Traceback \(most recent|segfault|[Cc]ore dumped|\b[Ee]rror:";

    public const string Text = """
        set -u
        mode=$1; errors=$2; shift 2
        t=$(printf '\t')
        echo '@@stageproof-behaviour 1'
        echo '@@processes'
        me=$(sed 's/.*) //' /proc/$$/stat | cut -d' ' -f4)
        root=$(stat -L -c '%d:%i' /)
        stat -L -c '%d:%i %n' /proc/[0-9]*/root/ 2>/dev/null | while read -r id path; do
          [ "$id" = "$root" ] || continue
          d=${path%/root/}
          rest=$(sed 's/.*) //' "$d/stat" 2>/dev/null) || continue
          # The fields after the command name: state, ppid, pgrp, session (the loop runs in a subshell: set -- is its own).
          set -f; set -- $rest; set +f
          [ "${4:-}" = "$me" ] && continue
          ppid=${2:-0}
          cmd=$(tr '\0' ' ' < "$d/cmdline" 2>/dev/null | cut -c1-300)
          [ -n "$cmd" ] || continue
          case $cmd in sshd:*'[listener]'*) ;; sshd:*) continue ;; esac
          uid=$(awk '/^Uid:/ {print $2}' "$d/status" 2>/dev/null)
          exe=$(readlink "$d/exe" 2>/dev/null || true)
          printf '%s\t%s\t%s\t%s\t%s\n' "$uid" "${d#/proc/}" "$ppid" "$exe" "$cmd"
        done
        echo '@@users'
        cut -d: -f1,3 /etc/passwd 2>/dev/null
        echo '@@groups'
        cut -d: -f1,3 /etc/group 2>/dev/null
        echo '@@privileged'
        priv=$(mktemp)
        { find / -xdev \( -perm -4000 -o -perm -2000 \) -type f -printf '%m\t%u\t%p\n' 2>/dev/null
          for d in /etc /usr /opt /srv /var/lib; do
            [ -d "$d" ] && find "$d" -xdev -type f -perm -0002 -printf '%m\t%u\t%p\n' 2>/dev/null
          done; } | sort -u -t "$t" -k3 > "$priv"
        cat "$priv"
        echo '@@cron'
        for f in /etc/crontab /etc/cron.d/* /etc/cron.hourly/* /etc/cron.daily/* /etc/cron.weekly/* /etc/cron.monthly/* /var/spool/cron/crontabs/*; do
          [ -f "$f" ] && md5sum "$f" | sed "s/  /$t/"
        done
        echo '@@units'
        for d in /etc/systemd/system /etc/rc0.d /etc/rc1.d /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d /etc/rc6.d /etc/rcS.d; do
          [ -d "$d" ] && find "$d" -type l -printf '%p\t%l\n' 2>/dev/null
        done
        echo '@@modules'
        cut -d' ' -f1 /proc/modules 2>/dev/null | sort
        echo '@@etc'
        find /etc -xdev -type f -print0 2>/dev/null | xargs -0 -r md5sum 2>/dev/null | sed "s/  /$t/"
        echo '@@owners'
        cut -f3 "$priv" | awk 'FILENAME == "-" { want[$0] = 1; next }
          FNR == 1 { p = FILENAME; sub(".*/", "", p); sub("[.]list$", "", p) }
          /^\/etc\// || ($0 in want) { print p "\t" $0 }' - /var/lib/dpkg/info/*.list 2>/dev/null
        rm -f "$priv"
        echo '@@logs'
        logs=$(mktemp)
        find /var/log -xdev -type f -printf '%s\t%i\t%p\n' 2>/dev/null | sort -t "$t" -k3 > "$logs"
        cat "$logs"
        echo '@@log-errors'
        if [ "$mode" = after ]; then
          before=$(mktemp)
          cat > "$before"
          while IFS="$t" read -r size ino path; do
            case $path in *.gz|*.xz|*.bz2|*.zst|*.[0-9]|*/wtmp|*/btmp|*/lastlog|*/faillog|/var/log/journal/*) continue ;; esac
            skip=
            for named in "$@"; do [ "$path" = "$named" ] && skip=1; done
            [ -n "$skip" ] && continue
            old=$(awk -F "$t" -v p="$path" '$3 == p { print $1 " " $2; exit }' "$before")
            start=0
            if [ -n "$old" ]; then
              osize=${old% *}; oino=${old#* }
              [ "$oino" = "$ino" ] && start=$osize
              [ "$oino" = "$ino" ] && [ "$size" -le "$osize" ] && continue
            fi
            tail -c +$((start + 1)) "$path" 2>/dev/null | head -c 262144 | grep -a -E "$errors" | head -n 20 | cut -c1-300 |
              while IFS= read -r line; do printf '%s\t%s\n' "$path" "$line"; done
          done < "$logs"
          rm -f "$before"
        fi
        rm -f "$logs"
        echo '@@end'
        """;
}
