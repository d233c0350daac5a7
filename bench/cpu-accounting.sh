#!/usr/bin/env bash
# Where a command's CPU goes, machine-wide: every process that ends while COMMAND runs (its own, the servers and hosts
# it starts, the machine's others) is counted by Linux process accounting, and named by its command line (a 1-second
# sampler, matched to the accounting record by pid and start time, since pids are reused many times in a CI run).
#
# usage: bench/cpu-accounting.sh [-o DIR] -- COMMAND [ARGS...]      (root; Debian's acct package for accton/dump-acct)
# e.g.   bench/cpu-accounting.sh -o /var/tmp/ci-cpu -- env CI=true .ci/run
#
# Prints CPU-seconds per process family, the processes counted, and the machine's busy share over the run (from
# /proc/stat). DIR keeps the raw accounting file, the sampled command lines and COMMAND's output (command.log).
set -euo pipefail
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: bench/cpu-accounting.sh [-o DIR] -- COMMAND [ARGS...]" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: bench/cpu-accounting.sh [-o DIR] -- COMMAND [ARGS...]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench/cpu-accounting.sh: process accounting needs root" >&2; exit 2; }
command -v accton > /dev/null && command -v dump-acct > /dev/null || { echo "bench/cpu-accounting.sh: accton and dump-acct missing (apt-get install acct)" >&2; exit 2; }
out="${out:-$(mktemp -d /var/tmp/stageproof-cpu-XXXXXX)}"
mkdir -p "$out"
: > "$out/pacct"
: > "$out/cmdlines"

# The sampler uses shell builtins only (no process of its own per sample): "pid starttime-in-ticks command line".
sample() {
  declare -A seen
  while :; do
    for p in /proc/[0-9]*; do
      pid=${p#/proc/}
      read -r stat 2> /dev/null < "$p/stat" || continue
      rest=${stat##*) }              # fields after the command name, which may hold spaces
      read -r -a f <<< "$rest"
      key="$pid:${f[19]}"            # field 22 of stat, starttime
      [ -n "${seen[$key]:-}" ] && continue
      seen[$key]=1
      mapfile -d '' -t args 2> /dev/null < "$p/cmdline" || continue
      [ ${#args[@]} -gt 0 ] || continue
      printf '%s %s %s\n' "$pid" "${f[19]}" "${args[*]:0:12}" >> "$out/cmdlines"
    done
    sleep 1
  done
}

cpu_ticks() { awk '/^cpu /{ print $2+$3+$4+$7+$8, $5+$6 }' /proc/stat; }
read -r busy0 idle0 <<< "$(cpu_ticks)"
accton "$out/pacct" > /dev/null
sample &
sampler=$!
cleanup() { accton off > /dev/null 2>&1 || true; kill "$sampler" 2> /dev/null || true; }
trap cleanup EXIT
start=$(date +%s)
set +e
"$@" > "$out/command.log" 2>&1
status=$?
set -e
wall=$(( $(date +%s) - start ))
cleanup
trap - EXIT
read -r busy1 idle1 <<< "$(cpu_ticks)"
dump-acct "$out/pacct" > "$out/acct.txt"

python3 - "$out" "$wall" "$status" "$((busy1 - busy0))" "$((idle1 - idle0))" "$(nproc)" "$*" <<'PY'
import collections, datetime, os, sys, time
out, wall, status, busy, idle, cores, command = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
hz = os.sysconf("SC_CLK_TCK")
boot = next(int(l.split()[1]) for l in open("/proc/stat") if l.startswith("btime "))
names = collections.defaultdict(list)  # pid -> [(start seconds since boot, command line)]
for line in open(os.path.join(out, "cmdlines"), errors="replace"):
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
        names[parts[0]].append((int(parts[1]) / hz, parts[2]))

def named(pid, started):
    best = None
    for at, cmd in names.get(pid, []):
        if abs(at - started) <= 2 and (best is None or abs(at - started) < best[0]):
            best = (abs(at - started), cmd)
    return best[1] if best else ""

def first(n):
    return os.path.basename(n.split(" ", 1)[0]) if n else ""

FAMILIES = [  # by the process's name first (servers, tools), then by its command line (.NET processes name threads)
    ("PostgreSQL", lambda c, n: c in ("postgres", "postmaster", "initdb", "pg_dump", "pg_restore", "pg_amcheck", "pg_ctl", "psql", "pg_isready")),
    ("MariaDB", lambda c, n: c.startswith("mariadb") or c.startswith("mysql")),
    ("slapd", lambda c, n: c in ("slapd", "slapadd", "slapcat")),
    ("sshd", lambda c, n: c == "sshd"),
    ("apt and dpkg", lambda c, n: c.startswith("apt") or c.startswith("dpkg") or c in ("http", "gpgv", "debootstrap")),
    ("chromium", lambda c, n: c.startswith("chrom") or first(n) == "chromium"),
    ("acme-mail (the demo service)", lambda c, n: first(n) == "acme-mail"),
    ("test hosts", lambda c, n: "testhost" in n),
    ("stageproof processes (serve, worker, CLI)", lambda c, n: "stageproof.dll" in n),
    ("build (MSBuild, compiler)", lambda c, n: any(k in n for k in ("MSBuild", "/Roslyn/", "VBCSCompiler", "dotnet build"))),
    ("other .NET", lambda c, n: c.startswith(".NET") or c == "dotnet" or "dotnet" in n),
]
cpu = collections.Counter(); count = collections.Counter(); total = 0.0; processes = 0
for line in open(os.path.join(out, "acct.txt"), errors="replace"):
    f = [x.strip() for x in line.split("|")]
    if len(f) < 15:
        continue
    try:
        started = time.mktime(datetime.datetime.strptime(f[14], "%a %b %d %H:%M:%S %Y").timetuple()) - boot  # local time
        used = (float(f[2]) + float(f[3])) / 100  # dump-acct's times are in AHZ (100) ticks
    except ValueError:
        continue
    comm, pid = f[0], f[9]
    name = named(pid, started)
    family = next((label for label, match in FAMILIES if match(comm, name)), "other (shells, coreutils, kernel helpers)")
    cpu[family] += used; count[family] += 1; total += used; processes += 1
print(f"command: {command}")
print(f"exit {status}, wall {wall} s, {cores} cores; busy {busy / hz:.0f} CPU-s of {(busy + idle) / hz:.0f} ({100 * busy / max(1, busy + idle):.0f} %), "
      f"of which process accounting saw {total:.0f} in {processes} processes (the rest: kernel threads and processes still running)")
print()
print("| family | CPU-s | share | processes |")
print("| --- | ---: | ---: | ---: |")
for family, used in cpu.most_common():
    print(f"| {family} | {used:.0f} | {100 * used / max(total, 1e-9):.1f} % | {count[family]} |")
PY
echo "raw data: $out"
exit "$status"
